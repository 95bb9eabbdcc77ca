//! Gradient parity of the hierarchical loss and the multi-label head with torch autograd
//! (fixtures from `scripts/reference/make_hier_multilabel_fixtures.py`, float64): the loss
//! and every trainable gradient, per tensor within 1e-4 relative, through LoRA (query,
//! value) and head-only training. The torch loss masks the level-2 logits with
//! `masked_fill(-inf)` + `cross_entropy(ignore_index)`, an independent formulation of
//! tokken's per-sibling-group softmax.

mod common;

use std::path::Path;

use common::{check_grad_case, grad_setup, read_fixture};
use tokken_model::hierarchy::{Hierarchy, HierarchyLoss};
use tokken_model::train::{LossConfig, TrainMode, TrainSetup};

const REL_TOL: f32 = 1e-4;
const TREE: &str =
    r#"{"国内": ["政治", "経済"], "国際": ["政治", "経済", "紛争"], "スポーツ": []}"#;

/// LoRA on query and value (when `mode` is LoRA), no dropout.
fn setup(mode: TrainMode, loss: LossConfig) -> TrainSetup {
    grad_setup(mode, &["query", "value"], loss)
}

/// The tiny model with a new head over `labels` (values from the fixture) against torch.
fn check_case(file: &str, setup: TrainSetup, labels: Vec<String>) {
    check_grad_case(file, setup, Some(labels), REL_TOL);
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
