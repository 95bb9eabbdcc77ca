//! Gradient accumulation is exact: the gradients of one batch of 8 equal the sum of the
//! gradients of 4 micro-batches of 2 (each padded to its own longest sequence) run with
//! `loss_scale = 2 / 8`, to 1e-5 relative per tensor. The loss is a mean over examples,
//! so this holds for unweighted cross-entropy (a class-weighted mean normalises by each
//! batch's weight sum and is not micro-batch decomposable).

mod common;

use common::{compare, tiny_dir};
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::{BatchInput, BertParams};

/// Sequences of the given lengths ([CLS] body [SEP]), padded to the longest.
fn batch(lengths: &[usize], seed: u32) -> (Vec<u32>, Vec<u32>, Vec<u8>, usize) {
    let t = *lengths.iter().max().unwrap();
    let (mut ids, mut types, mut mask) = (
        vec![0u32; lengths.len() * t],
        vec![0u32; lengths.len() * t],
        vec![0u8; lengths.len() * t],
    );
    for (i, &n) in lengths.iter().enumerate() {
        for j in 0..n {
            ids[i * t + j] = match j {
                0 => 2,
                _ if j == n - 1 => 3,
                _ => 5 + (seed.wrapping_mul(31).wrapping_add((i * 17 + j * 7) as u32) % 100),
            };
            types[i * t + j] = u32::from(j >= n / 2 && i % 3 == 1);
            mask[i * t + j] = 1;
        }
    }
    (ids, types, mask, t)
}

/// Rows `rows` of a `[B, t_all]` buffer, cut to their first `t` columns.
fn pick<T: Copy>(v: &[T], rows: std::ops::Range<usize>, t_all: usize, t: usize) -> Vec<T> {
    rows.flat_map(|r| v[r * t_all..r * t_all + t].to_vec())
        .collect()
}

fn model(mode: TrainMode) -> TrainModel {
    let base = BertParams::load(&tiny_dir()).expect("tiny model");
    let setup = TrainSetup {
        mode,
        lora: LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: vec!["query".into(), "value".into(), "dense".into()],
        },
        loss: LossConfig::default(),
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    };
    let mut m = TrainModel::new(base, setup, 3).expect("train model");
    // non-zero LoRA B so every LoRA gradient is non-trivial
    for (i, p) in m.trainable_mut().into_iter().enumerate() {
        if p.name.ends_with("lora_B.weight") {
            for (j, v) in p.value.iter_mut().enumerate() {
                *v = 0.05 * (((i * 131 + j * 71) % 17) as f32 - 8.0) / 8.0;
            }
        }
    }
    m
}

fn grads(m: &mut TrainModel) -> Vec<(String, Vec<f32>)> {
    m.trainable_mut()
        .into_iter()
        .map(|p| (p.name.to_string(), p.grad.to_vec()))
        .collect()
}

fn check(mode: TrainMode) {
    let lengths = [5, 11, 3, 8, 12, 4, 9, 7];
    let labels = [0, 1, 2, 1, 0, 2, 2, 1];
    let mut m = model(mode);

    let (ids, types, mask, t) = batch(&lengths, 1);
    let whole = BatchInput {
        ids: &ids,
        type_ids: &types,
        mask: &mask,
        b: 8,
        t,
    };
    m.zero_grads();
    let loss_whole = m
        .forward_backward(&whole, &Targets::Single(&labels), 9, 1.0)
        .unwrap();
    let want = grads(&mut m);

    m.zero_grads();
    let mut loss_sum = 0.0;
    for k in 0..4 {
        let rows = 2 * k..2 * k + 2;
        let (ids_all, types_all, mask_all, t_all) = batch(&lengths, 1);
        // the same rows, re-padded to this micro-batch's longest
        let t_mb = lengths[rows.clone()].iter().copied().max().unwrap();
        let ids = pick(&ids_all, rows.clone(), t_all, t_mb);
        let types = pick(&types_all, rows.clone(), t_all, t_mb);
        let mask = pick(&mask_all, rows.clone(), t_all, t_mb);
        let mb = BatchInput {
            ids: &ids,
            type_ids: &types,
            mask: &mask,
            b: 2,
            t: t_mb,
        };
        loss_sum += m
            .forward_backward(&mb, &Targets::Single(&labels[rows]), 9, 0.25)
            .unwrap()
            * 0.25;
    }
    println!("{mode:?}: loss of the batch {loss_whole}, mean of micro-batch losses {loss_sum}");
    assert!((loss_whole - loss_sum).abs() <= 1e-5 * loss_whole.abs());
    let got = grads(&mut m);
    // key biases have an exactly zero gradient (softmax is shift-invariant): floor each
    // tensor's scale at 1% of the largest gradient
    let max_abs = |v: &[f32]| v.iter().fold(0.0f32, |a, x| a.max(x.abs()));
    let floor = 0.01 * want.iter().map(|(_, w)| max_abs(w)).fold(0.0f32, f32::max);
    let mut failures = Vec::new();
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        if let Some(f) = compare(name, g, w, 1e-5 * max_abs(w).max(floor)) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{mode:?}:\n{}", failures.join("\n"));
}

#[test]
fn lora_micro_batches_sum_to_the_batch_gradient() {
    check(TrainMode::Lora);
}

#[test]
fn full_micro_batches_sum_to_the_batch_gradient() {
    check(TrainMode::Full);
}
