//! Parity with transformers' `BertJapaneseTokenizer` when `mecab_kwargs` choose the
//! dictionaries, or name none (`scripts/reference/make_mecab_option_fixture.py`): a user
//! dictionary by `-u`, a system dictionary by `-d` with `mecab_dic: null`, no `mecab_kwargs`
//! at all (MecabTokenizer's default: unidic-lite in transformers 5.24), and `mecab_dic:
//! "ipadic"`. The options are rebuilt with this machine's paths; cases skip with a message
//! when the v3 vocabulary (../shared), unidic-lite or ipadic is missing.

mod common;

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tokken_tokenizer::config::MecabDic;
use tokken_tokenizer::{find_dicdir_for, EncodeOptions, Tokenizer};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The fixture's (text, ids) rows of `case`.
fn rows(case: &str) -> Vec<(String, Vec<u32>)> {
    let text = std::fs::read_to_string(data("mecab_option_hf_ids.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["case"] == case)
        .map(|v| {
            let ids = v["ids"].as_array().unwrap();
            (
                v["text"].as_str().unwrap().to_string(),
                ids.iter().map(|i| i.as_u64().unwrap() as u32).collect(),
            )
        })
        .collect()
}

/// A model dir with the v3 vocabulary and `mecab_kwargs` {mecab_dic, mecab_option}.
fn model_dir(case: &str, dic: serde_json::Value, option: &str) -> Option<TempDir> {
    let kwargs = serde_json::json!({"mecab_dic": dic, "mecab_option": option});
    model_dir_with(case, Some(kwargs))
}

/// A model dir with the v3 vocabulary and `mecab_kwargs` (None: the key left out), in a temp
/// dir removed when the returned guard drops (also when the test panics).
fn model_dir_with(case: &str, mecab_kwargs: Option<serde_json::Value>) -> Option<TempDir> {
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ref/bert-base-japanese-v3/vocab.txt");
    if !vocab.is_file() {
        eprintln!("skipping: {} not found", vocab.display());
        return None;
    }
    let tmp = common::scratch(&format!("mecab-option-{case}"));
    let dir = tmp.path();
    std::fs::copy(&vocab, dir.join("vocab.txt")).unwrap();
    let mut config = serde_json::json!({
        "tokenizer_class": "BertJapaneseTokenizer",
        "word_tokenizer_type": "mecab",
        "subword_tokenizer_type": "wordpiece",
        "do_lower_case": false,
    });
    if let Some(kwargs) = mecab_kwargs {
        config["mecab_kwargs"] = kwargs;
    }
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    Some(tmp)
}

fn check(case: &str, dir: &Path) {
    let tok = Tokenizer::from_model_dir(dir, None).unwrap();
    let rows = rows(case);
    assert!(rows.len() > 100, "{case}: {} rows", rows.len());
    for (text, want) in &rows {
        let got = tok.encode(text, &EncodeOptions::default()).ids;
        assert_eq!(&got, want, "{case}: {text}");
    }
}

#[test]
fn user_dictionary_from_mecab_option_matches_transformers() {
    if find_dicdir_for(None, &MecabDic::UnidicLite).is_err() {
        eprintln!("skipping: no unidic-lite");
        return;
    }
    let option = format!("-u {}", data("userdic_a.dic").display());
    if let Some(dir) = model_dir("userdic", "unidic_lite".into(), &option) {
        check("userdic", dir.path());
    }
}

#[test]
fn system_dictionary_from_mecab_option_matches_transformers() {
    let Ok(ipadic) = find_dicdir_for(None, &MecabDic::Other("ipadic".into())) else {
        eprintln!("skipping: no ipadic (pip install ipadic==1.0.0)");
        return;
    };
    let option = format!(r#"-r /dev/null -d "{}""#, ipadic.display());
    if let Some(dir) = model_dir("dicdir", serde_json::Value::Null, &option) {
        check("dicdir", dir.path());
    }
}

/// No `mecab_kwargs` (the v1 models' config): MecabTokenizer's default dictionary, which is
/// unidic-lite since transformers 4.45 (it was ipadic before; 58 of these 183 texts differ).
#[test]
fn no_mecab_kwargs_means_unidic_lite_as_in_transformers() {
    if find_dicdir_for(None, &MecabDic::UnidicLite).is_err() {
        eprintln!("skipping: no unidic-lite");
        return;
    }
    if let Some(dir) = model_dir_with("default", None) {
        check("default", dir.path());
    }
}

/// `mecab_dic: "ipadic"` is found through the ipadic package, as transformers finds it.
#[test]
fn named_ipadic_matches_transformers() {
    if find_dicdir_for(None, &MecabDic::Other("ipadic".into())).is_err() {
        eprintln!("skipping: no ipadic (pip install ipadic==1.0.0)");
        return;
    }
    let kwargs = serde_json::json!({"mecab_dic": "ipadic"});
    if let Some(dir) = model_dir_with("ipadic", Some(kwargs)) {
        check("ipadic", dir.path());
    }
}
