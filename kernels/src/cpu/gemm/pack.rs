//! Packing: copy a block of an operand into contiguous micro-panels the micro-kernel streams.
//!
//! A panel holds `R` rows (MR rows of op(A), or NR columns of op(B)) over `kc` steps of K,
//! laid out `[ceil(kc / G)][R][G]`: for each group of `G` consecutive K indices, the `R`
//! rows, each with its `G` K values adjacent. `G = 1` is the plain f32 layout; `G = 2` pairs
//! adjacent K values for `vdpbf16ps`, which multiplies two bf16 pairs per f32 lane.
//! Rows past the matrix edge and K values past `kc` are zero, so the kernel never needs
//! edge cases on its inputs. Transposes are handled here, by the source strides.

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

/// Pack rows `[r0, r0 + rows)` x K `[p0, p0 + kc)` of `src` into `ceil(rows / r)` panels of
/// `r` rows each (layout in the module docs), converting each value with `conv`.
/// `out` must hold at least `ceil(rows / r) * panel_len(r, kc, G)` elements.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack<S: Copy, E: Copy + Default, const G: usize>(
    src: View<'_, S>,
    r0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    r: usize,
    out: &mut [E],
    conv: impl Fn(S) -> E,
) {
    let plen = panel_len(r, kc, G);
    let kpad = kc.div_ceil(G) * G;
    for (q, panel) in out
        .chunks_exact_mut(plen)
        .take(rows.div_ceil(r))
        .enumerate()
    {
        let valid = r.min(rows - q * r);
        let first = r0 + q * r;
        if valid < r || kpad != kc {
            panel.fill(E::default());
        }
        if src.ks == 1 {
            // Each row is contiguous along K: read rows, scatter into the panel.
            for i in 0..valid {
                let start = (first + i) * src.rs + p0;
                let row = &src.data[start..start + kc];
                for (p, &x) in row.iter().enumerate() {
                    panel[(p / G) * r * G + i * G + p % G] = conv(x);
                }
            }
        } else {
            // Rows are contiguous for a fixed K index (rs == 1): copy runs of `valid` values.
            debug_assert_eq!(src.rs, 1);
            for p in 0..kc {
                let start = (p0 + p) * src.ks + first;
                let run = &src.data[start..start + valid];
                let dst = &mut panel[(p / G) * r * G + p % G..];
                for (i, &x) in run.iter().enumerate() {
                    dst[i * G] = conv(x);
                }
            }
        }
    }
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
