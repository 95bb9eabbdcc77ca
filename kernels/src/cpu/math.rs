//! Vectorizable f32 elementary functions (exp, erf, normal CDF, tanh) for the fused ops.
//!
//! Every function is branch-free (both sides of a range split are computed and one is
//! selected) and `#[inline(always)]`, so loops over slices vectorize inside
//! [`multiversion!`](super::vectorize::multiversion) bodies. Accuracy is checked against f64
//! references in `tests/ops_math.rs` (about 1-2 ulp). Polynomial coefficients were fitted
//! for this crate (Chebyshev fits in 40-digit arithmetic, mpmath `chebyfit`).

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for |n| < 2^11.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5 * 2^23: adding it rounds an f32 in (-2^22, 2^22) to the nearest integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// e^x for x <= 88.3 (larger inputs saturate); returns exactly 0 for x < -87.3
/// (where e^x would be subnormal). About 1 ulp.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    exp_hi_lo(x, 0.0)
}

/// e^(hi + lo) for a small correction `lo` (|lo| <= 0.05) that is folded into the reduced
/// argument, so the rounding of `hi + lo` never happens.
#[inline(always)]
fn exp_hi_lo(hi: f32, lo: f32) -> f32 {
    let xc = hi.clamp(-87.3, 88.3);
    // hi = n ln2 + r0, |r0| <= ln2 / 2.
    let t = xc * LOG2E + ROUND_MAGIC;
    let n_bits = t.to_bits() as i32 - ROUND_MAGIC.to_bits() as i32;
    let n = t - ROUND_MAGIC;
    let r = ((xc - n * LN2_HI) - n * LN2_LO) + lo;
    // Taylor series to degree 7: truncation error < 2e-8 relative on |r| <= 0.4.
    let p = horner(&EXP_TAYLOR, r);
    let scale = f32::from_bits(((n_bits + 127) << 23) as u32);
    if hi < -87.3 {
        0.0
    } else {
        p * scale
    }
}

/// e^(-c * x^2) for c in {0.5, 1} and |x| <= 14, accurate even when x^2 is large: x is
/// split into a 12-bit head `xh` (so `c xh^2` is exact) and a tail, and
/// -c x^2 = -c xh^2 - c (x - xh)(x + xh) with the second term small (<= 0.05).
#[inline(always)]
fn exp_neg_sq(x: f32, c: f32) -> f32 {
    let head = f32::from_bits(x.to_bits() & 0xFFFF_F000);
    // Masking could turn a NaN with a low payload into infinity; keep NaN as is.
    let xh = if x.is_nan() { x } else { head };
    exp_hi_lo(-c * (xh * xh), -c * ((x - xh) * (x + xh)))
}

/// erf(x) / x - 1 = R(x^2) on |x| <= 1 (fit of erf(x)/x with max relative error 1.5e-9,
/// minus 1 so that erf(x) = x + x R(x^2) keeps the leading term exact); highest degree first.
const ERF_R: [f32; 7] = [
    7.875875e-5,
    -8.016864e-4,
    5.1890872e-3,
    -2.6854211e-2,
    0.11283595,
    -0.37612626,
    0.12837917,
];

/// erfc(z) e^(z^2) z = Q(s), s = (1/z - 0.55) / 0.45, on 1 <= z <= 10 (max relative error
/// 1.2e-8); highest degree first.
const ERFC_Q: [f32; 12] = [
    1.7558727e-5,
    -1.6499083e-5,
    -7.069584e-5,
    1.7799302e-4,
    -2.2764354e-4,
    7.990062e-5,
    9.2065975e-4,
    -3.974019e-3,
    8.962742e-3,
    -4.124047e-3,
    -7.65158e-2,
    0.5023534,
];

