//! Parity with MeCab + ipadic (as fugashi runs it; `scripts/reference/make_ipadic_fixture.py`)
//! on the bundled test headlines and texts that reach the unknown-word rules: the analyzer is
//! not tied to unidic-lite's matrix, character classes or unknown-word entries.
//!
//! The dictionary is PyPI's `ipadic` (`pip install ipadic==1.0.0`), found through python3 or
//! `TOKKEN_IPADIC_DICDIR`; the test skips with a message when neither has it.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::mecab_reference::compare;
use tokken_tokenizer::Analyzer;

/// The compiled ipadic of PyPI's `ipadic` package, if installed.
fn ipadic_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TOKKEN_IPADIC_DICDIR") {
        return Some(PathBuf::from(dir));
    }
    let out = Command::new("python3")
        .args(["-c", "import ipadic; print(ipadic.DICDIR)"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && dir.join("sys.dic").exists()).then_some(dir)
}

#[test]
fn bundled_headlines_match_mecab_with_ipadic() {
    let Some(dir) = ipadic_dir() else {
        eprintln!("skipping: no ipadic (pip install ipadic==1.0.0, or set TOKKEN_IPADIC_DICDIR)");
        return;
    };
    let a = Analyzer::open(&dir).expect("ipadic opens");
    assert_eq!(
        a.dictionary().matrix.lsize(),
        1316,
        "not ipadic: {}",
        dir.display()
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ipadic_mecab.jsonl");
    let (total, bad) = compare(&a, &path);
    eprintln!("{}/{} texts identical", total - bad, total);
    assert!(total >= 180, "the fixture holds {total} texts");
    assert_eq!(bad, 0, "{bad} of {total} texts differ from MeCab + ipadic");
}
