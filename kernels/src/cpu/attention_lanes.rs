//! Multi-head self-attention forward on activations in token lanes (`[features][32]`, see
//! `gemm/prepacked_lanes.rs`): `qkv_t` `[3C][32]` in, `out_t` `[C][32]` out, for up to 32
//! tokens, B sequences of T tokens, token `(b, t)` in lane `b * T + t`.
//!
//! Same bits as [`super::attention::attention_forward`] (whose products are
//! [`super::gemm::sgemm_unpacked`], i.e. the AVX-512 tile kernel): each score is the fused
//! multiply-add chain `q·k` over the head's dimensions in ascending order from zero, times
//! the scale; each row goes through the same [`softmax_scores`] with the same key bias; each
//! output is the chain `Σ_j p·v` over the sequence's keys in ascending order from zero. Only
//! the layout differs: scores are computed 8 queries x 32 key lanes at a time from the
//! lane rows of Q and K, and the output 8 head dimensions x 32 query lanes at a time from
//! the transposed probabilities and V, so the result lands in token lanes with no copy.
//!
//! Lanes that belong to no sequence (past B x T) are written as zeros.

#[cfg(target_arch = "x86_64")]
use super::attention::{key_bias, softmax_probs};

/// Tokens per lane row (the lanes GEMM's width).
const L: usize = super::gemm::LANE_TOKENS;

