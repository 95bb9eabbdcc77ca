//! Finite-difference check of the whole training model: for a few coordinates of every
//! trainable tensor kind, the analytic gradient matches the central difference
//! `(L(θ + ε) - L(θ - ε)) / 2ε` of the loss. Runs with every dropout on (hidden,
//! attention probabilities, classifier, LoRA input) at a fixed seed, so the masks are the
//! same in each evaluation and the dropout backward is checked too. f32 forward: ε = 1e-2 keeps rounding noise (~1e-6 of
//! the loss) well under the tolerance while the O(ε²) truncation stays small. Tolerance:
//! 2e-4 × the largest gradient (rounding) + 0.5% of the coordinate's gradient (truncation);
//! the worst probe uses about a quarter of it.

mod common;

use common::tiny_dir;
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::{BatchInput, BertParams};

const EPS: f32 = 1e-2;
const SEED: u64 = 11;

struct Batch {
    ids: Vec<u32>,
    types: Vec<u32>,
    mask: Vec<u8>,
    b: usize,
    t: usize,
}

fn batch() -> Batch {
    let lengths = [7usize, 4, 6];
    let t = 7;
    let mut ids = vec![0u32; 3 * t];
    let mut types = vec![0u32; 3 * t];
    let mut mask = vec![0u8; 3 * t];
    for (i, &n) in lengths.iter().enumerate() {
        for j in 0..n {
            ids[i * t + j] = if j == 0 {
                2
            } else {
                5 + ((i * 37 + j * 11) % 100) as u32
            };
            types[i * t + j] = u32::from(i == 2 && j >= 3);
            mask[i * t + j] = 1;
        }
    }
    Batch {
        ids,
        types,
        mask,
        b: 3,
        t,
    }
}

fn model(mode: TrainMode, loss: LossConfig, targets: &[&str]) -> TrainModel {
    let base = BertParams::load(&tiny_dir()).expect("tiny model");
    let setup = TrainSetup {
        mode,
        lora: LoraConfig {
            r: 2,
            alpha: 4.0,
            dropout: 0.2,
            target_modules: targets.iter().map(|t| t.to_string()).collect(),
        },
        loss,
        hidden_dropout: 0.15,
        attention_dropout: 0.1,
        classifier_dropout: 0.25,
    };
    let mut m = TrainModel::new(base, setup, 5).expect("train model");
    for (i, p) in m.trainable_mut().into_iter().enumerate() {
        if p.name.ends_with("lora_B.weight") {
            for (j, v) in p.value.iter_mut().enumerate() {
                *v = 0.2 * (((i * 131 + j * 71) % 17) as f32 - 8.0) / 8.0;
            }
        }
    }
    m
}

fn loss(m: &mut TrainModel, bt: &Batch, targets: &Targets<'_>) -> f64 {
    let input = BatchInput {
        ids: &bt.ids,
        type_ids: &bt.types,
        mask: &bt.mask,
        b: bt.b,
        t: bt.t,
    };
    m.forward_backward(&input, targets, SEED, 1.0)
        .expect("forward_backward") as f64
}

/// Coordinates to probe in a tensor: its largest gradient and two pseudo-random ones.
fn probes(grad: &[f32], salt: usize) -> Vec<usize> {
    let largest = (0..grad.len())
        .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
        .unwrap();
    vec![
        largest,
        (salt * 7919 + 13) % grad.len(),
        (salt * 104_729 + 101) % grad.len(),
    ]
}

fn check(mode: TrainMode, loss_cfg: LossConfig, targets: Targets<'_>, lora_targets: &[&str]) {
    let bt = batch();
    let mut m = model(mode, loss_cfg, lora_targets);
    m.zero_grads();
    loss(&mut m, &bt, &targets);
    let analytic: Vec<(String, Vec<f32>)> = m
        .trainable_mut()
        .into_iter()
        .map(|p| (p.name.to_string(), p.grad.to_vec()))
        .collect();
    let global = analytic
        .iter()
        .flat_map(|(_, g)| g.iter())
        .fold(0.0f32, |a, v| a.max(v.abs()));
    let mut worst = 0.0f64;
    let mut failures = Vec::new();
    for (ti, (name, grad)) in analytic.iter().enumerate() {
        for idx in probes(grad, ti) {
            let nudge = |m: &mut TrainModel, delta: f32| {
                m.trainable_mut()[ti].value[idx] += delta;
            };
            nudge(&mut m, EPS);
            let up = loss(&mut m, &bt, &targets);
            nudge(&mut m, -2.0 * EPS);
            let down = loss(&mut m, &bt, &targets);
            nudge(&mut m, EPS);
            let fd = (up - down) / (2.0 * EPS as f64);
            let g = grad[idx] as f64;
            // absolute floor for rounding noise, relative part for truncation error
            let tol = 2e-4 * global as f64 + 5e-3 * g.abs();
            let err = (fd - g).abs();
            worst = worst.max(err / tol);
            if err > tol {
                failures.push(format!(
                    "{name}[{idx}]: analytic {g:.6e}, finite difference {fd:.6e}"
                ));
            }
        }
    }
    println!("{mode:?}: worst error / tolerance = {worst:.3}");
    assert!(failures.is_empty(), "{mode:?}:\n{}", failures.join("\n"));
}

#[test]
fn full_fine_tune_matches_finite_differences() {
    check(
        TrainMode::Full,
        LossConfig::default(),
        Targets::Single(&[2, 0, 1]),
        &[],
    );
}

#[test]
fn lora_everywhere_matches_finite_differences() {
    let cfg = LossConfig {
        class_weights: Some(vec![1.5, 0.5, 1.0]),
        label_smoothing: 0.1,
        multi_label: false,
        ..LossConfig::default()
    };
    check(
        TrainMode::Lora,
        cfg,
        Targets::Single(&[1, 1, 0]),
        &["query", "key", "value", "dense"],
    );
}

/// LoRA on the last layer only (full module names match exactly, as in PEFT): the backward
/// stops inside layer 1 and never visits layer 0.
#[test]
fn lora_on_the_last_layer_only_matches_finite_differences() {
    check(
        TrainMode::Lora,
        LossConfig::default(),
        Targets::Single(&[0, 2, 2]),
        &[
            "bert.encoder.layer.1.attention.self.value",
            "bert.encoder.layer.1.output.dense",
        ],
    );
}

#[test]
fn multi_label_head_matches_finite_differences() {
    let cfg = LossConfig {
        class_weights: None,
        label_smoothing: 0.0,
        multi_label: true,
        ..LossConfig::default()
    };
    check(
        TrainMode::HeadOnly,
        cfg,
        Targets::Multi(&[1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]),
        &[],
    );
}
