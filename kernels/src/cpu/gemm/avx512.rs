//! AVX-512F f32 micro-kernel: 14 x 32 tile held in 28 zmm accumulators.
//!
//! Per K step: two 16-wide loads of the B panel, 14 broadcasts of A (folded into the FMA as
//! embedded broadcasts), 28 FMAs. 28 + 2 registers of the 32 leave no spills, and 28
//! independent chains hide the 4-cycle FMA latency. On Zen 4 (512-bit ops double-pumped)
//! this runs at one zmm FMA per cycle, the core's peak.

use std::arch::x86_64::*;

use super::driver::{Blocking, Micro};
use super::epilogue::TileStart;
use super::transpose_tile::lanes;

/// Token for the AVX-512F f32 kernel; exists only when the CPU has AVX-512F.
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32(());

impl Avx512F32 {
    pub fn new() -> Option<Self> {
        is_x86_feature_detected!("avx512f").then_some(Self(()))
    }
}

const MR: usize = 14;
const NR: usize = 32;
/// Rows per pass of [`tile_f32_rows`] when A's rows alias in L1 (see `tile_rows`).
const HALF: usize = MR / 2;
/// How many K steps ahead the A panel is prefetched (measured best of 16, 32, 64 with
/// prepacked weights streaming from memory).
const PF: usize = 32;

impl Micro for Avx512F32 {
    const MR: usize = MR;
    const NR: usize = NR;
    const G: usize = 1;
    const KC: usize = 1536;
    const MC: usize = 3072;
    const NB: usize = 1024;
    type E = f32;

    fn blocking() -> Blocking {
        if l2_blocking() {
            L2_BLOCKING
        } else {
            Blocking::constants::<Self>()
        }
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
        // SAFETY: `self` proves AVX-512F; the caller guarantees the pointer contract.
        unsafe { tile_f32(kg, a, b, c, ldc, alpha, beta, mr, nr) }
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
        if !(lda * 4).is_multiple_of(4096) {
            // SAFETY: `self` proves AVX-512F; the caller guarantees the pointer contract.
            return unsafe { tile_f32_rows::<MR>(kc, a, lda, b, c, ldc, alpha, beta, mr, nr) };
        }
        // Rows a multiple of 4 KiB apart share one L1 set (8 ways): 14 of them evict each
        // other before their line's 16 values are used. Two passes of at most 7 rows fit.
        // Each C element gets the same FMAs in the same order, so the same bits.
        let top = mr.min(HALF);
        // SAFETY: as above; rows `top..mr` are rows of this tile.
        unsafe {
            tile_f32_rows::<HALF>(kc, a, lda, b, c, ldc, alpha, beta, top, nr);
            if mr > HALF {
                let (a2, c2) = (a.add(HALF * lda), c.add(HALF * ldc));
                tile_f32_rows::<HALF>(kc, a2, lda, b, c2, ldc, alpha, beta, mr - HALF, nr);
            }
        }
    }
}

/// Blocking for cores that run two 512-bit FMAs per cycle from a slow shared L3 (Intel):
/// a task's columns cut to 160 so the packed B block it streams for every A panel,
/// `KC x NB` f32 = 960 KiB, stays in the core's 2 MiB L2. The constants above (a 6 MiB B
/// block read from L3 for every A panel) measured faster on Zen 4, whose L3 keeps up with
/// its one FMA per cycle; on an Emerald Rapids VM they left the f32 GEMM well under the FMA
/// peak. K blocks stay as they are: they set the rounding (and the prepacked path, which
/// must give the same bits, uses them), and more of them cost the one-headline path time.
const L2_BLOCKING: Blocking = Blocking {
    kc: 1536,
    mc: 3072,
    nb: 160,
};

/// Whether [`L2_BLOCKING`] applies: on Intel CPUs, or as forced by
/// `TOKKEN_GEMM_BLOCKING=l2` (`=l3` forces the constants), read once per process.
pub(crate) fn l2_blocking() -> bool {
    static L2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *L2.get_or_init(|| match std::env::var("TOKKEN_GEMM_BLOCKING").as_deref() {
        Ok("l2") => true,
        Ok("l3") => false,
        _ => {
            let id = __cpuid(0);
            let vendor = [id.ebx, id.edx, id.ecx].map(u32::to_le_bytes).concat();
            vendor == b"GenuineIntel"
        }
    })
}

