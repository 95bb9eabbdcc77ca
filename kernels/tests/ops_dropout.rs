//! Dropout: keep rate, exact scaling, backward reuses the forward mask, determinism.

mod common;

use common::{check_grad, functional, randn, rng};
use tokken_kernels::cpu::dropout::{dropout_backward, dropout_forward, keep};

#[test]
fn keeps_about_1_minus_p_and_scales_kept_values() {
    let n = 1_000_003;
    let x: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();
    for &p in &[0.1f32, 0.5, 0.9] {
        let mut y = vec![f32::NAN; n];
        dropout_forward(&mut y, &x, p, 42);
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        let rate = kept as f64 / n as f64;
        // 1-p within ~10 standard deviations (sqrt(p(1-p)/n) <= 5e-4).
        assert!((rate - (1.0 - p as f64)).abs() < 5e-3, "p {p}: kept {rate}");
        for (i, (&yv, &xv)) in y.iter().zip(&x).enumerate() {
            assert!(
                yv == 0.0 || yv == xv * (1.0 / (1.0 - p)),
                "element {i}: {yv} from {xv}"
            );
            assert_eq!(yv != 0.0, keep(42, i as u32, p));
        }
    }
}

#[test]
fn backward_applies_the_forward_mask() {
    let mut r = rng(60);
    let mut x = randn(&mut r, 301, 1.0);
    let w = randn(&mut r, x.len(), 1.0);
    let (p, seed) = (0.3, 7);
    let mut d = vec![f32::NAN; x.len()];
    dropout_backward(&mut d, &w, p, seed);
    check_grad("dropout", &mut x, &d, 1e-2, 1e-4, |x| {
        let mut y = vec![0.0; x.len()];
        dropout_forward(&mut y, x, p, seed);
        functional(&w, &y)
    });
}

#[test]
fn deterministic_per_seed_and_edge_probabilities() {
    let x = randn(&mut rng(61), 50_000, 1.0);
    let run = |p: f32, seed: u64| {
        let mut y = vec![f32::NAN; x.len()];
        dropout_forward(&mut y, &x, p, seed);
        y
    };
    assert_eq!(run(0.2, 1), run(0.2, 1));
    assert_ne!(run(0.2, 1), run(0.2, 2));
    assert_eq!(run(0.0, 3), x);
    assert!(run(1.0, 3).iter().all(|&v| v == 0.0));
}

/// The fused residual forms equal dropout followed by the separate add, bit for bit, over
/// several chunks (the counter continues across them), p in {0, 0.1, 1}, with NaN, inf and
/// signed zeros in the inputs.
#[test]
fn fused_adds_equal_dropout_then_add_bitwise() {
    use tokken_kernels::cpu::dropout::{dropout_accumulate, dropout_add};
    use tokken_kernels::cpu::residual::accumulate;
    let n = 3 * 16384 + 77;
    let mut x = randn(&mut rng(21), n, 2.0);
    let mut r = randn(&mut rng(22), n, 2.0);
    x[..4].copy_from_slice(&[f32::NAN, f32::INFINITY, -0.0, 0.0]);
    r[..4].copy_from_slice(&[1.0, -0.0, -0.0, f32::NEG_INFINITY]);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for p in [0.0, 0.1, 1.0] {
        let mut want = vec![0.0; n];
        dropout_forward(&mut want, &x, p, 5);
        accumulate(&mut want, &r);
        let mut got = vec![f32::NAN; n];
        dropout_add(&mut got, &x, &r, p, 5);
        assert_eq!(bits(&got), bits(&want), "dropout_add, p = {p}");

        let mut masked = vec![0.0; n];
        dropout_forward(&mut masked, &x, p, 6);
        let mut want = r.clone();
        accumulate(&mut want, &masked);
        let mut got = r.clone();
        dropout_accumulate(&mut got, &x, p, 6);
        assert_eq!(bits(&got), bits(&want), "dropout_accumulate, p = {p}");
    }
}