/// Polynomial `coef[0] x^(N-1) + ... + coef[N-1]` by Horner's rule, each step one fused
/// multiply-add (one rounding: more accurate than `acc * x + c`, and half the
/// instructions in the AVX2/AVX-512 copies, where it is one `vfmadd`; the portable copy
/// calls libm's correctly rounded `fmaf`, so every copy gives the same bits).
#[inline(always)]
fn horner<const N: usize>(coef: &[f32; N], x: f32) -> f32 {
    let mut acc = coef[0];
    for &c in &coef[1..] {
        acc = acc.mul_add(x, c);
    }
    acc
}

/// e^r = sum r^k / k! to degree 7; highest degree first.
const EXP_TAYLOR: [f32; 8] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// erfc(z) for z >= 1, given `t = 1/z` and `e = e^(-z^2)` (0 beyond the underflow point).
#[inline(always)]
fn erfc_large(t: f32, e: f32) -> f32 {
    let t = t.clamp(0.1, 1.0);
    let s = t * (1.0 / 0.45) - 0.55 / 0.45;
    e * t * horner(&ERFC_Q, s)
}

/// The error function, about 1 ulp.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let small = x + x * horner(&ERF_R, x * x);
    let large = 1.0 - erfc_large(1.0 / a, exp_neg_sq(a, 1.0));
    if a < 1.0 {
        small
    } else {
        large.copysign(x)
    }
}

/// Standard normal CDF Φ(x) = (1 + erf(x/√2)) / 2, with small relative error also in the
/// lower tail (computed there as erfc(-x/√2) / 2, not 1 + erf).
#[inline(always)]
pub fn normal_cdf(x: f32) -> f32 {
    cdf_from_exp(x, exp_neg_sq(x, 0.5))
}

/// Φ(x) given `e = e^(-x^2/2)`.
#[inline(always)]
fn cdf_from_exp(x: f32, e: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    // (1 + z) is exact for z in [-1, -0.5] (Sterbenz), so the lower side has no cancellation.
    let small = 0.5 * ((1.0 + z) + z * horner(&ERF_R, z * z));
    // `e` = e^(-z^2) = e^(-x^2 / 2) comes from x, avoiding the rounding of z;
    // 1/z = √2/|x| with one rounding.
    let half_erfc = 0.5 * erfc_large(std::f32::consts::SQRT_2 / x.abs(), e);
    if a < 1.0 {
        small
    } else if z < 0.0 {
        half_erfc
    } else {
        1.0 - half_erfc
    }
}

/// Standard normal density φ(x) = e^(-x^2/2) / √(2π).
#[inline(always)]
pub fn normal_pdf(x: f32) -> f32 {
    INV_SQRT_2PI * exp_neg_sq(x, 0.5)
}

const INV_SQRT_2PI: f32 = 0.398_942_3;

/// (Φ(x), φ(x)) sharing one exponential (GELU backward).
#[inline(always)]
pub fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    let e = exp_neg_sq(x, 0.5);
    (cdf_from_exp(x, e), INV_SQRT_2PI * e)
}

/// tanh(u)/u = R(u^2) on |u| <= 0.625 (max absolute error 1.5e-10); highest degree first.
const TANH_R: [f32; 7] = [
    2.1274353e-3,
    -8.157853e-3,
    2.1691265e-2,
    -5.3944584e-2,
    0.13333182,
    -0.3333333,
    1.0,
];

/// Hyperbolic tangent, about 1-2 ulp.
#[inline(always)]
pub fn tanh(u: f32) -> f32 {
    let a = u.abs();
    let small = u * horner(&TANH_R, u * u);
    // tanh a = (1 - e^(-2a)) / (1 + e^(-2a)); e^(-2a) <= 0.29 here so no cancellation.
    // (exp saturates to 0 for large a and propagates NaN; `min` would swallow NaN.)
    let e = exp(-2.0 * a);
    let large = ((1.0 - e) / (1.0 + e)).copysign(u);
    if a < 0.625 {
        small
    } else {
        large
    }
}
