//! Gradient parity with torch autograd + peft (fixtures from
//! `scripts/reference/make_grad_fixtures.py`, computed in float64): the loss and every
//! trainable gradient of LoRA, full and head-only training, class-weighted + smoothed
//! cross-entropy and multi-label BCE, per tensor by name within 1e-4 relative
//! (max |error| / max |reference|). Key biases have an exactly zero gradient (softmax is
//! shift-invariant), so a tensor's scale is floored at 1% of the case's largest gradient.

mod common;

use common::{check_grad_case, grad_setup as setup};
use tokken_model::train::{LossConfig, TrainMode, TrainSetup};

const REL_TOL: f32 = 1e-4;

fn check_case(file: &str, setup: TrainSetup) {
    check_grad_case(file, setup, None, REL_TOL);
}

#[test]
fn lora_query_value_gradients_match_peft() {
    check_case(
        "grads-lora.safetensors",
        setup(TrainMode::Lora, &["query", "value"], LossConfig::default()),
    );
}

#[test]
fn lora_on_every_dense_module_matches_peft() {
    // "dense" adapts attention.output.dense, intermediate.dense, output.dense and pooler.dense
    check_case(
        "grads-lora_all.safetensors",
        setup(
            TrainMode::Lora,
            &["query", "key", "value", "dense"],
            LossConfig::default(),
        ),
    );
}

#[test]
fn full_fine_tune_gradients_match_torch() {
    check_case(
        "grads-full.safetensors",
        setup(TrainMode::Full, &[], LossConfig::default()),
    );
}

#[test]
fn head_only_gradients_match_torch() {
    check_case(
        "grads-head.safetensors",
        setup(TrainMode::HeadOnly, &[], LossConfig::default()),
    );
}

#[test]
fn weighted_smoothed_cross_entropy_matches_torch() {
    check_case(
        "grads-weighted.safetensors",
        setup(
            TrainMode::Lora,
            &["query", "value"],
            LossConfig {
                class_weights: Some(vec![0.5, 2.0, 1.25]),
                label_smoothing: 0.1,
                multi_label: false,
                ..LossConfig::default()
            },
        ),
    );
}

#[test]
fn multi_label_bce_matches_torch() {
    check_case(
        "grads-multilabel.safetensors",
        setup(
            TrainMode::Lora,
            &["query", "value"],
            LossConfig {
                class_weights: None,
                label_smoothing: 0.0,
                multi_label: true,
                ..LossConfig::default()
            },
        ),
    );
}
