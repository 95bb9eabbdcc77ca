//! GELU (erf and tanh forms) forward vs f64 references; backward by finite differences.

mod common;

use common::{assert_close, check_grad, functional, phi64, randn, rng};
use tokken_kernels::cpu::gelu::{
    gelu_backward, gelu_forward, gelu_forward_in_place, gelu_in_place, gelu_tanh_backward,
    gelu_tanh_forward,
};

fn gelu_tanh64(x: f64) -> f64 {
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    // = 0.5 x (1 + tanh u), written without the f64 cancellation for u << 0.
    x / (1.0 + (-2.0 * u).exp())
}

/// Inputs covering both tails, the branch points (|x| = √2 for erf) and odd lengths.
fn inputs() -> Vec<f32> {
    let mut r = rng(10);
    let mut x = randn(&mut r, 20_011, 8.0);
    x.extend([
        0.0,
        -0.0,
        std::f32::consts::SQRT_2,
        -std::f32::consts::SQRT_2,
        -13.0,
        -20.0,
        20.0,
        1e-30,
        -1e-30,
    ]);
    x
}

#[test]
fn gelu_forward_matches_f64_reference() {
    let x = inputs();
    let mut out = vec![f32::NAN; x.len()];
    gelu_forward(&mut out, &x);
    let want: Vec<f64> = x.iter().map(|&v| v as f64 * phi64(v as f64)).collect();
    // Relative accuracy holds even in the far negative tail.
    assert_close("gelu", &out, &want, 1e-37, 5e-7);
}

/// The in-place forms (parallel, and on the calling thread) give `gelu_forward`'s bits.
#[test]
fn in_place_forms_equal_the_forward_bitwise() {
    let x = inputs();
    let mut want = vec![f32::NAN; x.len()];
    gelu_forward(&mut want, &x);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let mut parallel = x.clone();
    gelu_forward_in_place(&mut parallel);
    assert_eq!(bits(&parallel), bits(&want));
    let mut serial = x.clone();
    gelu_in_place(&mut serial);
    assert_eq!(bits(&serial), bits(&want));
}

#[test]
fn gelu_tanh_forward_matches_f64_reference() {
    let x = inputs();
    let mut out = vec![f32::NAN; x.len()];
    gelu_tanh_forward(&mut out, &x);
    let want: Vec<f64> = x.iter().map(|&v| gelu_tanh64(v as f64)).collect();
    // Computed as x σ(2u), so (unlike 0.5 x (1 + tanh u)) the lower tail keeps relative
    // accuracy; the f32 rounding of u is amplified by |2u| there, hence rtol 3e-6.
    assert_close("gelu_tanh", &out, &want, 1e-12, 3e-6);
}

#[test]
fn backwards_match_finite_differences() {
    let mut r = rng(11);
    let mut x = randn(&mut r, 101, 5.0);
    x.extend([0.0, 1.4, -1.5, 3.0, -4.0]);
    let w = randn(&mut r, x.len(), 1.0);
    let mut d = vec![f32::NAN; x.len()];
    gelu_backward(&mut d, &x, &w);
    check_grad("gelu", &mut x.clone(), &d, 1e-3, 1e-3, |x| {
        let mut o = vec![0.0; x.len()];
        gelu_forward(&mut o, x);
        functional(&w, &o)
    });
    let mut d = vec![f32::NAN; x.len()];
    gelu_tanh_backward(&mut d, &x, &w);
    check_grad("gelu_tanh", &mut x.clone(), &d, 1e-3, 1e-3, |x| {
        let mut o = vec![0.0; x.len()];
        gelu_tanh_forward(&mut o, x);
        functional(&w, &o)
    });
}

#[test]
fn backward_derivative_matches_analytic_f64() {
    // d/dx [x Φ(x)] = Φ(x) + x φ(x), elementwise with dout = 1.
    let x = inputs();
    let ones = vec![1.0f32; x.len()];
    let mut d = vec![f32::NAN; x.len()];
    gelu_backward(&mut d, &x, &ones);
    let want: Vec<f64> = x
        .iter()
        .map(|&v| {
            let v = v as f64;
            phi64(v) + v * (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt()
        })
        .collect();
    assert_close("gelu'", &d, &want, 1e-7, 1e-6);
}

#[test]
fn dispatched_kernels_equal_the_portable_scalar_formula_bitwise() {
    // The SIMD copies (AVX2 / AVX-512, chosen at run time) use no FMA contraction, so they
    // must reproduce the scalar math functions exactly.
    use tokken_kernels::cpu::math::{exp, normal_cdf};
    let x = inputs();
    let mut out = vec![f32::NAN; x.len()];
    gelu_forward(&mut out, &x);
    for (&o, &v) in out.iter().zip(&x) {
        assert_eq!(o.to_bits(), (v * normal_cdf(v)).to_bits(), "x = {v}");
    }
    gelu_tanh_forward(&mut out, &x);
    for (&o, &v) in out.iter().zip(&x) {
        let u = 0.797_884_6 * (v + 0.044_715 * v * v * v);
        assert_eq!(
            o.to_bits(),
            (v / (1.0 + exp(-2.0 * u))).to_bits(),
            "x = {v}"
        );
    }
}