/// Attention over token lanes (module docs): `out_t` `[C][32]`, `qkv_t` `[3C][32]` (q, k, v
/// rows one after another), `key_mask` `[B, T]` (1 = real token), `b * t <= 32`.
/// Panics on other shapes, or on a CPU without AVX-512F (the lanes path runs only where the
/// lanes GEMM does: [`super::gemm::lanes_supported`]).
pub fn attention_forward_lanes(
    out_t: &mut [f32],
    qkv_t: &[f32],
    key_mask: &[u8],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    assert!(
        b * t <= L,
        "attention_forward_lanes: B x T = {} > 32 lanes",
        b * t
    );
    assert!(
        nh > 0 && c.is_multiple_of(nh),
        "attention_forward_lanes: C = {c} is not a multiple of NH = {nh}"
    );
    assert_eq!(
        out_t.len(),
        c * L,
        "attention_forward_lanes: out_t must be [C][32]"
    );
    assert_eq!(
        qkv_t.len(),
        3 * c * L,
        "attention_forward_lanes: qkv_t must be [3C][32]"
    );
    assert_eq!(
        key_mask.len(),
        b * t,
        "attention_forward_lanes: key_mask must be [B, T]"
    );
    #[cfg(target_arch = "x86_64")]
    {
        assert!(
            is_x86_feature_detected!("avx512f"),
            "attention_forward_lanes: needs AVX-512F"
        );
        x86::run(out_t, qkv_t, key_mask, b, t, c, nh);
    }
    #[cfg(not(target_arch = "x86_64"))]
    panic!("attention_forward_lanes: needs AVX-512F");
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use rayon::prelude::*;

    use super::{key_bias, softmax_probs, L};

    /// Rows per register block: 16 accumulators of 16 lanes, and 32 queries or a head
    /// size of 64 are whole blocks.
    const RB: usize = 8;

    pub(super) fn run(
        out_t: &mut [f32],
        qkv_t: &[f32],
        key_mask: &[u8],
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) {
        let hs = c / nh;
        let scale = 1.0 / (hs as f32).sqrt();
        let biases: Vec<Option<Vec<f32>>> = key_mask.chunks_exact(t).map(key_bias).collect();
        let head = |(h, out_h): (usize, &mut [f32])| {
            let q = &qkv_t[h * hs * L..(h + 1) * hs * L];
            let k = &qkv_t[(c + h * hs) * L..(c + (h + 1) * hs) * L];
            let v = &qkv_t[(2 * c + h * hs) * L..(2 * c + (h + 1) * hs) * L];
            // SAFETY: AVX-512F checked by the caller; slices are [hs][32] each.
            unsafe { head_forward(out_h, q, k, v, &biases, b, t, hs, scale) };
        };
        if nh > 1 {
            out_t.par_chunks_mut(hs * L).enumerate().for_each(head);
        } else {
            head((0, out_t));
        }
    }

    /// Lanes `lo..hi` set.
    fn lane_mask(lo: usize, hi: usize) -> __mmask16 {
        let upto = |n: usize| if n >= 16 { 0xFFFF } else { (1u32 << n) - 1 };
        (upto(hi) & !upto(lo)) as __mmask16
    }

    /// One head: `out_h` `[hs][32]` from `q`, `k`, `v` `[hs][32]`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn head_forward(
        out_h: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        biases: &[Option<Vec<f32>>],
        b: usize,
        t: usize,
        hs: usize,
        scale: f32,
    ) {
        let m = b * t;
        // s[i][j]: scaled score of query lane i against key lane j.
        let mut s = [[0.0f32; L]; L];
        let mut i0 = 0;
        while i0 < m {
            let rows = RB.min(m - i0);
            // SAFETY: q, k hold hs rows of 32; query lanes i0 + r < m <= 32.
            unsafe { scores_block(&mut s[i0..i0 + rows], q, k, i0, hs, scale) };
            i0 += rows;
        }
        out_h.fill(0.0);
        // pt[j][i]: probability of key lane j for query lane i (this sequence's lanes only).
        let mut pt = [[0.0f32; L]; L];
        for (bi, bias) in biases.iter().enumerate().take(b) {
            let lo = bi * t;
            for i in lo..lo + t {
                let row = &mut s[i][lo..lo + t];
                softmax_probs(row, bias.as_deref());
                for (j, &p) in row.iter().enumerate() {
                    pt[lo + j][i] = p;
                }
            }
            let mut e0 = 0;
            while e0 < hs {
                let rows = RB.min(hs - e0);
                // SAFETY: v holds hs rows of 32; e0 + rows <= hs; key lanes lo..lo+t < 32.
                unsafe { output_block(out_h, &pt, v, e0, rows, lo, lo + t) };
                e0 += rows;
            }
        }
    }

    /// `s[r][j] = scale * Σ_d q[d][i0 + r] k[d][j]` for `r < s.len()` (at most RB), all 32
    /// j: the tile kernel's chain (`fma(q, k, acc)` from zero, ascending d) and epilogue.
    /// All RB rows are computed (rows past the block repeat its last query lane, so the
    /// loop unrolls with the accumulators in registers); only the block's rows are stored.
    #[target_feature(enable = "avx512f")]
    unsafe fn scores_block(
        s: &mut [[f32; L]],
        q: &[f32],
        k: &[f32],
        i0: usize,
        hs: usize,
        scale: f32,
    ) {
        let last = i0 + s.len() - 1;
        let mut acc = [[_mm512_setzero_ps(); 2]; RB];
        for (qd, kd) in q.chunks_exact(L).zip(k.chunks_exact(L)).take(hs) {
            // SAFETY (block): a row holds 32 values; lanes are < 32.
            unsafe {
                let k0 = _mm512_loadu_ps(kd.as_ptr());
                let k1 = _mm512_loadu_ps(kd.as_ptr().add(16));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let qv = _mm512_set1_ps(*qd.get_unchecked((i0 + r).min(last)));
                    acc_r[0] = _mm512_fmadd_ps(qv, k0, acc_r[0]);
                    acc_r[1] = _mm512_fmadd_ps(qv, k1, acc_r[1]);
                }
            }
        }
        let vs = _mm512_set1_ps(scale);
        for (row, acc_r) in s.iter_mut().zip(&acc) {
            // SAFETY: a row holds 32 values.
            unsafe {
                _mm512_storeu_ps(row.as_mut_ptr(), _mm512_mul_ps(vs, acc_r[0]));
                _mm512_storeu_ps(row.as_mut_ptr().add(16), _mm512_mul_ps(vs, acc_r[1]));
            }
        }
    }

    /// `out_h[e][i] = Σ_{j in lo..hi} v[e][j] pt[j][i]` for `e` in `e0..e0 + rows` (rows at
    /// most RB) and the query lanes `i` in `lo..hi` (other lanes untouched): the tile
    /// kernel's chain (`fma(p, v, acc)` from zero, ascending j) with alpha 1. All RB rows
    /// are computed (rows past the block repeat its last row of V), only the block's stored.
    #[target_feature(enable = "avx512f")]
    unsafe fn output_block(
        out_h: &mut [f32],
        pt: &[[f32; L]; L],
        v: &[f32],
        e0: usize,
        rows: usize,
        lo: usize,
        hi: usize,
    ) {
        let last = e0 + rows - 1;
        assert!(
            (last + 1) * L <= v.len(),
            "attention lanes: V rows (internal)"
        );
        let mut acc = [[_mm512_setzero_ps(); 2]; RB];
        // Over a subslice: a `skip` adapter left out of line here made every accumulator
        // spill around its call.
        for (dj, p_j) in pt[lo..hi].iter().enumerate() {
            let j = lo + dj;
            // SAFETY (block): pt rows hold 32 values; V rows up to `last` (asserted) hold
            // 32; j < 32.
            unsafe {
                let p0 = _mm512_loadu_ps(p_j.as_ptr());
                let p1 = _mm512_loadu_ps(p_j.as_ptr().add(16));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let vv = _mm512_set1_ps(*v.as_ptr().add((e0 + r).min(last) * L + j));
                    acc_r[0] = _mm512_fmadd_ps(vv, p0, acc_r[0]);
                    acc_r[1] = _mm512_fmadd_ps(vv, p1, acc_r[1]);
                }
            }
        }
        let (m0, m1) = (
            lane_mask(lo, hi),
            lane_mask(lo.saturating_sub(16), hi.saturating_sub(16)),
        );
        for (r, acc_r) in acc.iter().enumerate().take(rows) {
            let row = &mut out_h[(e0 + r) * L..(e0 + r + 1) * L];
            // SAFETY: a row holds 32 values; masks keep to this sequence's lanes.
            unsafe {
                _mm512_mask_storeu_ps(row.as_mut_ptr(), m0, acc_r[0]);
                _mm512_mask_storeu_ps(row.as_mut_ptr().add(16), m1, acc_r[1]);
            }
        }
    }
}
