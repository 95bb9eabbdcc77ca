//! AVX512-BF16 micro-kernel: 14 x 32 f32 tile, inputs as bf16 K-pairs, `vdpbf16ps`.
//!
//! Panels are packed with `G = 2` (adjacent K values side by side, see `pack`): one 32-bit
//! broadcast of A carries `(a[i][k], a[i][k+1])`, one zmm of B carries those two K values for
//! 16 columns, and `vdpbf16ps` adds both products into each f32 lane. bf16 x bf16 products
//! are exact in f32, so the only rounding is the f32 accumulation (the instruction also
//! treats bf16 denormals as zero). Per K pair: 2 loads, 14 broadcasts, 28 `vdpbf16ps`, twice
//! the multiply-adds of the f32 kernel per instruction.

use std::arch::x86_64::*;

use half::bf16;

use super::avx512::{prefetch_tile, store_tile};
use super::driver::Micro;

/// Token for the AVX512-BF16 kernel; exists only when the CPU has AVX-512F and AVX512-BF16.
#[derive(Clone, Copy)]
pub(crate) struct Avx512Bf16(());

impl Avx512Bf16 {
    pub fn new() -> Option<Self> {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16"))
            .then_some(Self(()))
    }
}

const MR: usize = 14;
const NR: usize = 32;
/// How many K steps ahead the A panel is prefetched (measured best of 16, 32, 64 with
/// prepacked weights streaming from memory).
const PF: usize = 32;

impl Micro for Avx512Bf16 {
    const MR: usize = MR;
    const NR: usize = NR;
    const G: usize = 2;
    const KC: usize = 1536;
    const MC: usize = 3072;
    const NB: usize = 1024;
    type E = bf16;

    unsafe fn tile(
        self,
        kg: usize,
        a: *const bf16,
        b: *const bf16,
        c: *mut f32,
        ldc: usize,
        alpha: f32,
        beta: f32,
        mr: usize,
        nr: usize,
    ) {
        // SAFETY: `self` proves AVX-512F + BF16; the caller guarantees the pointer contract.
        unsafe { tile_bf16(kg, a, b, c, ldc, alpha, beta, mr, nr) }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_bf16(
    kg: usize,
    a: *const bf16,
    b: *const bf16,
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    mr: usize,
    nr: usize,
) {
    prefetch_tile(c, ldc, mr, nr);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    // A pairs read as one u32 each; B as 512-bit rows of 16 pairs.
    let a = a as *const i32;
    let b = b as *const __m512i;
    for p in 0..kg {
        // SAFETY (whole loop): panels hold kg * MR pairs and kg * NR pairs, 64-byte aligned.
        let b0: __m512bh = unsafe { std::mem::transmute(_mm512_load_si512(b.add(2 * p))) };
        let b1: __m512bh = unsafe { std::mem::transmute(_mm512_load_si512(b.add(2 * p + 1))) };
        let ap = unsafe { a.add(p * MR) };
        // Pull the A panel ahead of use (a prepacked weight streams from memory);
        // prefetches never fault, even past the panel's end.
        _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(PF * MR) as *const i8);
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(*ap.add(r))) };
            acc_r[0] = _mm512_dpbf16_ps(acc_r[0], av, b0);
            acc_r[1] = _mm512_dpbf16_ps(acc_r[1], av, b1);
        }
    }
    // SAFETY: AVX-512F present; tile inside C per the caller's contract.
    unsafe { store_tile(&acc, c, ldc, alpha, beta, mr, nr) }
}
