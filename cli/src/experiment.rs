//! `tokken-cli experiment`: runs over several seeds with mean ± std of the test scores
//! (resumable): `few-shot` (head / LoRA / full on small stratified samples) and `templates`
//! (reasoning-step templates with the same data and budget).

use std::path::PathBuf;

use anyhow::Context;
use tokken_model::data::ReadOptions;
use tokken_model::experiment::few_shot::parse_mode;
use tokken_model::experiment::{run_few_shot, run_templates, FewShotConfig, TemplatesConfig};
use tokken_model::template::Template;
use tokken_model::train::{ConfigDropouts, LoraConfig, LossConfig, TrainMode, TrainSetup};
use tokken_model::trainer::{AdamWConfig, ScheduleKind, TrainConfig};

/// Flags of `tokken-cli experiment`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Few-shot stability: each mode trained on seeded stratified samples; mean ± std.
    FewShot(FewShotArgs),
    /// Reasoning-step templates: each trained with the same data and budget per seed; mean ± std.
    Templates(TemplatesArgs),
}

/// The settings every cell of an experiment shares (model, budget, LoRA, fields).
#[derive(clap::Args)]
struct RunArgs {
    /// Base model dir (HF layout) or hub id.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Epochs per run (ignored with --max-steps).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Optimizer steps per run (overrides --epochs).
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 0.1)]
    warmup_ratio: f64,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    #[arg(long, default_value_t = 8)]
    lora_r: usize,
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f32,
    #[arg(long, value_delimiter = ',', default_value = "query,value")]
    lora_targets: Vec<String>,
    /// Dropout after embeddings / before residuals (default: the model's config.json).
    #[arg(long)]
    hidden_dropout: Option<f32>,
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_field: String,
    #[arg(long, default_value = "label", value_name = "NAME")]
    label_field: String,
    /// Keep every cell's run dir (default: deleted once scored).
    #[arg(long)]
    keep_runs: bool,
    /// MeCab dictionary directory (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
}

/// Flags of `tokken-cli experiment few-shot`.
#[derive(clap::Args)]
#[command(
    long_about = "For each seed, draw a stratified sample of --pool (--shots in all, or \
    per class with --per-class), train every mode in --modes on it with the same budget \
    (--epochs or --max-steps, --batch-size, schedule), evaluate on --test, and print mean ± \
    std (sample std over seeds) of accuracy and macro-F1 per mode. Writes results.json and \
    results.md into --out; each finished (seed, mode) cell is saved as it completes, so a \
    rerun with the same flags skips finished cells and resumes an interrupted one.\n\n\
    Example:\n  tokken-cli experiment few-shot --model models/bert-base-japanese-v3 \\\n    \
    --pool data/headlines/train.jsonl --test data/headlines/test.jsonl --shots 100 --seeds 5 \\\n    \
    --modes head,lora,full --out runs/few-shot"
)]
pub struct FewShotArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Labelled pool to sample training sets from.
    #[arg(long, value_name = "FILE")]
    pool: PathBuf,
    /// Labelled test set.
    #[arg(long, value_name = "FILE")]
    test: PathBuf,
    /// Training examples in all (or per class with --per-class).
    #[arg(long, default_value_t = 100)]
    shots: usize,
    /// --shots counts examples per class.
    #[arg(long)]
    per_class: bool,
    /// Number of seeds (samples): 0, 1, .., N-1 (plus --first-seed).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Modes to train: head, lora, full.
    #[arg(long, value_delimiter = ',', default_value = "head,lora,full")]
    modes: Vec<String>,
    /// Output dir (results.json, results.md, per-cell files).
    #[arg(long, default_value = "runs/few-shot", value_name = "DIR")]
    out: PathBuf,
    /// Peak learning rate of head-only training.
    #[arg(long, default_value_t = 1e-3)]
    lr_head: f64,
    /// Peak learning rate of LoRA training.
    #[arg(long, default_value_t = 2e-4)]
    lr_lora: f64,
    /// Peak learning rate of full fine-tuning.
    #[arg(long, default_value_t = 2e-5)]
    lr_full: f64,
}

/// Flags of `tokken-cli experiment templates`.
#[derive(clap::Args)]
#[command(
    long_about = "For each seed and each template in --templates, fine-tune on --train with \
    the same budget (--mode, --lr, --epochs or --max-steps, --batch-size, schedule; the seed \
    sets initialisation, order and dropout), evaluate on --eval, and print mean ± std (sample \
    std over seeds) of accuracy and macro-F1 per template. Templates: none, cot-ja, \
    cot-ja-prefix, cot-hier, or template JSON files. Writes results.json and results.md into \
    --out; each finished (seed, template) cell is saved as it completes, so a rerun skips \
    finished cells, resumes an interrupted one, and may add templates or seeds.\n\n\
    Example:\n  tokken-cli experiment templates --model models/bert-base-japanese-v3 \\\n    \
    --train data/headlines/train.jsonl --eval data/headlines/test.jsonl \\\n    \
    --templates none,cot-ja,my-steps.json --seeds 3 --epochs 3 --out runs/templates"
)]
pub struct TemplatesArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Labelled training data (every cell trains on all of it).
    #[arg(long, value_name = "FILE")]
    train: PathBuf,
    /// Labelled data every cell is scored on.
    #[arg(long, value_name = "FILE")]
    eval: PathBuf,
    /// Templates to compare: built-in names or template JSON files.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,cot-ja",
        value_name = "NAME|FILE,.."
    )]
    templates: Vec<String>,
    /// Number of seeds: 0, 1, .., N-1 (plus --first-seed).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// What trains: lora, full or head.
    #[arg(long, default_value = "lora", value_parser = ["lora", "full", "head"])]
    mode: String,
    /// Peak learning rate (default: 2e-4 lora, 2e-5 full, 1e-3 head).
    #[arg(long)]
    lr: Option<f64>,
    /// Output dir (results.json, results.md, per-cell files).
    #[arg(long, default_value = "runs/templates", value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::FewShot(a) => few_shot(a),
        Command::Templates(a) => templates(a),
    }
}

