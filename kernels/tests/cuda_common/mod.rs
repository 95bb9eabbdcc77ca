//! Shared by the CUDA tests: a naive f64 attention (forward and backward, the CPU
//! module's padding rules, optional dropout with the counter-based mask).
#![allow(dead_code)]

pub mod mma;

use rand::rngs::StdRng;
use rand::Rng;
use tokken_kernels::cuda::dropout_keys::DropoutKeys;

/// Naive f64 attention with the CPU module's rules and optional dropout; returns
/// (out, lse, dqkv) for the given dout.
#[allow(clippy::too_many_arguments)]
pub fn attention_reference(
    qkv: &[f32],
    mask: &[u8],
    dout: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    dropout: Option<(f32, u64)>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f64).sqrt();
    let mut out = vec![0.0; b * t * c];
    let mut lse = vec![0.0; b * nh * t];
    let mut dqkv = vec![0.0; b * t * 3 * c];
    let at = |bi: usize, tok: usize, part: usize, h: usize, d: usize| {
        qkv[(bi * t + tok) * 3 * c + part * c + h * hs + d] as f64
    };
    for bi in 0..b {
        let uniform = mask[bi * t..(bi + 1) * t].iter().all(|&m| m == 0);
        for h in 0..nh {
            let keep = |i: usize, j: usize| -> f64 {
                match dropout {
                    Some((p, seed)) if p > 0.0 => {
                        let k = DropoutKeys::new(p, seed);
                        let idx = ((((bi * nh + h) * t + i) * t + j) as u64 & 0xffff_ffff) as u32;
                        if k.keep(idx) {
                            k.scale as f64
                        } else {
                            0.0
                        }
                    }
                    _ => 1.0,
                }
            };
            let mut p = vec![vec![0.0f64; t]; t];
            for i in 0..t {
                let s: Vec<f64> = (0..t)
                    .map(|j| {
                        if uniform {
                            0.0
                        } else if mask[bi * t + j] == 0 {
                            f64::NEG_INFINITY
                        } else {
                            (0..hs)
                                .map(|d| at(bi, i, 0, h, d) * at(bi, j, 1, h, d))
                                .sum::<f64>()
                                * scale
                        }
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = s.iter().map(|&v| (v - mx).exp()).sum();
                lse[(bi * nh + h) * t + i] = mx + sum.ln();
                for j in 0..t {
                    p[i][j] = (s[j] - mx).exp() / sum;
                }
                for d in 0..hs {
                    out[(bi * t + i) * c + h * hs + d] = (0..t)
                        .map(|j| p[i][j] * keep(i, j) * at(bi, j, 2, h, d))
                        .sum();
                }
            }
            let d_out = |i: usize, d: usize| dout[(bi * t + i) * c + h * hs + d] as f64;
            for i in 0..t {
                let di: f64 = (0..hs)
                    .map(|d| d_out(i, d) * out[(bi * t + i) * c + h * hs + d])
                    .sum();
                for j in 0..t {
                    let dp = (0..hs)
                        .map(|d| d_out(i, d) * at(bi, j, 2, h, d))
                        .sum::<f64>()
                        * keep(i, j);
                    let ds = p[i][j] * (dp - di);
                    for d in 0..hs {
                        dqkv[(bi * t + i) * 3 * c + h * hs + d] += scale * ds * at(bi, j, 1, h, d);
                        dqkv[(bi * t + j) * 3 * c + c + h * hs + d] +=
                            scale * ds * at(bi, i, 0, h, d);
                        dqkv[(bi * t + j) * 3 * c + 2 * c + h * hs + d] +=
                            p[i][j] * keep(i, j) * d_out(i, d);
                    }
                }
            }
        }
    }
    (out, lse, dqkv)
}

/// Worst absolute error and relative l2 error both within `frac` of the reference's scale
/// (its largest magnitude, resp. its l2 norm).
pub fn close_to_scale(name: &str, got: &[f32], want: &[f64], frac: f64) {
    let scale = want.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
    let (mut worst, mut at) = (0.0f64, 0);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g as f64 - w).abs();
        if e.is_nan() || e > worst {
            (worst, at) = (e, i);
        }
    }
    let l2 = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let rel =
        l2(&mut got.iter().zip(want).map(|(&g, &w)| g as f64 - w)) / l2(&mut want.iter().copied());
    assert!(
        worst <= frac * scale && rel <= frac,
        "{name}: element {at} got {} want {} (worst {worst:.2e}, scale {scale:.3}, relative l2 {rel:.2e}, bound {frac})",
        got[at],
        want[at]
    );
}

/// A `[b, t]` key mask for attention tests: sequence 0 all real, the last all padding (the
/// uniform rule), sequence 1 padded over its first `padded_prefix` keys (at most t - 1: an
/// online softmax's first chunks with no real key) or, with 0, random like the others (a
/// quarter padding).
pub fn test_mask(r: &mut StdRng, b: usize, t: usize, padded_prefix: usize) -> Vec<u8> {
    let mut mask = vec![1u8; b * t];
    for bi in 1..b {
        for j in 0..t {
            mask[bi * t + j] = if bi == b - 1 {
                0
            } else if bi == 1 && padded_prefix > 0 {
                (j >= padded_prefix.min(t - 1)) as u8
            } else {
                (r.random_range(0..4) != 0) as u8
            };
        }
    }
    mask
}
