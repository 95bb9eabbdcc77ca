//! Accuracy of the vectorizable elementary functions against f64 references.

mod common;

use common::{erf64, phi64, ulps};
use tokken_kernels::cpu::math;

/// Every 331st f32 in [lo, hi] (a dense, deterministic sweep over all binades).
fn sweep(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
    let ord = |x: f32| -> i64 {
        let b = x.to_bits() as i32 as i64;
        if b < 0 {
            -(b & 0x7fff_ffff)
        } else {
            b
        }
    };
    let from = |o: i64| -> f32 {
        if o < 0 {
            f32::from_bits(((-o) as u32) | 0x8000_0000)
        } else {
            f32::from_bits(o as u32)
        }
    };
    (ord(lo)..=ord(hi)).step_by(331).map(from)
}

fn max_ulps(
    name: &str,
    lo: f32,
    hi: f32,
    f: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
) -> f64 {
    let mut worst = (0.0, 0.0f32);
    for x in sweep(lo, hi) {
        let u = ulps(f(x), reference(x as f64));
        if u > worst.0 {
            worst = (u, x);
        }
    }
    println!("{name}: max {:.3} ulp at x = {:e}", worst.0, worst.1);
    worst.0
}

#[test]
fn exp_is_within_2_ulp() {
    assert!(max_ulps("exp", -87.0, 88.0, math::exp, f64::exp) <= 2.0);
    assert_eq!(math::exp(-88.0), 0.0);
    assert_eq!(math::exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(math::exp(0.0), 1.0);
}

#[test]
fn erf_is_within_2_ulp() {
    assert!(max_ulps("erf", -6.0, 6.0, math::erf, erf64) <= 2.0);
    assert_eq!(math::erf(0.0), 0.0);
    assert_eq!(math::erf(10.0), 1.0);
    assert_eq!(math::erf(-10.0), -1.0);
}

#[test]
fn normal_cdf_is_within_4_ulp_including_lower_tail() {
    // Down to x = -13 (Φ ≈ 6e-39, still normal f32); relative accuracy holds in the tail.
    assert!(max_ulps("normal_cdf", -13.0, 8.0, math::normal_cdf, phi64) <= 4.0);
}

#[test]
fn normal_pdf_is_within_4_ulp() {
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    assert!(max_ulps("normal_pdf", -13.0, 13.0, math::normal_pdf, pdf) <= 4.0);
}

#[test]
fn tanh_is_within_3_ulp() {
    assert!(max_ulps("tanh", -20.0, 20.0, math::tanh, f64::tanh) <= 3.0);
    assert_eq!(math::tanh(50.0), 1.0);
    assert_eq!(math::tanh(-50.0), -1.0);
    assert_eq!(math::tanh(0.0), 0.0);
}

#[test]
fn nan_propagates() {
    for (name, f) in [
        ("exp", math::exp as fn(f32) -> f32),
        ("erf", math::erf),
        ("normal_cdf", math::normal_cdf),
        ("normal_pdf", math::normal_pdf),
        ("tanh", math::tanh),
    ] {
        // The default quiet NaN and one with only low payload bits set.
        for nan in [f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001)] {
            assert!(f(nan).is_nan(), "{name}({:#x}) = {}", nan.to_bits(), f(nan));
        }
    }
    assert_eq!(math::tanh(f32::INFINITY), 1.0);
    assert_eq!(math::erf(f32::NEG_INFINITY), -1.0);
    assert_eq!(math::normal_cdf(f32::NEG_INFINITY), 0.0);
    assert_eq!(math::normal_cdf(f32::INFINITY), 1.0);
}
