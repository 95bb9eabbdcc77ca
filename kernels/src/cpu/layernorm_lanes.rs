//! LayerNorm forward on activations in token lanes (`[C][32]`, token `t` of feature `f` at
//! `f * 32 + t`, see `gemm/prepacked_lanes.rs`): each lane is one token's row.
//!
//! Same bits as [`super::layernorm::layernorm_forward`] per token: the mean and the
//! variance are [`vectorize::sum`] / [`vectorize::sum_sq_dev`] sums, whose 16 partial sums
//! over features `l, l + 16, ..` are folded by the same tree and the remainder added after;
//! here each partial sum is a vector over 16 tokens instead of a scalar, so the additions
//! are the same ones in the same order, only side by side. The normalisation is the same
//! expression per element. No `mul_add`, so every ISA copy gives these bits.

use super::vectorize::{multiversion, DisjointMut, LANES};

/// Tokens per lane row.
const L: usize = super::gemm::LANE_TOKENS;
/// Tokens per pass (one vector of partial sums per feature residue).
const HALF: usize = 16;
/// From this many features the two halves run on two threads.
const PAR_MIN_FEATURES: usize = 256;

/// `out_t = LayerNorm(inp_t)` over the C features of each of the 32 token lanes; `out_t`,
/// `inp_t`: `[C][32]`; `gamma`, `beta`: `[C]`. Every lane is normalised (lanes past the
/// real tokens too: keep them finite, e.g. zero).
pub fn layernorm_forward_lanes(
    out_t: &mut [f32],
    inp_t: &[f32],
    gamma: &[f32],
    beta: &[f32],
    c: usize,
    eps: f32,
) {
    assert_eq!(
        out_t.len(),
        c * L,
        "layernorm_forward_lanes: out_t must be [C][32]"
    );
    assert_eq!(
        inp_t.len(),
        c * L,
        "layernorm_forward_lanes: inp_t must be [C][32]"
    );
    assert!(
        gamma.len() == c && beta.len() == c,
        "layernorm_forward_lanes: gamma/beta must be [C]"
    );
    if c == 0 {
        return;
    }
    // The two 16-lane halves are independent (and in different cache lines of each row):
    // one per thread when there are two, so neither core waits on the other.
    let out = DisjointMut::new(out_t);
    let half = |lo: usize| {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F detected; each half writes only its own lanes of each row.
            unsafe { x86::lanes_half(&out, inp_t, gamma, beta, c, eps, lo) };
            return;
        }
        lanes_half(&out, inp_t, gamma, beta, c, eps, lo);
    };
    if c >= PAR_MIN_FEATURES && rayon::current_num_threads() > 1 {
        rayon::join(|| half(0), || half(HALF));
    } else {
        half(0);
        half(HALF);
    }
}

/// The same sums, one zmm per partial sum (LLVM keeps the generic version's 16 partial
/// sums in memory and 8-lane registers).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{DisjointMut, HALF, L, LANES};

    /// As the generic `lanes_half`: lanes `lo..lo + 16`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn lanes_half(
        out: &DisjointMut<'_>,
        inp_t: &[f32],
        gamma: &[f32],
        beta: &[f32],
        c: usize,
        eps: f32,
        lo: usize,
    ) {
        let full = c / LANES * LANES;
        // SAFETY (whole body): rows f < c of `inp_t` / `out_t` hold 32 lanes, lo + 16 <= 32.
        let row = |f: usize| unsafe { _mm512_loadu_ps(inp_t.as_ptr().add(f * L + lo)) };
        let tail = |f: &dyn Fn(usize) -> f32| -> __m512 {
            let t: [f32; HALF] = std::array::from_fn(f);
            unsafe { _mm512_loadu_ps(t.as_ptr()) }
        };
        let scalar = |f: usize, tk: usize| inp_t[f * L + lo + tk];
        let cv = _mm512_set1_ps(c as f32);

        let mut acc = [_mm512_setzero_ps(); LANES];
        for f0 in (0..full).step_by(LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                *a = _mm512_add_ps(*a, row(f0 + l));
            }
        }
        let tails = tail(&|tk| (full..c).map(|f| scalar(f, tk)).sum::<f32>());
        let mean = _mm512_div_ps(_mm512_add_ps(fold(&acc), tails), cv);

        let mut acc = [_mm512_setzero_ps(); LANES];
        for f0 in (0..full).step_by(LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                let d = _mm512_sub_ps(row(f0 + l), mean);
                *a = _mm512_add_ps(*a, _mm512_mul_ps(d, d));
            }
        }
        let mut mu = [0.0f32; HALF];
        // SAFETY: 16 floats.
        unsafe { _mm512_storeu_ps(mu.as_mut_ptr(), mean) };
        let tails = tail(&|tk| {
            (full..c)
                .map(|f| (scalar(f, tk) - mu[tk]) * (scalar(f, tk) - mu[tk]))
                .sum::<f32>()
        });
        let var = _mm512_div_ps(_mm512_add_ps(fold(&acc), tails), cv);
        let rstd = _mm512_div_ps(
            _mm512_set1_ps(1.0),
            _mm512_sqrt_ps(_mm512_add_ps(var, _mm512_set1_ps(eps))),
        );

        for f in 0..c {
            let y = _mm512_mul_ps(
                _mm512_mul_ps(_mm512_sub_ps(row(f), mean), rstd),
                _mm512_set1_ps(gamma[f]),
            );
            let y = _mm512_add_ps(y, _mm512_set1_ps(beta[f]));
            // SAFETY: lanes lo..lo + 16 of row f are this half's only.
            unsafe { _mm512_storeu_ps(out.slice(f * L + lo, HALF).as_mut_ptr(), y) };
        }
    }

    /// `vectorize::reduce`'s tree, 16 tokens at once.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold(acc: &[__m512; LANES]) -> __m512 {
        let mut h = [_mm512_setzero_ps(); LANES / 2];
        for (l, hl) in h.iter_mut().enumerate() {
            *hl = _mm512_add_ps(acc[l], acc[l + LANES / 2]);
        }
        let mut q = [_mm512_setzero_ps(); LANES / 4];
        for (l, ql) in q.iter_mut().enumerate() {
            *ql = _mm512_add_ps(h[l], h[l + LANES / 4]);
        }
        _mm512_add_ps(_mm512_add_ps(q[0], q[2]), _mm512_add_ps(q[1], q[3]))
    }
}

