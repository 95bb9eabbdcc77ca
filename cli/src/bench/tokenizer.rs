//! `tokken-cli bench tokenizer`: throughput on the livedoor body lines, as JSON lines:
//! MeCab-equivalent analysis and full encode to ids on one thread, full encode on every
//! pool thread, and — when a `mecab` binary is on PATH — `mecab -Owakati` on the same text
//! with the same dictionary, and our speed as a multiple of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokken_tokenizer::{find_dicdir, EncodeOptions, Encoding, Tokenizer};

const DEFAULT_LINES: &str = "shared/ref/tokenize/livedoor-lines.ids.jsonl";
const DEFAULT_MODEL: &str = "shared/ref/bert-base-japanese-v3";

/// Flags of `tokken-cli bench tokenizer`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL with a "text" field per line, or plain text lines
    /// (default: ../shared/ref/tokenize/livedoor-lines.ids.jsonl).
    #[arg(long, value_name = "FILE")]
    lines: Option<PathBuf>,

    /// Use only the first N lines.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Model dir whose tokenizer to time (default: ../shared/ref/bert-base-japanese-v3).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Compiled MeCab dictionary dir (default: found as for `tokenize`).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,

    /// Timed passes per measurement; the best is reported.
    #[arg(long, default_value_t = 2)]
    repeat: usize,
}

pub fn run(args: Args) -> Result<()> {
    let lines_path = locate(args.lines.as_deref(), DEFAULT_LINES, "--lines")?;
    let model = locate(args.model.as_deref(), DEFAULT_MODEL, "--model")?;
    let texts = read_texts(&lines_path, args.limit)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bytes: usize = refs.iter().map(|t| t.len()).sum();
    let mb = bytes as f64 / 1e6;
    let dicdir = find_dicdir(args.dicdir.as_deref())?;
    let tok = Tokenizer::from_model_dir(&model, Some(&dicdir))?;
    let repeat = args.repeat.max(1);
    let threads = rayon::current_num_threads();
    let report = |what: &str, threads: usize, secs: f64| -> Value {
        let v = json!({
            "bench": "tokenizer", "what": what, "threads": threads, "lines": refs.len(),
            "mb": round(mb, 3), "seconds": round(secs, 4), "mb_per_s": round(mb / secs, 2),
        });
        println!("{v}");
        v
    };

    // (a) MeCab-equivalent analysis of the raw lines, one thread.
    let mut analyzer = tok.analyzer().worker();
    let mut morphemes = Vec::new();
    let mut words = 0usize;
    let analysis = best_of(repeat, || {
        words = 0;
        for t in &refs {
            analyzer.analyze(t, &mut morphemes);
            words += morphemes.len();
        }
    });
    report("analysis", 1, analysis);

    // (b) full encode to ids (special split, NFKC, MeCab, WordPiece, specials), one thread.
    let opts = EncodeOptions::default();
    let mut worker = tok.worker();
    let mut enc = Encoding::default();
    let mut tokens = 0usize;
    let encode = best_of(repeat, || {
        tokens = 0;
        for t in &refs {
            worker.encode_into(t, None, &opts, &mut enc);
            tokens += enc.len();
        }
    });
    report("encode", 1, encode);

    // (c) full encode on every pool thread.
    let encode_mt = best_of(repeat, || {
        std::hint::black_box(tok.encode_all(&refs, &opts));
    });
    report("encode", threads, encode_mt);

    // MeCab itself, same text and dictionary, when installed.
    match time_mecab(&refs, &dicdir, repeat)? {
        Some(secs) => {
            report("mecab -Owakati", 1, secs);
            println!(
                "{}",
                json!({
                    "bench": "tokenizer", "what": "vs mecab -Owakati",
                    "analysis_x": round(secs / analysis, 2),
                    "encode_x": round(secs / encode, 2),
                    "encode_all_threads_x": round(secs / encode_mt, 2),
                    "targets": {"analysis_x": 3.0, "encode_x": 2.5},
                })
            );
        }
        None => println!(
            "{}",
            json!({"bench": "tokenizer", "what": "mecab -Owakati", "skipped": "no `mecab` on PATH"})
        ),
    }
    eprintln!("({words} MeCab words, {tokens} tokens)");
    Ok(())
}

/// `explicit`, else `default` under the current dir's parent or the current dir.
fn locate(explicit: Option<&Path>, default: &str, flag: &str) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    for base in ["..", "."] {
        let p = Path::new(base).join(default);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("../{default} not found; pass {flag}")
}

/// Texts of a JSONL file (`"text"` field) or of a plain-text file (one per line).
fn read_texts(path: &Path, limit: Option<usize>) -> Result<Vec<String>> {
    let content =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut texts = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if limit.is_some_and(|n| texts.len() >= n) {
            break;
        }
        if line.trim_start().starts_with('{') {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))?;
            let text = v["text"].as_str().with_context(|| {
                format!(
                    "{}:{}: missing string field \"text\"",
                    path.display(),
                    i + 1
                )
            })?;
            texts.push(text.to_string());
        } else {
            texts.push(line.to_string());
        }
    }
    Ok(texts)
}

/// Best wall time of `repeat` runs of `f`, after one untimed warm-up run.
fn best_of(repeat: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeat)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Best time of `mecab -d DICDIR -Owakati` over the texts (one per line, in a temp file),
/// or `None` when no `mecab` runs.
fn time_mecab(texts: &[&str], dicdir: &Path, repeat: usize) -> Result<Option<f64>> {
    if Command::new("mecab").arg("--version").output().is_err() {
        return Ok(None);
    }
    let input = std::env::temp_dir().join(format!("tokken-bench-{}.txt", std::process::id()));
    // MeCab reads lines: drop the newlines a text could hold so line counts agree.
    let body: String = texts
        .iter()
        .flat_map(|t| [t.replace(['\n', '\r'], " "), "\n".to_string()])
        .collect();
    std::fs::write(&input, body).with_context(|| format!("writing {}", input.display()))?;
    let rc = dicdir.join("mecabrc");
    let rc = if rc.exists() {
        rc
    } else {
        PathBuf::from("/dev/null")
    };
    let run = || -> Result<f64> {
        let t = Instant::now();
        let out = Command::new("mecab")
            .arg("-d")
            .arg(dicdir)
            .arg("-r")
            .arg(&rc)
            .args(["-Owakati", "-o", "/dev/null"])
            .arg(&input)
            .output()
            .context("running mecab")?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("mecab failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(secs)
    };
    let result = (|| {
        run()?;
        let mut best = f64::INFINITY;
        for _ in 0..repeat {
            best = best.min(run()?);
        }
        Ok(Some(best))
    })();
    let _ = std::fs::remove_file(&input);
    result
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}
