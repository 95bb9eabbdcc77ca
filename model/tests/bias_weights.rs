//! Per-example loss weights (group re-weighting): the weighted cross-entropy and BCE match
//! torch autograd (`fixtures/weighted_loss_torch.json`, written by
//! `scripts/reference/make_weighted_loss_fixture.py`) and an f64 transcription of the torch
//! formulas (gradient by central differences); through the whole model, the weighted
//! gradient is the weighted sum of single-example gradients.

mod common;

use common::tiny_dir;
use tokken_kernels::cpu::xent::{
    bce_with_logits_weighted, cross_entropy_weighted, CrossEntropyOptions, Reduction,
};
use tokken_model::rng::SplitMix64;
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::{BatchInput, BertParams};

fn randn(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| (rng.next_u64() as f64 / u64::MAX as f64 - 0.5) * 2.0 * scale)
        .collect()
}

/// torch: `(s * F.cross_entropy(z, y, weight=w, label_smoothing=eps, reduction='none')).sum()
/// / w[y].sum()`, with `l_i = -Σ_c w_c q_c log p_c`, `q = (1-eps) onehot(y) + eps/K`.
fn torch_weighted_ce(z: &[f64], y: &[i32], s: &[f64], w: &[f64], eps: f64, k: usize) -> f64 {
    let (mut total, mut norm) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let row = &z[i * k..(i + 1) * k];
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
        let lse = m + row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
        let mut l = 0.0;
        for (c, &zc) in row.iter().enumerate() {
            let q = (1.0 - eps) * f64::from(c == yi as usize) + eps / k as f64;
            l -= w[c] * q * (zc - lse);
        }
        total += s[i] * l;
        norm += w[yi as usize];
    }
    total / norm
}

/// torch: `(s[:, None] * F.binary_cross_entropy_with_logits(z, y, reduction='none')).mean()`.
fn torch_weighted_bce(z: &[f64], y: &[f64], s: &[f64], k: usize) -> f64 {
    let mut total = 0.0;
    for (i, (&zi, &yi)) in z.iter().zip(y).enumerate() {
        let sig = 1.0 / (1.0 + (-zi).exp());
        total -= s[i / k] * (yi * sig.ln() + (1.0 - yi) * (1.0 - sig).ln());
    }
    total / z.len() as f64
}

/// Central differences of an f64 function.
fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-5;
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let v = x[i];
            x[i] = v + h;
            let up = f(&x);
            x[i] = v - h;
            let down = f(&x);
            x[i] = v;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn assert_close(name: &str, got: &[f32], want: &[f64], tol: f64) {
    let max = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max);
    println!("{name}: max |err| {max:.2e}");
    assert!(max <= tol, "{name}: max |err| {max:.2e} > {tol:.0e}");
}

