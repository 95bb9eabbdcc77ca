//! `tokken-cli models`: the models in the local Hugging Face cache.

use anyhow::Result;
use clap::Parser;
use tokken_model::hub;

#[derive(Parser)]
#[command(
    about = "List the models in the local Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub).",
    long_about = "List the models in the local Hugging Face cache with revision, size and whether \
                  every file a model dir needs is there. Any listed id works as --model \
                  (org/name, org/name@<ref or commit>)."
)]
pub struct Args {
    /// Print one JSON object per snapshot instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let cache = hub::cache_dir();
    let models = hub::list_cached_models(&cache);
    if args.json {
        for m in &models {
            let row = serde_json::json!({
                "model": m.repo,
                "commit": m.commit,
                "refs": m.refs,
                "size": m.size,
                "complete": m.missing.is_empty(),
                "missing": m.missing,
                "dir": m.dir,
            });
            println!("{row}");
        }
        return Ok(());
    }
    if models.is_empty() {
        println!("no models in {}", cache.display());
        return Ok(());
    }
    println!(
        "{:<44} {:<14} {:<12} {:>10}  status",
        "model", "revision", "commit", "size"
    );
    for m in &models {
        let revision = if m.refs.is_empty() {
            "-".to_string()
        } else {
            m.refs.join(",")
        };
        let status = if m.missing.is_empty() {
            "ok".to_string()
        } else {
            format!("missing {}", m.missing.join(", "))
        };
        println!(
            "{:<44} {:<14} {:<12} {:>10}  {status}",
            m.repo,
            revision,
            &m.commit[..m.commit.len().min(12)],
            human_size(m.size),
        );
    }
    println!("cache: {}", cache.display());
    Ok(())
}

/// 1536 → "1.5 KiB".
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
