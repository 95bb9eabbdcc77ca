//! Where a dense layer's output starts before the product is added onto it:
//! `residual + bias`, or `bias`. The GEMM drivers set each C tile to it right before the
//! tile's first kernel call, while the tile is in cache, rather than in a pass over all of
//! C; the kernel then accumulates with beta = 1, so the result is bit for bit that of a
//! caller who filled C first. A kernel that can add the start in its write-back
//! ([`TileStart`], the 8x48 tile) gets pointers to it instead and skips the fill; it
//! computes the same sum and the same FMA, so the same bits.

use super::{check_operand, Trans};

/// `residual[m, N] + bias[N]`, or `bias[N]` broadcast over the rows.
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    /// `[N]`
    pub bias: &'a [f32],
    /// `[m, N]` with its row stride.
    pub residual: Option<(&'a [f32], usize)>,
}

impl<'a> Epilogue<'a> {
    /// The start of a layer with `n` outputs over `m` rows. Panics on a bias that is not
    /// `[n]` or a residual too short for `[m, n]` at its row stride.
    pub(crate) fn checked(
        m: usize,
        n: usize,
        bias: &'a [f32],
        residual: Option<(&'a [f32], usize)>,
    ) -> Epilogue<'a> {
        assert_eq!(
            bias.len(),
            n,
            "gemm: bias has {} elements but the layer has {n} outputs",
            bias.len()
        );
        if let Some((r, ldr)) = residual {
            check_operand("residual", Trans::N, m, n, r.len(), ldr);
        }
        Epilogue { bias, residual }
    }

    /// `C = residual + bias` (or `bias`) over the `m x n` view: the layer when the product
    /// has nothing to multiply (K = 0).
    pub(crate) fn fill(&self, c: &mut [f32], m: usize, n: usize, ldc: usize) {
        for t in 0..m {
            self.fill_row(&mut c[t * ldc..t * ldc + n], t, 0);
        }
    }

    /// Set the `mr x nr` tile of C at rows `row..`, columns `col..` (`c` points at its
    /// first element, row stride `ldc`) to `residual + bias` (or `bias`). Panics if the
    /// bias or residual does not cover the tile.
    ///
    /// # Safety
    /// `c + i * ldc + j` valid for writes for `i < mr`, `j < nr`, and not overlapping the
    /// bias or residual.
    #[inline(always)]
    pub(crate) unsafe fn fill_tile(
        &self,
        c: *mut f32,
        ldc: usize,
        (row, col): (usize, usize),
        mr: usize,
        nr: usize,
    ) {
        for i in 0..mr {
            // SAFETY: row i of the tile is valid for `nr` writes (caller).
            let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), nr) };
            self.fill_row(out, row + i, col);
        }
    }

    /// Where the start of the `mr x nr` tile at rows `row..`, columns `col..` lies, for a
    /// kernel that adds it in its write-back instead of finding it in C. Panics if the bias
    /// or residual does not cover the tile.
    pub(crate) fn tile_start(&self, (row, col): (usize, usize), mr: usize, nr: usize) -> TileStart {
        assert!(
            col + nr <= self.bias.len(),
            "gemm: tile past the bias (internal)"
        );
        let residual = match self.residual {
            Some((r, ldr)) => {
                let at = row * ldr + col;
                assert!(
                    mr == 0 || at + (mr - 1) * ldr + nr <= r.len(),
                    "gemm: tile past the residual (internal)"
                );
                // In bounds: asserted above.
                (r[at..].as_ptr(), ldr)
            }
            None => (std::ptr::null(), 0),
        };
        TileStart {
            bias: self.bias[col..].as_ptr(),
            residual: residual.0,
            ldr: residual.1,
        }
    }

    /// `out` = row `row` of the start, columns `col..col + out.len()`.
    #[inline(always)]
    fn fill_row(&self, out: &mut [f32], row: usize, col: usize) {
        let n = out.len();
        let bias = &self.bias[col..col + n];
        match self.residual {
            Some((r, ldr)) => {
                let at = row * ldr + col;
                for ((o, r), b) in out.iter_mut().zip(&r[at..at + n]).zip(bias) {
                    *o = r + b;
                }
            }
            None => out.copy_from_slice(bias),
        }
    }
}

/// A tile's start, `residual + bias` (or `bias`), as pointers for a kernel's write-back
/// (see [`Epilogue::tile_start`]): element `(i, j)` of the tile starts at
/// `residual[i * ldr + j] + bias[j]`, the f32 sum [`Epilogue::fill_tile`] writes.
#[derive(Clone, Copy)]
pub(crate) struct TileStart {
    /// The bias at the tile's first column; `nr` values readable.
    pub bias: *const f32,
    /// The residual at the tile's first element, or null for none; `mr` rows of `nr`
    /// values at stride `ldr` readable.
    pub residual: *const f32,
    pub ldr: usize,
}
