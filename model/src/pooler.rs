//! `BertPooler` forward: dense + tanh on each sequence's first ([CLS]) token.

use crate::error::Result;
use crate::linear::linear_forward;
use crate::params::LinearParams;

/// `out[B, C] = tanh(dense(hidden[:, 0, :]))`; `cls` is [B, C] scratch.
pub fn pooler_forward(
    out: &mut [f32],
    cls: &mut [f32],
    hidden: &[f32],
    dense: &LinearParams,
    b: usize,
    t: usize,
    c: usize,
) -> Result<()> {
    for (row, seq) in cls
        .chunks_exact_mut(c)
        .zip(hidden.chunks_exact(t * c))
        .take(b)
    {
        row.copy_from_slice(&seq[..c]);
    }
    linear_forward(out, cls, None, dense, b)?;
    for v in &mut out[..b * c] {
        *v = v.tanh();
    }
    Ok(())
}