/// The per-run settings shared by every cell (`train`, `labels`, `lr`, `seed`, `mode`,
/// `template` are set per cell or by the caller).
fn base_config(args: &RunArgs, mode: TrainMode) -> anyhow::Result<TrainConfig> {
    let model = crate::model_arg::resolve(&args.model)?;
    let dropouts = ConfigDropouts::from_file(&model.join("config.json"))
        .with_context(|| format!("reading {}", model.display()))?;
    let mut setup = TrainSetup::with_dropouts(
        mode,
        LoraConfig {
            r: args.lora_r,
            alpha: args.lora_alpha,
            target_modules: args.lora_targets.clone(),
            ..LoraConfig::default()
        },
        LossConfig::default(),
        dropouts,
    );
    if let Some(p) = args.hidden_dropout {
        setup.hidden_dropout = p;
    }
    Ok(TrainConfig {
        model,
        train: PathBuf::new(),
        eval: None,
        eval_split: None,
        text_field: "text".into(),
        label_field: None,
        multi_label: false,
        labels: Vec::new(),
        setup,
        auto_class_weights: false,
        epochs: args.epochs,
        max_steps: args.max_steps,
        batch_size: args.batch_size,
        grad_accum: 1,
        lr: 0.0,
        adamw: AdamWConfig {
            weight_decay: args.weight_decay,
            ..AdamWConfig::default()
        },
        warmup_ratio: args.warmup_ratio,
        warmup_steps: None,
        schedule: ScheduleKind::Linear,
        max_length: args.max_length,
        seed: 0,
        shuffle: true,
        eval_every_epoch: false,
        early_stopping: None,
        checkpoint_every: None,
        init_adapter: None,
        dicdir: args.dicdir.clone(),
        mitigation: Default::default(),
        template: None,
        dtype: Default::default(),
    })
}

fn read_options(args: &RunArgs) -> ReadOptions {
    ReadOptions {
        text_field: args.text_field.clone(),
        label_field: Some(args.label_field.clone()),
        ..ReadOptions::default()
    }
}

fn few_shot(args: FewShotArgs) -> anyhow::Result<()> {
    let mut modes = Vec::new();
    for name in &args.modes {
        let mode = parse_mode(name).context("--modes")?;
        let lr = match mode {
            TrainMode::HeadOnly => args.lr_head,
            TrainMode::Lora => args.lr_lora,
            TrainMode::Full => args.lr_full,
        };
        if !modes.iter().any(|(m, _)| *m == mode) {
            modes.push((mode, lr));
        }
    }
    let config = FewShotConfig {
        pool: args.pool.clone(),
        test: args.test.clone(),
        read: read_options(&args.run),
        shots: args.shots,
        per_class: args.per_class,
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        modes,
        template: base_config(&args.run, TrainMode::Lora)?,
        out: args.out.clone(),
        keep_runs: args.run.keep_runs,
    };
    let results = run_few_shot(&config, &mut |line| eprintln!("{line}"))?;
    println!("{}", results.to_markdown());
    wrote(&args.out);
    Ok(())
}

fn templates(args: TemplatesArgs) -> anyhow::Result<()> {
    let mode = parse_mode(&args.mode).context("--mode")?;
    let mut base = base_config(&args.run, mode)?;
    base.lr = args.lr.unwrap_or(match mode {
        TrainMode::Lora => 2e-4,
        TrainMode::Full => 2e-5,
        TrainMode::HeadOnly => 1e-3,
    });
    let templates = args
        .templates
        .iter()
        .map(|spec| Template::load(spec.trim()))
        .collect::<Result<Vec<_>, _>>()
        .context("--templates")?;
    let config = TemplatesConfig {
        train: args.train.clone(),
        test: args.eval.clone(),
        read: read_options(&args.run),
        templates,
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        base,
        out: args.out.clone(),
        keep_runs: args.run.keep_runs,
    };
    let results = run_templates(&config, &mut |line| eprintln!("{line}"))?;
    println!("{}", results.to_markdown());
    wrote(&args.out);
    Ok(())
}

fn wrote(out: &std::path::Path) {
    eprintln!(
        "wrote {} and {}",
        out.join("results.json").display(),
        out.join("results.md").display()
    );
}
