//! Small and thin f32 GEMMs: [`sgemm_unpacked`] is [`super::sgemm`] with A read where it
//! lies (either orientation) and B copied one 32-column strip at a time into an aligned
//! panel (or read in place when a single row tile uses it once), with software prefetch.
//!
//! Why: attention multiplies 64 x 64 x 64 blocks per (sequence, head). There the driver's
//! packing of a transposed A and of a `[k, n]` B (the generic packer, value by value) cost
//! about as much as the multiply, and operands strided by `qkv`'s rows missed the cache.
//!
//! Same bits as [`super::sgemm`]: each C element is the same fused multiply-add chain over
//! K (ascending, starting from zero) per K block of the driver's length
//! ([`super::driver::k_block_len`]), then `alpha * acc + beta * C` as the tile epilogue of
//! the AVX-512 kernel; later K blocks accumulate with `beta = 1`. Packing only moves
//! values, and zero-padded lanes are never stored. On CPUs without AVX-512F this is
//! `sgemm` itself.

use super::{check_args, Kernel, Trans};

/// `C = alpha * op(A) · op(B) + beta * C` as [`super::sgemm`] (same layout contract, same
/// result bit for bit) with A read in place (module docs). For products where packing
/// would cost as much as the multiply: small ones (on the calling thread), or thin ones
/// (few rows of C, e.g. a LoRA rank; column strips in parallel above 2^22 flops).
#[allow(clippy::too_many_arguments)]
pub fn sgemm_unpacked(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    check_args(ta, tb, m, n, k, a.len(), lda, b.len(), ldb, c.len(), ldc);
    #[cfg(target_arch = "x86_64")]
    if Kernel::best() == Kernel::Avx512 {
        if let Some(kern) = super::avx512::Avx512F32::new() {
            let ops = Operands {
                ta,
                tb,
                a,
                lda,
                b,
                ldb,
            };
            return x86::run(kern, m, n, k, alpha, ops, beta, c, ldc);
        }
    }
    super::sgemm_with(
        Kernel::best(),
        ta,
        tb,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
    )
}

