//! Fused multi-head self-attention (BERT encoder, bidirectional, key padding mask).
//!
//! `qkv` holds, per token, `q (C) | k (C) | v (C)`; head `h` uses columns
//! `h*HS..(h+1)*HS` of each. Scores are `q·k / √HS`; padded keys (`key_mask == 0`) get
//! probability exactly 0. HF adds `finfo.min` to padded scores, so a sequence with no real
//! token at all attends uniformly to every key; we reproduce that. Padded query rows are
//! computed like any other (HF does too).
//!
//! Forward: tasks are (batch, head, tile of [`Q_TILE`] query rows) run with rayon; each
//! task materialises one score row at a time (`[T]`) against a transposed copy of the
//! head's keys, so memory is `O(T·HS)` per task, never `[T, T]`. The per-row log-sum-exp
//! is saved so the backward recomputes probabilities (flash-attention style) with
//! `D_i = dO_i · O_i`.
//!
//! Dropout on the probabilities (training) is not here yet. Design: an extra
//! `dropout: Option<(p, seed)>` parameter on both passes; the keep-mask bit for
//! (b, h, i, j) is drawn from a counter-based RNG keyed by `(seed, b, h, i, j)`, so the
//! backward regenerates it instead of storing `[B, NH, T, T]`. The forward scales kept
//! probabilities by `1/(1-p)` only in the `P V` product (not in `lse`), and the backward
//! applies the same mask to `dP` and to `P` in `dV = Pᵀ dO`; `D_i` then stays
//! `dO_i · O_i`.

use rayon::prelude::*;

use super::vectorize::{self, multiversion, DisjointMut};

/// Query rows per forward task.
const Q_TILE: usize = 32;

/// Checks shapes shared by forward and backward; returns the head size.
fn head_size(qkv: &[f32], key_mask: &[u8], b: usize, t: usize, c: usize, nh: usize) -> usize {
    assert!(
        nh > 0 && c.is_multiple_of(nh),
        "attention: C = {c} is not a multiple of NH = {nh}"
    );
    assert_eq!(
        qkv.len(),
        b * t * 3 * c,
        "attention: qkv must be [B, T, 3C]"
    );
    assert_eq!(key_mask.len(), b * t, "attention: key_mask must be [B, T]");
    c / nh
}

/// Additive key bias per token of one sequence: 0 for real keys, -inf for padding.
/// `None` when the sequence has no real token: HF's `score + finfo.min` then makes every
/// score the same, so attention is uniform (see module docs).
fn key_bias(mask: &[u8]) -> Option<Vec<f32>> {
    mask.iter().any(|&m| m != 0).then(|| {
        mask.iter()
            .map(|&m| if m != 0 { 0.0 } else { f32::NEG_INFINITY })
            .collect()
    })
}

/// `kt[d, j] = qkv[j, col + d]` for the `T` tokens of one sequence: `kt` is `[HS, T]`.
fn gather_transposed(kt: &mut [f32], seq: &[f32], col: usize, stride: usize, t: usize, hs: usize) {
    for j in 0..t {
        let row = &seq[j * stride + col..j * stride + col + hs];
        for (d, &v) in row.iter().enumerate() {
            kt[d * t + j] = v;
        }
    }
}

/// Scaled, masked scores `s[j] = q·k_j * scale + bias[j]` from `kt` (`[HS, T]`); all 0
/// (uniform attention) when `bias` is empty, i.e. the sequence is all padding.
#[inline(always)]
fn scores(s: &mut [f32], q: &[f32], kt: &[f32], bias: &[f32], scale: f32) {
    let t = s.len();
    s.fill(0.0);
    if bias.is_empty() {
        return;
    }
    for (d, &qd) in q.iter().enumerate() {
        vectorize::axpy(s, qd, &kt[d * t..(d + 1) * t]);
    }
    for (sv, &bv) in s.iter_mut().zip(bias) {
        *sv = *sv * scale + bv;
    }
}

/// `o = Σ_j p[j] v_j`, `v_j = seq[j * stride + col..][..HS]`; zero probabilities are skipped.
#[inline(always)]
fn weighted_sum(o: &mut [f32], p: &[f32], seq: &[f32], col: usize, stride: usize) {
    let hs = o.len();
    o.fill(0.0);
    for (j, &pj) in p.iter().enumerate() {
        if pj != 0.0 {
            vectorize::axpy(o, pj, &seq[j * stride + col..j * stride + col + hs]);
        }
    }
}

