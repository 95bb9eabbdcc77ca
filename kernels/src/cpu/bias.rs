//! Bias of a linear layer: add per column (forward), column sums of `dout` (backward).

use rayon::prelude::*;

use super::vectorize::multiversion;

/// Rows per parallel task (also the reduction block of the backward).
const ROWS_PER_TASK: usize = 32;

/// `x[i, :] += bias` for every row (in place, after the GEMM wrote `x`).
/// `x`: `[N, C]`, `bias`: `[C]`.
pub fn bias_forward(x: &mut [f32], bias: &[f32], n: usize, c: usize) {
    assert_eq!(x.len(), n * c, "bias_forward: x must be [N, C]");
    assert_eq!(bias.len(), c, "bias_forward: bias must be [C]");
    if n * c == 0 {
        return;
    }
    x.par_chunks_mut(ROWS_PER_TASK * c).for_each(|rows| {
        for row in rows.chunks_exact_mut(c) {
            add_assign(row, bias);
        }
    });
}

/// `dbias += Σ_i dout[i, :]`. `dout`: `[N, C]`, `dbias`: `[C]`.
///
/// Blocks of rows are summed in parallel, then the block sums are added in block order,
/// so the result does not depend on the thread count.
pub fn bias_backward(dbias: &mut [f32], dout: &[f32], n: usize, c: usize) {
    assert_eq!(dout.len(), n * c, "bias_backward: dout must be [N, C]");
    assert_eq!(dbias.len(), c, "bias_backward: dbias must be [C]");
    if n * c == 0 {
        return;
    }
    let mut partial = vec![0.0f32; n.div_ceil(ROWS_PER_TASK) * c];
    partial
        .par_chunks_mut(c)
        .zip(dout.par_chunks(ROWS_PER_TASK * c))
        .for_each(|(p, rows)| {
            for row in rows.chunks_exact(c) {
                add_assign(p, row);
            }
        });
    for p in partial.chunks_exact(c) {
        add_assign(dbias, p);
    }
}

multiversion! {
    /// `dst += src` element-wise.
    pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += s;
        }
    }
}
