//! Gradient parity with torch autograd + peft (fixtures from
//! `scripts/reference/make_grad_fixtures.py`, computed in float64): the loss and every
//! trainable gradient of LoRA, full and head-only training, class-weighted + smoothed
//! cross-entropy and multi-label BCE, per tensor by name within 1e-4 relative
//! (max |error| / max |reference|). Key biases have an exactly zero gradient (softmax is
//! shift-invariant), so a tensor's scale is floored at 1% of the case's largest gradient.

mod common;

use std::collections::BTreeMap;

use common::{compare, read_fixture, tiny_dir, FixtureTensor};
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::{BatchInput, BertParams};

const REL_TOL: f32 = 1e-4;

fn setup(mode: TrainMode, targets: &[&str], loss: LossConfig) -> TrainSetup {
    TrainSetup {
        mode,
        lora: LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: targets.iter().map(|s| s.to_string()).collect(),
        },
        loss,
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    }
}

/// Build the model, load the fixture's parameter values, run one forward/backward and
/// compare the loss and every gradient.
fn check_case(file: &str, setup: TrainSetup) {
    let fx: BTreeMap<String, FixtureTensor> = read_fixture(file);
    let base = BertParams::load(&tiny_dir()).expect("tiny model loads");
    let multi = setup.loss.multi_label;
    let mut model = TrainModel::new(base, setup, 7).expect("train model");

    let state: Vec<(String, Vec<f32>, Vec<usize>)> = fx
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("param.")
                .map(|n| (n.to_string(), v.f32(), v.shape.clone()))
        })
        .collect();
    let mut ours = model.trainable_names();
    ours.sort();
    let mut theirs: Vec<String> = state.iter().map(|s| s.0.clone()).collect();
    theirs.sort();
    assert_eq!(
        ours, theirs,
        "{file}: trainable tensors differ from torch's"
    );
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
    for p in model.trainable_mut() {
        let want = fx[&format!("grad.{}", p.name)].f32();
        let scale = max_abs(&want).max(floor);
        if let Some(f) = compare(p.name, p.grad, &want, REL_TOL * scale) {
            failures.push(f);
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: gradients differ:\n{}",
        failures.join("\n")
    );
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