#[test]
fn weighted_cross_entropy_matches_the_torch_formula() {
    let mut rng = SplitMix64::new(5);
    let (n, k) = (7, 5);
    let z = randn(&mut rng, n * k, 3.0);
    let y: Vec<i32> = (0..n).map(|_| rng.below(k as u64) as i32).collect();
    let s = [0.5, 2.0, 0.0, 1.0, 3.0, 0.25, 1.5];
    let w = [0.5, 1.0, 2.0, 0.25, 1.5];
    for (eps, class_weights) in [(0.0, false), (0.0, true), (0.1, true)] {
        let ones = [1.0; 5];
        let wv: &[f64] = if class_weights { &w } else { &ones };
        let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let sf: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        let opts = CrossEntropyOptions {
            weight: class_weights.then_some(&wf[..]),
            label_smoothing: eps as f32,
            ignore_index: None,
            reduction: Reduction::Mean,
        };
        let mut d = vec![f32::NAN; n * k];
        let loss = cross_entropy_weighted(&mut d, &zf, &y, Some(&sf), n, k, &opts);
        let zr: Vec<f64> = zf.iter().map(|&v| v as f64).collect();
        let want = torch_weighted_ce(&zr, &y, &s, wv, eps, k);
        assert!(
            (loss as f64 - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{loss} vs {want}"
        );
        let grad = numeric_grad(&zr, |x| torch_weighted_ce(x, &y, &s, wv, eps, k));
        assert_close(
            &format!("ce dlogits eps {eps} w {class_weights}"),
            &d,
            &grad,
            1e-5,
        );
        // The zero-weight sample has a zero gradient row.
        assert!(d[2 * k..3 * k].iter().all(|&v| v == 0.0));
    }
    // All-ones weights are the unweighted loss exactly.
    let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let (mut d1, mut d2) = (vec![0.0; n * k], vec![0.0; n * k]);
    let o = CrossEntropyOptions::default();
    let a = cross_entropy_weighted(&mut d1, &zf, &y, Some(&[1.0; 7]), n, k, &o);
    let b = cross_entropy_weighted(&mut d2, &zf, &y, None, n, k, &o);
    assert_eq!((a, &d1), (b, &d2));
}

#[test]
fn weighted_bce_matches_the_torch_formula() {
    let mut rng = SplitMix64::new(6);
    let (n, k) = (5, 3);
    let zf: Vec<f32> = randn(&mut rng, n * k, 4.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let y: Vec<f32> = (0..n * k).map(|i| [0.0, 1.0, 1.0, 0.0][i % 4]).collect();
    let s = [1.0, 0.0, 2.5, 0.5, 1.25];
    let sf: Vec<f32> = s.iter().map(|&v| v as f32).collect();
    let mut d = vec![f32::NAN; n * k];
    let loss = bce_with_logits_weighted(&mut d, &zf, &y, None, Some(&sf), n, k, Reduction::Mean);
    let zr: Vec<f64> = zf.iter().map(|&v| v as f64).collect();
    let yr: Vec<f64> = y.iter().map(|&v| v as f64).collect();
    let want = torch_weighted_bce(&zr, &yr, &s, k);
    assert!((loss as f64 - want).abs() < 1e-5, "{loss} vs {want}");
    let grad = numeric_grad(&zr, |x| torch_weighted_bce(x, &yr, &s, k));
    assert_close("bce dlogits", &d, &grad, 1e-5);
}

fn setup(class_weights: Option<Vec<f32>>) -> TrainSetup {
    TrainSetup {
        mode: TrainMode::Lora,
        lora: LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: vec!["query".into(), "value".into()],
        },
        loss: LossConfig {
            class_weights,
            ..LossConfig::default()
        },
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    }
}

/// All trainable gradients of the model, concatenated.
fn grads(m: &mut TrainModel) -> Vec<f32> {
    m.trainable_mut()
        .into_iter()
        .flat_map(|p| p.grad.to_vec())
        .collect()
}

#[test]
fn model_gradient_with_example_weights_is_the_weighted_sum_of_single_example_gradients() {
    // Three rows of equal length (no padding), so each row alone runs the same arithmetic.
    let (b, t) = (3usize, 6usize);
    let ids: Vec<u32> = (0..b * t)
        .map(|i| {
            if i % t == 0 {
                2
            } else {
                5 + ((i * 37) % 110) as u32
            }
        })
        .collect();
    let types = vec![0u32; b * t];
    let mask = vec![1u8; b * t];
    let y = [0i32, 2, 1];
    let s = [2.0f32, 0.5, 1.0];
    for class_weights in [None, Some(vec![1.0f32, 3.0, 0.5])] {
        let w = |c: i32| class_weights.as_ref().map_or(1.0, |w| w[c as usize]);
        let base = BertParams::load(&tiny_dir()).unwrap();
        let mut m = TrainModel::new(base, setup(class_weights.clone()), 1).unwrap();
        // Move B off zero so every LoRA gradient is non-trivial.
        for p in m.trainable_mut() {
            for (j, v) in p.value.iter_mut().enumerate() {
                *v += 0.02 * ((j % 7) as f32 - 3.0);
            }
        }
        m.zero_grads();
        let whole = BatchInput {
            ids: &ids,
            type_ids: &types,
            mask: &mask,
            b,
            t,
        };
        m.forward_backward_weighted(&whole, &Targets::Single(&y), Some(&s), 0, 1.0)
            .unwrap();
        let got = grads(&mut m);
        // Mean normaliser of the batch: Σ w_{y_i}; alone, row i's is w_{y_i}.
        let norm: f32 = y.iter().map(|&c| w(c)).sum();
        let mut want = vec![0.0f64; got.len()];
        for i in 0..b {
            m.zero_grads();
            let row = BatchInput {
                ids: &ids[i * t..(i + 1) * t],
                type_ids: &types[i * t..(i + 1) * t],
                mask: &mask[i * t..(i + 1) * t],
                b: 1,
                t,
            };
            m.forward_backward(&row, &Targets::Single(&y[i..i + 1]), 0, 1.0)
                .unwrap();
            let scale = (s[i] * w(y[i]) / norm) as f64;
            for (acc, g) in want.iter_mut().zip(grads(&mut m)) {
                *acc += scale * g as f64;
            }
        }
        let big = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(big > 1e-3, "gradients too small to compare ({big})");
        assert_close(
            &format!("model grads, class weights {:?}", class_weights.is_some()),
            &got,
            &want,
            1e-5 * big.max(1.0),
        );
    }
}

#[test]
fn weighted_losses_match_torch_autograd() {
    let path = common::fixtures().join("weighted_loss_torch.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let f: serde_json::Value = serde_json::from_str(&text).unwrap();
    let floats = |key: &str| -> Vec<f32> {
        f[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let want = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (n, k) = (
        f["n"].as_u64().unwrap() as usize,
        f["k"].as_u64().unwrap() as usize,
    );
    let z = floats("logits");
    let s = floats("sample_weights");
    let w = floats("class_weights");
    let y: Vec<i32> = f["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    for case in f["ce"].as_array().unwrap() {
        let opts = CrossEntropyOptions {
            weight: case["class_weights"].as_bool().unwrap().then_some(&w[..]),
            label_smoothing: case["label_smoothing"].as_f64().unwrap() as f32,
            ignore_index: None,
            reduction: Reduction::Mean,
        };
        let mut d = vec![f32::NAN; n * k];
        let loss = cross_entropy_weighted(&mut d, &z, &y, Some(&s), n, k, &opts);
        let name = case["name"].as_str().unwrap();
        let want_loss = case["loss"].as_f64().unwrap();
        assert!(
            (loss as f64 - want_loss).abs() < 1e-6,
            "{name}: {loss} vs {want_loss}"
        );
        assert_close(&format!("torch {name}"), &d, &want(&case["dlogits"]), 1e-7);
    }
    let t = floats("multi_hot");
    let mut d = vec![f32::NAN; n * k];
    let loss = bce_with_logits_weighted(&mut d, &z, &t, None, Some(&s), n, k, Reduction::Mean);
    let want_loss = f["bce"]["loss"].as_f64().unwrap();
    assert!(
        (loss as f64 - want_loss).abs() < 1e-6,
        "bce: {loss} vs {want_loss}"
    );
    assert_close("torch bce", &d, &want(&f["bce"]["dlogits"]), 1e-7);
}
