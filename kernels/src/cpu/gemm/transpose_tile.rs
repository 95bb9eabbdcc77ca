//! Transposed copies between a micro-kernel's C tile and the prepacked GEMM's C.
//!
//! Layout: the prepacked GEMM computes `Cᵀ = W · Xᵀ`, so a kernel tile on the stack holds
//! `mr` features (tile rows, `i`) x `nr` tokens (tile columns, `j`) with row stride `ts`:
//! element `(i, j)` is `tile[i * ts + j]`. C is stored `[tokens, features]` with row stride
//! `ldc`, so the same element is `c[j * ldc + i]`: every tile row becomes a C column.
//!
//! [`read_t`] copies C (or a residual stored like C) into a tile, optionally adding a
//! per-feature bias (`r + b`, the dense layer's starting value, in `model::linear`'s
//! order); [`fill_t`] starts a tile at the bias alone; [`write_t`] copies a finished tile
//! into C. Copies are exact, so the AVX-512 versions (16 x 16 in-register transposes, lane
//! masks for partial tiles) give the same bits as the scalar loops, which serve other CPUs
//! and tiles taller than 16 features.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// `tile[i * ts + j] = c[j * ldc + i]`, or `c[j * ldc + i] + bias[i]` with a bias, for
/// `i < mr`, `j < nr` (other tile elements keep their values).
///
/// # Safety
/// `c + j * ldc + i` must be valid for reads for `i < mr`, `j < nr`.
pub(crate) unsafe fn read_t(
    c: *const f32,
    ldc: usize,
    tile: &mut [f32],
    ts: usize,
    mr: usize,
    nr: usize,
    bias: Option<&[f32]>,
) {
    if mr == 0 || nr == 0 {
        return;
    }
    assert!(
        (mr - 1) * ts + nr <= tile.len() && nr <= ts,
        "tile too small (internal)"
    );
    assert!(
        bias.is_none_or(|b| b.len() >= mr),
        "tile bias too short (internal)"
    );
    #[cfg(target_arch = "x86_64")]
    if mr <= 16 && avx512() {
        // SAFETY: AVX-512F detected; bounds as asserted and per the caller's contract.
        return unsafe { read_t_avx512(c, ldc, tile, ts, mr, nr, bias) };
    }
    // SAFETY: as above.
    unsafe { read_t_scalar(c, ldc, tile, ts, mr, nr, bias) }
}

/// `tile[i * ts + j] = bias[i]` for `i < mr`, `j < nr` (other tile elements keep their
/// values).
pub(crate) fn fill_t(tile: &mut [f32], ts: usize, mr: usize, nr: usize, bias: &[f32]) {
    for (i, &b) in bias[..mr].iter().enumerate() {
        tile[i * ts..i * ts + nr].fill(b);
    }
}

/// `c[j * ldc + i] = tile[i * ts + j]` for `i < mr`, `j < nr`; nothing else in C is
/// touched.
///
/// # Safety
/// `c + j * ldc + i` must be valid for writes for `i < mr`, `j < nr`, and no other thread
/// may access those elements meanwhile.
pub(crate) unsafe fn write_t(
    tile: &[f32],
    ts: usize,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
) {
    if mr == 0 || nr == 0 {
        return;
    }
    assert!(
        (mr - 1) * ts + nr <= tile.len() && nr <= ts,
        "tile too small (internal)"
    );
    #[cfg(target_arch = "x86_64")]
    if mr <= 16 && avx512() {
        // SAFETY: AVX-512F detected; bounds as asserted and per the caller's contract.
        return unsafe { write_t_avx512(tile, ts, c, ldc, mr, nr) };
    }
    // SAFETY: as above.
    unsafe { write_t_scalar(tile, ts, c, ldc, mr, nr) }
}

/// Whether the AVX-512 copies may run (AVX-512F, detected once).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| is_x86_feature_detected!("avx512f"))
}

