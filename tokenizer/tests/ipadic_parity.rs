//! Parity with MeCab + ipadic (as fugashi runs it; `scripts/reference/make_ipadic_fixture.py`)
//! on the bundled test headlines and texts that reach the unknown-word rules: the analyzer is
//! not tied to unidic-lite's matrix, character classes or unknown-word entries.
//!
//! The dictionary is PyPI's `ipadic` (`pip install ipadic==1.0.0`), found as the library
//! finds it (python3's `ipadic.DICDIR`) or through `TOKKEN_IPADIC_DICDIR`; the tests skip with
//! a message when neither has it.

use std::path::{Path, PathBuf};

mod common;

use common::mecab_reference::compare;
use tokken_tokenizer::config::MecabDic;
use tokken_tokenizer::{find_dicdir_for, Analyzer};

/// The compiled ipadic of PyPI's `ipadic` package as the library finds it for a model that
/// names ipadic, if installed (`TOKKEN_IPADIC_DICDIR` overrides).
fn ipadic_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TOKKEN_IPADIC_DICDIR") {
        return Some(PathBuf::from(dir));
    }
    find_dicdir_for(None, &MecabDic::Other("ipadic".into())).ok()
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

/// A model dir whose `tokenizer_config.json` is `config`, with a tiny vocabulary; in a temp
/// dir removed when the returned guard drops (also when the test panics).
fn model_dir(name: &str, config: &str) -> tempfile::TempDir {
    let tmp = common::scratch(&format!("ipadic-{name}"));
    let dir = tmp.path();
    std::fs::write(dir.join("tokenizer_config.json"), config).unwrap();
    std::fs::write(
        dir.join("vocab.txt"),
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n東京\n都\nに\n行く\n",
    )
    .unwrap();
    tmp
}

/// `mecab_dic: "ipadic"` (what the v1 models were pre-trained on): like transformers, tokken
/// finds it through the `ipadic` package, or says how to install it. (A config without
/// `mecab_kwargs` means unidic-lite, as in transformers >= 4.45: mecab_option_parity.rs.)
#[test]
fn named_ipadic_is_found_like_transformers() {
    let dir = model_dir(
        "named",
        r#"{"word_tokenizer_type": "mecab", "subword_tokenizer_type": "wordpiece",
            "mecab_kwargs": {"mecab_dic": "ipadic"}}"#,
    );
    match (
        ipadic_dir(),
        tokken_tokenizer::Tokenizer::from_model_dir(dir.path(), None),
    ) {
        (Some(_), Ok(tok)) => {
            assert_eq!(tok.analyzer().dictionary().matrix.lsize(), 1316);
            let ids = tok.encode("東京都に行く", &Default::default()).ids;
            assert_eq!(ids, [2, 5, 6, 7, 8, 3]);
        }
        (None, Err(e)) => {
            let msg = e.to_string();
            assert!(msg.contains("pip install ipadic"), "{msg}");
        }
        (found, got) => panic!("ipadic package {found:?} but from_model_dir gave {got:?}"),
    }
    // `mecab_dic: null` is MeCab's system dictionary: only a dicdir can name it (the flag, or
    // the variable, which then is the answer: tests/dicdir_env.rs).
    if std::env::var_os("TOKKEN_DICDIR").is_some() {
        return;
    }
    let dir = model_dir(
        "system",
        r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": {"mecab_dic": null}}"#,
    );
    let msg = tokken_tokenizer::Tokenizer::from_model_dir(dir.path(), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tokenizer_config.json") && msg.contains("--dicdir"),
        "{msg}"
    );
}