multiversion! {
    /// One query row: scores, softmax (in place in `s`), output row; returns log-sum-exp.
    fn forward_row(o: &mut [f32], s: &mut [f32], q: &[f32], kt: &[f32], bias: &[f32], seq: &[f32], v_col: usize, stride: usize, scale: f32) -> f32 {
        scores(s, q, kt, bias, scale);
        let m = vectorize::max(s);
        for sv in s.iter_mut() {
            *sv = super::math::exp(*sv - m);
        }
        let sum = vectorize::sum(s);
        let inv = 1.0 / sum;
        for sv in s.iter_mut() {
            *sv *= inv;
        }
        weighted_sum(o, s, seq, v_col, stride);
        m + sum.ln()
    }
}

/// Multi-head attention forward.
///
/// - `out`: `[B, T, C]` (heads concatenated, as HF before the output projection)
/// - `lse`: `[B, NH, T]` log-sum-exp of each query row's scaled scores (for the backward)
/// - `qkv`: `[B, T, 3C]`, `key_mask`: `[B, T]` (1 = real token, 0 = padding)
/// - `probs`: `[B, NH, T, T]` softmax probabilities, written only when given
///   (HF `output_attentions`).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    out: &mut [f32],
    lse: &mut [f32],
    qkv: &[f32],
    key_mask: &[u8],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    probs: Option<&mut [f32]>,
) {
    let hs = head_size(qkv, key_mask, b, t, c, nh);
    assert_eq!(
        out.len(),
        b * t * c,
        "attention_forward: out must be [B, T, C]"
    );
    assert_eq!(
        lse.len(),
        b * nh * t,
        "attention_forward: lse must be [B, NH, T]"
    );
    if let Some(p) = &probs {
        assert_eq!(
            p.len(),
            b * nh * t * t,
            "attention_forward: probs must be [B, NH, T, T]"
        );
    }
    if b * t * c == 0 {
        return;
    }
    let scale = 1.0 / (hs as f32).sqrt();
    let stride = 3 * c;
    let n_tiles = t.div_ceil(Q_TILE);
    let biases: Vec<Option<Vec<f32>>> = key_mask.chunks_exact(t).map(key_bias).collect();
    let out_w = DisjointMut::new(out);
    let lse_w = DisjointMut::new(lse);
    let probs_w = probs.map(DisjointMut::new);

    (0..b * nh * n_tiles).into_par_iter().for_each_init(
        || (vec![0.0f32; hs * t], vec![0.0f32; t]),
        |(kt, s), task| {
            let bi = task / (nh * n_tiles);
            let h = task / n_tiles % nh;
            let tile = task % n_tiles;
            let seq = &qkv[bi * t * stride..(bi + 1) * t * stride];
            gather_transposed(kt, seq, c + h * hs, stride, t, hs);
            let bias = biases[bi].as_deref().unwrap_or(&[]);
            for i in tile * Q_TILE..((tile + 1) * Q_TILE).min(t) {
                let q = &seq[i * stride + h * hs..i * stride + (h + 1) * hs];
                let row = (bi * nh + h) * t + i;
                // SAFETY: (bi, h, i) is unique to this task, so these slices — out[bi, i,
                // head h columns], lse[bi, h, i], probs[bi, h, i, :] — are disjoint across tasks.
                let (o, l) = unsafe {
                    (
                        out_w.slice((bi * t + i) * c + h * hs, hs),
                        lse_w.slice(row, 1),
                    )
                };
                l[0] = forward_row(o, s, q, kt, bias, seq, 2 * c + h * hs, stride, scale);
                if let Some(pw) = &probs_w {
                    // SAFETY: as above.
                    unsafe { pw.slice(row * t, t) }.copy_from_slice(s);
                }
            }
        },
    );
}

/// Per-task scratch of the backward: transposed K and V of the head, dK and dV
/// accumulators, and two score rows.
struct BackwardScratch {
    kt: Vec<f32>,
    vt: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
    p: Vec<f32>,
    dp: Vec<f32>,
}

