//! Test harness shared by the SIMD row packers (`pack_avx512.rs`, `pack_avx2.rs`): source
//! values that carry the bit patterns that matter, and a bitwise check against the
//! reference [`pack`].

use half::bf16 as Bf16;

use super::conv::{Identity, RoundToBf16, RowConv, ToBf16};
use super::driver::pack_any;
use super::pack::{f32_to_bf16, pack, RowBlock, View};

/// Bit patterns the conversions treat specially: NaNs (quiet, signalling, negative,
/// all-ones payload), infinities, zeros, subnormals, the largest finite values (round
/// to infinity), ties to even that round down and up, and values just off a tie.
pub(crate) const SPECIAL: [u32; 22] = [
    0x7FC0_0000,
    0x7F80_0001,
    0xFFC1_2345,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    0x7F80_0000,
    0xFF80_0000,
    0x0000_0000,
    0x8000_0000,
    0x0000_0001,
    0x8000_8000,
    0x007F_FFFF,
    0x0001_8000,
    0x7F7F_FFFF,
    0xFF7F_8000,
    0x3F80_8000,
    0x3F81_8000,
    0xBF80_8000,
    0xBF81_8000,
    0x3F80_7FFF,
    0x3F80_8001,
    0x4049_0FDB,
];

/// `len` values: mostly distinct ordinary floats of both signs (so a misplaced value is
/// caught), every 7th one from [`SPECIAL`].
pub(crate) fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| {
            let h = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            if i % 7 == 3 {
                f32::from_bits(SPECIAL[(h >> 8) as usize % SPECIAL.len()])
            } else {
                f32::from_bits(0x3000_0000 + (h >> 5) % 0x1E00_0000)
                    * if h & 1 == 1 { -1.0 } else { 1.0 }
            }
        })
        .collect()
}

/// `pack` (the reference), `pack_any` and `simd` (a SIMD row packer, writing the
/// block's panels as 4-byte groups) on the same block, into buffers pre-filled with a
/// pattern one group longer than the panels: all three must be equal, bit for bit,
/// including the pattern left after them.
pub(crate) fn check(conv: RowConv, src: &[f32], block: RowBlock, simd: impl FnOnce(&mut [u32])) {
    let (rs, r0, rows) = (block.rs, block.r0, block.rows);
    let (p0, kc, r) = (block.p0, block.kc, block.r);
    let g = conv.group();
    let groups = rows.div_ceil(r) * kc.div_ceil(g) * r;
    let mut want = vec![0xA5A5_5A5Au32; groups + 1];
    let mut got = want.clone();
    let mut via_any = want.clone();
    let view = View {
        data: src,
        rs,
        ks: 1,
    };
    match conv {
        RowConv::Copy => {
            let out: &mut [f32] = bytemuck::cast_slice_mut(&mut want);
            pack::<f32, f32, 1>(view, r0, rows, p0, kc, r, out, |x| x);
            let out: &mut [f32] = bytemuck::cast_slice_mut(&mut via_any);
            pack_any(1, view, r0, rows, p0, kc, r, out, Identity);
        }
        RowConv::RoundToBf16 => {
            let out: &mut [f32] = bytemuck::cast_slice_mut(&mut want);
            pack::<f32, f32, 1>(view, r0, rows, p0, kc, r, out, |x| f32_to_bf16(x).to_f32());
            let out: &mut [f32] = bytemuck::cast_slice_mut(&mut via_any);
            pack_any(1, view, r0, rows, p0, kc, r, out, RoundToBf16);
        }
        RowConv::ToBf16 => {
            let out: &mut [Bf16] = bytemuck::cast_slice_mut(&mut want);
            pack::<f32, Bf16, 2>(view, r0, rows, p0, kc, r, out, f32_to_bf16);
            let out: &mut [Bf16] = bytemuck::cast_slice_mut(&mut via_any);
            pack_any(2, view, r0, rows, p0, kc, r, out, ToBf16);
        }
    }
    simd(&mut got);
    let what = format!("{conv:?} r {r} rows {rows} kc {kc} rs {rs} r0 {r0} p0 {p0}");
    assert_eq!(got, want, "{what}");
    assert_eq!(via_any, want, "pack_any {what}");
}
