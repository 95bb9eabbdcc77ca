//! Packing: copy a block of an operand into contiguous micro-panels the micro-kernel streams.
//!
//! A panel holds `R` rows (MR rows of op(A), or NR columns of op(B)) over `kc` steps of K,
//! laid out `[ceil(kc / G)][R][G]`: for each group of `G` consecutive K indices, the `R`
//! rows, each with its `G` K values adjacent. `G = 1` is the plain f32 layout; `G = 2` pairs
//! adjacent K values for `vdpbf16ps`, which multiplies two bf16 pairs per f32 lane.
//! Rows past the matrix edge and K values past `kc` are zero, so the kernel never needs
//! edge cases on its inputs. Transposes are handled here, by the source strides.
//!
//! [`pack`] is the generic packer and the reference: on AVX-512 CPUs, row-major f32 sources
//! with a named conversion (`conv.rs`) take `pack_avx512.rs` instead, and on AVX2-only CPUs
//! plain f32 copies take `pack_avx2.rs` (same bytes, both tested against [`pack`]); the
//! dispatch is `driver::pack_any`.

use std::cell::RefCell;
use std::thread::LocalKey;

use super::Trans;

/// Read-only strided matrix view: element `(r, p)` is `data[r * rs + p * ks]`, where `r`
/// runs over the rows of a panel (M for A, N for B) and `p` over K.
#[derive(Clone, Copy)]
pub(crate) struct View<'a, S> {
    pub data: &'a [S],
    pub rs: usize,
    pub ks: usize,
}

impl<'a, S> View<'a, S> {
    /// op(A) as `m x k`: stored `[m, k]` (`N`) or `[k, m]` (`T`) with row stride `ld`.
    pub fn a(trans: Trans, data: &'a [S], ld: usize) -> Self {
        match trans {
            Trans::N => View {
                data,
                rs: ld,
                ks: 1,
            },
            Trans::T => View {
                data,
                rs: 1,
                ks: ld,
            },
        }
    }

    /// op(B) seen as `n x k` (panel rows are columns of C): stored `[k, n]` (`N`) or `[n, k]` (`T`).
    pub fn b(trans: Trans, data: &'a [S], ld: usize) -> Self {
        match trans {
            Trans::N => View {
                data,
                rs: 1,
                ks: ld,
            },
            Trans::T => View {
                data,
                rs: ld,
                ks: 1,
            },
        }
    }

    /// The same view shifted by `offset` elements (a batch item).
    pub fn at(self, offset: usize) -> Self {
        View {
            data: &self.data[offset..],
            ..self
        }
    }
}

/// Number of elements one panel of `r` rows over `kc` K steps takes with grouping `g`.
pub(crate) fn panel_len(r: usize, kc: usize, g: usize) -> usize {
    kc.div_ceil(g) * r * g
}

/// A block of a row-major source for the SIMD row packers (`pack_avx512.rs`,
/// `pack_avx2.rs`): rows `[r0, r0 + rows)` x K `[p0, p0 + kc)`, row `i` starting at
/// `i * rs`, packed into panels of `r` rows.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowBlock {
    pub rs: usize,
    pub r0: usize,
    pub rows: usize,
    pub p0: usize,
    pub kc: usize,
    pub r: usize,
}

#[cfg(target_arch = "x86_64")]
impl RowBlock {
    /// The block from its fields in declaration order.
    pub(crate) fn new(rs: usize, r0: usize, rows: usize, p0: usize, kc: usize, r: usize) -> Self {
        RowBlock {
            rs,
            r0,
            rows,
            p0,
            kc,
            r,
        }
    }

    /// The block's panels in `out`, `plen` elements each, with the first source row and
    /// the number of real rows of each; none when the block is empty. Panics on a block
    /// that does not fit a source of `src_len` values or `out` (internal errors).
    pub(crate) fn panels<'o, T>(
        &self,
        src_len: usize,
        plen: usize,
        out: &'o mut [T],
    ) -> impl Iterator<Item = (&'o mut [T], usize, usize)> + 'o {
        let n = if self.check(src_len, plen, out.len()) {
            self.rows.div_ceil(self.r)
        } else {
            0
        };
        let (r0, rows, r) = (self.r0, self.rows, self.r);
        // (`plen` is 0 only for an empty block, which takes no panel.)
        out.chunks_exact_mut(plen.max(1))
            .take(n)
            .enumerate()
            .map(move |(q, panel)| (panel, r0 + q * r, r.min(rows - q * r)))
    }

    /// The argument checks, for a source of `src_len` values and panels of `plen` elements
    /// with `out_len` available: panics on a block that does not fit; `false` when it is
    /// empty.
    fn check(&self, src_len: usize, plen: usize, out_len: usize) -> bool {
        let (rs, r0, rows) = (self.rs, self.r0, self.rows);
        let (p0, kc, r) = (self.p0, self.kc, self.r);
        assert!(r > 0, "pack: panel height 0 (internal)");
        assert!(
            out_len >= rows.div_ceil(r) * plen,
            "pack: output too short (internal)"
        );
        if rows == 0 || kc == 0 {
            return false;
        }
        // The last value read; rows are at increasing offsets, so every row lies in the
        // source.
        assert!(
            (r0 + rows - 1) * rs + p0 + kc <= src_len,
            "pack: source rows out of bounds (internal)"
        );
        true
    }
}

