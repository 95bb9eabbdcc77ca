//! Edge cases against HF `BertJapaneseTokenizer` (transformers 5.24, fugashi 1.5.2,
//! unidic-lite 1.0.8): `tests/data/hf_edge_cases.jsonl`, written by
//! `scripts/reference/tokenizer_edge_cases.py`. Literal and full-width special tokens, odd
//! whitespace, NUL, NFKC, words over 100 chars, astral chars, lower-casing, pairs under every
//! truncation strategy, padding to max length. Needs the vocabularies in `../shared/ref`.

use std::path::Path;

use serde_json::Value;
use tokken_tokenizer::{
    find_dicdir, Analyzer, EncodeOptions, Padding, Tokenizer, TokenizerConfig, Truncation, Vocab,
};

#[test]
fn matches_hf_on_edge_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../shared/ref");
    if !shared.exists() {
        eprintln!("skipping: ../shared/ref not found");
        return;
    }
    let dicdir = match find_dicdir(None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipping: no MeCab dictionary: {e}");
            return;
        }
    };
    let v3 = shared.join("bert-base-japanese-v3");
    let wordpiece = Tokenizer::from_model_dir(&v3, Some(&dicdir)).unwrap();
    let character = Tokenizer::from_model_dir(&shared.join("char-7027"), Some(&dicdir)).unwrap();
    let lower = Tokenizer::new(
        Analyzer::open(&dicdir).unwrap(),
        Vocab::from_file(&v3.join("vocab.txt")).unwrap(),
        TokenizerConfig {
            do_lower_case: true,
            ..TokenizerConfig::default()
        },
    )
    .unwrap();

    let cases = std::fs::read_to_string(root.join("tests/data/hf_edge_cases.jsonl")).unwrap();
    let mut bad = 0;
    let mut total = 0;
    for (i, line) in cases.lines().enumerate() {
        let c: Value = serde_json::from_str(line).unwrap();
        let tok = match c["mode"].as_str().unwrap() {
            "wordpiece" => &wordpiece,
            "character" => &character,
            "lower" => &lower,
            m => panic!("line {}: unknown mode {m}", i + 1),
        };
        let opts = EncodeOptions {
            truncation: match c["truncation"].as_str() {
                None => Truncation::None,
                Some("longest_first") => Truncation::LongestFirst,
                Some("only_first") => Truncation::OnlyFirst,
                Some("only_second") => Truncation::OnlySecond,
                Some(s) => panic!("line {}: truncation {s}", i + 1),
            },
            max_length: c["max_length"].as_u64().map(|m| m as usize),
            padding: match c["padding"].as_str() {
                None => Padding::None,
                Some("max_length") => Padding::MaxLength,
                Some(s) => panic!("line {}: padding {s}", i + 1),
            },
            ..EncodeOptions::default()
        };
        let text = c["text"].as_str().unwrap();
        let enc = match c["text_pair"].as_str() {
            Some(b) => tok.encode_pair(text, b, &opts),
            None => tok.encode(text, &opts),
        };
        let want = |key: &str| -> Option<Vec<u32>> {
            c[key]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_u64().unwrap() as u32).collect())
        };
        total += 1;
        let ids_ok = want("ids").unwrap() == enc.ids;
        let types_ok = want("type_ids").is_none_or(|t| t == enc.type_ids);
        let mask_ok = want("attention_mask").is_none_or(|m| m == enc.attention_mask);
        if !(ids_ok && types_ok && mask_ok) {
            bad += 1;
            let theirs: Vec<&str> = want("ids")
                .unwrap()
                .iter()
                .map(|&id| tok.id_to_token(id))
                .collect();
            eprintln!(
                "MISMATCH line {}: {line}\n  ours: {:?} types {:?} mask {:?}\n  hf tokens: {theirs:?}",
                i + 1,
                tok.tokens(&enc),
                enc.type_ids,
                enc.attention_mask
            );
        }
    }
    eprintln!("{} / {total} HF edge cases identical", total - bad);
    assert!(total > 100, "fixture too small: {total}");
    assert_eq!(bad, 0, "{bad} of {total} edge cases differ");
}
