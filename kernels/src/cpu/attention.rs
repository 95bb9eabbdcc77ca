//! Fused multi-head self-attention (BERT encoder, bidirectional, key padding mask).
//!
//! `qkv` holds, per token, `q (C) | k (C) | v (C)`; head `h` uses columns
//! `h*HS..(h+1)*HS` of each. Scores are `q·k / √HS`; padded keys (`key_mask == 0`) get
//! probability exactly 0. HF adds `finfo.min` to padded scores, so a sequence with no real
//! token at all attends uniformly to every key; we reproduce that. Padded query rows are
//! computed like any other (HF does too).
//!
//! Forward: tasks are (batch, head, tile of [`Q_TILE`] query rows) run with rayon; each
//! task materialises only its block of scores (never `[T, T]` per head), with the two
//! products done by [`sgemm_unpacked`] straight from the strided `qkv` layout (small
//! products stay on the calling thread). The block is held transposed, `Sᵀ = K Q_tileᵀ`
//! (`[T, Q_TILE]`, queries in lanes), so the softmax runs down columns for all the tile's
//! queries at once with no horizontal reductions, and `O = P V` reads `Pᵀ` transposed:
//! the same bits as scores in rows with a row softmax ([`softmax_scores`]), ≈ 25 % less
//! time at T = 64 (the per-row softmax calls cost as much as the products). The per-query
//! log-sum-exp is saved so the backward recomputes probabilities tile by tile
//! (flash-attention style) with `D_i = dO_i · O_i`.
//!
//! Dropout on the probabilities (training) is not here yet. Design: an extra
//! `dropout: Option<(p, seed)>` parameter on both passes; the keep bit of probability
//! (b, h, i, j) is [`super::dropout::keep`]`(seed, ((b·NH + h)·T + i)·T + j, p)`, so the
//! backward regenerates it instead of storing `[B, NH, T, T]`. The forward scales kept
//! probabilities by `1/(1-p)` only in the `P V` product (not in `lse`); the backward
//! applies the same mask and scale to `P` in `dV = Pᵀ dO` and to `dP = dO Vᵀ`, and
//! `D_i = dO_i · O_i` stays correct because `O` already holds the dropped `P`.

use rayon::prelude::*;

use super::gemm::{sgemm_unpacked, Trans};
use super::math;
use super::vectorize::{self, multiversion, DisjointMut, LANES};

/// Query rows per task (forward) and per tile (backward).
const Q_TILE: usize = 64;

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
pub fn key_bias(mask: &[u8]) -> Option<Vec<f32>> {
    mask.iter().any(|&m| m != 0).then(|| {
        mask.iter()
            .map(|&m| if m != 0 { 0.0 } else { f32::NEG_INFINITY })
            .collect()
    })
}

/// Where one (sequence, head) lives inside the `[B, T, 3C]` / `[B, T, C]` buffers.
#[derive(Clone, Copy)]
struct Head {
    /// Offset of the sequence's first token in `qkv` (`[B, T, 3C]`).
    seq: usize,
    /// Offset of the sequence's first token in `out` / `dout` (`[B, T, C]`).
    tok: usize,
    /// Column of the head inside q (k and v follow at `+ C`, `+ 2C`).
    col: usize,
}

impl Head {
    fn new(bi: usize, h: usize, t: usize, c: usize, hs: usize) -> Self {
        Self {
            seq: bi * t * 3 * c,
            tok: bi * t * c,
            col: h * hs,
        }
    }
}

/// Turns a row of scaled scores into probabilities in place (adding the key bias of
/// [`key_bias`]; none means uniform) and returns the row's log-sum-exp.
pub fn softmax_scores(s: &mut [f32], bias: Option<&[f32]>) -> f32 {
    let (max, sum) = softmax_probs(s, bias);
    max + sum.ln()
}

