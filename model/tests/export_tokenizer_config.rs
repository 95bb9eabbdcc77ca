//! Run dirs and merged models say which MeCab dictionary they were tokenized with: a config
//! that names none (whose meaning changed in transformers 4.45) gets unidic-lite written
//! in; every other config is copied byte for byte.

mod common;

use serde_json::Value;
use tokken_model::trainer::export::{copy_tokenizer_files, pin_default_dictionary};

fn pinned(config: &str) -> Value {
    serde_json::from_slice(&pin_default_dictionary(config.as_bytes().to_vec())).unwrap()
}

#[test]
fn a_mecab_config_without_a_dictionary_gets_unidic_lite() {
    for config in [
        r#"{"word_tokenizer_type": "mecab", "do_lower_case": false}"#,
        r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": null}"#,
        r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": {"normalize_text": true}}"#,
    ] {
        let v = pinned(config);
        assert_eq!(v["mecab_kwargs"]["mecab_dic"], "unidic_lite", "{config}");
        assert_eq!(v["word_tokenizer_type"], "mecab");
    }
    let v =
        pinned(r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": {"normalize_text": false}}"#);
    assert_eq!(
        v["mecab_kwargs"]["normalize_text"], false,
        "other kwargs kept"
    );
}

#[test]
fn other_configs_are_copied_byte_for_byte() {
    for config in [
        r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": {"mecab_dic": "ipadic"}}"#,
        r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": {"mecab_dic": null}}"#,
        r#"{"word_tokenizer_type": "basic"}"#,
        r#"{"tokenizer_class": "BertTokenizer"}"#,
        "not json",
        r#"{"word_tokenizer_type": "mecab", "mecab_kwargs": "odd"}"#,
    ] {
        assert_eq!(
            pin_default_dictionary(config.as_bytes().to_vec()),
            config.as_bytes(),
            "{config}"
        );
    }
}

#[test]
fn copying_a_v1_style_model_dir_pins_the_dictionary() {
    let root = common::scratch("export-tok");
    let (from, to) = (root.path().join("base"), root.path().join("run"));
    std::fs::create_dir_all(&from).unwrap();
    std::fs::create_dir_all(&to).unwrap();
    std::fs::write(from.join("vocab.txt"), "[PAD]\n[UNK]\n").unwrap();
    std::fs::write(
        from.join("tokenizer_config.json"),
        r#"{"do_lower_case": false, "word_tokenizer_type": "mecab", "subword_tokenizer_type": "wordpiece"}"#,
    )
    .unwrap();
    copy_tokenizer_files(&from, &to).unwrap();
    assert_eq!(
        std::fs::read(to.join("vocab.txt")).unwrap(),
        b"[PAD]\n[UNK]\n"
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(to.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!(v["mecab_kwargs"]["mecab_dic"], "unidic_lite");
    assert_eq!(v["subword_tokenizer_type"], "wordpiece");
}
