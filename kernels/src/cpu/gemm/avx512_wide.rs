//! AVX-512F f32 micro-kernel with a short, wide tile: 8 rows x 48 columns in 24 zmm
//! accumulators, for large products with A read in place on CPUs with a slow shared L3.
//!
//! Per K step: three 16-wide loads of the B panel, 8 broadcasts of A, 24 FMAs (11 loads per
//! 24 FMAs, against 16 per 28 for the 14 x 32 tile). The 8 rows of A a tile reads
//! (`8 x kc` f32, 24 KiB for K = 768) stay in L1 while the task's B panels stream past
//! them from L2; the 14 x 32 tile's 14 rows (42 KiB) did not, so they were fetched again
//! for every B panel. On an Emerald Rapids VM this ran a few % faster on average in
//! noisy windows (the same peak in quiet ones).
//!
//! Every C element is the same chain of FMAs over K, in the same order and K blocks, as
//! the 14 x 32 kernel computes, so the two give the same bits (tests check it).

use std::arch::x86_64::*;

use super::avx512::{prefetch_tile, store_tile_from};
use super::driver::{Blocking, Micro};
use super::epilogue::TileStart;

/// Token for the 8 x 48 AVX-512F kernel; exists only when the CPU has AVX-512F.
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32Wide(());

impl Avx512F32Wide {
    pub fn new() -> Option<Self> {
        is_x86_feature_detected!("avx512f").then_some(Self(()))
    }
}

const MR: usize = 8;
/// Three zmm of 16 columns.
const NV: usize = 3;
const NR: usize = 16 * NV;
/// The fewest columns of C a product needs for this tile to be chosen: a B block's worth.
/// Narrower products (LoRA's rank-8 ones) would leave most of a 48-column tile unused;
/// the 14 x 32 tile wastes less of them.
pub(crate) const MIN_N: usize = 4 * NR;
/// How many K steps ahead a packed A panel is prefetched.
const PF: usize = 32;

impl Micro for Avx512F32Wide {
    const MR: usize = MR;
    const NR: usize = NR;
    const G: usize = 1;
    /// The 14 x 32 kernel's K block, so that both give the same bits.
    const KC: usize = 1536;
    const MC: usize = 3072;
    /// Four panels: a `768 x 192` f32 B block (576 KiB) stays in L2.
    const NB: usize = 4 * NR;
    type E = f32;

    fn blocking() -> Blocking {
        Blocking::constants::<Self>()
    }

    unsafe fn tile(
        self,
        kg: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        alpha: f32,
        beta: f32,
        mr: usize,
        nr: usize,
    ) {
        // SAFETY: `self` proves AVX-512F; the caller guarantees the pointer contract (the
        // packed panel's row `i` at `a + p * MR + i`).
        unsafe {
            let rows: [*const f32; MR] = std::array::from_fn(|i| a.wrapping_add(i));
            tile_wide::<MR>(kg, rows, b, c, ldc, alpha, beta, None, mr, nr)
        }
    }

    const DIRECT_A: bool = true;

    unsafe fn tile_rows(
        self,
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        alpha: f32,
        beta: f32,
        mr: usize,
        nr: usize,
    ) {
        let rows = rows_in_place(a, lda, mr);
        // SAFETY: `self` proves AVX-512F; the caller guarantees the pointer contract.
        unsafe { tile_wide::<1>(kc, rows, b, c, ldc, alpha, beta, None, mr, nr) }
    }

    const START_IN_TILE: bool = true;

    unsafe fn tile_rows_from(
        self,
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        alpha: f32,
        start: TileStart,
        mr: usize,
        nr: usize,
    ) {
        let rows = rows_in_place(a, lda, mr);
        // SAFETY: `self` proves AVX-512F; the caller guarantees the pointer contract.
        unsafe { tile_wide::<1>(kc, rows, b, c, ldc, alpha, 1.0, Some(start), mr, nr) }
    }
}

/// The tile's rows of A read in place: row `i` at `a + i * lda`; rows past `mr` repeat the
/// last valid one (their sums are discarded).
#[inline(always)]
fn rows_in_place(a: *const f32, lda: usize, mr: usize) -> [*const f32; MR] {
    std::array::from_fn(|i| a.wrapping_add(i.min(mr - 1) * lda))
}

