//! AdamW vs torch's documented algorithm (hand-computed steps and an f64 transcription)
//! and global gradient-norm clipping.

mod common;

use common::{randn, rng};
use tokken_kernels::cpu::adamw::{adamw_step, AdamWParams};
use tokken_kernels::cpu::grad_norm::{clip_grad_norm, global_norm};

#[test]
fn hand_computed_two_steps() {
    let hp = AdamWParams {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.1,
    };
    let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
    // Step 1: p = 1·(1 - 0.01) = 0.99; m̂ = g, v̂ = g², so p -= lr·sign(g) → 0.89.
    adamw_step(&mut p, &[0.5], &mut m, &mut v, 1, &hp);
    assert!((p[0] - 0.89).abs() < 1e-6, "{}", p[0]);
    // Step 2 with g = -0.25: p = 0.89·0.99 = 0.8811; m = 0.02; v = 0.00031225;
    // p -= (0.1/0.19) · 0.02 / (sqrt(0.00031225)/sqrt(0.001999) + 1e-8) → 0.8544665.
    adamw_step(&mut p, &[-0.25], &mut m, &mut v, 2, &hp);
    assert!((m[0] - 0.02).abs() < 1e-7);
    assert!((v[0] - 0.000_312_25).abs() < 1e-9);
    assert!((p[0] - 0.854_466_5).abs() < 2e-6, "{}", p[0]);
}

#[test]
fn matches_torch_algorithm_over_many_steps() {
    let mut r = rng(50);
    let n = 40_000; // several parallel chunks
    let hp = AdamWParams {
        lr: 3e-3,
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 0.05,
    };
    let mut p = randn(&mut r, n, 1.0);
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut p64: Vec<f64> = p.iter().map(|&x| x as f64).collect();
    let (mut m64, mut v64) = (vec![0.0f64; n], vec![0.0f64; n]);
    let (lr, b1, b2, eps, wd) = (hp.lr, hp.beta1, hp.beta2, hp.eps, hp.weight_decay);
    for step in 1..=10u64 {
        let g = randn(&mut r, n, 1.0);
        adamw_step(&mut p, &g, &mut m, &mut v, step, &hp);
        for i in 0..n {
            let gi = g[i] as f64;
            p64[i] -= lr * wd * p64[i];
            m64[i] = b1 * m64[i] + (1.0 - b1) * gi;
            v64[i] = b2 * v64[i] + (1.0 - b2) * gi * gi;
            let mh = m64[i] / (1.0 - b1.powi(step as i32));
            let vh = v64[i] / (1.0 - b2.powi(step as i32));
            p64[i] -= lr * mh / (vh.sqrt() + eps);
        }
    }
    for i in 0..n {
        assert!(
            (p[i] as f64 - p64[i]).abs() < 1e-5,
            "param {i}: {} vs {}",
            p[i],
            p64[i]
        );
    }
}

#[test]
fn grad_norm_and_clipping() {
    assert_eq!(global_norm(&[&[3.0], &[4.0], &[]]), 5.0);
    let (mut a, mut b) = (vec![3.0f32], vec![4.0f32]);
    // max_norm above the norm: untouched.
    assert_eq!(clip_grad_norm(&mut [&mut a, &mut b], 10.0), 5.0);
    assert_eq!((a[0], b[0]), (3.0, 4.0));
    // Clipped to max_norm / (norm + 1e-6), torch's coefficient.
    assert_eq!(clip_grad_norm(&mut [&mut a, &mut b], 1.0), 5.0);
    let coef = 1.0 / (5.0 + 1e-6);
    assert!((a[0] as f64 - 3.0 * coef).abs() < 1e-7 && (b[0] as f64 - 4.0 * coef).abs() < 1e-7);
    // Large random vector vs an f64 sum.
    let g = randn(&mut rng(51), 100_003, 1.0);
    let want = g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    assert!((global_norm(&[&g]) as f64 - want).abs() < 1e-6 * want);
}
