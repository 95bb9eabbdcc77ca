//! Bias add / bias gradient, residual, tanh, softmax: forward vs references, backward by
//! finite differences.

mod common;

use common::{assert_close, check_grad, functional, randn, rng};
use tokken_kernels::cpu::bias::{bias_backward, bias_forward};
use tokken_kernels::cpu::residual::{accumulate, residual_backward, residual_forward};
use tokken_kernels::cpu::softmax::softmax_forward;
use tokken_kernels::cpu::tanh::{tanh_backward, tanh_forward};

#[test]
fn bias_forward_and_backward() {
    let mut r = rng(30);
    for &(n, c) in &[(1, 1), (5, 7), (100, 33)] {
        let x = randn(&mut r, n * c, 1.0);
        let bias = randn(&mut r, c, 1.0);
        let mut y = x.clone();
        bias_forward(&mut y, &bias, n, c);
        let want: Vec<f64> = (0..n * c)
            .map(|i| x[i] as f64 + bias[i % c] as f64)
            .collect();
        assert_close("bias_forward", &y, &want, 1e-7, 1e-7);

        let dout = randn(&mut r, n * c, 1.0);
        let d0 = randn(&mut r, c, 1.0);
        let mut dbias = d0.clone();
        bias_backward(&mut dbias, &dout, n, c);
        let want: Vec<f64> = (0..c)
            .map(|j| d0[j] as f64 + (0..n).map(|i| dout[i * c + j] as f64).sum::<f64>())
            .collect();
        assert_close("bias_backward (+=)", &dbias, &want, 1e-5, 1e-5);
    }
    // Finite differences of L = Σ w ∘ (x + bias) w.r.t. bias.
    let (n, c) = (6, 5);
    let x = randn(&mut r, n * c, 1.0);
    let w = randn(&mut r, n * c, 1.0);
    let mut bias = randn(&mut r, c, 1.0);
    let mut db = vec![0.0; c];
    bias_backward(&mut db, &w, n, c);
    check_grad("dbias", &mut bias, &db, 1e-2, 1e-4, |b| {
        let mut y = x.clone();
        bias_forward(&mut y, b, n, c);
        functional(&w, &y)
    });
}

#[test]
fn residual_forward_backward_accumulate() {
    let mut r = rng(31);
    let n = 40_001;
    let (a, b) = (randn(&mut r, n, 1.0), randn(&mut r, n, 1.0));
    let mut out = vec![f32::NAN; n];
    residual_forward(&mut out, &a, &b);
    assert!(out
        .iter()
        .zip(a.iter().zip(&b))
        .all(|(o, (x, y))| *o == x + y));
    let dout = randn(&mut r, n, 1.0);
    let (mut da, mut db) = (vec![f32::NAN; n], vec![f32::NAN; n]);
    residual_backward(&mut da, &mut db, &dout);
    assert_eq!(da, dout);
    assert_eq!(db, dout);
    let mut acc = a.clone();
    accumulate(&mut acc, &b);
    assert_eq!(acc, out);

    // Finite differences of L = Σ w ∘ (a + b) w.r.t. a (b is symmetric).
    let (mut a, b) = (randn(&mut r, 17, 1.0), randn(&mut r, 17, 1.0));
    let w = randn(&mut r, 17, 1.0);
    let (mut da, mut db) = (vec![f32::NAN; 17], vec![f32::NAN; 17]);
    residual_backward(&mut da, &mut db, &w);
    check_grad("residual da", &mut a, &da, 1e-2, 1e-4, |x| {
        let mut o = vec![0.0; 17];
        residual_forward(&mut o, x, &b);
        functional(&w, &o)
    });
}

#[test]
fn tanh_forward_and_backward() {
    let mut r = rng(32);
    let x = randn(&mut r, 10_007, 6.0);
    let mut y = vec![f32::NAN; x.len()];
    tanh_forward(&mut y, &x);
    let want: Vec<f64> = x.iter().map(|&v| (v as f64).tanh()).collect();
    assert_close("tanh", &y, &want, 1e-30, 4e-7);

    let mut x = randn(&mut r, 53, 3.0);
    let w = randn(&mut r, x.len(), 1.0);
    let mut y = vec![0.0; x.len()];
    tanh_forward(&mut y, &x);
    let mut d = vec![f32::NAN; x.len()];
    tanh_backward(&mut d, &y, &w);
    check_grad("tanh", &mut x, &d, 1e-3, 1e-3, |x| {
        let mut y = vec![0.0; x.len()];
        tanh_forward(&mut y, x);
        functional(&w, &y)
    });
}

#[test]
fn softmax_matches_reference() {
    let mut r = rng(33);
    for &(n, k) in &[(1, 1), (3, 2), (70, 37), (5, 32_768)] {
        let mut z = randn(&mut r, n * k, 10.0);
        z[0] = 80.0; // large logits must not overflow
        let mut p = vec![f32::NAN; n * k];
        softmax_forward(&mut p, &z, n, k);
        let mut want = vec![0.0f64; n * k];
        for i in 0..n {
            let row = &z[i * k..(i + 1) * k];
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            for j in 0..k {
                want[i * k + j] = (row[j] as f64 - m).exp() / s;
            }
        }
        // Tiny probabilities carry the f32 rounding of (z - max), amplified by |z - max|.
        assert_close("softmax", &p, &want, 1e-10, 2e-6);
    }
}
