//! AVX2 + FMA f32 micro-kernel: 6 x 16 tile in 12 ymm accumulators (+2 B, +1 broadcast of 16).

use std::arch::x86_64::*;

use super::driver::{update_tile_scalar, Micro};

/// Token for the AVX2+FMA f32 kernel; exists only when the CPU has both.
#[derive(Clone, Copy)]
pub(crate) struct Avx2F32(());

impl Avx2F32 {
    pub fn new() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Self(()))
    }
}

const MR: usize = 6;
const NR: usize = 16;

impl Micro for Avx2F32 {
    const MR: usize = MR;
    const NR: usize = NR;
    const G: usize = 1;
    const KC: usize = 256;
    const MC: usize = 3072;
    const NB: usize = 512;
    type E = f32;

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
        // SAFETY: `self` proves AVX2+FMA; the caller guarantees the pointer contract.
        unsafe { tile_f32(kg, a, b, c, ldc, alpha, beta, mr, nr) }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
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
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY (whole loop): panels hold kc * MR and kc * NR elements, 64-byte aligned.
        let bp = unsafe { b.add(p * NR) };
        let b0 = unsafe { _mm256_load_ps(bp) };
        let b1 = unsafe { _mm256_load_ps(bp.add(8)) };
        let ap = unsafe { a.add(p * MR) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = _mm256_set1_ps(unsafe { *ap.add(r) });
            acc_r[0] = _mm256_fmadd_ps(av, b0, acc_r[0]);
            acc_r[1] = _mm256_fmadd_ps(av, b1, acc_r[1]);
        }
    }
    if mr == MR && nr == NR {
        let va = _mm256_set1_ps(alpha);
        let vb = _mm256_set1_ps(beta);
        for (i, acc_i) in acc.iter().enumerate() {
            // SAFETY: full tile, inside C per the caller's contract.
            unsafe {
                let row = c.add(i * ldc);
                let mut v0 = _mm256_mul_ps(va, acc_i[0]);
                let mut v1 = _mm256_mul_ps(va, acc_i[1]);
                if beta != 0.0 {
                    v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), v0);
                    v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row.add(8)), v1);
                }
                _mm256_storeu_ps(row, v0);
                _mm256_storeu_ps(row.add(8), v1);
            }
        }
    } else {
        let mut tile = [0.0f32; MR * NR];
        for (i, acc_i) in acc.iter().enumerate() {
            // SAFETY: `tile` has MR * NR elements.
            unsafe {
                _mm256_storeu_ps(tile.as_mut_ptr().add(i * NR), acc_i[0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(i * NR + 8), acc_i[1]);
            }
        }
        // SAFETY: partial tile inside C per the caller's contract.
        unsafe { update_tile_scalar(&tile, NR, c, ldc, alpha, beta, mr, nr) };
    }
}
