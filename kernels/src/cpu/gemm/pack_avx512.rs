//! AVX-512 packing of row-major f32 operands: the same panels as [`super::pack::pack`]
//! (bit for bit), 16 rows x 16 K groups at a time through in-register transposes.
//!
//! Layout (as in `pack.rs`): a panel of `r` rows over `kc` K values is `[kg][r]` 4-byte
//! groups, `kg = ceil(kc / G)`: group `g` of row `i` is at `g * r + i`. With `G = 1` a group
//! is the f32 `x[i][g]` (unchanged, or rounded to bf16 and widened back); with `G = 2` it is
//! the bf16 pair `x[i][2g]` (low half) and `x[i][2g + 1]` (high half). Rows past the
//! operand's edge, and the partner of an odd last K value, are zero.
//!
//! How: each of up to 16 rows loads its next 16 groups into a register (converting f32 to
//! bf16 with integer ops, the same rounding as [`super::pack::f32_to_bf16`]; not
//! `vcvtneps2bf16`, which flushes subnormals), a 16 x 16 transpose turns them into one
//! register per group, and each is stored as the group's row slot of the panel, masked to
//! the panel's rows (14 of 16 lanes for the 14-row panels; taller panels take several
//! 16-row blocks). Missing rows and K values are masked-off loads, i.e. zeros, so every
//! byte of a panel is written and nothing is filled beforehand.

use std::arch::x86_64::*;

use super::conv::RowConv;
use super::pack::RowBlock;
use super::transpose_tile::{lanes, transpose16_u32 as transpose16};

/// Pack `block` of the row-major f32 matrix `src` into `ceil(rows / r)` panels of `r` rows
/// converted by `conv`, as `pack` lays them out, each group written as one u32 of `out`.
/// `out` must hold at least `ceil(rows / r) * ceil(kc / G) * r` groups.
///
/// # Safety
/// AVX-512F and AVX-512BW must be present.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn pack_rows_avx512(
    src: &[f32],
    block: RowBlock,
    out: &mut [u32],
    conv: RowConv,
) {
    let (rs, p0, kc, r) = (block.rs, block.p0, block.kc, block.r);
    let g = conv.group();
    let kg = kc.div_ceil(g);
    for (panel, first, valid) in block.panels(src.len(), kg * r, out) {
        for i0 in (0..r).step_by(16) {
            let store = lanes(r - i0);
            let loaded = valid.saturating_sub(i0).min(16);
            for g0 in (0..kg).step_by(16) {
                let groups = (kg - g0).min(16);
                // SAFETY (block): AVX-512F/BW per the contract. Loads: row `first + i0 + t`
                // (t < loaded, so a row of the operand) from K `p0 + g0 * G`, masked to the
                // `kc - g0 * G` values left, all inside `src` (checked by
                // `RowBlock::panels`). Stores: group `g0 + c < kg`, lanes
                // `i0..i0 + min(16, r - i0)`, inside this panel.
                unsafe {
                    let mut v = [_mm512_setzero_si512(); 16];
                    for (t, vt) in v.iter_mut().enumerate().take(loaded) {
                        let at = (first + i0 + t) * rs + p0 + g0 * g;
                        *vt = load_groups(src.as_ptr().add(at), kc - g0 * g, conv);
                    }
                    transpose16(&mut v);
                    for (j, vj) in v.iter().enumerate() {
                        let c = if g == 2 { pair_order(j) } else { j };
                        if c < groups {
                            let dst = panel.as_mut_ptr().add((g0 + c) * r + i0);
                            _mm512_mask_storeu_epi32(dst as *mut i32, store, *vj);
                        }
                    }
                }
            }
        }
    }
}

