//! NEON f32 micro-kernel (aarch64): 8 x 12 tile in 24 q-register accumulators.

use std::arch::aarch64::*;

use super::driver::{update_tile_scalar, Micro};

/// Token for the NEON f32 kernel; exists only when the CPU has NEON.
#[derive(Clone, Copy)]
pub(crate) struct NeonF32(());

impl NeonF32 {
    pub fn new() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Self(()))
    }
}

const MR: usize = 8;
const NR: usize = 12;

impl Micro for NeonF32 {
    const MR: usize = MR;
    const NR: usize = NR;
    const G: usize = 1;
    const KC: usize = 256;
    const MC: usize = 3072;
    const NB: usize = 480;
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
        // SAFETY: `self` proves NEON; the caller guarantees the pointer contract.
        unsafe { tile_f32(kg, a, b, c, ldc, alpha, beta, mr, nr) }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon")]
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
    let mut acc = [[vdupq_n_f32(0.0); 3]; MR];
    for p in 0..kc {
        // SAFETY (whole loop): panels hold kc * MR and kc * NR elements.
        let bp = unsafe { b.add(p * NR) };
        let bv = unsafe { [vld1q_f32(bp), vld1q_f32(bp.add(4)), vld1q_f32(bp.add(8))] };
        let ap = unsafe { a.add(p * MR) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = unsafe { *ap.add(r) };
            for (x, bj) in acc_r.iter_mut().zip(bv) {
                *x = vfmaq_n_f32(*x, bj, av);
            }
        }
    }
    let mut tile = [0.0f32; MR * NR];
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, v) in acc_i.iter().enumerate() {
            // SAFETY: `tile` has MR * NR elements.
            unsafe { vst1q_f32(tile.as_mut_ptr().add(i * NR + 4 * j), *v) };
        }
    }
    // SAFETY: tile inside C per the caller's contract.
    unsafe { update_tile_scalar(&tile, NR, c, ldc, alpha, beta, mr, nr) };
}
