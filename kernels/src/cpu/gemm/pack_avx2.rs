//! AVX2 packing of row-major f32 operands for the AVX2 f32 kernel: the same panels as
//! [`super::pack::pack`] with `G = 1` and values copied unchanged (bit for bit), 8 rows x 8 K
//! values at a time through an in-register 8 x 8 transpose.
//!
//! Why: on CPUs without AVX-512 (a Zen 3 VM) the generic packer's scalar staging and 4 x 4
//! transposes took ≈ 12 % of a BERT-base forward at 32 x 64 tokens.
//!
//! Layout (as in `pack.rs`): a panel of `r` rows over `kc` K values is `[kc][r]`: value `p`
//! of row `i` is at `p * r + i`. Rows past the operand's edge are zero. Every element of
//! every panel is written, so nothing is filled beforehand.

use std::arch::x86_64::*;

use super::pack::RowBlock;
use super::transpose_tile::transpose8;

/// Pack `block` of the row-major f32 matrix `src` into `ceil(rows / r)` panels of `r` rows,
/// as `pack` lays them out with `G = 1` and no conversion. `out` must hold at least
/// `ceil(rows / r) * kc * r` values.
///
/// # Safety
/// AVX2 must be present.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn pack_rows_avx2(src: &[f32], block: RowBlock, out: &mut [f32]) {
    let (rs, p0, kc, r) = (block.rs, block.p0, block.kc, block.r);
    for (panel, first, valid) in block.panels(src.len(), kc * r, out) {
        for i0 in (0..r).step_by(8) {
            let store = (r - i0).min(8);
            let loaded = valid.saturating_sub(i0).min(8);
            for g0 in (0..kc).step_by(8) {
                let left = kc - g0;
                // SAFETY (block): AVX2 per the contract. Loads: row `first + i0 + t`
                // (t < loaded, so a row of the operand) from K `p0 + g0`, at most the
                // `left` values that remain, all inside `src` (checked by
                // `RowBlock::panels`). Stores: K `g0 + j < kc`, lanes `i0..i0 + store`
                // with `store <= r - i0`, inside this panel.
                unsafe {
                    let mut v = [_mm256_setzero_ps(); 8];
                    for (t, vt) in v.iter_mut().enumerate().take(loaded) {
                        let at = (first + i0 + t) * rs + p0 + g0;
                        *vt = load_upto8(src.as_ptr().add(at), left);
                    }
                    transpose8(&mut v);
                    for (j, vj) in v.iter().enumerate().take(left.min(8)) {
                        store_lanes(panel.as_mut_ptr().add((g0 + j) * r + i0), *vj, store);
                    }
                }
            }
        }
    }
}

/// Up to 8 values from `p` (lanes past `left` are zero).
///
/// # Safety
/// AVX2 present; `p[..min(left, 8)]` readable.
#[inline(always)]
unsafe fn load_upto8(p: *const f32, left: usize) -> __m256 {
    // SAFETY: full loads read 8 values when 8 remain; masked loads touch only the lanes
    // whose mask bit is set (the first `left`).
    unsafe {
        if left >= 8 {
            _mm256_loadu_ps(p)
        } else {
            let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left as i32), idx);
            _mm256_maskload_ps(p, mask)
        }
    }
}

/// Store the first `n` (1..=8) lanes of `v` at `p` with plain stores (masked stores are
/// slow on AMD cores).
///
/// # Safety
/// AVX2 present; `p[..n]` writable.
#[inline(always)]
unsafe fn store_lanes(p: *mut f32, v: __m256, n: usize) {
    // SAFETY: each store writes only lanes below `n`.
    unsafe {
        if n == 8 {
            return _mm256_storeu_ps(p, v);
        }
        let (mut x, mut at) = (_mm256_castps256_ps128(v), 0);
        if n >= 4 {
            _mm_storeu_ps(p, x);
            x = _mm256_extractf128_ps::<1>(v);
            at = 4;
        }
        if n - at >= 2 {
            _mm_storel_epi64(p.add(at) as *mut __m128i, _mm_castps_si128(x));
            x = _mm_movehl_ps(x, x);
            at += 2;
        }
        if n - at == 1 {
            _mm_store_ss(p.add(at), x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::RowConv;
    use super::super::pack_check::{self, values};
    use super::*;

    fn avx2() -> bool {
        is_x86_feature_detected!("avx2")
    }

    /// The shared check ([`pack_check::check`]) with this file's packer (plain f32 copies).
    fn check(src: &[f32], block: RowBlock) {
        pack_check::check(RowConv::Copy, src, block, |got| {
            // SAFETY: AVX2 checked by the callers.
            unsafe { pack_rows_avx2(src, block, bytemuck::cast_slice_mut(got)) }
        });
    }

    /// Every K from 1 to 40 (every tail of an 8-value block) against panel heights around
    /// and at the kernel's 6 and 16, for row counts that fill, split and leave partial
    /// panels; rows offset and padded (row stride past the block, K offset).
    #[test]
    fn row_packer_equals_pack_bitwise() {
        if !avx2() {
            eprintln!("skipping: this CPU has no AVX2");
            return;
        }
        let heights = [1, 3, 6, 7, 8, 9, 16, 17, 24];
        let row_counts = [1, 2, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 40];
        for kc in 1..=40 {
            let (r0, p0) = (kc % 3, kc % 5);
            let rs = p0 + kc + kc % 4;
            let src = values((r0 + 40) * rs, kc as u32);
            for r in heights {
                for rows in row_counts {
                    check(&src, RowBlock::new(rs, r0, rows, p0, kc, r));
                }
            }
        }
    }

    /// BERT-base widths: K = 768, 3071 and 3072, 70 rows in 6- and 16-row panels.
    #[test]
    fn row_packer_equals_pack_bitwise_wide() {
        if !avx2() {
            eprintln!("skipping: this CPU has no AVX2");
            return;
        }
        for kc in [768, 3071, 3072] {
            let (r0, p0, rs) = (5, 7, 3072 + 9);
            let src = values((r0 + 70) * rs, kc as u32);
            for r in [6, 16] {
                check(&src, RowBlock::new(rs, r0, 70, p0, kc, r));
            }
        }
    }
}