multiversion! {
    /// [`softmax_scores`] without the log-sum-exp (the forward at inference does not keep
    /// it): the same probabilities; returns the row's maximum and sum of exponentials.
    pub fn softmax_probs(s: &mut [f32], bias: Option<&[f32]>) -> (f32, f32) {
        match bias {
            Some(bias) => {
                for (sv, &bv) in s.iter_mut().zip(bias) {
                    *sv += bv;
                }
            }
            None => s.fill(0.0),
        }
        let m = vectorize::max(s);
        for sv in s.iter_mut() {
            *sv = math::exp(*sv - m);
        }
        let sum = vectorize::sum(s);
        let inv = 1.0 / sum;
        for sv in s.iter_mut() {
            *sv *= inv;
        }
        (m, sum)
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
        || (vec![[0.0f32; Q_TILE]; t], vec![0.0f32; Q_TILE * hs]),
        |(st, o), task| {
            let (bi, h, tile) = (task / (nh * n_tiles), task / n_tiles % nh, task % n_tiles);
            let hd = Head::new(bi, h, t, c, hs);
            let i0 = tile * Q_TILE;
            let tq = Q_TILE.min(t - i0);
            let o = &mut o[..tq * hs];
            // Sᵀ = scale · K Q_tileᵀ   [T, tq] in rows of Q_TILE: keys down, queries across,
            // so the softmax takes each query's maximum and sum down a column with no
            // horizontal reductions. Each score is the chain the row-major `Q Kᵀ` computes
            // (FMA commutes in its two factors).
            if tq < Q_TILE {
                // Lanes past the tile are never read; keep them finite.
                st.iter_mut().for_each(|row| row[tq..].fill(0.0));
            }
            let q = &qkv[hd.seq + i0 * stride + hd.col..];
            let k = &qkv[hd.seq + c + hd.col..];
            sgemm_unpacked(
                Trans::N,
                Trans::T,
                t,
                tq,
                hs,
                scale,
                k,
                stride,
                q,
                stride,
                0.0,
                st.as_flattened_mut(),
                Q_TILE,
            );
            let (max, sum) = softmax_lanes(st, biases[bi].as_deref());
            let lrow = (bi * nh + h) * t + i0;
            // SAFETY: queries (bi, h, i0..i0 + tq) belong to this task only, so their lse
            // and probability rows are disjoint across tasks.
            let lse_tile = unsafe { lse_w.slice(lrow, tq) };
            for ((l, &m), &s) in lse_tile.iter_mut().zip(&max).zip(&sum) {
                *l = m + s.ln();
            }
            if let Some(pw) = &probs_w {
                for r in 0..tq {
                    // SAFETY: as above.
                    let prow = unsafe { pw.slice((lrow + r) * t, t) };
                    for (p, srow) in prow.iter_mut().zip(st.iter()) {
                        *p = srow[r];
                    }
                }
            }
            // O_tile = P V = (Pᵀ)ᵀ V   [tq, HS]: A read transposed from the scores.
            let v = &qkv[hd.seq + 2 * c + hd.col..];
            sgemm_unpacked(
                Trans::T,
                Trans::N,
                tq,
                hs,
                t,
                1.0,
                st.as_flattened(),
                Q_TILE,
                v,
                stride,
                0.0,
                o,
                hs,
            );
            for (r, orow) in o.chunks_exact(hs).enumerate() {
                // SAFETY: out[bi, i0 + r, head h columns] belongs to this task only.
                unsafe { out_w.slice(hd.tok + (i0 + r) * c + hd.col, hs) }.copy_from_slice(orow);
            }
        },
    );
}

