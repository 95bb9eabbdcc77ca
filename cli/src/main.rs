//! `tokken-cli`: fine-tune, evaluate, explain and serve Japanese BERT classifiers.
//!
//! One file per subcommand; each only parses flags and calls library APIs.

mod abstain_arg;
mod bench;
mod bias;
mod compare;
mod device_arg;
mod eval;
mod experiment;
mod explain;
mod finetune;
mod import;
mod init;
mod interrupt;
mod line_batches;
mod merge;
mod model_arg;
mod models;
mod predict;
mod tokenize;
mod vocab;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tokken-cli",
    version,
    about = "Fine-tune, evaluate and serve Japanese BERT classifiers (cl-tohoku/bert-base-japanese-v3 and friends) with no Python at run time.",
    long_about = None
)]
struct Cli {
    /// Worker threads for compute (default: all cores; env TOKKEN_THREADS).
    #[arg(long, global = true)]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Split text into MeCab words and BERT token ids exactly as HF BertJapaneseTokenizer does.
    Tokenize(tokenize::Args),
    /// Write a randomly initialised BERT model in HF layout (tests, benchmarks, from-scratch runs).
    Init(init::Args),
    /// Classify texts with a model dir and print JSONL predictions.
    Predict(predict::Args),
    /// Score a model on labelled data: accuracy, F1, per-class table, confusion matrix.
    Eval(eval::Args),
    /// Measure speed as a fraction of this machine's measured peak (JSON lines).
    Bench(bench::Args),
    /// Fine-tune a classifier (LoRA, full or head-only) into a run dir.
    Finetune(Box<finetune::Args>),
    /// Merge a run dir into a plain HF model dir.
    Merge(merge::Args),
    /// Build a vocabulary (character subwords) from a data file.
    Vocab(vocab::Args),
    /// Compare two models on the same data: before/after table, per-class deltas, McNemar test.
    Compare(compare::Args),
    /// Run experiments (few-shot over seeds and modes) and report mean ± std.
    Experiment(experiment::Args),
    /// List the models in the local Hugging Face cache (usable as --model org/name).
    Models(models::Args),
    /// Convert a corpus layout (livedoor news) into JSONL data files.
    Import(import::Args),
    /// Bias check: flip rate on term-swapped probe pairs, per-group accuracy gap.
    Bias(bias::Args),
    /// Explain predictions: per-token attributions (integrated gradients, gradient x input,
    /// attention rollout) as JSON, terminal or HTML; --report: shortcut report over labelled data.
    Explain(explain::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokken_engine::threads::init(cli.threads)?;
    match cli.command {
        Command::Tokenize(args) => tokenize::run(args),
        Command::Init(args) => init::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Finetune(args) => {
            interrupt::install()?;
            finetune::run(*args)
        }
        Command::Merge(args) => merge::run(args),
        Command::Vocab(args) => vocab::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Models(args) => models::run(args),
        Command::Import(args) => import::run(args),
        Command::Bias(args) => bias::run(args),
        Command::Explain(args) => explain::run(args),
    }
}
