//! `tokken-cli vocab build`: a character vocabulary from a data file, for training a small
//! model from scratch.

use std::path::PathBuf;

use anyhow::{bail, Context};
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::init::write_atomic;
use tokken_tokenizer::vocab_build::{
    build_char_vocab, char_tokenizer_config, vocab_file_text, CharVocabOptions,
};

/// Flags of `tokken-cli vocab`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Build vocab.txt + tokenizer_config.json from the texts of a data file.
    Build(BuildArgs),
}

/// Flags of `tokken-cli vocab build`.
#[derive(clap::Args)]
#[command(
    long_about = "Build a vocabulary from the texts of a data file (.jsonl, .csv, .tsv; \
    or a plain .txt file, one text per line) and write vocab.txt and tokenizer_config.json \
    (BertJapaneseTokenizer, MeCab words with unidic-lite, then character subwords) into \
    --out, ready for `tokken-cli init --vocab OUT/vocab.txt`.\n\n\
    Example:\n  tokken-cli vocab build --input data/headlines/train.jsonl --mode character --out /tmp/charvocab"
)]
struct BuildArgs {
    /// Data file with the texts.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Subword kind (only character vocabularies can be built).
    #[arg(long, default_value = "character", value_parser = ["character"])]
    mode: String,
    /// Output dir (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Keep characters seen at least this often.
    #[arg(long, default_value_t = 1)]
    min_count: usize,
    /// At most this many tokens (special tokens included).
    #[arg(long)]
    max_size: Option<usize>,
    /// The text field of JSONL / CSV / TSV input.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// model_max_length written to tokenizer_config.json.
    #[arg(long, default_value_t = 512)]
    model_max_length: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Build(a) => build(a),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let is_txt = args
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    let texts: Vec<String> = if is_txt {
        std::fs::read_to_string(&args.input)
            .with_context(|| format!("{}", args.input.display()))?
            .lines()
            .map(String::from)
            .collect()
    } else {
        // Labels are not needed; read them leniently through the label field if present.
        let opts = ReadOptions {
            text_field: args.text_field.clone(),
            ..ReadOptions::default()
        };
        read_examples(&args.input, &opts)?
            .examples
            .into_iter()
            .map(|e| e.text)
            .collect()
    };
    let options = CharVocabOptions {
        min_count: args.min_count,
        max_size: args.max_size,
    };
    let vocab = build_char_vocab(texts.iter().map(String::as_str), &options);
    if vocab.len() <= 5 {
        bail!("{}: no characters found", args.input.display());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    write_atomic(
        &args.out.join("vocab.txt"),
        vocab_file_text(&vocab).as_bytes(),
    )?;
    let config = serde_json::to_vec_pretty(&char_tokenizer_config(args.model_max_length))?;
    write_atomic(&args.out.join("tokenizer_config.json"), &config)?;
    eprintln!(
        "wrote {} ({} tokens from {} texts) and tokenizer_config.json (character subwords)",
        args.out.join("vocab.txt").display(),
        vocab.len(),
        texts.len()
    );
    Ok(())
}