/// Pack rows `[r0, r0 + rows)` x K `[p0, p0 + kc)` of `src` into `ceil(rows / r)` panels of
/// `r` rows each (layout in the module docs), converting each value with `conv`.
/// `out` must hold at least `ceil(rows / r) * panel_len(r, kc, G)` elements.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn pack<S: Copy, E: bytemuck::Pod + Default, const G: usize>(
    src: View<'_, S>,
    r0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    r: usize,
    out: &mut [E],
    conv: impl Fn(S) -> E,
) {
    // A group of G packed values is 4 bytes (f32 x 1 or bf16 x 2): moved as one u32.
    assert_eq!(
        G * std::mem::size_of::<E>(),
        4,
        "pack: a K group must be 4 bytes"
    );
    let plen = panel_len(r, kc, G);
    let kg = kc.div_ceil(G);
    // Row staging for the row-contiguous path; zero past kc (odd kc pads with zero).
    // Two converted K runs for the k-major path with K pairs.
    let mut tmp2 = if src.ks != 1 && G == 2 {
        vec![E::default(); 2 * r]
    } else {
        Vec::new()
    };
    // Four staged rows (row t at `t * kg`) for the 4 x 4 transposes.
    let mut tmp = if src.ks == 1 {
        vec![0u32; 4 * kg]
    } else {
        Vec::new()
    };
    for (q, panel) in out
        .chunks_exact_mut(plen)
        .take(rows.div_ceil(r))
        .enumerate()
    {
        let valid = r.min(rows - q * r);
        let first = r0 + q * r;
        if valid < r || kg * G != kc {
            panel.fill(E::default());
        }
        if src.ks == 1 {
            // Each row is contiguous along K: convert rows into `tmp` (contiguous, vectorizes),
            // then move their 4-byte groups to stride `r` in the panel, four rows at a time
            // through 4 x 4 transposes where possible.
            let panel32: &mut [u32] = bytemuck::cast_slice_mut(panel);
            let mut i = 0;
            while i < valid {
                let block = if valid - i >= 4 { 4 } else { 1 };
                for t in 0..block {
                    let start = (first + i + t) * src.rs + p0;
                    let row = &src.data[start..start + kc];
                    let staged: &mut [E] =
                        &mut bytemuck::cast_slice_mut(&mut tmp[t * kg..(t + 1) * kg])[..kg * G];
                    for (d, &x) in staged.iter_mut().zip(row) {
                        *d = conv(x);
                    }
                }
                if block == 4 {
                    scatter_rows4(&tmp, kg, panel32, r, i);
                } else {
                    for (d, &v) in panel32[i..].iter_mut().step_by(r).zip(&tmp[..kg]) {
                        *d = v;
                    }
                }
                i += block;
            }
        } else {
            // Rows are contiguous for a fixed K index (rs == 1): each group of G source rows
            // becomes one contiguous run of `valid * G` interleaved values.
            debug_assert_eq!(src.rs, 1);
            for g in 0..kg {
                let dst = &mut panel[g * r * G..g * r * G + valid * G];
                let run = |t: usize| {
                    let start = (p0 + g * G + t) * src.ks + first;
                    &src.data[start..start + valid]
                };
                if G == 1 {
                    for (d, &x) in dst.iter_mut().zip(run(0)) {
                        *d = conv(x);
                    }
                } else if g * G + 1 < kc {
                    // Convert both runs (contiguous, vectorizes), then interleave them as
                    // pairs of 16-bit values (G = 2 means E is 2 bytes).
                    let (even, odd) = tmp2.split_at_mut(r);
                    for (d, &x) in even.iter_mut().zip(run(0)) {
                        *d = conv(x);
                    }
                    for (d, &x) in odd.iter_mut().zip(run(1)) {
                        *d = conv(x);
                    }
                    let even16: &[u16] = bytemuck::cast_slice(&even[..valid]);
                    let odd16: &[u16] = bytemuck::cast_slice(&odd[..valid]);
                    let pairs: &mut [[u16; 2]] = bytemuck::cast_slice_mut(dst);
                    for ((d, &e), &o) in pairs.iter_mut().zip(even16).zip(odd16) {
                        *d = [e, o];
                    }
                } else {
                    // Odd kc: the last group has one real K value; its partner stays zero.
                    for (d, &x0) in dst.chunks_exact_mut(2).zip(run(0)) {
                        d[0] = conv(x0);
                    }
                }
            }
        }
    }
}

