//! `tokken-cli finetune`: train a classifier (LoRA, full or head-only) into a run dir.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokken_model::data::parse_label_list;
use tokken_model::hierarchy::{Hierarchy, HierarchyLoss};
use tokken_model::template::Template;
use tokken_model::train::{ConfigDropouts, LoraConfig, LossConfig, TrainMode, TrainSetup};
use tokken_model::trainer::{AdamWConfig, Event, ScheduleKind, TrainConfig, Trainer};

/// Flags of `tokken-cli finetune`.
#[derive(clap::Args)]
#[command(
    about = "Fine-tune a BERT classifier (LoRA, full or head-only) into a run dir",
    long_about = "Fine-tune a BERT classifier on labelled texts and write a run dir: \
    adapter_config.json + adapter_model.safetensors (LoRA, PEFT-compatible), or a full HF \
    model (--mode full), or the head (--mode head); labels.json, the tokenizer files, \
    train_log.jsonl, metrics.json (best eval), train_config.json and checkpoint/ (for \
    --resume). The run dir is a model for `predict`, `eval` and `merge`.\n\n\
    Data: JSONL / CSV / TSV with a text field and a label field (--text-field, --label-field).\n\n\
    Example:\n  tokken-cli finetune --model cl-tohoku-bert-base-japanese-v3 \\\n    \
    --train data/headlines/train.jsonl --eval data/headlines/dev.jsonl --out runs/news"
)]
pub struct Args {
    #[command(flatten)]
    device: crate::device_arg::DeviceArg,
    /// Base model dir (HF layout).
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    model: Option<PathBuf>,
    /// Training data (.jsonl, .csv, .tsv).
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    train: Option<PathBuf>,
    /// Eval data, evaluated after each epoch.
    #[arg(long, value_name = "FILE", conflicts_with = "eval_split")]
    eval: Option<PathBuf>,
    /// Hold out this fraction of --train (stratified by label, seeded) for evaluation.
    #[arg(long, value_name = "FRACTION")]
    eval_split: Option<f64>,
    /// The run dir to write.
    #[arg(long, value_name = "RUN_DIR", required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in RUN_DIR from its last checkpoint, with its saved settings.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// What trains: lora (adapters + classifier), full (every weight), head (classifier).
    #[arg(long, default_value = "lora", value_parser = ["lora", "full", "head"])]
    mode: String,
    #[arg(long, default_value_t = 8)]
    lora_r: usize,
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f32,
    #[arg(long, default_value_t = 0.1)]
    lora_dropout: f32,
    /// LoRA target modules (names or name suffixes, PEFT's rule).
    #[arg(long, value_delimiter = ',', default_value = "query,value")]
    lora_targets: Vec<String>,
    /// Epochs (ignored with --max-steps).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Optimizer steps in all (overrides --epochs).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Examples per micro-batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Micro-batches per optimizer step (same result as a batch this many times larger).
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Peak learning rate (default: 2e-4 lora, 2e-5 full, 1e-3 head).
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Warmup as a fraction of all steps.
    #[arg(long, default_value_t = 0.1, conflicts_with = "warmup_steps")]
    warmup_ratio: f64,
    #[arg(long)]
    warmup_steps: Option<u64>,
    #[arg(long, default_value = "linear", value_parser = ["linear", "cosine", "constant"])]
    schedule: String,
    /// Clip the global gradient norm (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f32,
    /// Longest input in tokens, [CLS]/[SEP] included.
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Training precision: f32 (reference), or bf16 (frozen base weights in bf16 with f32
    /// accumulation; LoRA / classifier weights, optimizer state and loss stay f32; LoRA and
    /// head-only modes).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// auto (inverse class frequency), none, or one weight per label: w1,w2,...
    #[arg(long, default_value = "none")]
    class_weights: String,
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f32,
    /// Label names in class order (default: the labels found in --train, sorted).
    #[arg(long, value_name = "A,B,C")]
    labels: Option<String>,
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Label field (default `label`, `labels` with --multi-label, `path` with --hierarchy).
    #[arg(long)]
    label_field: Option<String>,
    /// Multi-label data (a list of labels per example; BCE loss). Per-label thresholds are
    /// tuned on the eval set and saved as thresholds.json.
    #[arg(long)]
    multi_label: bool,
    /// Label tree (JSON, or YAML when the name ends in .yaml/.yml; e.g. data/hierarchy.json):
    /// labels are paths like 国際/経済 (field `path` unless --label-field says otherwise);
    /// one softmax head per level, the child
    /// level masked to the parent's children; predictions are whole paths of the tree.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["multi_label", "labels"])]
    hierarchy: Option<PathBuf>,
    /// Loss weight of each --hierarchy level, top first (default 1 for every level).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "W1,W2",
        requires = "hierarchy"
    )]
    level_weights: Option<Vec<f32>>,
    /// Evaluate after every epoch (needs --eval or --eval-split).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    eval_every_epoch: bool,
    /// Stop after N evaluations without a better macro-F1.
    #[arg(long, value_name = "N")]
    early_stopping: Option<usize>,
    /// Also write checkpoint/ every N optimizer steps (always after each epoch).
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<u64>,
    /// Stop after N optimizer steps in all, leaving a checkpoint for --resume.
    #[arg(long, value_name = "N")]
    stop_after: Option<u64>,
    /// Start from this PEFT adapter dir instead of a fresh adapter.
    #[arg(long, value_name = "DIR")]
    init_adapter: Option<PathBuf>,
    /// Keep the file order (no shuffling, no length grouping).
    #[arg(long)]
    no_shuffle: bool,
    /// Dropout after embeddings / before residuals (default: the model's config.json).
    #[arg(long)]
    hidden_dropout: Option<f32>,
    /// Dropout on the attention probabilities (default: the model's config.json).
    #[arg(long)]
    attention_dropout: Option<f32>,
    /// Dropout before the classifier (default: the model's config.json).
    #[arg(long)]
    classifier_dropout: Option<f32>,
    /// MeCab dictionary dir (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
    /// Bias mitigation: re-weight training examples so every value of this data field has
    /// the same total weight, s_i = N / (G · n_g) (N examples, G groups, n_g examples in
    /// the example's group; examples without the field form the group "(none)").
    #[arg(long, value_name = "FIELD")]
    group_weights: Option<String>,
    /// Bias mitigation: add a term-swapped copy (same label) of every training example that
    /// contains a term of this probe file, e.g. data/probes/bias_probes.jsonl (data/README.md).
    #[arg(long, value_name = "PROBES")]
    augment_counterfactual: Option<PathBuf>,
    /// Reasoning-step template given with every input: none, cot-ja (steps as segment A,
    /// the text as segment B), cot-ja-prefix (one sequence), cot-hier (names the levels of
    /// the labels in use) or a JSON file {"name", "mode": "pair"|"prefix", "steps" or
    /// "template" with {text}}. Saved as template.json; predict and eval apply it again.
    #[arg(long, value_name = "NAME|FILE")]
    template: Option<String>,
    /// No progress bar (log lines only).
    #[arg(long)]
    quiet: bool,
    /// Pack the frozen base weights into the GEMM layout on every call instead of once:
    /// saves their two packed copies (BERT-base: about 650 MiB in f32, 330 MiB with
    /// --dtype bf16) for a step about 3 % slower (CPU only; results are bit for bit the same).
    #[arg(long)]
    no_prepack: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.resolve()?;
    let mut trainer = match &args.resume {
        Some(dir) => {
            let t = Trainer::resume(dir).with_context(|| format!("resuming {}", dir.display()))?;
            eprintln!(
                "resuming {} at step {} (epoch {})",
                dir.display(),
                t.state.step,
                t.state.epoch + 1
            );
            t
        }
        None => {
            let config = train_config(&args)?;
            let out = args.out.clone().context("--out is required")?;
            Trainer::new(config, &out).with_context(|| format!("setting up {}", out.display()))?
        }
    };
    trainer.stop_after = args.stop_after;
    trainer.model.set_prepack(!args.no_prepack);
    args.device.attach_trainer(device, &mut trainer)?;
    eprintln!(
        "{} train / {} eval examples, {} labels, mode {:?}, {} trainable parameters, {} steps",
        trainer.train.len(),
        trainer.eval.as_ref().map_or(0, |e| e.len()),
        trainer.config.labels.len(),
        trainer.config.setup.mode,
        trainer.model.num_trainable(),
        trainer.total_steps()
    );
    crate::bias::describe_mitigation(&trainer);
    let bar = ProgressBar::new(trainer.total_steps());
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    let mut loss_avg: Option<f64> = None;
    let mut on_event = |e: &Event| {
        match e {
        Event::Start { start_step, .. } => bar.set_position(*start_step),
        Event::Step {
            step,
            epoch,
            loss,
            lr,
            tokens_per_s,
            ..
        } => {
            let avg = loss_avg.map_or(*loss, |a| 0.9 * a + 0.1 * loss);
            loss_avg = Some(avg);
            bar.set_position(*step);
            bar.set_message(format!(
                "epoch {} loss {avg:.4} lr {lr:.2e} {tokens_per_s:.0} tok/s",
                epoch + 1
            ));
        }
        Event::Eval {
            step,
            epoch,
            loss,
            report,
            best,
        } => bar.println(format!(
            "eval after epoch {epoch} (step {step}): loss {loss:.4} accuracy {:.4} macro-F1 {:.4}{}",
            report.accuracy,
            report.macro_f1,
            if *best { "  (best so far: saved)" } else { "" }
        )),
        Event::EarlyStop { step, patience } => bar.println(format!(
            "early stopping at step {step}: no better macro-F1 in {patience} evaluations"
        )),
        Event::Checkpoint { .. } => {}
    }
    };
    let result = trainer.run(&mut on_event);
    bar.finish_and_clear();
    result?;
    let out = &trainer.out;
    if trainer.interrupted() && trainer.state.step < trainer.total_steps() {
        eprintln!(
            "stopped after step {} as asked (checkpoint saved); continue with: tokken-cli finetune --resume {}",
            trainer.state.step,
            out.display()
        );
        return Ok(());
    }
    match (trainer.state.best_macro_f1, trainer.state.best_step) {
        (Some(f1), Some(step)) => eprintln!(
            "done: {} steps; best eval macro-F1 {f1:.4} at step {step}, saved in {}",
            trainer.state.step,
            out.display()
        ),
        _ => eprintln!(
            "done: {} steps; model saved in {}",
            trainer.state.step,
            out.display()
        ),
    }
    Ok(())
}

