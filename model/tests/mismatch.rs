//! Model dirs whose config.json, vocab.txt and weights disagree are refused, and the error
//! names what disagrees (built from the tiny-bert fixture by editing its config).

mod common;

use serde_json::Value;
use tempfile::TempDir;
use tokken_model::Classifier;

/// A copy of tiny-bert in a fresh temp dir with `edit` applied to its config.json; the dir is
/// removed when the returned guard drops (also when the test panics).
fn tiny_with(name: &str, edit: impl FnOnce(&mut Value)) -> TempDir {
    let tmp = common::scratch(&format!("mismatch-{name}"));
    let dir = tmp.path();
    for f in [
        "config.json",
        "vocab.txt",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(common::tiny_dir().join(f), dir.join(f)).unwrap();
    }
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    tmp
}

fn load_error(dir: &TempDir) -> String {
    let dir = dir.path();
    match Classifier::load(dir) {
        Ok(_) => panic!(
            "{} loaded although config and weights disagree",
            dir.display()
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unedited_copy_loads() {
    let dir = tiny_with("control", |_| {});
    Classifier::load(dir.path()).unwrap();
}

#[test]
fn vocab_size_mismatch_is_named() {
    let err = load_error(&tiny_with("vocab", |c| c["vocab_size"] = 121.into()));
    assert!(err.contains("word_embeddings"), "{err}");
    assert!(err.contains("121"), "{err}");
}

#[test]
fn hidden_size_mismatch_is_named() {
    let err = load_error(&tiny_with("hidden", |c| {
        c["hidden_size"] = 128.into();
        c["num_attention_heads"] = 4.into();
    }));
    assert!(err.contains("128"), "{err}");
    assert!(
        err.contains("embeddings") || err.contains("hidden"),
        "{err}"
    );
}

#[test]
fn label_count_mismatch_is_named() {
    let err = load_error(&tiny_with("labels", |c| {
        c["id2label"] = serde_json::json!({"0": "a", "1": "b", "2": "c", "3": "d"});
        c["label2id"] = serde_json::json!({"a": 0, "b": 1, "c": 2, "d": 3});
    }));
    assert!(err.contains("classifier"), "{err}");
    assert!(err.contains('4') && err.contains('3'), "{err}");
}

#[test]
fn more_layers_than_weights_is_named() {
    let err = load_error(&tiny_with("layers", |c| c["num_hidden_layers"] = 3.into()));
    assert!(err.contains("encoder.layer.2"), "{err}");
}

#[test]
fn intermediate_and_positions_mismatch_are_named() {
    let err = load_error(&tiny_with("inter", |c| c["intermediate_size"] = 96.into()));
    assert!(err.contains("intermediate") && err.contains("96"), "{err}");
    let err = load_error(&tiny_with("pos", |c| {
        c["max_position_embeddings"] = 128.into()
    }));
    assert!(
        err.contains("position_embeddings") && err.contains("128"),
        "{err}"
    );
}

#[test]
fn vocab_txt_longer_than_the_embedding_is_refused() {
    let dir = tiny_with("vocabtxt", |_| {});
    let mut vocab = std::fs::read_to_string(dir.path().join("vocab.txt")).unwrap();
    for i in 0..5 {
        vocab.push_str(&format!("extra{i}\n"));
    }
    std::fs::write(dir.path().join("vocab.txt"), vocab).unwrap();
    let err = load_error(&dir);
    assert!(err.contains("vocab"), "{err}");
    assert!(err.contains("125") && err.contains("120"), "{err}");
}
