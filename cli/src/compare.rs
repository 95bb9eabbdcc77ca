//! `tokken-cli compare A B --data FILE`: before/after table of two models on the same
//! labelled data, per-class F1 deltas, per-slice accuracy and an exact McNemar test.

use std::path::PathBuf;

use anyhow::Context;
use tokken_model::compare::Comparison;
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::report::slices::all_slices;
use tokken_model::{Classifier, ClassifierOptions};

/// Flags of `tokken-cli compare`.
#[derive(clap::Args)]
#[command(
    about = "Compare two models on the same labelled data (before/after table, McNemar test)",
    long_about = "Score models A and B (model dirs or run dirs, e.g. the base model with a \
    trained head vs a LoRA run) on the same labelled data and print accuracy and macro-F1 of \
    both with the deltas (B − A), per-class F1 deltas, per-slice accuracy (text length and \
    --slice-by fields), and an exact McNemar test on the paired predictions: b = examples only \
    A gets right, c = only B gets right, p = two-sided exact binomial test of b vs c.\n\n\
    Example:\n  tokken-cli compare runs/head runs/lora --data data/hard/hard.jsonl --slice-by kind"
)]
pub struct Args {
    /// Model A ("before"): model dir or run dir.
    #[arg(value_name = "A")]
    a: PathBuf,
    /// Model B ("after"): model dir or run dir.
    #[arg(value_name = "B")]
    b: PathBuf,
    /// Labelled data: .jsonl, .csv or .tsv.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Write the comparison as JSON to this file (atomically).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also compare on subsets by this data field (repeatable), e.g. `--slice-by kind`.
    #[arg(long, value_name = "FIELD")]
    slice_by: Vec<String>,
    /// Text-length slice bounds in characters (`none`: off).
    #[arg(long, default_value = "10,20", value_name = "N,N,..")]
    length_slices: String,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_field: String,
    #[arg(long, default_value = "label", value_name = "NAME")]
    label_field: String,
    /// MeCab dictionary directory (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let read = ReadOptions {
        text_field: args.text_field.clone(),
        label_field: Some(args.label_field.clone()),
        ..ReadOptions::default()
    };
    let data = read_examples(&args.data, &read)?;
    let bounds = parse_bounds(&args.length_slices)?;
    let slices = all_slices(&data.examples, &bounds, &args.slice_by);
    let options = EvalOptions {
        length_bounds: Vec::new(),
        ..EvalOptions::default()
    };
    let run_one = |dir: &PathBuf| -> anyhow::Result<_> {
        let clf = Classifier::load_with(
            dir,
            ClassifierOptions {
                batch_size: args.batch_size,
                dicdir: args.dicdir.clone(),
                ..ClassifierOptions::default()
            },
        )
        .with_context(|| format!("loading {}", dir.display()))?;
        let eval = evaluate(&clf, &data, &options, &mut |_, _| {})
            .with_context(|| format!("evaluating {}", dir.display()))?;
        Ok((clf.labels().to_vec(), eval))
    };
    let (labels_a, eval_a) = run_one(&args.a)?;
    let (labels_b, eval_b) = run_one(&args.b)?;
    let cmp = Comparison::from_evaluations(
        &args.a.display().to_string(),
        &args.b.display().to_string(),
        &labels_a,
        &eval_a,
        &labels_b,
        &eval_b,
        &slices,
    )?;
    println!("on {}", args.data.display());
    print!("{cmp}");
    if let Some(path) = &args.json {
        tokken_model::run_dir::write_json_atomically(path, &cmp)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `10,20` → [10, 20]; `none` → [].
pub fn parse_bounds(s: &str) -> anyhow::Result<Vec<usize>> {
    if s == "none" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--length-slices {s:?}: expected numbers like 10,20 or none"))
}