/// The two input operands as [`sgemm_unpacked`] received them (already validated).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy)]
struct Operands<'a> {
    ta: Trans,
    tb: Trans,
    a: &'a [f32],
    lda: usize,
    b: &'a [f32],
    ldb: usize,
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Operands;
    use crate::cpu::gemm::avx512::{prefetch_tile, store_tile, Avx512F32};
    use crate::cpu::gemm::conv::Identity;
    use rayon::prelude::*;

    use crate::cpu::gemm::driver::{k_block_len, pack_any, scale_c, Micro, SharedC, PAR_MIN_FLOPS};
    use crate::cpu::gemm::pack::{panel_len, with_buf, View, BUF_B};
    use crate::cpu::gemm::transpose_tile::lanes;
    use crate::cpu::gemm::Trans;

    const MR: usize = <Avx512F32 as Micro>::MR;
    const NR: usize = <Avx512F32 as Micro>::NR;
    /// Rows per pass when A's rows are a multiple of 4 KiB apart (see `Avx512F32::tile_rows`).
    const HALF: usize = MR / 2;
    /// K steps the operands are prefetched ahead.
    const PF: usize = 8;

    /// The AVX-512 path of [`super::sgemm_unpacked`]: for each K block and NR-column strip
    /// of C, B's strip is copied into one aligned panel, then each MR-row tile of C is
    /// computed with A read in place. Strips run on rayon's pool when the product is as
    /// large as the driver's parallel threshold.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        _kern: Avx512F32,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        ops: Operands<'_>,
        beta: f32,
        c: &mut [f32],
        ldc: usize,
    ) {
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 || alpha == 0.0 {
            scale_c(c, m, n, ldc, beta);
            return;
        }
        // A element (i, p) at `a[i * a_rs + p * a_ks]`.
        let (a_rs, a_ks) = match ops.ta {
            Trans::N => (ops.lda, 1),
            Trans::T => (1, ops.lda),
        };
        let kc_max = k_block_len::<Avx512F32>(k);
        let shared = SharedC {
            ptr: c.as_mut_ptr(),
            len: c.len(),
        };
        let strips = n.div_ceil(NR);
        let parallel = strips > 1 && m.saturating_mul(n).saturating_mul(k) * 2 >= PAR_MIN_FLOPS;
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            let beta_pc = if pc == 0 { beta } else { 1.0 };
            // One NR-column strip of C: every MR-row tile with B's strip at `bp`, row stride
            // `ldb`.
            let tiles = |j0: usize, nr: usize, bp: &[f32], ldb: usize| {
                assert!(
                    (kc - 1) * ldb + nr <= bp.len(),
                    "sgemm_unpacked: B out of bounds (internal)"
                );
                for i0 in (0..m).step_by(MR) {
                    let mr = MR.min(m - i0);
                    let a_at = i0 * a_rs + pc * a_ks;
                    // The last element the tile reads lies inside A.
                    assert!(
                        a_at + (mr - 1) * a_rs + (kc - 1) * a_ks < ops.a.len(),
                        "sgemm_unpacked: A out of bounds (internal)"
                    );
                    let tile = Tile {
                        kc,
                        a: ops.a[a_at..].as_ptr(),
                        a_rs,
                        a_ks,
                        b: bp.as_ptr(),
                        ldb,
                        mr,
                        nr,
                    };
                    let cp = shared.tile(i0 * ldc + j0, mr, nr, ldc);
                    // SAFETY: AVX-512F is present (`_kern`); A, B and C bounds are asserted
                    // (C by `SharedC::tile`; strips write disjoint columns).
                    unsafe { tile.run(cp, ldc, alpha, beta_pc) };
                }
            };
            // B's strip: a `[k, n]` B with one row tile reads it once, in place. Otherwise
            // the strip is copied into one aligned panel, [kc][NR], zero past `nr`, even
            // when it would fit in L1 as it lies: its rows are often a multiple of 1 KiB
            // apart (the rows of `qkv`), which crowds them into a few L1 sets.
            let strip = |j0: usize| {
                let nr = NR.min(n - j0);
                if ops.tb == Trans::N && m <= MR {
                    return tiles(j0, nr, &ops.b[pc * ops.ldb + j0..], ops.ldb);
                }
                with_buf(&BUF_B, panel_len(NR, kc, 1), |panel: &mut [f32]| {
                    match ops.tb {
                        Trans::N => copy_strip(&ops.b[pc * ops.ldb + j0..], ops.ldb, kc, nr, panel),
                        // Columns j0.. of op(B) are rows j0.. of the stored [n, k] matrix.
                        Trans::T => {
                            let view = View::b(Trans::T, ops.b, ops.ldb);
                            pack_any(1, view, j0, nr, pc, kc, NR, panel, Identity)
                        }
                    }
                    tiles(j0, nr, panel, NR)
                })
            };
            if parallel {
                (0..strips).into_par_iter().for_each(|s| strip(s * NR));
            } else {
                (0..strips).for_each(|s| strip(s * NR));
            }
        }
    }

    /// `panel[p * NR + j] = b[p * ldb + j]` for `p < kc`, `j < nr`, zero for `nr <= j < NR`.
    fn copy_strip(b: &[f32], ldb: usize, kc: usize, nr: usize, panel: &mut [f32]) {
        assert!(
            (kc - 1) * ldb + nr <= b.len() && kc * NR <= panel.len(),
            "sgemm_unpacked: B strip out of bounds (internal)"
        );
        // SAFETY: AVX-512F is present (this path runs only with `Avx512F32`); the
        // asserts bound every access.
        unsafe { copy_strip_avx512(b.as_ptr(), ldb, kc, nr, panel.as_mut_ptr()) }
    }

    /// # Safety
    /// AVX-512F present; `b + p * ldb + j` readable for `p < kc`, `j < nr`, and
    /// `panel[..kc * NR]` writable.
    #[target_feature(enable = "avx512f")]
    unsafe fn copy_strip_avx512(b: *const f32, ldb: usize, kc: usize, nr: usize, panel: *mut f32) {
        let (m0, m1) = (lanes(nr), lanes(nr.saturating_sub(16)));
        for p in 0..kc {
            let src = b.wrapping_add(p * ldb);
            // B lies in L2 or L3, a row per line or two: fetch a few rows ahead.
            let ahead = b.wrapping_add((p + PF) * ldb);
            _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(nr - 1) as *const i8);
            // SAFETY: masked lanes are inside row p (contract); the panel row is NR wide.
            unsafe {
                let dst = panel.add(p * NR);
                _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(m0, src));
                _mm512_storeu_ps(dst.add(16), _mm512_maskz_loadu_ps(m1, src.wrapping_add(16)));
            }
        }
    }

    /// One `mr x nr` tile of C over `kc` K values: A element `(i, p)` at
    /// `a + i * a_rs + p * a_ks`, B element `(p, j)` at `b + p * ldb + j` (a panel, or B in
    /// place).
    #[derive(Clone, Copy)]
    struct Tile {
        kc: usize,
        a: *const f32,
        a_rs: usize,
        a_ks: usize,
        b: *const f32,
        ldb: usize,
        mr: usize,
        nr: usize,
    }

    impl Tile {
        /// # Safety
        /// AVX-512F present; A elements `(i, p)` for `i < mr`, `p < kc` and B elements
        /// `(p, j)` for `p < kc`, `j < nr` in bounds; C's `mr x nr` tile at `c` in bounds.
        unsafe fn run(&self, c: *mut f32, ldc: usize, alpha: f32, beta: f32) {
            // SAFETY (block): forwarded contract; the half passes cover rows `0..mr`.
            unsafe {
                if self.a_ks != 1 || !(self.a_rs * 4).is_multiple_of(4096) {
                    return tile::<MR>(self, c, ldc, alpha, beta);
                }
                // Rows a multiple of 4 KiB apart share one L1 set: two passes of 7 rows.
                let top = Tile {
                    mr: self.mr.min(HALF),
                    ..*self
                };
                tile::<HALF>(&top, c, ldc, alpha, beta);
                if self.mr > HALF {
                    let bottom = Tile {
                        a: self.a.add(HALF * self.a_rs),
                        mr: self.mr - HALF,
                        ..*self
                    };
                    tile::<HALF>(&bottom, c.add(HALF * ldc), ldc, alpha, beta);
                }
            }
        }
    }

    /// The 14 x 32 AVX-512 kernel (`avx512.rs`) on `R <= MR` rows with A and B read through
    /// strides: the same FMAs in the same order, the same epilogue. Rows past `mr` repeat
    /// the last valid row and lanes past `nr` load zeros; neither is stored.
    ///
    /// # Safety
    /// As [`Tile::run`].
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize>(t: &Tile, c: *mut f32, ldc: usize, alpha: f32, beta: f32) {
        prefetch_tile(c, ldc, t.mr, t.nr);
        let rows: [*const f32; R] =
            std::array::from_fn(|i| t.a.wrapping_add(i.min(t.mr - 1) * t.a_rs));
        let (m0, m1) = (lanes(t.nr), lanes(t.nr.saturating_sub(16)));
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for p in 0..t.kc {
            // A lies in L2 or L3: pull its next lines a few K steps ahead (prefetches
            // never fault, even past the end).
            let ahead = p + PF;
            if t.a_ks == 1 {
                if p % 16 == 0 {
                    for row in &rows {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(ahead + 16) as *const i8);
                    }
                }
            } else {
                let next = rows[0].wrapping_add(ahead * t.a_ks);
                _mm_prefetch::<_MM_HINT_T0>(next as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add((R - 1) * t.a_rs) as *const i8);
            }
            if t.ldb != NR {
                // B in place: a new row (line) every K step.
                let next = t.b.wrapping_add(ahead * t.ldb);
                _mm_prefetch::<_MM_HINT_T0>(next as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(t.nr - 1) as *const i8);
            }
            // SAFETY (whole loop): in bounds per the contract; masked-off lanes never load.
            let bp = unsafe { t.b.add(p * t.ldb) };
            let b0 = unsafe { _mm512_maskz_loadu_ps(m0, bp) };
            let b1 = unsafe { _mm512_maskz_loadu_ps(m1, bp.wrapping_add(16)) };
            let ak = p * t.a_ks;
            for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
                let av = _mm512_set1_ps(unsafe { *row.add(ak) });
                acc_r[0] = _mm512_fmadd_ps(av, b0, acc_r[0]);
                acc_r[1] = _mm512_fmadd_ps(av, b1, acc_r[1]);
            }
        }
        // SAFETY: the tile of C is in bounds (contract).
        unsafe { store_tile(&acc, c, ldc, alpha, beta, t.mr, t.nr) }
    }
}
