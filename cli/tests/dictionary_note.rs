//! A model whose tokenizer_config.json configures MeCab without naming a dictionary is
//! tokenized with unidic-lite (transformers >= 4.45); the CLI says so on stderr, since such
//! configs meant ipadic before. A config that names its dictionary gets no note.

mod common;

use common::{cli, s, scratch, tiny_dir};

fn stderr_of_tokenize(config: &str, name: &str) -> Option<String> {
    if tokken_tokenizer::find_dicdir(None).is_err() {
        eprintln!("skipping: no MeCab dictionary");
        return None;
    }
    let tmp = scratch(name);
    let dir = tmp.path();
    std::fs::copy(tiny_dir().join("vocab.txt"), dir.join("vocab.txt")).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), config).unwrap();
    let out = cli(&["tokenize", "--model", s(dir), "テスト"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_config_without_a_dictionary_is_noted() {
    let Some(stderr) = stderr_of_tokenize(
        r#"{"word_tokenizer_type": "mecab", "subword_tokenizer_type": "character"}"#,
        "unnamed",
    ) else {
        return;
    };
    assert!(stderr.contains("names no MeCab dictionary"), "{stderr}");
    assert!(stderr.contains(r#""mecab_dic": "ipadic""#), "{stderr}");
}

#[test]
fn a_named_dictionary_is_not_noted() {
    let Some(stderr) = stderr_of_tokenize(
        r#"{"word_tokenizer_type": "mecab", "subword_tokenizer_type": "character",
            "mecab_kwargs": {"mecab_dic": "unidic_lite"}}"#,
        "named",
    ) else {
        return;
    };
    assert!(!stderr.contains("MeCab dictionary"), "{stderr}");
}
