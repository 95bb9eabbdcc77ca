//! Buffers holding only each sequence's [CLS] row (row `b · T` of a `[B·T, W]` batch
//! buffer): the last layer after its attention runs on these rows alone, since the head
//! reads nothing else ([`super::activations::Acts::cls_last`]). Gather and scatter, and
//! dropout that draws the full buffer's mask for the rows kept, so those rows get exactly
//! the values a dropout over the whole buffer gives them (the kernel's mask is
//! counter-based: element `i` of the stream keeps on `keep(seed, i)`).

use tokken_kernels::cpu::dropout::{dropout_forward, keep};

/// Rows `0, t, 2t, ..` (each sequence's [CLS] row) of `full` `[B·T, c]` into `cls` `[B, c]`.
pub fn gather_cls(cls: &mut [f32], full: &[f32], t: usize, c: usize) {
    for (row, seq) in cls.chunks_exact_mut(c).zip(full.chunks_exact(t * c)) {
        row.copy_from_slice(&seq[..c]);
    }
}

/// `full` `[B·T, c]` = `cls` `[B, c]` on each sequence's [CLS] row, zero elsewhere.
pub fn scatter_cls(full: &mut [f32], cls: &[f32], t: usize, c: usize) {
    full.fill(0.0);
    for (seq, row) in full.chunks_exact_mut(t * c).zip(cls.chunks_exact(c)) {
        seq[..c].copy_from_slice(row);
    }
}

/// `out = dropout(inp)` for `[rows, width]` buffers whose row `r` is row `r · step` of the
/// full buffer the stream `seed` is defined on (`step == 1`: the plain kernel). The
/// backward is the same call on the gradients (same mask and scale).
pub fn dropout_rows(out: &mut [f32], inp: &[f32], width: usize, step: usize, p: f32, seed: u64) {
    if step == 1 {
        return dropout_forward(out, inp, p, seed);
    }
    assert_eq!(
        out.len(),
        inp.len(),
        "dropout_rows: out and inp lengths differ"
    );
    // the kernel's scale, computed the same way (f32), so kept values are bit-identical
    let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    for (r, (o, x)) in out
        .chunks_exact_mut(width)
        .zip(inp.chunks_exact(width))
        .enumerate()
    {
        let first = r * step * width;
        for (j, (ov, &xv)) in o.iter_mut().zip(x).enumerate() {
            // the kernel's counter is the element index mod 2^32
            let kept = keep(seed, (first + j) as u32, p);
            *ov = xv * if kept { scale } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `step`-th row of a full-buffer dropout, bit for bit, for p in (0, 1) and 0.
    #[test]
    fn rows_match_the_full_buffer_dropout() {
        let (n, w, step) = (40, 37, 8);
        let full_in: Vec<f32> = (0..n * w).map(|i| ((i + 1) as f32 * 0.37).sin()).collect();
        for p in [0.0, 0.1, 0.5] {
            let mut full_out = vec![0.0; n * w];
            dropout_forward(&mut full_out, &full_in, p, 77);
            let rows: Vec<f32> = full_in
                .chunks_exact(w)
                .step_by(step)
                .flatten()
                .copied()
                .collect();
            let mut got = vec![0.0; rows.len()];
            dropout_rows(&mut got, &rows, w, step, p, 77);
            let want: Vec<f32> = full_out
                .chunks_exact(w)
                .step_by(step)
                .flatten()
                .copied()
                .collect();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "p = {p}");
            if p > 0.0 {
                assert!(got.contains(&0.0), "p = {p}: nothing dropped");
            }
        }
    }
}
