//! `tokken-cli init`: write a randomly initialised BertForSequenceClassification model dir
//! (HF layout, loadable by `transformers` and tokken).

use std::path::PathBuf;

use anyhow::{bail, Context};
use tokken_model::config::default_labels;
use tokken_model::init::{vocab_size, write_random_model, TokenizerSource};
use tokken_model::BertConfig;

/// Flags of `tokken-cli init`.
#[derive(clap::Args)]
#[command(
    about = "Write a randomly initialised BERT classifier in HF layout",
    long_about = "Write a randomly initialised BertForSequenceClassification model dir: config.json \
    (with id2label / label2id), model.safetensors (HF key names), vocab.txt and \
    tokenizer_config.json. Weights follow transformers' _init_weights: N(0, initializer_range) \
    for dense and embedding weights, zero biases, LayerNorm 1/0, the padding row zeroed.\n\n\
    Example:\n  tokken-cli init --config ../shared/ref/bert-base-japanese-v3/config.json \\\n    \
    --vocab ../shared/ref/bert-base-japanese-v3/vocab.txt --num-labels 9 --out /tmp/base9"
)]
pub struct Args {
    /// Model size: `tiny` (C 64, 2 layers), `base` (BERT-base), `large` (BERT-large), or a
    /// config.json path (its vocab_size must match the vocab). Presets take the vocab's size.
    #[arg(long, value_name = "tiny|base|large|FILE")]
    config: String,
    /// The vocab.txt to use; tokenizer_config.json is copied from its directory when present.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "model",
        required_unless_present = "model"
    )]
    vocab: Option<PathBuf>,
    /// Take vocab.txt and tokenizer_config.json from this HF model dir instead.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Number of labels (named LABEL_0..); default: the config's, else 2.
    #[arg(long)]
    num_labels: Option<usize>,
    /// Label names, comma-separated (sets the number of labels).
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    labels: Option<Vec<String>>,
    /// Random seed (same seed, same weights on every machine).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (created; existing model files are only replaced with --force).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace an existing model in --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = args
        .model
        .as_deref()
        .map(crate::model_arg::resolve)
        .transpose()?;
    let (source, vocab) = match (&args.vocab, &model) {
        (Some(v), _) => (TokenizerSource::Vocab(v), v.clone()),
        (None, Some(d)) => (TokenizerSource::ModelDir(d), d.join("vocab.txt")),
        (None, None) => bail!("give --vocab FILE or --model DIR"),
    };
    let n_vocab = vocab_size(&vocab)?;
    let mut config = match args.config.as_str() {
        name @ ("tiny" | "base" | "large") => {
            BertConfig::preset(name, n_vocab, 2).context("unknown preset")?
        }
        path => {
            anyhow::ensure!(
                std::path::Path::new(path).is_file(),
                "--config: `{path}` is neither tiny, base, large nor a config.json file"
            );
            BertConfig::from_file(std::path::Path::new(path))?
        }
    };
    match (&args.labels, args.num_labels) {
        (Some(labels), n) => {
            if labels.iter().any(|l| l.trim().is_empty()) {
                bail!("--labels: empty label name in {labels:?}");
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = labels.iter().find(|l| !seen.insert(l.as_str())) {
                bail!("--labels: `{dup}` appears twice");
            }
            if let Some(n) = n.filter(|&n| n != labels.len()) {
                bail!(
                    "--num-labels {n} disagrees with the {} names in --labels",
                    labels.len()
                );
            }
            config.id2label = labels.clone();
        }
        (None, Some(0)) => bail!("--num-labels must be at least 1"),
        (None, Some(n)) => config.id2label = default_labels(n),
        (None, None) => {}
    }
    if args.out.join("config.json").exists() && !args.force {
        bail!(
            "{} already holds a model (pass --force to replace it)",
            args.out.display()
        );
    }
    write_random_model(&args.out, &config, source, args.seed)?;
    eprintln!(
        "wrote {} (C {}, L {}, NH {}, V {}, {} labels, seed {})",
        args.out.display(),
        config.hidden_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.vocab_size,
        config.num_labels(),
        args.seed
    );
    Ok(())
}
