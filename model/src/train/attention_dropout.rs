//! Self-attention with dropout on the probabilities, for training with
//! `attention_dropout > 0` (the fused kernel `tokken_kernels::cpu::attention` has no dropout
//! hook yet; without attention dropout the training forward uses that kernel).
//!
//! Per (sequence b, head h), as HF `BertSelfAttention`: `S = Q Kᵀ / √HS` with padded keys
//! at -inf (a sequence without any real token attends uniformly, as the kernel), `P =
//! softmax(S)` saved `[B, NH, T, T]`, `O = dropout(P) V`. The mask of head (b, h) is the
//! counter-based dropout stream seeded `site_seed(seed, b·NH + h)`, so the backward
//! regenerates it. The softmax rows and their backward are the fused kernel's row
//! functions (vectorized exp and sums), so both paths round alike.

use rayon::prelude::*;
use tokken_kernels::cpu::attention::{key_bias, softmax_backward_in_place, softmax_scores};
use tokken_kernels::cpu::dropout::{dropout_backward, dropout_forward};
use tokken_kernels::cpu::gemm::{sgemm_unpacked, Trans};

use super::rng::site_seed;

/// Forward. `out`: [B, T, C]; `probs`: [B, NH, T, T] (saved P, before dropout); `qkv`:
/// [B, T, 3C]; `key_mask`: [B, T]. Parallel over sequences; each head's products read
/// `qkv` and write `out` in place ([`sgemm_unpacked`]).
#[allow(clippy::too_many_arguments)]
pub fn attention_dropout_forward(
    out: &mut [f32],
    probs: &mut [f32],
    qkv: &[f32],
    key_mask: &[u8],
    (b, t, c, nh): (usize, usize, usize, usize),
    p: f32,
    seed: u64,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    out[..b * t * c]
        .par_chunks_mut(t * c)
        .zip(probs[..b * nh * t * t].par_chunks_mut(nh * t * t))
        .enumerate()
        .for_each(|(bi, (ob, pbs))| {
            let bias = key_bias(&key_mask[bi * t..(bi + 1) * t]);
            let mut dropped = vec![0.0f32; t * t];
            for (h, pb) in pbs.chunks_exact_mut(t * t).enumerate() {
                let at = bi * t * 3 * c + h * hs;
                let (q, k, v) = (&qkv[at..], &qkv[at + c..], &qkv[at + 2 * c..]);
                sgemm_unpacked(
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
                for row in pb.chunks_exact_mut(t) {
                    softmax_scores(row, bias.as_deref());
                }
                dropout_forward(&mut dropped, pb, p, site_seed(seed, (bi * nh + h) as u64));
                // this head's columns of out: [T, HS] at row stride C
                sgemm_unpacked(
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
                    &mut ob[h * hs..],
                    c,
                );
            }
        });
}

/// Backward of [`attention_dropout_forward`]: `dqkv` [B, T, 3C] overwritten; `dout`
/// [B, T, C]; `probs` as saved. Parallel over sequences; each head's dQ | dK | dV are
/// written in place into `dqkv`.
#[allow(clippy::too_many_arguments)]
pub fn attention_dropout_backward(
    dqkv: &mut [f32],
    dout: &[f32],
    qkv: &[f32],
    probs: &[f32],
    (b, t, c, nh): (usize, usize, usize, usize),
    p: f32,
    seed: u64,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    dqkv[..3 * b * t * c]
        .par_chunks_mut(3 * t * c)
        .zip(probs[..b * nh * t * t].par_chunks(nh * t * t))
        .enumerate()
        .for_each(|(bi, (db, pbs))| {
            let mut dropped = vec![0.0f32; t * t];
            let mut d_dropped = vec![0.0f32; t * t];
            for (h, pb) in pbs.chunks_exact(t * t).enumerate() {
                let at = bi * t * 3 * c + h * hs;
                let (q, k, v) = (&qkv[at..], &qkv[at + c..], &qkv[at + 2 * c..]);
                let d_o = &dout[bi * t * c + h * hs..];
                let s = site_seed(seed, (bi * nh + h) as u64);
                // this head's dQ, dK, dV: [T, HS] each at row stride 3C
                let (dq, dk, dv) = (h * hs, c + h * hs, 2 * c + h * hs);
                // dV = dropout(P)ᵀ dO
                dropout_forward(&mut dropped, pb, p, s);
                sgemm_unpacked(
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
                    &mut db[dv..],
                    3 * c,
                );
                // dP = dropout'(dO Vᵀ)
                sgemm_unpacked(
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
                    softmax_backward_in_place(drow, prow);
                }
                // dQ = scale dS K, dK = scale dSᵀ Q
                let ds: &[f32] = ds;
                let mut scaled_ds_times = |ts: Trans, rhs: &[f32], at: usize| {
                    let out = &mut db[at..];
                    sgemm_unpacked(
                        ts,
                        Trans::N,
                        t,
                        hs,
                        t,
                        scale,
                        ds,
                        t,
                        rhs,
                        3 * c,
                        0.0,
                        out,
                        3 * c,
                    )
                };
                scaled_ds_times(Trans::N, k, dq);
                scaled_ds_times(Trans::T, q, dk);
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

        let (mut got, mut probs) = (vec![0.0; b * t * c], vec![0.0; b * nh * t * t]);
        attention_dropout_forward(&mut got, &mut probs, &qkv, &mask, (b, t, c, nh), 0.0, 1);
        let mut dgot = vec![0.0; b * t * 3 * c];
        attention_dropout_backward(&mut dgot, &dout, &qkv, &probs, (b, t, c, nh), 0.0, 1);
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