/// `C[mr x nr] = alpha * A B + beta * C` for one tile: row `i` of A reads `rows[i] + p * STEP`
/// at K step `p` (`STEP` = MR for a packed panel, 1 for rows in place), B is a packed
/// `kc x 48` panel. With a `start`, C's old contents are ignored and the tile's start
/// (residual + bias) stands in for them, with beta = 1.
///
/// # Safety
/// AVX-512F present; `rows[i] + p * STEP` readable for `p < kc`, `i < MR`; the B panel holds
/// `kc * NR` values, 64-byte aligned; `c + i * ldc + j` valid for `i < mr`, `j < nr`, and
/// so is `start` (see [`TileStart`]).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile_wide<const STEP: usize>(
    kc: usize,
    rows: [*const f32; MR],
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    start: Option<TileStart>,
    mr: usize,
    nr: usize,
) {
    prefetch_tile(c, ldc, mr, nr);
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    for p in 0..kc {
        // SAFETY (whole loop): within the panels per the contract.
        let bp = unsafe { b.add(p * NR) };
        let bv: [__m512; NV] = std::array::from_fn(|v| unsafe { _mm512_load_ps(bp.add(16 * v)) });
        if STEP != 1 {
            // A packed panel may stream from memory (a prepacked weight): pull it ahead.
            _mm_prefetch::<_MM_HINT_T0>(rows[0].wrapping_add((p + PF) * STEP) as *const i8);
        }
        for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
            let av = _mm512_set1_ps(unsafe { *row.add(p * STEP) });
            for (a, &bv) in acc_r.iter_mut().zip(&bv) {
                *a = _mm512_fmadd_ps(av, bv, *a);
            }
        }
    }
    // SAFETY: forwarded contract.
    unsafe { store_tile_from(&acc, c, ldc, alpha, beta, start, mr, nr) }
}

#[cfg(test)]
mod tests {
    use super::super::avx512::Avx512F32;
    use super::super::conv::Identity;
    use super::super::driver::{gemm_from, ASource, CStart, PackB};
    use super::super::epilogue::Epilogue;
    use super::super::pack::View;
    use super::super::Trans;
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    /// One product through kernel `kern`: A `[m, k]` (row stride `lda`) read in place or
    /// packed, W `[n, k]` transposed, C `[m, n]` (row stride `n + 3`) from `c0`.
    #[allow(clippy::too_many_arguments)]
    fn product<K: Micro<E = f32>>(
        kern: K,
        (m, n, k, lda): (usize, usize, usize, usize),
        (a, w): (&[f32], &[f32]),
        in_place: bool,
        alpha: f32,
        start: CStart<'_>,
        c0: &[f32],
        parallel: bool,
    ) -> Vec<f32> {
        let mut c = c0.to_vec();
        let bp = PackB::new(kern, View::b(Trans::T, w, k), Identity);
        let asrc = if in_place {
            ASource::Rows(a, lda)
        } else {
            ASource::Pack(View::a(Trans::N, a, lda), Identity)
        };
        gemm_from(
            kern,
            m,
            n,
            k,
            alpha,
            asrc,
            &bp,
            start,
            &mut c,
            n + 3,
            parallel,
        );
        c
    }

    /// The 8 x 48 tile gives the 14 x 32 tile's bits: tile edges in both directions, one
    /// and two K blocks, A in place (also at a 4 KiB row stride, where the 14 x 32 tile
    /// splits its rows) and packed, alpha / beta, a bias with and without a residual, one
    /// thread and the pool. A changed FMA order or write-back fails it.
    #[test]
    fn same_bits_as_the_14x32_tile() {
        let (Some(wide), Some(narrow)) = (Avx512F32Wide::new(), Avx512F32::new()) else {
            eprintln!("skipping: no AVX-512F on this CPU");
            return;
        };
        let shapes = [
            (1, 1, 1),
            (7, 47, 17),
            (8, 48, 64),
            (9, 49, 100),
            (33, 100, 768),
            (130, 200, 1600),
            (300, 97, 1024),
            (64, 3 * 48 * 4 + 5, 300),
        ];
        for (m, n, k) in shapes {
            for lda in [k, k + 5] {
                let a = values(m * lda, 1);
                let w = values(n * k, 2);
                let bias = values(n, 3);
                let residual = values(m * n, 4);
                let c0 = values(m * (n + 3), 5);
                let epilogues = [
                    Epilogue {
                        bias: &bias,
                        residual: None,
                    },
                    Epilogue {
                        bias: &bias,
                        residual: Some((&residual, n)),
                    },
                ];
                let starts = [
                    (1.0, CStart::Beta(0.0)),
                    (0.5, CStart::Beta(1.0)),
                    (-1.5, CStart::Beta(0.3)),
                    (1.0, CStart::Bias(epilogues[0])),
                    (1.0, CStart::Bias(epilogues[1])),
                ];
                for (alpha, start) in starts {
                    for in_place in [true, false] {
                        for parallel in [false, true] {
                            let dims = (m, n, k, lda);
                            let ops = (&a[..], &w[..]);
                            let got =
                                product(wide, dims, ops, in_place, alpha, start, &c0, parallel);
                            let want =
                                product(narrow, dims, ops, in_place, alpha, start, &c0, parallel);
                            let same = got
                                .iter()
                                .zip(&want)
                                .all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(
                                same,
                                "m {m} n {n} k {k} lda {lda} alpha {alpha} in place {in_place}"
                            );
                        }
                    }
                }
            }
        }
    }
}
