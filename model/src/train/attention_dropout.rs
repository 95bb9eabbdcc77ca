//! Self-attention with dropout on the probabilities, for training with
//! `attention_dropout > 0` (the fused kernel `tokken_kernels::cpu::attention` has no dropout
//! hook yet; without attention dropout the training forward uses that kernel).
//!
//! Per (sequence b, head h), as HF `BertSelfAttention`: `S = Q Kᵀ / √HS` with padded keys
//! at -inf (a sequence without any real token attends uniformly, as the kernel), `P =
//! softmax(S)` saved `[B, NH, T, T]`, `O = dropout(P) V`. The mask of head (b, h) is the
//! counter-based dropout stream seeded `site_seed(seed, b·NH + h)`, so the backward
//! regenerates it.

use rayon::prelude::*;
use tokken_kernels::cpu::dropout::{dropout_backward, dropout_forward};
use tokken_kernels::cpu::gemm::{sgemm, Trans};

use super::rng::site_seed;

/// `row = softmax(row)` in place (max-subtracted; -inf entries become 0).
fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0.0f32;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    let inv = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inv;
    }
}

/// Forward. `out`: [B, T, C]; `probs`: [B, NH, T, T] (saved P, before dropout); `heads`:
/// [B, NH, T, HS] scratch; `qkv`: [B, T, 3C]; `key_mask`: [B, T].
#[allow(clippy::too_many_arguments)]
pub fn attention_dropout_forward(
    out: &mut [f32],
    probs: &mut [f32],
    heads: &mut [f32],
    qkv: &[f32],
    key_mask: &[u8],
    (b, t, c, nh): (usize, usize, usize, usize),
    p: f32,
    seed: u64,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    probs[..b * nh * t * t]
        .par_chunks_mut(t * t)
        .zip(heads[..b * t * c].par_chunks_mut(t * hs))
        .enumerate()
        .for_each(|(bh, (pb, ob))| {
            let (bi, h) = (bh / nh, bh % nh);
            let at = bi * t * 3 * c + h * hs;
            let (q, k, v) = (&qkv[at..], &qkv[at + c..], &qkv[at + 2 * c..]);
            sgemm(
                Trans::N,
                Trans::T,
                t,
                t,
                hs,
                scale,
                q,
                3 * c,
                k,
                3 * c,
                0.0,
                pb,
                t,
            );
            let m = &key_mask[bi * t..(bi + 1) * t];
            let any_real = m.iter().any(|&x| x != 0);
            for row in pb.chunks_exact_mut(t) {
                if !any_real {
                    // HF's `score + finfo.min` makes every score equal: uniform attention
                    row.fill(0.0);
                }
                for (s, &mk) in row.iter_mut().zip(m) {
                    if mk == 0 && any_real {
                        *s = f32::NEG_INFINITY;
                    }
                }
                softmax_in_place(row);
            }
            let mut dropped = vec![0.0f32; t * t];
            dropout_forward(&mut dropped, pb, p, site_seed(seed, bh as u64));
            sgemm(
                Trans::N,
                Trans::N,
                t,
                hs,
                t,
                1.0,
                &dropped,
                t,
                v,
                3 * c,
                0.0,
                ob,
                hs,
            );
        });
    // [B, NH, T, HS] → [B, T, C] (heads concatenated)
    out[..b * t * c]
        .par_chunks_mut(c)
        .enumerate()
        .for_each(|(row, o)| {
            let (bi, ti) = (row / t, row % t);
            for h in 0..nh {
                o[h * hs..(h + 1) * hs]
                    .copy_from_slice(&heads[((bi * nh + h) * t + ti) * hs..][..hs]);
            }
        });
}

