//! LayerNorm forward vs an f64 reference; backward by finite differences.

mod common;

use common::{assert_close, check_grad, functional, randn, rng};
use tokken_kernels::cpu::layernorm::{layernorm_backward, layernorm_forward};

fn reference(
    inp: &[f32],
    gamma: &[f32],
    beta: &[f32],
    n: usize,
    c: usize,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut out, mut mean, mut rstd) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
    for i in 0..n {
        let x: Vec<f64> = inp[i * c..(i + 1) * c].iter().map(|&v| v as f64).collect();
        let m = x.iter().sum::<f64>() / c as f64;
        let var = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / c as f64;
        let r = 1.0 / (var + eps).sqrt();
        for j in 0..c {
            out[i * c + j] = (x[j] - m) * r * gamma[j] as f64 + beta[j] as f64;
        }
        mean[i] = m;
        rstd[i] = r;
    }
    (out, mean, rstd)
}

#[test]
fn forward_matches_f64_reference() {
    let mut r = rng(1);
    for &(n, c) in &[(1, 1), (3, 7), (17, 33), (40, 768), (5, 1000)] {
        let mut inp = randn(&mut r, n * c, 2.0);
        // An offset row checks the two-pass variance.
        for v in inp.iter_mut().take(c) {
            *v += 100.0;
        }
        let gamma = randn(&mut r, c, 1.5);
        let beta = randn(&mut r, c, 0.5);
        let (mut out, mut mean, mut rstd) = (vec![f32::NAN; n * c], vec![0.0; n], vec![0.0; n]);
        layernorm_forward(
            &mut out, &mut mean, &mut rstd, &inp, &gamma, &beta, n, c, 1e-12,
        );
        let (o, m, s) = reference(&inp, &gamma, &beta, n, c, 1e-12);
        assert_close("out", &out, &o, 1e-5, 1e-4);
        assert_close("mean", &mean, &m, 1e-5, 1e-6);
        if c > 1 {
            assert_close("rstd", &rstd, &s, 0.0, 1e-4);
        }
    }
}

#[test]
fn backward_matches_finite_differences_and_accumulates() {
    let mut r = rng(2);
    for &(n, c) in &[(3, 5), (2, 19), (20, 3)] {
        let inp = randn(&mut r, n * c, 1.0);
        let mut gamma = randn(&mut r, c, 1.0);
        let mut beta = randn(&mut r, c, 1.0);
        let w = randn(&mut r, n * c, 1.0);
        let eps = 1e-5;
        let fwd = |inp: &[f32], gamma: &[f32], beta: &[f32]| {
            let (mut out, mut m, mut s) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
            layernorm_forward(&mut out, &mut m, &mut s, inp, gamma, beta, n, c, eps);
            (out, m, s)
        };
        let (_, mean, rstd) = fwd(&inp, &gamma, &beta);
        let mut dinp = vec![f32::NAN; n * c]; // overwritten
        let dg0 = randn(&mut r, c, 1.0); // accumulated into
        let db0 = randn(&mut r, c, 1.0);
        let (mut dgamma, mut dbeta) = (dg0.clone(), db0.clone());
        layernorm_backward(
            &mut dinp,
            &mut dgamma,
            &mut dbeta,
            &w,
            &inp,
            &mean,
            &rstd,
            &gamma,
            n,
            c,
        );
        let dgamma: Vec<f32> = dgamma.iter().zip(&dg0).map(|(a, b)| a - b).collect();
        let dbeta: Vec<f32> = dbeta.iter().zip(&db0).map(|(a, b)| a - b).collect();
        let (g, b) = (gamma.clone(), beta.clone());
        check_grad("dinp", &mut inp.clone(), &dinp, 1e-3, 2e-3, |x| {
            functional(&w, &fwd(x, &g, &b).0)
        });
        check_grad("dgamma", &mut gamma, &dgamma, 1e-3, 2e-3, |x| {
            functional(&w, &fwd(&inp, x, &b).0)
        });
        check_grad("dbeta", &mut beta, &dbeta, 1e-3, 2e-3, |x| {
            functional(&w, &fwd(&inp, &g, x).0)
        });
    }
}

#[test]
fn parameter_gradients_do_not_depend_on_row_blocking() {
    // 100 rows span several reduction blocks; compare with a row-at-a-time accumulation.
    let mut r = rng(3);
    let (n, c) = (100, 24);
    let inp = randn(&mut r, n * c, 1.0);
    let gamma = randn(&mut r, c, 1.0);
    let beta = randn(&mut r, c, 1.0);
    let dout = randn(&mut r, n * c, 1.0);
    let (mut out, mut m, mut s) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
    layernorm_forward(&mut out, &mut m, &mut s, &inp, &gamma, &beta, n, c, 1e-5);
    let (mut dinp, mut dg, mut db) = (vec![0.0; n * c], vec![0.0; c], vec![0.0; c]);
    layernorm_backward(
        &mut dinp, &mut dg, &mut db, &dout, &inp, &m, &s, &gamma, n, c,
    );
    let (mut dg1, mut db1) = (vec![0.0; c], vec![0.0; c]);
    for i in 0..n {
        let mut dx = vec![0.0; c];
        let rows = i * c..(i + 1) * c;
        layernorm_backward(
            &mut dx,
            &mut dg1,
            &mut db1,
            &dout[rows.clone()],
            &inp[rows],
            &m[i..i + 1],
            &s[i..i + 1],
            &gamma,
            1,
            c,
        );
        assert_eq!(&dx[..], &dinp[i * c..(i + 1) * c]);
    }
    let want_g: Vec<f64> = dg1.iter().map(|&v| v as f64).collect();
    let want_b: Vec<f64> = db1.iter().map(|&v| v as f64).collect();
    assert_close("dgamma", &dg, &want_g, 1e-5, 1e-5);
    assert_close("dbeta", &db, &want_b, 1e-5, 1e-5);
}