multiversion! {
    /// [`softmax_probs`] of every query lane at once over transposed scores `s` (`s[j][i]`:
    /// key j, query lane i) with the same key `bias`: the same operations per query in the
    /// same order (the sum as `vectorize::sum`: 16 partial sums over keys `l, l + 16, ..`
    /// folded by its tree, then the remaining keys added in order), so the same bits as
    /// the row softmax. Returns each lane's maximum and sum of exponentials.
    fn softmax_lanes(s: &mut [[f32; Q_TILE]], bias: Option<&[f32]>) -> ([f32; Q_TILE], [f32; Q_TILE]) {
        match bias {
            Some(bias) => {
                for (row, &bv) in s.iter_mut().zip(bias) {
                    row.iter_mut().for_each(|x| *x += bv);
                }
            }
            None => s.iter_mut().for_each(|row| row.fill(0.0)),
        }
        let mut max = [f32::NEG_INFINITY; Q_TILE];
        for row in s.iter() {
            for (m, &x) in max.iter_mut().zip(row) {
                *m = m.max(x);
            }
        }
        let full = s.len() / LANES * LANES;
        let mut acc = [[0.0f32; Q_TILE]; LANES];
        let mut tail = [0.0f32; Q_TILE];
        for (j, row) in s.iter_mut().enumerate() {
            for (x, &m) in row.iter_mut().zip(&max) {
                *x = math::exp(*x - m);
            }
            let sum = if j < full { &mut acc[j % LANES] } else { &mut tail };
            for (a, &x) in sum.iter_mut().zip(row.iter()) {
                *a += x;
            }
        }
        let mut sum = [0.0f32; Q_TILE];
        for (i, total) in sum.iter_mut().enumerate() {
            let h: [f32; LANES / 2] = std::array::from_fn(|l| acc[l][i] + acc[l + LANES / 2][i]);
            let q: [f32; LANES / 4] = std::array::from_fn(|l| h[l] + h[l + LANES / 4]);
            *total = ((q[0] + q[2]) + (q[1] + q[3])) + tail[i];
        }
        let inv = sum.map(|v| 1.0 / v);
        for row in s.iter_mut() {
            for (x, &r) in row.iter_mut().zip(&inv) {
                *x *= r;
            }
        }
        (max, sum)
    }
}

/// Per-task scratch of the backward.
struct BackwardScratch {
    /// `[Q_TILE, T]` probabilities of the tile.
    p: Vec<f32>,
    /// `[Q_TILE, T]` dP, then dS in place.
    ds: Vec<f32>,
    /// `[Q_TILE, HS]` dQ of the tile.
    dq: Vec<f32>,
    /// `[T, HS]` dK and dV accumulated over all query tiles.
    dk: Vec<f32>,
    dv: Vec<f32>,
}

multiversion! {
    /// P = exp(S + bias - lse) in place on a row of scaled scores (uniform rows: S = 0).
    fn probs_from_lse(s: &mut [f32], bias: Option<&[f32]>, lse: f32) {
        match bias {
            Some(bias) => {
                for (sv, &bv) in s.iter_mut().zip(bias) {
                    *sv = math::exp(*sv + bv - lse);
                }
            }
            None => s.fill(math::exp(-lse)),
        }
    }
}

/// dS = P ∘ (dP - d) in place on `ds` (holding dP) for one row.
#[inline(always)]
fn softmax_grad_row(ds: &mut [f32], p: &[f32], d: f32) {
    for (g, &pv) in ds.iter_mut().zip(p) {
        *g = pv * (*g - d);
    }
}

multiversion! {
    /// dS = P ∘ (dP - dP · P) in place on `ds` (holding dP) for one row of a saved `P`
    /// (attention with dropout keeps `P`; this kernel recomputes it and uses `dO · O`).
    pub fn softmax_backward_in_place(ds: &mut [f32], p: &[f32]) {
        let d = vectorize::dot(ds, p);
        softmax_grad_row(ds, p, d)
    }
}

multiversion! {
    /// dS = P ∘ (dP - D) in place on `ds` (holding dP), D = dO · O of the row.
    fn softmax_grad(ds: &mut [f32], p: &[f32], dout: &[f32], out: &[f32]) {
        softmax_grad_row(ds, p, vectorize::dot(dout, out))
    }
}

