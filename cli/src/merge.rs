//! `tokken-cli merge`: a run dir (LoRA, head-only or full) as a plain HF model dir.

use std::path::PathBuf;

use anyhow::{bail, Context};
use tokken_model::hierarchy::run_dir::HIERARCHY_FILE;
use tokken_model::init::write_atomic;
use tokken_model::run::load_params;
use tokken_model::trainer::export::{copy_tokenizer_files, write_hf_model, write_labels};
use tokken_model::trainer::thresholds::THRESHOLDS_FILE;

/// Flags of `tokken-cli merge`.
#[derive(clap::Args)]
#[command(
    about = "Merge a fine-tuning run dir into a plain HF model dir",
    long_about = "Write the model of a run dir (LoRA merged into the base weights: \
    W + alpha/r · B·A) as a plain HF BertForSequenceClassification dir: config.json with \
    id2label, model.safetensors, vocab.txt, tokenizer_config.json. transformers loads it with \
    AutoModelForSequenceClassification.from_pretrained(DIR).\n\n\
    Example:\n  tokken-cli merge runs/news --out models/news-merged"
)]
pub struct Args {
    /// The run dir written by `finetune`.
    #[arg(value_name = "RUN_DIR")]
    run_dir: PathBuf,
    /// Output dir (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace a model already in --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.out.join("config.json").exists() && !args.force {
        bail!(
            "{} already holds a model (pass --force to replace it)",
            args.out.display()
        );
    }
    if args.run_dir.join(HIERARCHY_FILE).is_file() {
        bail!(
            "{} is a hierarchical run (--hierarchy): its classifier holds one softmax per level of \
             the label tree, masked by the parent, which a plain BertForSequenceClassification \
             cannot express (its arg-max over all nodes is not a path). Use the run dir itself \
             with `predict` / `eval`.",
            args.run_dir.display()
        );
    }
    let params = load_params(&args.run_dir)
        .with_context(|| format!("loading {}", args.run_dir.display()))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    copy_tokenizer_files(&args.run_dir, &args.out)?;
    // The reasoning-step template (and the max length it was trained with) goes with the
    // model: predict / eval apply it from there.
    let template = args.run_dir.join(tokken_model::template::TEMPLATE_FILE);
    if template.is_file() {
        let bytes = std::fs::read(&template).with_context(|| format!("{}", template.display()))?;
        write_atomic(
            &args.out.join(tokken_model::template::TEMPLATE_FILE),
            &bytes,
        )?;
    }
    write_labels(
        &args.out,
        &params.config.id2label,
        params.config.problem_type.as_deref(),
    )?;
    write_hf_model(&args.out, &params)?;
    let thresholds = args.run_dir.join(THRESHOLDS_FILE);
    if thresholds.is_file() {
        // multi-label decisions keep their tuned thresholds
        let bytes =
            std::fs::read(&thresholds).with_context(|| format!("{}", thresholds.display()))?;
        write_atomic(&args.out.join(THRESHOLDS_FILE), &bytes)?;
    }
    eprintln!(
        "wrote {} ({} labels: {})",
        args.out.display(),
        params.config.num_labels(),
        params.config.id2label.join(", ")
    );
    Ok(())
}
