//! Token ids identical to HF `BertJapaneseTokenizer` (transformers 5.24, fugashi 1.5.2,
//! unidic-lite 1.0.8) on the livedoor golden files in `../shared/ref/tokenize/`:
//! `{id, text, ids}` per line, `ids` with `[CLS]`/`[SEP]`, not truncated.

use std::path::{Path, PathBuf};

use tokken_tokenizer::{find_dicdir, EncodeOptions, Tokenizer};

fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if !dir.join("ref/tokenize").exists() {
        eprintln!("skipping: ../shared/ref/tokenize not found");
        return None;
    }
    if let Err(e) = find_dicdir(None) {
        eprintln!("skipping: no MeCab dictionary: {e}");
        return None;
    }
    Some(dir)
}

struct Golden {
    id: String,
    text: String,
    ids: Vec<u32>,
}

fn read_golden(path: &Path) -> Vec<Golden> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
            Golden {
                id: v["id"].as_str().unwrap().to_string(),
                text: v["text"].as_str().unwrap().to_string(),
                ids: v["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
            }
        })
        .collect()
}

/// Encodes every golden text in parallel and compares ids; prints the first mismatches as
/// tokens, then fails with counts.
fn check(model_dir: &Path, golden_file: &Path) {
    let tok = Tokenizer::from_model_dir(model_dir, None).unwrap();
    let golden = read_golden(golden_file);
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let encs = tok.encode_all(&texts, &EncodeOptions::default());
    let mut bad = 0;
    for (g, e) in golden.iter().zip(&encs) {
        if e.ids != g.ids {
            bad += 1;
            if bad <= 5 {
                let theirs: Vec<&str> = g.ids.iter().map(|&i| tok.id_to_token(i)).collect();
                eprintln!(
                    "MISMATCH {} {:?}\n  ours: {:?}\n  hf:   {:?}",
                    g.id,
                    g.text,
                    tok.tokens(e),
                    theirs
                );
            }
        }
    }
    eprintln!(
        "{}: {} / {} identical",
        golden_file.file_name().unwrap().to_string_lossy(),
        golden.len() - bad,
        golden.len()
    );
    assert_eq!(bad, 0, "{bad} of {} texts differ", golden.len());
}

#[test]
fn titles_wordpiece() {
    let Some(s) = shared() else { return };
    check(
        &s.join("ref/bert-base-japanese-v3"),
        &s.join("ref/tokenize/livedoor-titles.ids.jsonl"),
    );
}

#[test]
fn body_lines_wordpiece() {
    let Some(s) = shared() else { return };
    check(
        &s.join("ref/bert-base-japanese-v3"),
        &s.join("ref/tokenize/livedoor-lines.ids.jsonl"),
    );
}

#[test]
fn titles_character() {
    let Some(s) = shared() else { return };
    check(
        &s.join("ref/char-7027"),
        &s.join("ref/tokenize/livedoor-titles.char.ids.jsonl"),
    );
}
