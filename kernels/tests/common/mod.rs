//! Shared helpers for the op tests: seeded random data, f64 reference math, error
//! reports and a central-difference gradient checker.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub mod gemm;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in `[-scale, scale)`.
pub fn randn(r: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(-scale..scale)).collect()
}

/// Token lanes `got_t` (`[c][32]`, token `i` of feature `f` at `f * 32 + i`) equal the
/// `[m][c]` rows `want` bit for bit at the m real tokens; panics naming the first offender.
pub fn assert_lanes_eq(got_t: &[f32], want: &[f32], m: usize, c: usize, what: &str) {
    const L: usize = tokken_kernels::cpu::gemm::LANE_TOKENS;
    for i in 0..m {
        for f in 0..c {
            let (g, e) = (got_t[f * L + i], want[i * c + f]);
            assert_eq!(
                g.to_bits(),
                e.to_bits(),
                "{what}: token {i} feature {f}: lanes {g} vs rows {e}"
            );
        }
    }
}

/// Max |a - b| / (atol + rtol |b|) over all elements; panics naming the first offender
/// when it exceeds 1.
pub fn assert_close(name: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let r = (g as f64 - w).abs() / (atol + rtol * w.abs());
        // NaN (a wrong or unwritten output) is the worst and stays recorded.
        if r.is_nan() || r > worst.0 {
            worst = (r, i);
        }
    }
    let i = worst.1;
    assert!(
        worst.0 <= 1.0,
        "{name}: element {i}: got {} want {} (error ratio {:.3}, atol {atol}, rtol {rtol})",
        got[i],
        want[i],
        worst.0
    );
}

/// erf in f64 (about 1e-15): positive-term series below 2.5, continued fraction above.
pub fn erf64(x: f64) -> f64 {
    let a = x.abs();
    let v = if a < 2.5 {
        // erf x = 2/√π e^{-x²} Σ 2^n x^{2n+1} / (1·3·…·(2n+1))
        let mut term = a;
        let mut sum = a;
        let mut n = 0.0;
        while term > 1e-18 * sum {
            n += 1.0;
            term *= 2.0 * a * a / (2.0 * n + 1.0);
            sum += term;
        }
        2.0 / std::f64::consts::PI.sqrt() * (-a * a).exp() * sum
    } else {
        1.0 - erfc_cf(a)
    };
    v.copysign(x)
}

/// erfc for x >= 2.5 by its continued fraction (evaluated bottom-up).
fn erfc_cf(x: f64) -> f64 {
    let mut f = x;
    for k in (1..=300).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

pub fn erfc64(x: f64) -> f64 {
    if x >= 2.5 {
        erfc_cf(x)
    } else {
        1.0 - erf64(x)
    }
}

/// Standard normal CDF in f64, accurate in both tails.
pub fn phi64(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    if z >= 0.0 {
        1.0 - 0.5 * erfc64(z)
    } else {
        0.5 * erfc64(-z)
    }
}

/// Distance in units in the last place of `want` rounded to f32.
pub fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    if w == 0.0 {
        return if got == 0.0 {
            0.0
        } else {
            (got as f64).abs() / (f32::MIN_POSITIVE as f64 * f32::EPSILON as f64)
        };
    }
    let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
    (got as f64 - want).abs() / ulp
}

/// Checks `analytic[i] = ∂L/∂x[i]` by central differences: `loss` maps the input to
/// `L = Σ w ∘ output` (accumulated in f64 from the kernel's f32 output), step `h`.
/// Passes when |fd - analytic| <= tol (1 + |analytic|) for every coordinate.
pub fn check_grad(
    name: &str,
    x: &mut [f32],
    analytic: &[f32],
    h: f32,
    tol: f64,
    mut loss: impl FnMut(&[f32]) -> f64,
) {
    assert_eq!(x.len(), analytic.len(), "{name}: gradient length");
    for i in 0..x.len() {
        let xi = x[i];
        let (xp, xm) = (xi + h, xi - h);
        x[i] = xp;
        let lp = loss(x);
        x[i] = xm;
        let lm = loss(x);
        x[i] = xi;
        let fd = (lp - lm) / (xp as f64 - xm as f64);
        let an = analytic[i] as f64;
        assert!(
            (fd - an).abs() <= tol * (1.0 + an.abs()),
            "{name}[{i}]: analytic {an} vs finite difference {fd} (tol {tol})"
        );
    }
}

/// `Σ w_i y_i` in f64.
pub fn functional(w: &[f32], y: &[f32]) -> f64 {
    w.iter().zip(y).map(|(&a, &b)| a as f64 * b as f64).sum()
}