multiversion! {
    /// Backward contributions of query row `i` (see [`attention_backward`]).
    fn backward_row(dq: &mut [f32], dk: &mut [f32], dv: &mut [f32], p: &mut [f32], dp: &mut [f32], kt: &[f32], vt: &[f32], q: &[f32], dout: &[f32], out: &[f32], lse: f32, bias: &[f32], seq: &[f32], k_col: usize, stride: usize, scale: f32) {
        let t = p.len();
        let hs = q.len();
        // P_i = exp(S_i - lse_i), exactly as the forward computed it.
        scores(p, q, kt, bias, scale);
        for pv in p.iter_mut() {
            *pv = super::math::exp(*pv - lse);
        }
        // dP_i[j] = dO_i · v_j
        dp.fill(0.0);
        for (d, &g) in dout.iter().enumerate() {
            vectorize::axpy(dp, g, &vt[d * t..(d + 1) * t]);
        }
        let di = vectorize::dot(dout, out);
        dq.fill(0.0);
        for j in 0..t {
            let pj = p[j];
            if pj == 0.0 {
                continue;
            }
            // dS_ij = P_ij (dP_ij - D_i); the scale comes from S = scale · Q Kᵀ.
            let ds = pj * (dp[j] - di) * scale;
            vectorize::axpy(dq, ds, &seq[j * stride + k_col..j * stride + k_col + hs]);
            vectorize::axpy(&mut dk[j * hs..(j + 1) * hs], ds, q);
            vectorize::axpy(&mut dv[j * hs..(j + 1) * hs], pj, dout);
        }
    }
}

/// Backward of [`attention_forward`]: `dqkv` (`[B, T, 3C]`) is overwritten.
///
/// `dout`, `out`: `[B, T, C]`; `lse`: `[B, NH, T]` as saved by the forward; other
/// arguments as in the forward. Tasks are (batch, head); dK and dV accumulate over all
/// query rows inside one task.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dqkv: &mut [f32],
    dout: &[f32],
    qkv: &[f32],
    out: &[f32],
    lse: &[f32],
    key_mask: &[u8],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = head_size(qkv, key_mask, b, t, c, nh);
    assert_eq!(
        dqkv.len(),
        b * t * 3 * c,
        "attention_backward: dqkv must be [B, T, 3C]"
    );
    assert!(
        dout.len() == b * t * c && out.len() == b * t * c,
        "attention_backward: dout and out must be [B, T, C]"
    );
    assert_eq!(
        lse.len(),
        b * nh * t,
        "attention_backward: lse must be [B, NH, T]"
    );
    if b * t * c == 0 {
        return;
    }
    let scale = 1.0 / (hs as f32).sqrt();
    let stride = 3 * c;
    let dqkv_w = DisjointMut::new(dqkv);

    (0..b * nh).into_par_iter().for_each_init(
        || BackwardScratch {
            kt: vec![0.0; hs * t],
            vt: vec![0.0; hs * t],
            dk: vec![0.0; t * hs],
            dv: vec![0.0; t * hs],
            p: vec![0.0; t],
            dp: vec![0.0; t],
        },
        |sc, task| {
            let (bi, h) = (task / nh, task % nh);
            let seq = &qkv[bi * t * stride..(bi + 1) * t * stride];
            let bias = key_bias(&key_mask[bi * t..(bi + 1) * t]);
            gather_transposed(&mut sc.kt, seq, c + h * hs, stride, t, hs);
            gather_transposed(&mut sc.vt, seq, 2 * c + h * hs, stride, t, hs);
            sc.dk.fill(0.0);
            sc.dv.fill(0.0);
            for i in 0..t {
                let tok = bi * t + i;
                let q = &seq[i * stride + h * hs..i * stride + (h + 1) * hs];
                let dout_i = &dout[tok * c + h * hs..tok * c + (h + 1) * hs];
                let out_i = &out[tok * c + h * hs..tok * c + (h + 1) * hs];
                // SAFETY: dQ of (token, head h) belongs to this (bi, h) task only.
                let dq = unsafe { dqkv_w.slice(tok * stride + h * hs, hs) };
                backward_row(
                    dq,
                    &mut sc.dk,
                    &mut sc.dv,
                    &mut sc.p,
                    &mut sc.dp,
                    &sc.kt,
                    &sc.vt,
                    q,
                    dout_i,
                    out_i,
                    lse[(bi * nh + h) * t + i],
                    bias.as_deref().unwrap_or(&[]),
                    seq,
                    c + h * hs,
                    stride,
                    scale,
                );
            }
            for j in 0..t {
                let tok = bi * t + j;
                // SAFETY: dK/dV columns of head h for this sequence belong to this task only.
                unsafe {
                    dqkv_w
                        .slice(tok * stride + c + h * hs, hs)
                        .copy_from_slice(&sc.dk[j * hs..(j + 1) * hs]);
                    dqkv_w
                        .slice(tok * stride + 2 * c + h * hs, hs)
                        .copy_from_slice(&sc.dv[j * hs..(j + 1) * hs]);
                }
            }
        },
    );
}
