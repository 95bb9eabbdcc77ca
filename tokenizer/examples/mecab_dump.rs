//! Prints the analyzer's words for every `{"text": ...}` line of a JSONL file as
//! `{"words": [[surface, features], ...]}` lines (features CSV-unquoted, as fugashi gives
//! them), to compare with MeCab on any corpus:
//! `cargo run --release -p tokken-tokenizer --example mecab_dump -- <in.jsonl> > out.jsonl`.

use std::io::{BufWriter, Write};

use tokken_tokenizer::{find_dicdir, Analyzer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: mecab_dump <in.jsonl>")?;
    let analyzer = Analyzer::open(&find_dicdir(None)?)?;
    let mut worker = analyzer.worker();
    let mut out = Vec::new();
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    for (i, line) in std::fs::read_to_string(&path)?.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        let text = v["text"]
            .as_str()
            .ok_or_else(|| format!("{path}:{}: no text", i + 1))?;
        worker.analyze(text, &mut out);
        let words: Vec<(String, String)> = out
            .iter()
            .map(|m| {
                let fields: Vec<_> = analyzer.feature_fields(m).collect();
                (m.surface(text).to_string(), fields.join(","))
            })
            .collect();
        writeln!(w, "{}", serde_json::json!({ "words": words }))?;
    }
    Ok(())
}
