//! Parity with MeCab 0.996 + unidic-lite (as fugashi runs it) on the 5,948 livedoor
//! titles: every surface and every feature string must be identical.

use std::path::{Path, PathBuf};

mod common;

use common::mecab_reference::compare;
use tokken_tokenizer::{find_dicdir, Analyzer};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn analyzer() -> Option<Analyzer> {
    match find_dicdir(None) {
        Ok(dir) => Some(Analyzer::open(&dir).expect("the dictionary found must open")),
        Err(e) => {
            eprintln!("skipping: no dictionary ({e})");
            None
        }
    }
}

#[test]
fn livedoor_titles_match_mecab() {
    let path = shared().join("ref/tokenize/livedoor-titles.mecab.jsonl");
    if !path.exists() {
        eprintln!("skipping: ../shared/ref/tokenize/livedoor-titles.mecab.jsonl not found");
        return;
    }
    let Some(a) = analyzer() else { return };
    let (total, bad) = compare(&a, &path);
    eprintln!("{}/{} titles identical", total - bad, total);
    assert_eq!(bad, 0, "{bad} of {total} titles differ from MeCab");
}