/// The next (up to) 16 groups of one row, starting at `row`, of which `left` K values
/// remain: group `c` in lane `c` (`G = 1`), or in lane `pair_order⁻¹(c)` (`G = 2`); lanes
/// past the row's end are zero.
///
/// # Safety
/// AVX-512F/BW present; `row[..min(left, 16 * G)]` readable.
#[inline(always)]
unsafe fn load_groups(row: *const f32, left: usize, conv: RowConv) -> __m512i {
    // SAFETY (whole body): masked loads read only the first `left` values (caller).
    unsafe {
        match conv {
            RowConv::Copy => _mm512_maskz_loadu_epi32(lanes(left), row as *const i32),
            RowConv::RoundToBf16 => {
                let x = _mm512_maskz_loadu_ps(lanes(left), row);
                _mm512_and_si512(bf16_high(x), _mm512_set1_epi32(0xFFFF_0000u32 as i32))
            }
            RowConv::ToBf16 => {
                // K values 0..16 and 16..32 of the row (32 = 16 pairs).
                let lo = _mm512_maskz_loadu_ps(lanes(left), row);
                let hi =
                    _mm512_maskz_loadu_ps(lanes(left.saturating_sub(16)), row.wrapping_add(16));
                // Each value's bf16 as a 32-bit lane, then narrowed to 16 bits: per 128-bit
                // lane, four from `lo` then four from `hi` (see `pair_order`). No value
                // exceeds 0xFFFF, so the unsigned saturation never applies.
                _mm512_packus_epi32(
                    _mm512_srli_epi32::<16>(bf16_high(lo)),
                    _mm512_srli_epi32::<16>(bf16_high(hi)),
                )
            }
        }
    }
}

/// `out[i]` = `src[i]` rounded to bf16 and widened back (what [`RowConv::RoundToBf16`]
/// packs, the same bits as `f32_to_bf16`), 16 values at a time, for `i < src.len()`.
/// Panics if `out` is shorter than `src`.
///
/// # Safety
/// AVX-512F must be present.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn round_to_bf16_avx512(src: &[f32], out: &mut [f32]) {
    assert!(out.len() >= src.len(), "round_to_bf16: out too short");
    for (i, chunk) in src.chunks(16).enumerate() {
        let mask = lanes(chunk.len());
        // SAFETY: masked loads and stores touch only the chunk's values (out is as long).
        unsafe {
            let v = load_groups(chunk.as_ptr(), chunk.len(), RowConv::RoundToBf16);
            _mm512_mask_storeu_epi32(out.as_mut_ptr().add(16 * i) as *mut i32, mask, v);
        }
    }
}

/// Which K pair of a 16-pair load lane `j` holds after `load_groups`' 16-bit pack, which
/// works per 128-bit lane `l = j / 4`: lanes `4l, 4l + 1` hold pairs `2l, 2l + 1` (from the
/// first 16 values), lanes `4l + 2, 4l + 3` pairs `8 + 2l, 8 + 2l + 1` (from the next 16).
#[inline(always)]
fn pair_order(j: usize) -> usize {
    let (l, m) = (j / 4, j % 4);
    if m < 2 {
        2 * l + m
    } else {
        8 + 2 * l + (m - 2)
    }
}

/// Each lane's [`super::pack::f32_to_bf16`] in its high 16 bits (low bits are garbage):
/// round to nearest even on the bit pattern, `bits + 0x7FFF + (bit 16)`; a NaN keeps its
/// top bits with the quiet bit set.
///
/// # Safety
/// AVX-512F present.
#[inline(always)]
unsafe fn bf16_high(x: __m512) -> __m512i {
    // SAFETY (whole body): register arithmetic only.
    unsafe {
        let bits = _mm512_castps_si512(x);
        let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
        let rounded = _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
        let quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x0040_0000));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
        _mm512_mask_blend_epi32(nan, rounded, quiet)
    }
}

#[cfg(test)]
mod tests {
    use half::bf16 as Bf16;

    use super::*;
    use crate::cpu::gemm::pack::f32_to_bf16;
    use crate::cpu::gemm::pack_check::{self, values, SPECIAL};

    fn avx512() -> bool {
        let ok = is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
        if !ok {
            eprintln!("skipping: this CPU lacks AVX-512F/BW");
        }
        ok
    }

    /// The shared check ([`pack_check::check`]) with this file's packer.
    fn check(conv: RowConv, src: &[f32], block: RowBlock) {
        pack_check::check(conv, src, block, |got| {
            // SAFETY: AVX-512F/BW checked by the callers.
            unsafe { pack_rows_avx512(src, block, got, conv) }
        });
    }

