//! config.json validation, the accepted checkpoint key layouts, and errors that name the
//! offending key / field.

mod common;

use std::path::Path;

use common::{read_fixture, tiny_dir};
use serde_json::json;
use tokken_engine::{Tensor, Weights};
use tokken_model::config::HiddenAct;
use tokken_model::{
    bert_forward, Arena, BatchInput, BertConfig, BertParams, ForwardOptions, ModelError,
};

fn config_err(v: serde_json::Value) -> String {
    match BertConfig::from_json(&v, Path::new("x/config.json")) {
        Ok(_) => panic!("config {v} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tiny_config_reads_labels_and_sizes() {
    let c = BertConfig::from_file(&tiny_dir()).unwrap();
    assert_eq!(c.vocab_size, 120);
    assert_eq!(c.hidden_size, 64);
    assert_eq!(c.num_hidden_layers, 2);
    assert_eq!(c.head_size(), 16);
    assert_eq!(c.hidden_act, HiddenAct::Gelu);
    assert_eq!(c.id2label, vec!["経済", "スポーツ", "映画"]);
    assert_eq!(c.layer_norm_eps, 1e-12);
}

#[test]
fn defaults_follow_hf_bert_config() {
    let c = BertConfig::from_json(&json!({}), Path::new("c.json")).unwrap();
    assert_eq!(c, BertConfig::default());
    assert_eq!(c.id2label, vec!["LABEL_0", "LABEL_1"]);
    let c = BertConfig::from_json(&json!({"num_labels": 4}), Path::new("c.json")).unwrap();
    assert_eq!(c.num_labels(), 4);
}

#[test]
fn config_round_trips_through_to_json() {
    let c = BertConfig::from_file(&tiny_dir()).unwrap();
    let back = BertConfig::from_json(&c.to_json(), Path::new("c.json")).unwrap();
    assert_eq!(back.id2label, c.id2label);
    assert_eq!(back.hidden_size, c.hidden_size);
    assert_eq!(back.architectures, vec!["BertForSequenceClassification"]);
}

#[test]
fn bad_configs_name_the_field() {
    let cases = [
        (
            json!({"hidden_size": 100, "num_attention_heads": 12}),
            "num_attention_heads",
        ),
        (
            json!({"position_embedding_type": "relative_key"}),
            "position_embedding_type",
        ),
        (json!({"hidden_act": "mish"}), "hidden_act"),
        (json!({"vocab_size": "big"}), "vocab_size"),
        (json!({"num_hidden_layers": -1}), "num_hidden_layers"),
        (json!({"layer_norm_eps": 0.0}), "layer_norm_eps"),
        (
            json!({"num_labels": 3, "id2label": {"0": "a", "1": "b"}}),
            "num_labels",
        ),
        (json!({"id2label": {"0": "a", "5": "b"}}), "id2label"),
        (json!({"model_type": "roberta"}), "model_type"),
        (
            json!({"pad_token_id": 99, "vocab_size": 10}),
            "pad_token_id",
        ),
        (json!({"problem_type": "ranking"}), "problem_type"),
    ];
    for (v, field) in cases {
        let e = config_err(v.clone());
        assert!(
            e.contains(&format!("`{field}`")) && e.contains("x/config.json"),
            "{v} -> {e}"
        );
    }
}

/// The fixture's weights with keys renamed by `f` (None drops the key).
fn renamed(f: impl Fn(&str) -> Option<String>) -> Weights {
    let src = Weights::load(&tiny_dir()).unwrap();
    let mut out = Weights::new();
    for (name, t) in src.iter() {
        if let Some(n) = f(name) {
            out.insert(n, t.clone());
        }
    }
    out
}

fn last_hidden(params: &BertParams) -> Vec<f32> {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let (ids, types, mask) = (
        fx["input_ids"].u32(),
        fx["token_type_ids"].u32(),
        fx["attention_mask"].u8(),
    );
    let (b, t) = (fx["input_ids"].shape[0], fx["input_ids"].shape[1]);
    let mut arena = Arena::new();
    let input = BatchInput {
        ids: &ids,
        type_ids: &types,
        mask: &mask,
        b,
        t,
    };
    bert_forward(params, &input, &mut arena, ForwardOptions::default()).unwrap();
    arena.hidden_state(params.config.num_hidden_layers).to_vec()
}

#[test]
fn accepts_bert_model_and_masked_lm_layouts() {
    let config = BertConfig::from_file(&tiny_dir()).unwrap();
    let full = BertParams::load(&tiny_dir()).unwrap();
    assert!(full.classifier.is_some() && full.pooler.is_some());

    // BertModel: no prefix, no head
    let bare = renamed(|n| n.strip_prefix("bert.").map(str::to_string));
    let bare = BertParams::from_weights(&config, &bare, "bare").unwrap();
    assert!(bare.classifier.is_none() && bare.pooler.is_some());
    assert_eq!(last_hidden(&bare), last_hidden(&full));
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let (ids, types, mask) = (
        fx["input_ids"].u32(),
        fx["token_type_ids"].u32(),
        fx["attention_mask"].u8(),
    );
    let mut arena = Arena::new();
    let input = BatchInput {
        ids: &ids,
        type_ids: &types,
        mask: &mask,
        b: 3,
        t: 16,
    };
    bert_forward(&bare, &input, &mut arena, ForwardOptions::default()).unwrap();
    assert!(arena.logits().is_empty(), "no head, no logits");
    assert_eq!(arena.pooled().len(), 3 * 64);

    // BertForMaskedLM: `bert.` prefix, no pooler, `cls.*` ignored
    let mut mlm = renamed(|n| {
        (n.starts_with("bert.") && !n.starts_with("bert.pooler")).then(|| n.to_string())
    });
    mlm.insert(
        "cls.predictions.bias".into(),
        Tensor::from_f32(vec![120], vec![0.0; 120]).unwrap(),
    );
    let mlm = BertParams::from_weights(&config, &mlm, "mlm").unwrap();
    assert!(mlm.classifier.is_none() && mlm.pooler.is_none());
    assert_eq!(last_hidden(&mlm), last_hidden(&full));

    // TF-era LayerNorm names
    let legacy = renamed(|n| {
        Some(
            n.replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta"),
        )
    });
    let legacy = BertParams::from_weights(&config, &legacy, "legacy").unwrap();
    assert_eq!(last_hidden(&legacy), last_hidden(&full));
}

#[test]
fn missing_and_misshaped_tensors_name_the_key_and_shapes() {
    let config = BertConfig::from_file(&tiny_dir()).unwrap();
    let missing =
        renamed(|n| (n != "bert.encoder.layer.1.attention.self.key.weight").then(|| n.to_string()));
    match BertParams::from_weights(&config, &missing, "m.safetensors") {
        Err(ModelError::MissingTensor { key, .. }) => {
            assert_eq!(key, "bert.encoder.layer.1.attention.self.key.weight")
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
    let mut bad = renamed(|n| Some(n.to_string()));
    bad.insert(
        "bert.encoder.layer.0.intermediate.dense.weight".into(),
        Tensor::from_f32(vec![64, 128], vec![0.0; 64 * 128]).unwrap(),
    );
    let err = BertParams::from_weights(&config, &bad, "b.safetensors").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bert.encoder.layer.0.intermediate.dense.weight")
            && msg.contains("[64, 128]")
            && msg.contains("[128, 64]"),
        "{msg}"
    );
    // half a classifier is an error, not a silently absent head
    let half = renamed(|n| (n != "classifier.bias").then(|| n.to_string()));
    let err = BertParams::from_weights(&config, &half, "h")
        .unwrap_err()
        .to_string();
    assert!(err.contains("classifier.bias"), "{err}");
}

#[test]
fn out_of_range_inputs_are_errors_not_panics() {
    let params = BertParams::load(&tiny_dir()).unwrap();
    let mut arena = Arena::new();
    let mask = [1u8; 4];
    let cases: [(&[u32], &[u32], usize, &str); 3] = [
        (&[2, 500, 3, 0], &[0; 4], 4, "vocab"),
        (&[2, 5, 3, 0], &[0, 0, 2, 0], 4, "type_vocab_size"),
        (&[2, 5, 3], &[0; 3], 4, "entries"),
    ];
    for (ids, types, t, what) in cases {
        let input = BatchInput {
            ids,
            type_ids: types,
            mask: &mask[..t],
            b: 1,
            t,
        };
        let e = bert_forward(&params, &input, &mut arena, ForwardOptions::default()).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    }
    let long = vec![5u32; 65];
    let m = vec![1u8; 65];
    let input = BatchInput {
        ids: &long,
        type_ids: &vec![0; 65],
        mask: &m,
        b: 1,
        t: 65,
    };
    let e = bert_forward(&params, &input, &mut arena, ForwardOptions::default()).unwrap_err();
    assert!(e.to_string().contains("max_position_embeddings"), "{e}");
}
