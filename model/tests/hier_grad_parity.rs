//! Gradient parity of the hierarchical loss and the multi-label head with torch autograd
//! (fixtures from `scripts/reference/make_hier_multilabel_fixtures.py`, float64): the loss
//! and every trainable gradient, per tensor within 1e-4 relative, through LoRA (query,
//! value) and head-only training. The torch loss masks the level-2 logits with
//! `masked_fill(-inf)` + `cross_entropy(ignore_index)`, an independent formulation of
//! tokken's per-sibling-group softmax.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{compare, read_fixture, tiny_dir, FixtureTensor};
use tokken_model::hierarchy::{Hierarchy, HierarchyLoss};
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::{BatchInput, BertParams};

const REL_TOL: f32 = 1e-4;
const TREE: &str =
    r#"{"国内": ["政治", "経済"], "国際": ["政治", "経済", "紛争"], "スポーツ": []}"#;

fn setup(mode: TrainMode, loss: LossConfig) -> TrainSetup {
    TrainSetup {
        mode,
        lora: LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: vec!["query".into(), "value".into()],
        },
        loss,
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    }
}

/// Load the fixture's parameters into a tiny model with `labels` outputs, run one
/// forward/backward and compare the loss and every gradient.
fn check_case(file: &str, setup: TrainSetup, labels: Vec<String>) {
    let fx: BTreeMap<String, FixtureTensor> = read_fixture(file);
    let mut base = BertParams::load(&tiny_dir()).expect("tiny model loads");
    base.config.id2label = labels;
    base.classifier = None; // a head of the new size; its values come from the fixture
    let multi = setup.loss.multi_label;
    let mut model = TrainModel::new(base, setup, 7).expect("train model");
    let state: Vec<(String, Vec<f32>, Vec<usize>)> = fx
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("param.")
                .map(|n| (n.to_string(), v.f32(), v.shape.clone()))
        })
        .collect();
    model.load_state(&state).expect("load_state");

    let ids = fx["input_ids"].u32();
    let type_ids = fx["token_type_ids"].u32();
    let mask = fx["attention_mask"].u8();
    let (b, t) = (fx["input_ids"].shape[0], fx["input_ids"].shape[1]);
    let batch = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };
    let single: Vec<i32> = fx["labels"].values.iter().map(|&v| v as i32).collect();
    let multi_targets = fx["labels"].f32();
    let targets = if multi {
        Targets::Multi(&multi_targets)
    } else {
        Targets::Single(&single)
    };
    let loss = model
        .forward_backward(&batch, &targets, 0, 1.0)
        .expect("forward_backward");
    let want_loss = fx["loss"].values[0] as f32;
    println!("{file}: loss {loss} (torch {want_loss})");
    assert!(
        (loss - want_loss).abs() <= 1e-5 * want_loss.abs().max(1.0),
        "{file}: loss {loss} vs torch {want_loss}"
    );
    let max_abs = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let floor = 0.01
        * fx.iter()
            .filter(|(k, _)| k.starts_with("grad."))
            .map(|(_, v)| max_abs(&v.f32()))
            .fold(0.0f32, f32::max);
    assert!(floor > 0.0, "{file}: torch gradients are all zero");
    let mut failures = Vec::new();
    let mut seen = 0;
    for p in model.trainable_mut() {
        let want = fx[&format!("grad.{}", p.name)].f32();
        let scale = max_abs(&want).max(floor);
        if let Some(f) = compare(p.name, p.grad, &want, REL_TOL * scale) {
            failures.push(f);
        }
        seen += 1;
    }
    let theirs = fx.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(
        seen, theirs,
        "{file}: trainable tensor count differs from torch's"
    );
    assert!(
        failures.is_empty(),
        "{file}: gradients differ:\n{}",
        failures.join("\n")
    );
}

fn hierarchy_case(file: &str, mode: TrainMode) {
    let fx = read_fixture(file);
    let tree = Hierarchy::parse(TREE, Path::new("tree")).unwrap();
    let labels = tree.paths().to_vec();
    let level_weights = fx["level_weights"].f32();
    let loss = LossConfig {
        hierarchy: Some(HierarchyLoss {
            tree,
            level_weights,
        }),
        ..LossConfig::default()
    };
    check_case(file, setup(mode, loss), labels);
}

#[test]
fn hierarchical_loss_through_lora_matches_torch() {
    hierarchy_case("grads-hier_lora.safetensors", TrainMode::Lora);
}

#[test]
fn hierarchical_head_only_matches_torch() {
    hierarchy_case("grads-hier_head.safetensors", TrainMode::HeadOnly);
}

#[test]
fn multi_label_head_with_two_label_rows_matches_torch() {
    let loss = LossConfig {
        multi_label: true,
        ..LossConfig::default()
    };
    let labels = ["a", "b", "c", "d"].map(String::from).to_vec();
    check_case(
        "grads-multilabel_head.safetensors",
        setup(TrainMode::HeadOnly, loss),
        labels,
    );
}