/// The blocking in use on this CPU, named with its sizes (for benches).
pub(crate) fn blocking_name() -> String {
    let b = <Avx512F32 as Micro>::blocking();
    if l2_blocking() {
        let w = super::avx512_wide::Avx512F32Wide::blocking();
        format!(
            "l2 (kc {}, nb {}; A in place: 8x48 tile, nb {})",
            b.kc, b.nb, w.nb
        )
    } else {
        format!("l3 (kc {}, nb {})", b.kc, b.nb)
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile_f32(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    mr: usize,
    nr: usize,
) {
    // SAFETY: forwarded contract.
    unsafe { tile_f32_part::<MR>(kc, a, b, c, ldc, alpha, beta, mr, nr) }
}

/// [`tile_f32`] on `R` consecutive rows of a packed MR-row panel: `a` points at the first
/// of them (the panel start plus the row offset; the panel's stride per K step stays MR),
/// and tile row `i` is panel row `i` from there. Every computed value is the one
/// `tile_f32` computes for that row (same FMAs in the same order), so half a panel can go
/// to each of two threads and the output is bit for bit the same.
///
/// # Safety
/// AVX-512F present; `a + p * MR + i` readable for `p < kc`, `i < R`; B and C as for
/// [`tile_f32`], with `mr <= R`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile_f32_part<const R: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    mr: usize,
    nr: usize,
) {
    prefetch_tile(c, ldc, mr, nr);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for p in 0..kc {
        // SAFETY (whole loop): panels hold kc * MR and kc * NR elements, 64-byte aligned.
        let bp = unsafe { b.add(p * NR) };
        let b0 = unsafe { _mm512_load_ps(bp) };
        let b1 = unsafe { _mm512_load_ps(bp.add(16)) };
        let ap = unsafe { a.add(p * MR) };
        // Pull the A panel ahead of use (it streams from memory when it is a prepacked
        // weight); prefetches never fault, even past the panel's end.
        _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(PF * MR) as *const i8);
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(unsafe { *ap.add(r) });
            acc_r[0] = _mm512_fmadd_ps(av, b0, acc_r[0]);
            acc_r[1] = _mm512_fmadd_ps(av, b1, acc_r[1]);
        }
    }
    unsafe { store_tile(&acc, c, ldc, alpha, beta, mr, nr) }
}

/// [`tile_f32`] reading A in place, `R` (at most MR) rows: row `i` of the tile is
/// `a + i * lda` (rows past `mr <= R` repeat the last valid row; their sums are discarded).
/// The FMAs are those of `tile_f32` on the packed panel, in the same order, so the result
/// is the same bit for bit, without the packing pass over A.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile_f32_rows<const R: usize>(
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
    prefetch_tile(c, ldc, mr, nr);
    let rows: [*const f32; R] = std::array::from_fn(|i| a.wrapping_add(i.min(mr - 1) * lda));
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for p in 0..kc {
        // SAFETY (whole loop): the B panel holds kc * NR elements, 64-byte aligned; each
        // row holds kc readable values (caller).
        let bp = unsafe { b.add(p * NR) };
        let b0 = unsafe { _mm512_load_ps(bp) };
        let b1 = unsafe { _mm512_load_ps(bp.add(16)) };
        for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
            let av = _mm512_set1_ps(unsafe { *row.add(p) });
            acc_r[0] = _mm512_fmadd_ps(av, b0, acc_r[0]);
            acc_r[1] = _mm512_fmadd_ps(av, b1, acc_r[1]);
        }
    }
    unsafe { store_tile(&acc, c, ldc, alpha, beta, mr, nr) }
}

/// Start pulling the C tile into L1 so the update after the K loop does not stall on
/// cache misses (C is usually far larger than L2).
#[inline(always)]
pub(crate) fn prefetch_tile(c: *mut f32, ldc: usize, mr: usize, nr: usize) {
    for i in 0..mr {
        let row = c.wrapping_add(i * ldc);
        // SAFETY: prefetch never faults; addresses are inside the tile.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(nr - 1) as *const i8);
        }
    }
}

/// Write `alpha * acc + beta * C` for the valid `mr x nr` part of an `R x 32` tile
/// (R = 14, or 7 in half passes), with lane masks for a partial last column block
/// (masked-off lanes are never touched).
///
/// # Safety
/// AVX-512F present; `c + i * ldc + j` valid for `i < mr`, `j < nr`.
#[inline(always)]
pub(crate) unsafe fn store_tile<const R: usize>(
    acc: &[[__m512; 2]; R],
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    mr: usize,
    nr: usize,
) {
    // SAFETY: forwarded contract.
    unsafe { store_tile_from(acc, c, ldc, alpha, beta, None, mr, nr) }
}

/// [`store_tile`] for an `R x 16 NV` tile, and with a `start` (residual + bias) standing in
/// for C's old contents (beta = 1): each value is `alpha * acc + beta * old`, with `old`
/// read from C or computed as the f32 sum `residual + bias` that a fill would have written
/// into C, so either way the same bits.
///
/// # Safety
/// AVX-512F present; `c + i * ldc + j` valid for `i < mr`, `j < nr`, and so is `start`
/// (see [`TileStart`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn store_tile_from<const R: usize, const NV: usize>(
    acc: &[[__m512; NV]; R],
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    start: Option<TileStart>,
    mr: usize,
    nr: usize,
) {
    let masks: [__mmask16; NV] = std::array::from_fn(|v| lanes(nr.saturating_sub(16 * v)));
    let va = _mm512_set1_ps(alpha);
    let vb = _mm512_set1_ps(beta);
    for (i, acc_i) in acc.iter().enumerate().take(mr) {
        for (v, (&x, &mask)) in acc_i.iter().zip(&masks).enumerate() {
            // SAFETY: row i < mr is inside C (and the start); the mask limits lanes to
            // j < nr.
            unsafe {
                let at = c.add(i * ldc + 16 * v);
                let mut y = _mm512_mul_ps(va, x);
                if beta != 0.0 {
                    let old = match start {
                        Some(st) => {
                            let bias = _mm512_maskz_loadu_ps(mask, st.bias.add(16 * v));
                            if st.residual.is_null() {
                                bias
                            } else {
                                let r = st.residual.add(i * st.ldr + 16 * v);
                                _mm512_add_ps(_mm512_maskz_loadu_ps(mask, r), bias)
                            }
                        }
                        None => _mm512_maskz_loadu_ps(mask, at),
                    };
                    y = _mm512_fmadd_ps(vb, old, y);
                }
                _mm512_mask_storeu_ps(at, mask, y);
            }
        }
    }
}