/// Move four staged rows (`tmp[t * kg + g]`, t < 4) to `panel[g * r + i + t]`.
#[inline(always)]
fn scatter_rows4(tmp: &[u32], kg: usize, panel: &mut [u32], r: usize, i: usize) {
    let rows = [
        &tmp[..kg],
        &tmp[kg..2 * kg],
        &tmp[2 * kg..3 * kg],
        &tmp[3 * kg..4 * kg],
    ];
    let done = scatter_rows4_simd(&rows, kg, panel, r, i);
    for g in done..kg {
        let dst = &mut panel[g * r + i..g * r + i + 4];
        for (d, row) in dst.iter_mut().zip(&rows) {
            *d = row[g];
        }
    }
}

/// The SIMD part of [`scatter_rows4`]: whole blocks of four groups; returns how many groups
/// it moved.
#[cfg(target_arch = "x86_64")]
fn scatter_rows4_simd(
    rows: &[&[u32]; 4],
    kg: usize,
    panel: &mut [u32],
    r: usize,
    i: usize,
) -> usize {
    let mut g = 0;
    {
        use std::arch::x86_64::*;
        // SSE2 is part of x86-64, so no detection is needed. Each load and store goes
        // through a bounds-checked 4-element slice.
        while g + 4 <= kg {
            let load = |t: usize| {
                let src = &rows[t][g..g + 4];
                // SAFETY: `src` holds 4 u32 = 16 bytes; unaligned load.
                unsafe { _mm_loadu_si128(src.as_ptr() as *const __m128i) }
            };
            let (r0, r1, r2, r3) = (load(0), load(1), load(2), load(3));
            // SAFETY: SSE2 is always present on x86-64; these only shuffle registers.
            let cols = unsafe {
                let t0 = _mm_unpacklo_epi32(r0, r1);
                let t1 = _mm_unpacklo_epi32(r2, r3);
                let t2 = _mm_unpackhi_epi32(r0, r1);
                let t3 = _mm_unpackhi_epi32(r2, r3);
                [
                    _mm_unpacklo_epi64(t0, t1),
                    _mm_unpackhi_epi64(t0, t1),
                    _mm_unpacklo_epi64(t2, t3),
                    _mm_unpackhi_epi64(t2, t3),
                ]
            };
            for (j, col) in cols.into_iter().enumerate() {
                let at = (g + j) * r + i;
                let dst = &mut panel[at..at + 4];
                // SAFETY: `dst` holds 4 u32 = 16 bytes; unaligned store.
                unsafe { _mm_storeu_si128(dst.as_mut_ptr() as *mut __m128i, col) };
            }
            g += 4;
        }
    }
    g
}

/// No SIMD transpose off x86-64: everything goes through the scalar loop.
#[cfg(not(target_arch = "x86_64"))]
fn scatter_rows4_simd(_: &[&[u32]; 4], _: usize, _: &mut [u32], _: usize, _: usize) -> usize {
    0
}

/// f32 -> bf16, round to nearest even (NaN stays a quiet NaN). Same result as
/// `half::bf16::from_f32`, written branch-light so packing loops vectorize.
#[inline(always)]
pub(crate) fn f32_to_bf16(x: f32) -> half::bf16 {
    let bits = x.to_bits();
    let rounded = if x.is_nan() {
        (bits >> 16) | 0x0040
    } else {
        (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1))) >> 16
    };
    half::bf16::from_bits(rounded as u16)
}

/// A 64-byte aligned chunk: packed buffers are built from these so SIMD loads never split
/// cache lines.
#[repr(C, align(64))]
#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
pub(crate) struct Chunk([u8; 64]);

thread_local! {
    /// Packed-A block of the thread that drives a GEMM.
    pub(crate) static BUF_A: RefCell<Vec<Chunk>> = const { RefCell::new(Vec::new()) };
    /// Packed-B block of each worker.
    pub(crate) static BUF_B: RefCell<Vec<Chunk>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on a 64-byte aligned scratch slice of `len` elements taken from the thread-local
/// cache `key` (reused across calls, so steady-state GEMMs allocate nothing). Contents are
/// unspecified on entry. Re-entrant: a nested call on the same thread gets its own buffer.
pub(crate) fn with_buf<E: bytemuck::Pod, R>(
    key: &'static LocalKey<RefCell<Vec<Chunk>>>,
    len: usize,
    f: impl FnOnce(&mut [E]) -> R,
) -> R {
    let mut v = key.with(|c| c.take());
    let chunks = (len * std::mem::size_of::<E>()).div_ceil(64);
    if v.len() < chunks {
        v.resize(chunks, Chunk([0; 64]));
    }
    let out = {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v[..chunks]);
        let elems: &mut [E] =
            bytemuck::cast_slice_mut(&mut bytes[..len * std::mem::size_of::<E>()]);
        f(elems)
    };
    key.with(|c| {
        let mut cur = c.borrow_mut();
        if cur.len() < v.len() {
            *cur = v;
        }
    });
    out
}
