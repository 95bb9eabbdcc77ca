//! Fused attention vs a naive f64 softmax(QKᵀ/√HS + mask) V; backward by finite differences.

mod common;

use common::{assert_close, check_grad, functional, randn, rng};
use tokken_kernels::cpu::attention::{
    attention_backward, attention_forward, key_bias, softmax_scores,
};
use tokken_kernels::cpu::gemm::{sgemm_unpacked, Trans};

struct Naive {
    out: Vec<f64>,
    lse: Vec<f64>,
    probs: Vec<f64>,
}

/// HF semantics: padded keys get score + finfo.min, i.e. probability 0 unless the whole
/// sequence is padding (then all scores are equal and attention is uniform).
fn naive(qkv: &[f32], mask: &[u8], b: usize, t: usize, c: usize, nh: usize) -> Naive {
    let hs = c / nh;
    let scale = 1.0 / (hs as f64).sqrt();
    let at = |bi: usize, tok: usize, part: usize, h: usize, d: usize| {
        qkv[(bi * t + tok) * 3 * c + part * c + h * hs + d] as f64
    };
    let mut r = Naive {
        out: vec![0.0; b * t * c],
        lse: vec![0.0; b * nh * t],
        probs: vec![0.0; b * nh * t * t],
    };
    for bi in 0..b {
        let any = mask[bi * t..(bi + 1) * t].iter().any(|&m| m != 0);
        for h in 0..nh {
            for i in 0..t {
                let s: Vec<f64> = (0..t)
                    .map(|j| {
                        if !any {
                            0.0 // every score + finfo.min rounds to finfo.min
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
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                let row = (bi * nh + h) * t + i;
                r.lse[row] = m + z.ln();
                for (j, sj) in s.iter().enumerate() {
                    let p = (sj - m).exp() / z;
                    r.probs[row * t + j] = p;
                    for d in 0..hs {
                        r.out[(bi * t + i) * c + h * hs + d] += p * at(bi, j, 2, h, d);
                    }
                }
            }
        }
    }
    r
}

/// Random lengths per sequence (≥ 1 real token unless `allow_empty`), padding at the end.
fn mask_for(r: &mut rand::rngs::StdRng, b: usize, t: usize, allow_empty: bool) -> Vec<u8> {
    use rand::Rng;
    let mut m = vec![0u8; b * t];
    for bi in 0..b {
        let len = if allow_empty && bi == b - 1 {
            0
        } else {
            r.random_range(1..=t)
        };
        m[bi * t..bi * t + len].fill(1);
    }
    m
}

fn forward(
    qkv: &[f32],
    mask: &[u8],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    with_probs: bool,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let mut out = vec![f32::NAN; b * t * c];
    let mut lse = vec![f32::NAN; b * nh * t];
    let mut probs = with_probs.then(|| vec![f32::NAN; b * nh * t * t]);
    attention_forward(
        &mut out,
        &mut lse,
        qkv,
        mask,
        b,
        t,
        c,
        nh,
        probs.as_deref_mut(),
    );
    (out, lse, probs)
}

/// (B, T, C, NH): odd head sizes, T around and across the 64-query tile (one query, a
/// tile tail, exactly one tile, a tile and a tail, two tiles and a tail), BERT-like heads.
const SHAPES: [(usize, usize, usize, usize); 7] = [
    (1, 1, 4, 1),
    (2, 5, 6, 3),
    (3, 37, 34, 2),
    (2, 64, 128, 2),
    (2, 70, 128, 2),
    (2, 64, 192, 3),
    (1, 131, 96, 3),
];

/// Random `qkv` (values of the given scale) and a padding mask for one shape; the last of
/// three or more sequences is all padding.
fn case(
    r: &mut rand::rngs::StdRng,
    (b, t, c, _): (usize, usize, usize, usize),
    scale: f32,
) -> (Vec<f32>, Vec<u8>) {
    let qkv = randn(r, b * t * 3 * c, scale);
    let mask = mask_for(r, b, t, b > 2);
    (qkv, mask)
}

#[test]
fn forward_matches_naive_softmax_attention() {
    let mut r = rng(20);
    for (b, t, c, nh) in SHAPES {
        let (qkv, mask) = case(&mut r, (b, t, c, nh), 2.0);
        let (out, lse, probs) = forward(&qkv, &mask, b, t, c, nh, true);
        let want = naive(&qkv, &mask, b, t, c, nh);
        assert_close("out", &out, &want.out, 1e-5, 1e-4);
        assert_close("lse", &lse, &want.lse, 1e-5, 1e-5);
        let probs = probs.unwrap();
        assert_close("probs", &probs, &want.probs, 1e-6, 1e-4);
        // Padded keys get exactly 0 (unless the whole sequence is padding).
        for bi in 0..b {
            let any = mask[bi * t..(bi + 1) * t].iter().any(|&m| m != 0);
            for row in 0..nh * t {
                for j in 0..t {
                    let p = probs[(bi * nh * t + row) * t + j];
                    if any && mask[bi * t + j] == 0 {
                        assert_eq!(p, 0.0, "padded key must get probability exactly 0");
                    }
                }
            }
        }
        // Without probs the outputs are identical.
        let (out2, lse2, _) = forward(&qkv, &mask, b, t, c, nh, false);
        assert_eq!(out, out2);
        assert_eq!(lse, lse2);
    }
}

/// Attention computed row by row: `S = scale · Q Kᵀ` per (sequence, head), each score row
/// through `softmax_scores`, then `O = P V`, with the same small-GEMM kernel. The forward
/// computes scores transposed (queries in lanes); this is the layout it replaced, and the
/// one whose bits the token-lanes path is tested against.
fn row_major_reference(
    qkv: &[f32],
    mask: &[u8],
    (b, t, c, nh): (usize, usize, usize, usize),
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let hs = c / nh;
    let stride = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let mut out = vec![0.0f32; b * t * c];
    let mut lse = vec![0.0f32; b * nh * t];
    let mut probs = vec![0.0f32; b * nh * t * t];
    for bi in 0..b {
        let bias = key_bias(&mask[bi * t..(bi + 1) * t]);
        for h in 0..nh {
            let seq = bi * t * stride;
            let (q, k, v) = (
                &qkv[seq + h * hs..],
                &qkv[seq + c + h * hs..],
                &qkv[seq + 2 * c + h * hs..],
            );
            let mut s = vec![0.0f32; t * t];
            sgemm_unpacked(
                Trans::N,
                Trans::T,
                t,
                t,
                hs,
                scale,
                q,
                stride,
                k,
                stride,
                0.0,
                &mut s,
                t,
            );
            for (i, row) in s.chunks_exact_mut(t).enumerate() {
                lse[(bi * nh + h) * t + i] = softmax_scores(row, bias.as_deref());
            }
            probs[(bi * nh + h) * t * t..(bi * nh + h + 1) * t * t].copy_from_slice(&s);
            let mut o = vec![0.0f32; t * hs];
            sgemm_unpacked(
                Trans::N,
                Trans::N,
                t,
                hs,
                t,
                1.0,
                &s,
                t,
                v,
                stride,
                0.0,
                &mut o,
                hs,
            );
            for (i, orow) in o.chunks_exact(hs).enumerate() {
                let at = (bi * t + i) * c + h * hs;
                out[at..at + hs].copy_from_slice(orow);
            }
        }
    }
    (out, lse, probs)
}

/// The forward's transposed scores and column softmax give the row-major computation's
/// bits: outputs, log-sum-exps and probabilities, across query tiles (64), tile tails,
/// padding and fully padded sequences.
#[test]
fn forward_equals_the_row_major_computation_bitwise() {
    let mut r = rng(23);
    for (b, t, c, nh) in SHAPES {
        let (qkv, mask) = case(&mut r, (b, t, c, nh), 3.0);
        let (out, lse, probs) = forward(&qkv, &mask, b, t, c, nh, true);
        let (want_out, want_lse, want_probs) = row_major_reference(&qkv, &mask, (b, t, c, nh));
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        let shape = format!("b {b} t {t} c {c} nh {nh}");
        assert_eq!(bits(&out), bits(&want_out), "out, {shape}");
        assert_eq!(bits(&lse), bits(&want_lse), "lse, {shape}");
        assert_eq!(bits(&probs.unwrap()), bits(&want_probs), "probs, {shape}");
    }
}

#[test]
fn fully_padded_sequence_attends_uniformly_like_hf() {
    let (b, t, c, nh) = (1, 6, 8, 2);
    let qkv = randn(&mut rng(21), b * t * 3 * c, 1.0);
    let (_, _, probs) = forward(&qkv, &[0; 6], b, t, c, nh, true);
    for &p in &probs.unwrap() {
        assert!((p - 1.0 / 6.0).abs() < 1e-6, "{p}");
    }
}

#[test]
fn backward_matches_finite_differences() {
    let mut r = rng(22);
    for &(b, t, c, nh) in &[(1, 3, 4, 2), (2, 5, 6, 2), (2, 4, 3, 1)] {
        let mut qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let mask = mask_for(&mut r, b, t, false);
        let w = randn(&mut r, b * t * c, 1.0);
        let (out, lse, _) = forward(&qkv, &mask, b, t, c, nh, false);
        let mut dqkv = vec![f32::NAN; qkv.len()];
        attention_backward(&mut dqkv, &w, &qkv, &out, &lse, &mask, b, t, c, nh);
        check_grad("dqkv", &mut qkv, &dqkv, 1e-3, 2e-3, |x| {
            functional(&w, &forward(x, &mask, b, t, c, nh, false).0)
        });
    }
}

/// Attention backward in f64 from the naive probabilities:
/// dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP - Σ_j P dP), dQ = scale dS K, dK = scale dSᵀ Q.
fn naive_backward(
    qkv: &[f32],
    mask: &[u8],
    dout: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) -> Vec<f64> {
    let hs = c / nh;
    let scale = 1.0 / (hs as f64).sqrt();
    let p = naive(qkv, mask, b, t, c, nh).probs;
    let idx = |bi: usize, tok: usize, part: usize, h: usize, d: usize| {
        (bi * t + tok) * 3 * c + part * c + h * hs + d
    };
    let mut dqkv = vec![0.0f64; qkv.len()];
    for bi in 0..b {
        for h in 0..nh {
            let prob = |i: usize, j: usize| p[((bi * nh + h) * t + i) * t + j];
            let d_o = |i: usize, d: usize| dout[(bi * t + i) * c + h * hs + d] as f64;
            for i in 0..t {
                let dp: Vec<f64> = (0..t)
                    .map(|j| {
                        (0..hs)
                            .map(|d| d_o(i, d) * qkv[idx(bi, j, 2, h, d)] as f64)
                            .sum()
                    })
                    .collect();
                let dsum: f64 = (0..t).map(|j| prob(i, j) * dp[j]).sum();
                for j in 0..t {
                    let ds = prob(i, j) * (dp[j] - dsum) * scale;
                    for d in 0..hs {
                        dqkv[idx(bi, i, 0, h, d)] += ds * qkv[idx(bi, j, 1, h, d)] as f64;
                        dqkv[idx(bi, j, 1, h, d)] += ds * qkv[idx(bi, i, 0, h, d)] as f64;
                        dqkv[idx(bi, j, 2, h, d)] += prob(i, j) * d_o(i, d);
                    }
                }
            }
        }
    }
    dqkv
}

#[test]
fn backward_matches_f64_reference_across_query_tiles() {
    let mut r = rng(24);
    // T = 70 and 130 span several 64-row query tiles, so dK/dV accumulate across tiles.
    for &(b, t, c, nh) in &[(2, 70, 32, 2), (1, 130, 24, 3), (3, 9, 12, 3)] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let mask = mask_for(&mut r, b, t, b == 3);
        let dout = randn(&mut r, b * t * c, 1.0);
        let (out, lse, _) = forward(&qkv, &mask, b, t, c, nh, false);
        let mut dqkv = vec![f32::NAN; qkv.len()];
        attention_backward(&mut dqkv, &dout, &qkv, &out, &lse, &mask, b, t, c, nh);
        assert_close(
            "dqkv",
            &dqkv,
            &naive_backward(&qkv, &mask, &dout, b, t, c, nh),
            1e-5,
            1e-4,
        );
    }
}

#[test]
fn backward_gives_zero_gradient_to_padded_keys_and_values() {
    let mut r = rng(23);
    let (b, t, c, nh) = (2, 9, 8, 2);
    let qkv = randn(&mut r, b * t * 3 * c, 1.0);
    let mut mask = vec![1u8; b * t];
    mask[5..9].fill(0);
    let dout = randn(&mut r, b * t * c, 1.0);
    let (out, lse, _) = forward(&qkv, &mask, b, t, c, nh, false);
    let mut dqkv = vec![f32::NAN; qkv.len()];
    attention_backward(&mut dqkv, &dout, &qkv, &out, &lse, &mask, b, t, c, nh);
    for tok in 5..9 {
        assert!(dqkv[tok * 3 * c + c..(tok + 1) * 3 * c]
            .iter()
            .all(|&v| v == 0.0));
    }
    assert!(dqkv.iter().all(|v| v.is_finite()));
}
