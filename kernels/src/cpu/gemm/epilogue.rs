//! Where a dense layer's output starts before the product is added onto it:
//! `residual + bias`, or `bias`. The GEMM drivers set each C tile to it right before the
//! tile's first kernel call, while the tile is in cache, rather than in a pass over all of
//! C; the kernel then accumulates with beta = 1, so the result is bit for bit that of a
//! caller who filled C first.

/// `residual[m, N] + bias[N]`, or `bias[N]` broadcast over the rows.
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    /// `[N]`
    pub bias: &'a [f32],
    /// `[m, N]` with its row stride.
    pub residual: Option<(&'a [f32], usize)>,
}

impl Epilogue<'_> {
    /// `C = residual + bias` (or `bias`) over the `m x n` view: the layer when the product
    /// has nothing to multiply (K = 0).
    pub(crate) fn fill(&self, c: &mut [f32], m: usize, n: usize, ldc: usize) {
        for t in 0..m {
            let row = &mut c[t * ldc..t * ldc + n];
            match self.residual {
                Some((r, ldr)) => {
                    let r_row = &r[t * ldr..t * ldr + n];
                    for ((o, r), b) in row.iter_mut().zip(r_row).zip(self.bias) {
                        *o = r + b;
                    }
                }
                None => row.copy_from_slice(&self.bias[..n]),
            }
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
        let bias = &self.bias[col..col + nr];
        for i in 0..mr {
            // SAFETY: row i of the tile is valid for `nr` writes (caller).
            let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), nr) };
            match self.residual {
                Some((r, ldr)) => {
                    let at = (row + i) * ldr + col;
                    for ((o, r), b) in out.iter_mut().zip(&r[at..at + nr]).zip(bias) {
                        *o = r + b;
                    }
                }
                None => out.copy_from_slice(bias),
            }
        }
    }
}
