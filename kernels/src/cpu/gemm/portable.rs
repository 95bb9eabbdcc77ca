//! Portable f32 micro-kernel on `wide::f32x8` (any CPU): 4 x 16 tile, 8 vector accumulators.

use wide::f32x8;

use super::driver::{update_tile_scalar, Micro};

/// Token for the portable kernel (always available).
#[derive(Clone, Copy)]
pub(crate) struct PortableF32;

const MR: usize = 4;
const NR: usize = 16;

impl Micro for PortableF32 {
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
        // SAFETY: the caller guarantees the panels hold kg * MR and kg * NR elements.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, kg * MR),
                std::slice::from_raw_parts(b, kg * NR),
            )
        };
        let mut acc = [[f32x8::ZERO; 2]; MR];
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            let b0 = f32x8::from(<[f32; 8]>::try_from(&bp[..8]).unwrap());
            let b1 = f32x8::from(<[f32; 8]>::try_from(&bp[8..]).unwrap());
            for (acc_r, &av) in acc.iter_mut().zip(ap) {
                let av = f32x8::splat(av);
                acc_r[0] = av.mul_add(b0, acc_r[0]);
                acc_r[1] = av.mul_add(b1, acc_r[1]);
            }
        }
        let mut tile = [0.0f32; MR * NR];
        for (row, acc_r) in tile.chunks_exact_mut(NR).zip(&acc) {
            row[..8].copy_from_slice(&acc_r[0].to_array());
            row[8..].copy_from_slice(&acc_r[1].to_array());
        }
        // SAFETY: tile inside C per the caller's contract.
        unsafe { update_tile_scalar(&tile, NR, c, ldc, alpha, beta, mr, nr) };
    }
}
