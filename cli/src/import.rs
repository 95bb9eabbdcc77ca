//! `tokken-cli import livedoor DIR --out FILE`: corpora in their own layouts → our JSONL.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokken_model::livedoor::{self, ArticleField};

#[derive(Parser)]
#[command(about = "Convert a corpus in its own layout into JSONL ({id, text, label, ...}).")]
pub struct Args {
    #[command(subcommand)]
    corpus: Corpus,
}

#[derive(Subcommand)]
enum Corpus {
    /// The livedoor news corpus (`text/`: one dir per category; each article: URL, date,
    /// title, body). LICENSE.txt, README and CHANGES files are skipped.
    #[command(
        after_help = "With --split the output is three files: FILE with .train, .dev and \
        .test before its extension (out.jsonl → out.train.jsonl, out.dev.jsonl, out.test.jsonl), \
        split per category (stratified) from --seed. Without it, FILE holds every article.\n\n\
        Example:\n  tokken-cli import livedoor ldcc/text --out livedoor.jsonl --split 0.8,0.1,0.1"
    )]
    Livedoor(LivedoorArgs),
}

#[derive(Parser)]
struct LivedoorArgs {
    /// The corpus dir (the one holding dokujo-tsushin/, it-life-hack/, ...).
    dir: PathBuf,
    /// Output JSONL file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// What becomes `text`: title, body or title+body (joined by a newline).
    #[arg(long, default_value = "title", value_parser = clap::builder::ValueParser::new(
        |s: &str| s.parse::<ArticleField>()))]
    field: ArticleField,
    /// Stratified train,dev,test fractions, e.g. 0.8,0.1,0.1 (writes three files).
    #[arg(long, value_name = "TRAIN,DEV,TEST", value_parser = clap::builder::ValueParser::new(
        livedoor::parse_split))]
    split: Option<[f64; 3]>,
    /// Seed of the split's shuffle.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    match args.corpus {
        Corpus::Livedoor(a) => run_livedoor(a),
    }
}

fn run_livedoor(a: LivedoorArgs) -> Result<()> {
    let articles = livedoor::read_corpus(&a.dir)
        .with_context(|| format!("reading the livedoor corpus in {}", a.dir.display()))?;
    let Some(fractions) = a.split else {
        livedoor::write_jsonl(&a.out, &articles, 0..articles.len(), a.field)?;
        eprintln!("{} articles → {}", articles.len(), a.out.display());
        return Ok(());
    };
    let labels: Vec<&str> = articles.iter().map(|x| x.label.as_str()).collect();
    let split = livedoor::split_three_ways(&labels, fractions, a.seed);
    for (part, indices) in [
        ("train", &split.train),
        ("dev", &split.dev),
        ("test", &split.test),
    ] {
        let path = livedoor::part_path(&a.out, part);
        livedoor::write_jsonl(&path, &articles, indices.iter().copied(), a.field)?;
        eprintln!("{part}: {} articles → {}", indices.len(), path.display());
    }
    Ok(())
}