/// Scalar [`read_t`].
///
/// # Safety
/// As [`read_t`]; the tile and bias bounds are the caller's (checked by indexing).
pub(crate) unsafe fn read_t_scalar(
    c: *const f32,
    ldc: usize,
    tile: &mut [f32],
    ts: usize,
    mr: usize,
    nr: usize,
    bias: Option<&[f32]>,
) {
    for j in 0..nr {
        for i in 0..mr {
            // SAFETY: inside the C tile (caller).
            let v = unsafe { *c.add(j * ldc + i) };
            tile[i * ts + j] = match bias {
                Some(b) => v + b[i],
                None => v,
            };
        }
    }
}

/// Scalar [`write_t`].
///
/// # Safety
/// As [`write_t`]; tile bounds are checked by indexing.
pub(crate) unsafe fn write_t_scalar(
    tile: &[f32],
    ts: usize,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
) {
    for j in 0..nr {
        for i in 0..mr {
            // SAFETY: inside the C tile (caller).
            unsafe { *c.add(j * ldc + i) = tile[i * ts + j] };
        }
    }
}

/// Lane mask of the first `n` lanes (all 16 for `n >= 16`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn lanes(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

/// Transpose the 16 x 16 matrix of 32-bit values held one row per register: afterwards
/// `r[c]` holds column `c`. Three stages of shuffles: pairs of rows within 128-bit lanes,
/// 4 x 4 blocks within lanes, then the 128-bit lanes across registers. Pure data movement,
/// so it serves any 32-bit lanes ([`transpose16_u32`]).
///
/// # Safety
/// AVX-512F present (inlined into the AVX-512 copies).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn transpose16(r: &mut [__m512; 16]) {
    // SAFETY (whole body): register shuffles only; AVX-512F per the contract.
    unsafe {
        // Lane L of each row holds columns 4L..4L+3; the first two stages transpose the 4 x 4
        // blocks of each group of four rows, lane by lane.
        let mut t = *r;
        for k in 0..8 {
            t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
        }
        for k in 0..4 {
            let b = 4 * k;
            r[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
            r[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
            r[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
            r[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
        }
        // Now lane L of r[4g + q] holds column 4L + q of rows 4g..4g+3: gather lane L of the
        // four groups into column 4L + q.
        for q in 0..4 {
            let u0 = _mm512_shuffle_f32x4::<0x44>(r[q], r[4 + q]);
            let u1 = _mm512_shuffle_f32x4::<0xEE>(r[q], r[4 + q]);
            let u2 = _mm512_shuffle_f32x4::<0x44>(r[8 + q], r[12 + q]);
            let u3 = _mm512_shuffle_f32x4::<0xEE>(r[8 + q], r[12 + q]);
            r[q] = _mm512_shuffle_f32x4::<0x88>(u0, u2);
            r[4 + q] = _mm512_shuffle_f32x4::<0xDD>(u0, u2);
            r[8 + q] = _mm512_shuffle_f32x4::<0x88>(u1, u3);
            r[12 + q] = _mm512_shuffle_f32x4::<0xDD>(u1, u3);
        }
    }
}

/// Transpose the 8 x 8 matrix of f32 held one row per AVX register: afterwards `r[c]`
/// holds column `c`. The stages of [`transpose16`] at half the width: pairs of rows within
/// 128-bit lanes, 4 x 4 blocks within lanes, then the two lanes across registers. Pure data
/// movement, so every value keeps its bits.
///
/// # Safety
/// AVX present (inlined into the AVX2 packer).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn transpose8(r: &mut [__m256; 8]) {
    // SAFETY (whole body): register shuffles only; AVX per the contract.
    unsafe {
        let mut t = *r;
        for k in 0..4 {
            t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
        }
        for k in 0..2 {
            let b = 4 * k;
            r[b] = _mm256_shuffle_ps::<0x44>(t[b], t[b + 2]);
            r[b + 1] = _mm256_shuffle_ps::<0xEE>(t[b], t[b + 2]);
            r[b + 2] = _mm256_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
            r[b + 3] = _mm256_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
        }
        // Lane L of r[q] (rows 0..4) and r[4 + q] (rows 4..8) hold column 4L + q.
        for q in 0..4 {
            let (lo, hi) = (r[q], r[4 + q]);
            r[q] = _mm256_permute2f128_ps::<0x20>(lo, hi);
            r[4 + q] = _mm256_permute2f128_ps::<0x31>(lo, hi);
        }
    }
}

/// [`transpose16`] for registers of u32 (the bit patterns move unchanged).
///
/// # Safety
/// AVX-512F present.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn transpose16_u32(v: &mut [__m512i; 16]) {
    // SAFETY: AVX-512F per the contract; the casts only reinterpret bits.
    unsafe {
        let mut r = [_mm512_setzero_ps(); 16];
        for (f, &i) in r.iter_mut().zip(v.iter()) {
            *f = _mm512_castsi512_ps(i);
        }
        transpose16(&mut r);
        for (i, &f) in v.iter_mut().zip(r.iter()) {
            *i = _mm512_castps_si512(f);
        }
    }
}

/// [`read_t`] through 16 x 16 register transposes: 16 tokens at a time, one masked load
/// per token (its `mr` features, plus the bias), one masked store per feature (the block's
/// tokens). Every loop runs 16 times with masks, so the block stays in registers.
///
/// # Safety
/// AVX-512F present; `mr <= 16`; bounds as [`read_t`] asserts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_t_avx512(
    c: *const f32,
    ldc: usize,
    tile: &mut [f32],
    ts: usize,
    mr: usize,
    nr: usize,
    bias: Option<&[f32]>,
) {
    let feats = lanes(mr);
    // SAFETY: the bias holds mr values (asserted).
    let bias = bias.map(|b| unsafe { _mm512_maskz_loadu_ps(feats, b.as_ptr()) });
    for j0 in (0..nr).step_by(16) {
        let toks = nr - j0;
        let mut v = [_mm512_setzero_ps(); 16];
        for (j, vj) in v.iter_mut().enumerate() {
            let m = if j < toks { feats } else { 0 };
            // SAFETY: lanes i < mr of token j0 + j < nr are in C; masked-off lanes are
            // never read (the address is only formed).
            *vj = unsafe { _mm512_maskz_loadu_ps(m, c.wrapping_add((j0 + j) * ldc)) };
            if let Some(b) = bias {
                *vj = _mm512_add_ps(*vj, b);
            }
        }
        // SAFETY: AVX-512F present (this function's contract).
        unsafe { transpose16(&mut v) };
        let tmask = lanes(toks);
        for (i, vi) in v.iter().enumerate() {
            let m = if i < mr { tmask } else { 0 };
            // SAFETY: lanes j0 + j < nr of tile row i < mr are in `tile` (asserted).
            unsafe { _mm512_mask_storeu_ps(tile.as_mut_ptr().wrapping_add(i * ts + j0), m, *vi) };
        }
    }
}

