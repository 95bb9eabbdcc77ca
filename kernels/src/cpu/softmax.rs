//! Row-wise softmax (classifier probabilities).

use rayon::prelude::*;

use super::math;
use super::vectorize::{self, multiversion};

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// `probs[i, :] = softmax(logits[i, :])`. `probs`, `logits`: `[N, K]`.
pub fn softmax_forward(probs: &mut [f32], logits: &[f32], n: usize, k: usize) {
    assert!(
        probs.len() == n * k && logits.len() == n * k,
        "softmax_forward: probs/logits must be [N, K]"
    );
    if n * k == 0 {
        return;
    }
    probs
        .par_chunks_mut(ROWS_PER_TASK * k)
        .zip(logits.par_chunks(ROWS_PER_TASK * k))
        .for_each(|(p, z)| {
            for (pr, zr) in p.chunks_exact_mut(k).zip(z.chunks_exact(k)) {
                softmax_row(pr, zr);
            }
        });
}

multiversion! {
    /// `p = softmax(z)` for one row; returns log-sum-exp of `z`.
    pub(crate) fn softmax_row(p: &mut [f32], z: &[f32]) -> f32 {
        let m = vectorize::max(z);
        for (pv, &zv) in p.iter_mut().zip(z) {
            *pv = math::exp(zv - m);
        }
        let sum = vectorize::sum(p);
        let inv = 1.0 / sum;
        for pv in p.iter_mut() {
            *pv *= inv;
        }
        m + sum.ln()
    }
}
