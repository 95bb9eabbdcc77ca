//! `tokken-cli eval`: score a model on a labelled data file; metrics table out, JSON on request.

use std::path::PathBuf;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokken_engine::DType;
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::report::{EvalReport, ReportOptions};
use tokken_model::{Classifier, ClassifierOptions};
use tokken_tokenizer::encoder::Tokenizer;

/// Flags of `tokken-cli eval`.
#[derive(clap::Args)]
#[command(
    about = "Score a model on a labelled data file: accuracy, F1, per-class table, confusion matrix",
    long_about = "Score an HF BertForSequenceClassification model dir, or a `finetune` run dir, \
    on labelled data.\n\n\
    Data: JSONL (`{\"text\": .., \"label\": ..}` per line) or CSV/TSV with a header row; the \
    field names are set by --text-field / --label-field. Every gold label must be one of the \
    model's labels (config.json id2label).\n\n\
    Prints accuracy, macro/micro/weighted F1, top-k accuracy, expected calibration error, \
    per-class precision/recall/F1/support and the confusion matrix; --json writes all of it \
    (plus the reliability bins, slices and misclassified examples) as JSON; --report writes a \
    self-contained HTML page with the figures.\n\n\
    Example:\n  tokken-cli eval --model runs/news --data data/headlines/test.jsonl --json metrics.json"
)]
pub struct Args {
    #[command(flatten)]
    device: crate::device_arg::DeviceArg,
    /// The model: an HF model dir (config.json, weights, vocab.txt, tokenizer_config.json)
    /// or a `finetune` run dir.
    #[arg(long, value_name = "DIR|RUN_DIR")]
    model: PathBuf,
    /// Labelled data: .jsonl, .json (JSON Lines), .csv or .tsv.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Write the metrics, slices, misclassified examples (most confident first) and, for a
    /// run dir, the training curves as JSON to this file (atomically).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report (works offline): confusion-matrix heatmap,
    /// per-class bars, reliability diagram, training curves (run dirs), slices, mistakes.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Also report top-K accuracy (default 2 when the model has more than 2 labels).
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Texts per forward pass (texts are grouped by length first).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Dense-layer precision: f32 (reference) or bf16 (faster on CPUs with AVX512-BF16).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// Longest input in tokens (default: the model's limit); longer texts are truncated.
    #[arg(long)]
    max_length: Option<usize>,
    /// Field (JSONL) or column (CSV/TSV) holding the text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_field: String,
    /// Field or column holding the gold label (default `label`; `path` for a hierarchical
    /// run, `labels` for a multi-label one).
    #[arg(long, value_name = "NAME")]
    label_field: Option<String>,
    /// Print up to N misclassified examples (line, gold, predicted, score, text).
    #[arg(long, default_value_t = 0, value_name = "N")]
    misclassified: usize,
    /// Also score subsets by this data field (repeatable), e.g. `--slice-by kind`.
    #[arg(long, value_name = "FIELD")]
    slice_by: Vec<String>,
    /// Text-length slice bounds in characters (`10,20`: ≤ 10, 11–20, > 20; `none`: off).
    #[arg(long, default_value = "10,20", value_name = "N,N,..")]
    length_slices: String,
    /// Reliability bins for the calibration error.
    #[arg(long, default_value_t = 10, value_name = "N")]
    bins: usize,
    #[command(flatten)]
    abstain: crate::abstain_arg::AbstainArgs,
    /// MeCab dictionary directory (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
    /// Reasoning-step template (none, cot-ja, cot-ja-prefix, cot-hier or a JSON file). A run
    /// dir applies the template it was trained with (template.json) by itself; a different
    /// one is refused.
    #[arg(long, value_name = "NAME|FILE")]
    template: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.resolve()?;
    if args.top_k == Some(0) {
        bail!("--top-k must be at least 1");
    }
    if args.bins == 0 {
        bail!("--bins must be at least 1");
    }
    let dtype: DType = args
        .dtype
        .parse()
        .map_err(|e| anyhow::anyhow!("--dtype: {e:?}"))?;
    let options = ClassifierOptions {
        dtype,
        batch_size: args.batch_size,
        max_length: args.max_length,
        dicdir: args.dicdir.clone(),
        // the GPU keeps its own bf16 copy: no host packing
        prepack: device == tokken_engine::Device::Cpu,
        ..Default::default()
    };
    let requested = args
        .template
        .as_deref()
        .map(tokken_model::template::Template::load)
        .transpose()
        .context("--template")?;
    // A plain HF model dir, or a run dir (LoRA merged into its base, or base + trained head),
    // or a hub id resolved through the local HF cache.
    let model = crate::model_arg::resolve(&args.model)?;
    let clf = (|| -> tokken_model::Result<Classifier> {
        let params = tokken_model::run::load_params(&model)?;
        let tokenizer = Tokenizer::from_model_dir(&model, args.dicdir.as_deref())?;
        let mut options = options;
        // The run dir's template.json, checked against --template.
        options.template = requested;
        tokken_model::template::configure(&model, &mut options, &params.config.id2label)?;
        Classifier::from_parts(params, tokenizer, options, &model.display().to_string())?
            .with_run_files(&model)
    })()
    .with_context(|| format!("loading {}", model.display()))?;
    let clf = args.device.attach(device, clf)?;
    let multi_label = clf.is_multi_label();
    let label_field = match (&args.label_field, clf.hierarchy()) {
        (Some(f), _) => f.clone(),
        (None, Some(_)) => "path".to_string(),
        (None, None) if multi_label => "labels".to_string(),
        (None, None) => "label".to_string(),
    };
    let read = ReadOptions {
        text_field: args.text_field.clone(),
        label_field: Some(label_field),
        multi_label,
        ..ReadOptions::default()
    };
    let data = read_examples(&args.data, &read)?;
    let num_labels = clf.labels().len();
    let top_k = match args.top_k {
        Some(k) => Some(k),
        None if num_labels > 2 => Some(2),
        None => None,
    };