fn train_config(args: &Args) -> anyhow::Result<TrainConfig> {
    let model = crate::model_arg::resolve(&args.model.clone().context("--model is required")?)?;
    let train = args.train.clone().context("--train is required")?;
    let mode = match args.mode.as_str() {
        "full" => TrainMode::Full,
        "head" => TrainMode::HeadOnly,
        _ => TrainMode::Lora,
    };
    let lr = args.lr.unwrap_or(match mode {
        TrainMode::Lora => 2e-4,
        TrainMode::Full => 2e-5,
        TrainMode::HeadOnly => 1e-3,
    });
    let labels = match &args.labels {
        Some(list) => parse_label_list(list)?,
        None => Vec::new(),
    };
    let (class_weights, auto_class_weights) = match args.class_weights.as_str() {
        "none" => (None, false),
        "auto" => (None, true),
        list => {
            let w: Vec<f32> = list
                .split(',')
                .map(|s| s.trim().parse::<f32>())
                .collect::<Result<_, _>>()
                .with_context(|| {
                    format!("--class-weights {list:?}: expected auto, none or numbers w1,w2,...")
                })?;
            (Some(w), false)
        }
    };
    let hierarchy = match &args.hierarchy {
        Some(path) => {
            let mut h = HierarchyLoss::new(Hierarchy::from_file(path)?);
            if let Some(w) = &args.level_weights {
                h.level_weights = w.clone();
            }
            Some(h)
        }
        None => None,
    };
    let label_field = match (&args.label_field, &hierarchy) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(_)) => Some("path".to_string()),
        (None, None) => None,
    };
    let dropouts = ConfigDropouts::from_file(&model.join("config.json"))?;
    let mut setup = TrainSetup::with_dropouts(
        mode,
        LoraConfig {
            r: args.lora_r,
            alpha: args.lora_alpha,
            dropout: args.lora_dropout,
            target_modules: args.lora_targets.clone(),
        },
        LossConfig {
            class_weights,
            label_smoothing: args.label_smoothing,
            multi_label: args.multi_label,
            hierarchy,
        },
        dropouts,
    );
    if let Some(p) = args.hidden_dropout {
        setup.hidden_dropout = p;
    }
    if let Some(p) = args.attention_dropout {
        setup.attention_dropout = p;
    }
    if let Some(p) = args.classifier_dropout {
        setup.classifier_dropout = p;
    }
    let schedule = match args.schedule.as_str() {
        "cosine" => ScheduleKind::Cosine,
        "constant" => ScheduleKind::Constant,
        _ => ScheduleKind::Linear,
    };
    Ok(TrainConfig {
        model,
        train,
        eval: args.eval.clone(),
        eval_split: args.eval_split,
        text_field: args.text_field.clone(),
        label_field,
        multi_label: args.multi_label,
        labels,
        setup,
        auto_class_weights,
        epochs: args.epochs,
        max_steps: args.max_steps,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        lr,
        adamw: AdamWConfig {
            weight_decay: args.weight_decay,
            max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
            ..AdamWConfig::default()
        },
        warmup_ratio: args.warmup_ratio,
        warmup_steps: args.warmup_steps,
        schedule,
        max_length: args.max_length,
        seed: args.seed,
        shuffle: !args.no_shuffle,
        eval_every_epoch: args.eval_every_epoch,
        early_stopping: args.early_stopping,
        checkpoint_every: args.checkpoint_every,
        init_adapter: args.init_adapter.clone(),
        dicdir: args.dicdir.clone(),
        mitigation: tokken_model::bias::Mitigation {
            group_weights: args.group_weights.clone(),
            augment_counterfactual: args.augment_counterfactual.clone(),
        },
        dtype: args.dtype.parse()?,
        template: args
            .template
            .as_deref()
            .map(Template::load)
            .transpose()
            .context("--template")?,
    })
}