/// [`write_t`] through 16 x 16 register transposes: one masked load per feature row of
/// the tile (16 tokens), one masked store per token (its `mr` features).
///
/// # Safety
/// AVX-512F present; `mr <= 16`; bounds as [`write_t`] asserts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn write_t_avx512(tile: &[f32], ts: usize, c: *mut f32, ldc: usize, mr: usize, nr: usize) {
    let feats = lanes(mr);
    for j0 in (0..nr).step_by(16) {
        let toks = nr - j0;
        let tmask = lanes(toks);
        let mut v = [_mm512_setzero_ps(); 16];
        for (i, vi) in v.iter_mut().enumerate() {
            let m = if i < mr { tmask } else { 0 };
            // SAFETY: lanes j0 + j < nr of tile row i < mr are in `tile` (asserted).
            *vi = unsafe { _mm512_maskz_loadu_ps(m, tile.as_ptr().wrapping_add(i * ts + j0)) };
        }
        // SAFETY: AVX-512F present (this function's contract).
        unsafe { transpose16(&mut v) };
        for (j, vj) in v.iter().enumerate() {
            let m = if j < toks { feats } else { 0 };
            // SAFETY: lanes i < mr of token j0 + j < nr are in C (caller).
            unsafe { _mm512_mask_storeu_ps(c.wrapping_add((j0 + j) * ldc), m, *vj) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct, sign-varied values (so a misplaced element is always caught), with a
    /// negative zero and a NaN among them.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| match (i as u32 + seed) % 97 {
                5 => -0.0,
                41 => f32::NAN,
                _ => {
                    ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 100_000) as f32
                        * if i % 3 == 0 { -1e-3 } else { 1.7e-3 }
                }
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every partial tile of the 14 x 32 kernels (and up to 16 features), padded strides:
    /// the dispatched copies (AVX-512 on this CPU when present) equal the scalar loops bit
    /// for bit, reads with and without the bias, and touch nothing outside the tile.
    #[test]
    fn transposed_copies_equal_scalar_bitwise() {
        let ts = 32 + 3;
        for mr in 1..=16 {
            for nr in 1..=32 {
                let ldc = mr + (nr % 4);
                let tile = values(16 * ts, (mr * 100 + nr) as u32);
                let bias = values(mr, 7);
                let c0 = values(nr * ldc + 5, 99);
                let (mut got, mut want) = (c0.clone(), c0.clone());
                // SAFETY: C holds nr rows of ldc >= mr values.
                unsafe {
                    write_t(&tile, ts, got.as_mut_ptr(), ldc, mr, nr);
                    write_t_scalar(&tile, ts, want.as_mut_ptr(), ldc, mr, nr);
                }
                assert_eq!(bits(&got), bits(&want), "write mr {mr} nr {nr}");
                assert_ne!(bits(&got), bits(&c0), "write mr {mr} nr {nr} wrote nothing");
                for b in [None, Some(&bias[..])] {
                    let (mut got, mut want) = (tile.clone(), tile.clone());
                    // SAFETY: as above.
                    unsafe {
                        read_t(c0.as_ptr(), ldc, &mut got, ts, mr, nr, b);
                        read_t_scalar(c0.as_ptr(), ldc, &mut want, ts, mr, nr, b);
                    }
                    let what = format!("read mr {mr} nr {nr} bias {}", b.is_some());
                    assert_eq!(bits(&got), bits(&want), "{what}");
                    assert_ne!(bits(&got), bits(&tile), "{what} read nothing");
                }
            }
        }
    }

    /// The scalar copies themselves: element (i, j) of the tile is C's (j, i), plus the
    /// bias of feature i when reading with one; `fill_t` writes the bias rows.
    #[test]
    fn scalar_copies_transpose() {
        let (mr, nr, ts, ldc) = (3, 5, 8, 4);
        let tile: Vec<f32> = (0..mr * ts).map(|v| v as f32).collect();
        let mut c = vec![-1.0f32; nr * ldc];
        // SAFETY: C holds nr rows of ldc >= mr values.
        unsafe { write_t_scalar(&tile, ts, c.as_mut_ptr(), ldc, mr, nr) };
        for j in 0..nr {
            for i in 0..ldc {
                let want = if i < mr { (i * ts + j) as f32 } else { -1.0 };
                assert_eq!(c[j * ldc + i], want);
            }
        }
        let bias = [0.5f32, 100.0, -2.0];
        for b in [None, Some(&bias[..])] {
            let mut back = vec![0.0f32; mr * ts];
            // SAFETY: as above.
            unsafe { read_t_scalar(c.as_ptr(), ldc, &mut back, ts, mr, nr, b) };
            for i in 0..mr {
                for j in 0..ts {
                    let add = b.map_or(0.0, |b| b[i]);
                    let want = if j < nr {
                        (i * ts + j) as f32 + add
                    } else {
                        0.0
                    };
                    assert_eq!(back[i * ts + j], want);
                }
            }
        }
        let mut filled = vec![7.0f32; mr * ts];
        fill_t(&mut filled, ts, mr, nr, &bias);
        for i in 0..mr {
            for j in 0..ts {
                assert_eq!(filled[i * ts + j], if j < nr { bias[i] } else { 7.0 });
            }
        }
    }
}
