//! Multi-head self-attention forward on activations in token lanes (`[features][32]`, see
//! `gemm/prepacked_lanes.rs`): `qkv_t` `[3C][32]` in, `out_t` `[C][32]` out, for up to 32
//! tokens, B sequences of T tokens, token `(b, t)` in lane `b * T + t`.
//!
//! Same bits as [`super::attention::attention_forward`] (whose products are
//! [`super::gemm::sgemm_unpacked`], i.e. the AVX-512 tile kernel): each score is the fused
//! multiply-add chain `q·k` over the head's dimensions in ascending order from zero, times
//! the scale; each query's scores go through the operations of
//! [`super::attention::softmax_probs`] in its order with the same key bias; each output is
//! the chain `Σ_j p·v` over the sequence's keys in ascending order from zero. Only the
//! layout differs: scores are computed transposed, 8 keys x 32 query lanes at a time from
//! the lane rows of K and Q, the softmax runs down those columns for 32 queries at once,
//! and the output 8 head dimensions x 32 query lanes at a time from those probabilities
//! and V, so the result lands in token lanes with no copy.
//!
//! Lanes that belong to no sequence (past B x T) are written as zeros.

#[cfg(target_arch = "x86_64")]
use super::attention::key_bias;

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

    use super::super::math;
    use super::super::vectorize::LANES;
    use super::{key_bias, L};

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
    #[target_feature(enable = "avx512f,avx2,fma")]
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
        // pt[j][i]: scaled score, then probability, of key lane j for query lane i. The
        // scores are computed transposed (K's lanes as the block rows, Q's as the vector
        // lanes): q·k and k·q are the same products in the same order, and in this layout
        // the softmax runs down the columns, 32 queries per vector, and its result is
        // already the [key][query] layout the output product reads.
        let mut pt = [[0.0f32; L]; L];
        let mut j0 = 0;
        while j0 < m {
            let rows = RB.min(m - j0);
            // SAFETY: q, k hold hs rows of 32; key lanes j0 + r < m <= 32.
            unsafe { scores_block(&mut pt[j0..j0 + rows], k, q, j0, hs, scale) };
            j0 += rows;
        }
        out_h.fill(0.0);
        for (bi, bias) in biases.iter().enumerate().take(b) {
            let lo = bi * t;
            softmax_columns(&mut pt[lo..lo + t], bias.as_deref());
            let mut e0 = 0;
            while e0 < hs {
                let rows = RB.min(hs - e0);
                // SAFETY: v holds hs rows of 32; e0 + rows <= hs; key lanes lo..lo+t < 32.
                unsafe { output_block(out_h, &pt, v, e0, rows, lo, lo + t) };
                e0 += rows;
            }
        }
    }

    /// `attention::softmax_probs` of every query lane at once over one sequence's key rows `s`
    /// (`s[j][i]`: key j, query lane i), with the same key `bias`: the same operations per
    /// query, in the same order (the sum as `vectorize::sum`: 16 partial sums over keys
    /// `l, l + 16, ..`, folded by its tree, then the remainder added in order), so the
    /// same bits as the row softmax of the row-major path. Lanes of other sequences'
    /// queries get values no one reads (finite: their maximum is taken over the same
    /// rows).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn softmax_columns(s: &mut [[f32; L]], bias: Option<&[f32]>) {
        // A row's 32 lanes as two vectors (written out: LLVM turned the plain loops over
        // keys into gathers).
        let load = |row: &[f32; L]| {
            // SAFETY: a row holds 32 floats.
            unsafe {
                [
                    _mm512_loadu_ps(row.as_ptr()),
                    _mm512_loadu_ps(row.as_ptr().add(16)),
                ]
            }
        };
        let store = |row: &mut [f32; L], v: [__m512; 2]| {
            // SAFETY: as `load`.
            unsafe {
                _mm512_storeu_ps(row.as_mut_ptr(), v[0]);
                _mm512_storeu_ps(row.as_mut_ptr().add(16), v[1]);
            }
        };
        let add =
            |a: [__m512; 2], b: [__m512; 2]| [_mm512_add_ps(a[0], b[0]), _mm512_add_ps(a[1], b[1])];
        match bias {
            Some(bias) => {
                for (row, &bv) in s.iter_mut().zip(bias) {
                    let b = _mm512_set1_ps(bv);
                    store(row, add(load(row), [b, b]));
                }
            }
            None => s.iter_mut().for_each(|row| row.fill(0.0)),
        }
        let mut max = [_mm512_set1_ps(f32::NEG_INFINITY); 2];
        for row in s.iter() {
            let x = load(row);
            max = [_mm512_max_ps(max[0], x[0]), _mm512_max_ps(max[1], x[1])];
        }
        let mut mx = [0.0f32; L];
        store(&mut mx, max);
        for row in s.iter_mut() {
            for (x, &m) in row.iter_mut().zip(&mx) {
                *x = math::exp(*x - m);
            }
        }
        // The sum as `vectorize::sum`: partial sums over keys l, l + 16, .., its tree, then
        // the remainder in order.
        let t = s.len();
        let full = t / LANES * LANES;
        let zero = [_mm512_setzero_ps(); 2];
        let mut acc = [zero; LANES];
        for chunk in s[..full].chunks_exact(LANES) {
            for (a, row) in acc.iter_mut().zip(chunk) {
                *a = add(*a, load(row));
            }
        }
        let mut tail = zero;
        for row in &s[full..] {
            tail = add(tail, load(row));
        }
        let h: [[__m512; 2]; LANES / 2] = std::array::from_fn(|l| add(acc[l], acc[l + LANES / 2]));
        let q: [[__m512; 2]; LANES / 4] = std::array::from_fn(|l| add(h[l], h[l + LANES / 4]));
        let sum = add(add(add(q[0], q[2]), add(q[1], q[3])), tail);
        let one = _mm512_set1_ps(1.0);
        let inv = [_mm512_div_ps(one, sum[0]), _mm512_div_ps(one, sum[1])];
        for row in s.iter_mut() {
            let x = load(row);
            store(
                row,
                [_mm512_mul_ps(x[0], inv[0]), _mm512_mul_ps(x[1], inv[1])],
            );
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