/// Backward of [`attention_forward`]: `dqkv` (`[B, T, 3C]`) is overwritten.
///
/// `dout`, `out`: `[B, T, C]`; `lse`: `[B, NH, T]` as saved by the forward; other
/// arguments as in the forward. Tasks are (batch, head); inside, query tiles of
/// [`Q_TILE`] rows recompute `P` from `lse` and accumulate dK and dV:
/// `dV += Pᵀ dO`, `dS = P ∘ (dO Vᵀ - D)`, `dQ = scale · dS K`, `dK += scale · dSᵀ Q`.
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
            p: vec![0.0; Q_TILE * t],
            ds: vec![0.0; Q_TILE * t],
            dq: vec![0.0; Q_TILE * hs],
            dk: vec![0.0; t * hs],
            dv: vec![0.0; t * hs],
        },
        |sc, task| {
            let (bi, h) = (task / nh, task % nh);
            let hd = Head::new(bi, h, t, c, hs);
            let bias = key_bias(&key_mask[bi * t..(bi + 1) * t]);
            let k = &qkv[hd.seq + c + hd.col..];
            let v = &qkv[hd.seq + 2 * c + hd.col..];
            for i0 in (0..t).step_by(Q_TILE) {
                let tq = Q_TILE.min(t - i0);
                let (p, ds, dq) = (
                    &mut sc.p[..tq * t],
                    &mut sc.ds[..tq * t],
                    &mut sc.dq[..tq * hs],
                );
                let q = &qkv[hd.seq + i0 * stride + hd.col..];
                let dout_t = &dout[hd.tok + i0 * c + hd.col..];
                // P = exp(scale · Q Kᵀ + bias - lse)
                sgemm_unpacked(
                    Trans::N,
                    Trans::T,
                    tq,
                    t,
                    hs,
                    scale,
                    q,
                    stride,
                    k,
                    stride,
                    0.0,
                    p,
                    t,
                );
                for (r, row) in p.chunks_exact_mut(t).enumerate() {
                    probs_from_lse(row, bias.as_deref(), lse[(bi * nh + h) * t + i0 + r]);
                }
                // dV += Pᵀ dO
                sgemm_unpacked(
                    Trans::T,
                    Trans::N,
                    t,
                    hs,
                    tq,
                    1.0,
                    p,
                    t,
                    dout_t,
                    c,
                    1.0,
                    &mut sc.dv,
                    hs,
                );
                // dP = dO Vᵀ, then dS = P ∘ (dP - D)
                sgemm_unpacked(
                    Trans::N,
                    Trans::T,
                    tq,
                    t,
                    hs,
                    1.0,
                    dout_t,
                    c,
                    v,
                    stride,
                    0.0,
                    ds,
                    t,
                );
                for (r, (dsr, pr)) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)).enumerate() {
                    let o = hd.tok + (i0 + r) * c + hd.col;
                    softmax_grad(dsr, pr, &dout[o..o + hs], &out[o..o + hs]);
                }
                // dQ = scale · dS K;  dK += scale · dSᵀ Q
                sgemm_unpacked(
                    Trans::N,
                    Trans::N,
                    tq,
                    hs,
                    t,
                    scale,
                    ds,
                    t,
                    k,
                    stride,
                    0.0,
                    dq,
                    hs,
                );
                sgemm_unpacked(
                    Trans::T,
                    Trans::N,
                    t,
                    hs,
                    tq,
                    scale,
                    ds,
                    t,
                    q,
                    stride,
                    1.0,
                    &mut sc.dk,
                    hs,
                );
                for (r, dqr) in dq.chunks_exact(hs).enumerate() {
                    // SAFETY: dQ of (token, head h) belongs to this (bi, h) task only.
                    unsafe { dqkv_w.slice(hd.seq + (i0 + r) * stride + hd.col, hs) }
                        .copy_from_slice(dqr);
                }
            }
            for j in 0..t {
                let at = hd.seq + j * stride + hd.col;
                // SAFETY: dK/dV columns of head h for this sequence belong to this task only.
                unsafe {
                    dqkv_w
                        .slice(at + c, hs)
                        .copy_from_slice(&sc.dk[j * hs..(j + 1) * hs]);
                    dqkv_w
                        .slice(at + 2 * c, hs)
                        .copy_from_slice(&sc.dv[j * hs..(j + 1) * hs]);
                }
            }
            sc.dk.fill(0.0);
            sc.dv.fill(0.0);
        },
    );
}