    let bar = ProgressBar::new(data.examples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("eval");
    let length_bounds = if args.length_slices == "none" {
        Vec::new()
    } else {
        args.length_slices
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| {
                format!(
                    "--length-slices {:?}: expected numbers like 10,20 or none",
                    args.length_slices
                )
            })?
    };
    if multi_label && args.abstain.min_confidence.is_some() {
        anyhow::bail!("--min-confidence: the safety filter applies to single-label models; this one is multi-label (it has per-label thresholds)");
    }
    let eval_options = EvalOptions {
        top_k,
        calibration_bins: args.bins,
        length_bounds,
        slice_by: args.slice_by.clone(),
        min_confidence: args.abstain.min_confidence()?,
        abstain_label: args.abstain.abstain_label.clone(),
        ..EvalOptions::default()
    };
    let evaluation = evaluate(&clf, &data, &eval_options, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();

    let report = &evaluation.report;
    println!("{} on {}", args.model.display(), args.data.display());
    print!("{report}");
    // Coverage vs accuracy over every example (multi-label runs have no per-example results).
    let selective = (!evaluation.results.is_empty())
        .then(|| {
            tokken_model::abstain::Selective::from_results(
                &evaluation.results,
                num_labels,
                args.abstain.min_confidence,
                &args.abstain.abstain_label,
            )
        })
        .transpose()?;
    let covered = |r: &tokken_model::evaluate::ExampleResult| {
        args.abstain.min_confidence.is_none_or(|p| r.score >= p)
    };
    if let Some(a) = selective.as_ref().and_then(|s| s.abstain.as_ref()) {
        println!(
            "\nsafety filter: --min-confidence {}: {} of {} abstained ({}), coverage {:.4}; the scores above are over the {} covered examples",
            a.min_confidence, a.abstained, a.n, a.abstain_label, a.coverage, a.covered
        );
    }
    if let Some(h) = &report.hierarchy {
        print!("\n{h}");
    }
    if let Some(m) = &report.multi_label {
        print!("\n{m}");
    }
    if args.misclassified > 0 {
        let wrong: Vec<_> = evaluation
            .results
            .iter()
            .zip(&data.examples)
            .filter(|(r, _)| r.pred_index != r.true_index && covered(r))
            .take(args.misclassified)
            .collect();
        println!();
        println!("misclassified (first {} of them):", wrong.len());
        for (r, e) in wrong {
            println!(
                "  line {}: gold {} -> predicted {} ({:.3})  {}",
                r.line, report.labels[r.true_index], report.labels[r.pred_index], r.score, e.text
            );
        }
    }
    if args.json.is_some() || args.report.is_some() {
        // Abstained examples are not mistakes: the report lists covered examples only.
        let (examples, results): (Vec<_>, Vec<_>) = data
            .examples
            .iter()
            .cloned()
            .zip(evaluation.results.iter().cloned())
            .filter(|(_, r)| covered(r))
            .unzip();
        let mut full = EvalReport::new(
            &model,
            &args.data,
            report.clone(),
            &examples,
            &results,
            &ReportOptions::default(),
        )?;
        full.selective = selective.clone();
        for (path, html) in [(&args.json, false), (&args.report, true)] {
            let Some(path) = path else { continue };
            if html {
                full.write_html(path)
            } else {
                full.write_json(path)
            }
            .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