    const CONVS: [RowConv; 3] = [RowConv::Copy, RowConv::RoundToBf16, RowConv::ToBf16];

    /// Every K from 1 to 100 (odd ones leave a lone last value for K pairs) against panel
    /// heights around and at the kernels' 14 and 32, for row counts that fill, split and
    /// leave partial panels; rows offset and padded (row stride past the block, K offset).
    #[test]
    fn row_packer_equals_pack_bitwise() {
        if !avx512() {
            return;
        }
        let heights = [1, 3, 14, 16, 17, 32, 33, 48];
        let row_counts = [1, 2, 13, 14, 15, 16, 17, 31, 32, 33, 47, 64, 70];
        for (ci, conv) in CONVS.into_iter().enumerate() {
            for kc in 1..=100 {
                let (r0, p0) = (kc % 3, kc % 5);
                let rs = p0 + kc + kc % 4;
                let src = values((r0 + 70) * rs, (kc * 3 + ci) as u32);
                for r in heights {
                    for rows in row_counts {
                        check(conv, &src, RowBlock::new(rs, r0, rows, p0, kc, r));
                    }
                }
            }
        }
    }

    /// BERT-base widths: K = 3072 (and 3071, odd), 70 rows in 14- and 32-row panels.
    #[test]
    fn row_packer_equals_pack_bitwise_wide() {
        if !avx512() {
            return;
        }
        for kc in [768, 3071, 3072] {
            let (r0, p0, rs) = (5, 7, 3072 + 9);
            let src = values((r0 + 70) * rs, kc as u32);
            for conv in CONVS {
                for r in [14, 32] {
                    check(conv, &src, RowBlock::new(rs, r0, 70, p0, kc, r));
                }
            }
        }
    }

    /// The slice rounding: every length's tail, NaN and infinities, as `f32_to_bf16`.
    #[test]
    fn slice_rounding_equals_f32_to_bf16() {
        if !avx512() {
            return;
        }
        let mut xs = values(53, 9);
        xs.extend([f32::NAN, f32::INFINITY, -0.0, f32::MIN_POSITIVE / 3.0]);
        for len in [0, 1, 15, 16, 17, xs.len()] {
            let mut out = vec![7.0f32; len + 1];
            // SAFETY: AVX-512F checked above.
            unsafe { round_to_bf16_avx512(&xs[..len], &mut out) };
            for (i, (&x, &o)) in xs.iter().zip(&out[..len]).enumerate() {
                let want = f32_to_bf16(x).to_f32();
                assert_eq!(o.to_bits(), want.to_bits(), "value {i} ({x}) of {len}");
            }
            assert_eq!(out[len], 7.0, "past the end ({len})");
        }
    }

    /// The rounding itself, lane by lane, on the special values and a sweep of bit
    /// patterns (every exponent, mantissas around the rounding bit): `bf16_high` agrees
    /// with `f32_to_bf16` and with `half`.
    #[test]
    fn vector_rounding_equals_f32_to_bf16() {
        if !avx512() {
            return;
        }
        let mut xs: Vec<u32> = SPECIAL.to_vec();
        for e in 0..=0x1FFu32 {
            for m in [
                0u32, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x1_0000, 0x1_8000, 0x7F_FFFF,
            ] {
                xs.push((e << 23) | m);
            }
        }
        for chunk in xs.chunks(16) {
            let mut lanes16 = [0u32; 16];
            lanes16[..chunk.len()].copy_from_slice(chunk);
            let mut hi = [0u32; 16];
            // SAFETY: AVX-512F checked above; 16-lane unaligned load and store.
            unsafe {
                let x = _mm512_loadu_ps(lanes16.as_ptr() as *const f32);
                _mm512_storeu_si512(hi.as_mut_ptr() as *mut __m512i, bf16_high(x));
            }
            for (&bits, &h) in chunk.iter().zip(&hi) {
                let x = f32::from_bits(bits);
                let want = f32_to_bf16(x).to_bits();
                assert_eq!((h >> 16) as u16, want, "bits {bits:#010x}");
                if !x.is_nan() {
                    assert_eq!(want, Bf16::from_f32(x).to_bits(), "half {bits:#010x}");
                }
            }
        }
    }
}