/// Backward of [`attention_dropout_forward`]: `dqkv` [B, T, 3C] overwritten; `dheads`
/// [B, NH, 3, T, HS] scratch; `dout` [B, T, C]; `probs` as saved.
#[allow(clippy::too_many_arguments)]
pub fn attention_dropout_backward(
    dqkv: &mut [f32],
    dheads: &mut [f32],
    dout: &[f32],
    qkv: &[f32],
    probs: &[f32],
    (b, t, c, nh): (usize, usize, usize, usize),
    p: f32,
    seed: u64,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    dheads[..3 * b * t * c]
        .par_chunks_mut(3 * t * hs)
        .zip(probs[..b * nh * t * t].par_chunks(t * t))
        .enumerate()
        .for_each(|(bh, (dh, pb))| {
            let (bi, h) = (bh / nh, bh % nh);
            let at = bi * t * 3 * c + h * hs;
            let (q, k, v) = (&qkv[at..], &qkv[at + c..], &qkv[at + 2 * c..]);
            let d_o = &dout[bi * t * c + h * hs..];
            let (dq, rest) = dh.split_at_mut(t * hs);
            let (dk, dv) = rest.split_at_mut(t * hs);
            let s = site_seed(seed, bh as u64);
            // dV = dropout(P)ᵀ dO
            let mut dropped = vec![0.0f32; t * t];
            dropout_forward(&mut dropped, pb, p, s);
            sgemm(
                Trans::T,
                Trans::N,
                t,
                hs,
                t,
                1.0,
                &dropped,
                t,
                d_o,
                c,
                0.0,
                dv,
                hs,
            );
            // dP = dropout'(dO Vᵀ)
            let mut d_dropped = vec![0.0f32; t * t];
            sgemm(
                Trans::N,
                Trans::T,
                t,
                t,
                hs,
                1.0,
                d_o,
                c,
                v,
                3 * c,
                0.0,
                &mut d_dropped,
                t,
            );
            let ds = &mut dropped;
            dropout_backward(ds, &d_dropped, p, s);
            // dS = P ∘ (dP - Σ_j dP P)
            for (drow, prow) in ds.chunks_exact_mut(t).zip(pb.chunks_exact(t)) {
                let dot: f32 = drow.iter().zip(prow).map(|(d, p)| d * p).sum();
                for (d, &pv) in drow.iter_mut().zip(prow) {
                    *d = pv * (*d - dot);
                }
            }
            // dQ = scale dS K, dK = scale dSᵀ Q
            sgemm(
                Trans::N,
                Trans::N,
                t,
                hs,
                t,
                scale,
                ds,
                t,
                k,
                3 * c,
                0.0,
                dq,
                hs,
            );
            sgemm(
                Trans::T,
                Trans::N,
                t,
                hs,
                t,
                scale,
                ds,
                t,
                q,
                3 * c,
                0.0,
                dk,
                hs,
            );
        });
    // [B, NH, 3, T, HS] → [B, T, 3C]
    dqkv[..3 * b * t * c]
        .par_chunks_mut(3 * c)
        .enumerate()
        .for_each(|(row, d)| {
            let (bi, ti) = (row / t, row % t);
            for h in 0..nh {
                for part in 0..3 {
                    let src = (((bi * nh + h) * 3 + part) * t + ti) * hs;
                    d[part * c + h * hs..][..hs].copy_from_slice(&dheads[src..src + hs]);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use tokken_kernels::cpu::attention::{attention_backward, attention_forward};

    use super::*;

    /// With p = 0 the unfused path must be the fused kernel (padding, an all-padding
    /// sequence, forward and backward).
    #[test]
    fn without_dropout_it_matches_the_fused_kernel() {
        let (b, t, c, nh) = (3, 11, 16, 4);
        let val = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 2.0;
        let qkv: Vec<f32> = (0..b * t * 3 * c).map(val).collect();
        let dout: Vec<f32> = (0..b * t * c).map(|i| val(i + 17)).collect();
        let mut mask = vec![1u8; b * t];
        mask[4..t].fill(0); // sequence 0: 4 real tokens
        mask[2 * t..].fill(0); // sequence 2: no real token
        let (mut want, mut lse) = (vec![0.0; b * t * c], vec![0.0; b * nh * t]);
        attention_forward(&mut want, &mut lse, &qkv, &mask, b, t, c, nh, None);
        let mut dwant = vec![0.0; b * t * 3 * c];
        attention_backward(&mut dwant, &dout, &qkv, &want, &lse, &mask, b, t, c, nh);

        let (mut got, mut probs, mut heads) = (
            vec![0.0; b * t * c],
            vec![0.0; b * nh * t * t],
            vec![0.0; b * t * c],
        );
        attention_dropout_forward(
            &mut got,
            &mut probs,
            &mut heads,
            &qkv,
            &mask,
            (b, t, c, nh),
            0.0,
            1,
        );
        let (mut dgot, mut dheads) = (vec![0.0; b * t * 3 * c], vec![0.0; 3 * b * t * c]);
        attention_dropout_backward(
            &mut dgot,
            &mut dheads,
            &dout,
            &qkv,
            &probs,
            (b, t, c, nh),
            0.0,
            1,
        );
        let max_err = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        };
        assert!(
            max_err(&got, &want) < 1e-5,
            "forward {}",
            max_err(&got, &want)
        );
        assert!(
            max_err(&dgot, &dwant) < 1e-5,
            "backward {}",
            max_err(&dgot, &dwant)
        );
    }
}
