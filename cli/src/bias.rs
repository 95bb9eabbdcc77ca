//! `tokken-cli bias`: flip rate of a model on a probe set (texts that differ only in a
//! gender / age / nationality / region / occupation / political term) and, on labelled data
//! with a group field, the per-group accuracy gap; usable as a regression check.

use std::path::PathBuf;

use anyhow::{bail, Context};
use tokken_model::bias::{group_scores, BiasReport, ProbeSet};
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::{Classifier, ClassifierOptions};

/// Flags of `tokken-cli bias`.
#[derive(clap::Args)]
#[command(
    about = "Bias check: flip rate on term-swapped probe pairs, per-group accuracy gap",
    long_about = "Predict both texts of every probe pair (a template filled with two \
    interchangeable terms: 男性/女性, 若者/高齢者, 日本人/中国人, 与党/野党 …) and report the \
    flip rate (the predicted label differs) overall and per group, the mean |Δp| per class \
    and the worst pairs. With --data and --group-field, also the accuracy and macro-F1 per \
    group of labelled data and the largest gap.\n\n\
    Probe file format: data/README.md (\"Bias probes\"); the shipped set is \
    data/probes/bias_probes.jsonl.\n\n\
    Example:\n  tokken-cli bias --model runs/news --probes data/probes/bias_probes.jsonl \\\n    \
    --report bias.html --fail-above 0.05"
)]
pub struct Args {
    /// The model: an HF model dir or a `finetune` run dir.
    #[arg(long, value_name = "DIR|RUN_DIR")]
    model: PathBuf,
    /// The probe file (JSONL: term groups and templates).
    #[arg(long, value_name = "FILE")]
    probes: PathBuf,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write the full report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Exit with status 1 when the overall flip rate is above RATE (a regression check).
    #[arg(long, value_name = "RATE")]
    fail_above: Option<f64>,
    /// Labelled data to score per group (needs --group-field).
    #[arg(long, value_name = "FILE", requires = "group_field")]
    data: Option<PathBuf>,
    /// The data field that names each example's group (e.g. `gender`).
    #[arg(long, value_name = "FIELD", requires = "data")]
    group_field: Option<String>,
    /// Field (JSONL) or column (CSV/TSV) holding the text of --data.
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_field: String,
    /// Field or column holding the gold label of --data.
    #[arg(long, default_value = "label", value_name = "NAME")]
    label_field: String,
    /// How many of the worst pairs to list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    worst: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Longest input in tokens (default: the model's limit).
    #[arg(long)]
    max_length: Option<usize>,
    /// MeCab dictionary directory (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(rate) = args.fail_above {
        if !(0.0..=1.0).contains(&rate) {
            bail!("--fail-above {rate}: expected a rate in [0, 1]");
        }
    }
    let probes = ProbeSet::load(&args.probes)?;
    let model = crate::model_arg::resolve(&args.model)?;
    let options = ClassifierOptions {
        batch_size: args.batch_size,
        max_length: args.max_length,
        dicdir: args.dicdir.clone(),
        ..ClassifierOptions::default()
    };
    let clf = Classifier::load_with(&model, options)
        .with_context(|| format!("loading {}", model.display()))?;
    let mut report = BiasReport::run(&clf, &args.model, &probes, args.worst)?;
    if let (Some(path), Some(field)) = (&args.data, &args.group_field) {
        let read = ReadOptions {
            text_field: args.text_field.clone(),
            label_field: Some(args.label_field.clone()),
            ..ReadOptions::default()
        };
        let data = read_examples(path, &read)?;
        let options = EvalOptions {
            length_bounds: Vec::new(),
            ..EvalOptions::default()
        };
        let ev = evaluate(&clf, &data, &options, &mut |_, _| {})?;
        let y_true: Vec<usize> = ev.results.iter().map(|r| r.true_index).collect();
        let y_pred: Vec<usize> = ev.results.iter().map(|r| r.pred_index).collect();
        report.data_groups = Some(group_scores(
            &data.examples,
            &y_true,
            &y_pred,
            clf.labels(),
            field,
        )?);
    }
    println!("{} on {}", args.model.display(), args.probes.display());
    print!("{}", report.summary());
    for (path, html) in [(&args.json, false), (&args.report, true)] {
        let Some(path) = path else { continue };
        if html {
            report.write_html(path)
        } else {
            report.write_json(path)
        }
        .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(limit) = args.fail_above {
        if report.flips.flip_rate > limit {
            eprintln!(
                "bias check failed: flip rate {:.4} is above --fail-above {limit} ({} of {} pairs flip)",
                report.flips.flip_rate, report.flips.flips, report.flips.pairs
            );
            std::process::exit(1);
        }
        eprintln!(
            "bias check passed: flip rate {:.4} is at most --fail-above {limit}",
            report.flips.flip_rate
        );
    }
    Ok(())
}

/// One stderr line per bias mitigation in effect for a fine-tuning run.
pub fn describe_mitigation(trainer: &tokken_model::trainer::Trainer) {
    let m = &trainer.config.mitigation;
    if let Some(p) = &m.augment_counterfactual {
        eprintln!(
            "counterfactual augmentation: the training set includes term-swapped copies for the terms of {}",
            p.display()
        );
    }
    if let Some(field) = &m.group_weights {
        let w = &trainer.train.weights;
        let (lo, hi) = w.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
        eprintln!(
            "group re-weighting by {field:?}: every group has the same total weight (example weights {lo:.3} to {hi:.3})"
        );
    }
}