multiversion! {
    /// Token lanes `lo..lo + 16` (any CPU; see the module docs for why these are the bits
    /// of the row-major LayerNorm).
    fn lanes_half(out: &DisjointMut<'_>, inp_t: &[f32], gamma: &[f32], beta: &[f32], c: usize, eps: f32, lo: usize) {
        let full = c / LANES * LANES;
        let row = |f: usize| -> [f32; HALF] { std::array::from_fn(|tk| inp_t[f * L + lo + tk]) };

        // Mean: Σ as `vectorize::sum`.
        let mut acc = [[0.0f32; HALF]; LANES];
        for f0 in (0..full).step_by(LANES) {
            for (l, acc_l) in acc.iter_mut().enumerate() {
                let x = row(f0 + l);
                for tk in 0..HALF {
                    acc_l[tk] += x[tk];
                }
            }
        }
        let mut mean = fold(&acc);
        for (tk, m) in mean.iter_mut().enumerate() {
            let tail: f32 = (full..c).map(|f| row(f)[tk]).sum();
            *m = (*m + tail) / c as f32;
        }

        // Variance: Σ (x - mean)² as `vectorize::sum_sq_dev`.
        let mut acc = [[0.0f32; HALF]; LANES];
        for f0 in (0..full).step_by(LANES) {
            for (l, acc_l) in acc.iter_mut().enumerate() {
                let x = row(f0 + l);
                for tk in 0..HALF {
                    let d = x[tk] - mean[tk];
                    acc_l[tk] += d * d;
                }
            }
        }
        let mut rstd = fold(&acc);
        for (tk, r) in rstd.iter_mut().enumerate() {
            let mu = mean[tk];
            let tail: f32 = (full..c).map(|f| (row(f)[tk] - mu) * (row(f)[tk] - mu)).sum();
            let var = (*r + tail) / c as f32;
            *r = 1.0 / (var + eps).sqrt();
        }

        for f in 0..c {
            let (x, g, b) = (row(f), gamma[f], beta[f]);
            // SAFETY: lanes lo..lo + 16 of row f are this half's only.
            let out = unsafe { out.slice(f * L + lo, HALF) };
            for tk in 0..HALF {
                out[tk] = (x[tk] - mean[tk]) * rstd[tk] * g + b;
            }
        }
    }
}

/// `vectorize::reduce`'s tree over the 16 partial sums, for 16 tokens side by side.
#[inline(always)]
fn fold(acc: &[[f32; HALF]; LANES]) -> [f32; HALF] {
    let h: [[f32; HALF]; LANES / 2] =
        std::array::from_fn(|l| std::array::from_fn(|tk| acc[l][tk] + acc[l + LANES / 2][tk]));
    let q: [[f32; HALF]; LANES / 4] =
        std::array::from_fn(|l| std::array::from_fn(|tk| h[l][tk] + h[l + LANES / 4][tk]));
    std::array::from_fn(|tk| (q[0][tk] + q[2][tk]) + (q[1][tk] + q[3][tk]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable version (what CPUs without AVX-512F run) equals the AVX-512 one bit
    /// for bit, C with and without a remainder (the row-major comparison is in
    /// `tests/ops_lanes.rs`).
    #[test]
    fn portable_equals_avx512_bitwise() {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            for c in [768, 50, 7] {
                let x: Vec<f32> = (0..c * L)
                    .map(|i| ((i * 7919) % 1999) as f32 * 1e-3 + 2.0)
                    .collect();
                let g: Vec<f32> = (0..c).map(|i| 0.5 + (i % 7) as f32 * 0.1).collect();
                let b: Vec<f32> = (0..c).map(|i| (i % 5) as f32 * 0.01).collect();
                let (mut want, mut got) = (vec![0.0; c * L], vec![1.0; c * L]);
                let (want_w, got_w) = (DisjointMut::new(&mut want), DisjointMut::new(&mut got));
                for lo in [0, HALF] {
                    lanes_half(&want_w, &x, &g, &b, c, 1e-5, lo);
                    // SAFETY: AVX-512F detected.
                    unsafe { x86::lanes_half(&got_w, &x, &g, &b, c, 1e-5, lo) };
                }
                let same = want
                    .iter()
                    .zip(&got)
                    .all(|(w, g)| w.to_bits() == g.to_bits());
                assert!(same, "c {c}: portable and AVX-512 LayerNorm lanes differ");
            }
        }
    }
}
