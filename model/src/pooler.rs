//! `BertPooler` forward: dense + tanh on each sequence's first ([CLS]) token.

use crate::error::Result;
use crate::linear::linear_forward_packed;
use crate::params::LinearParams;
use crate::prepacked::Prepacked;

/// `out[B, C] = tanh(dense(hidden[:, 0, :]))`; `cls` is [B, C] scratch; `packed` is
/// `dense`'s prepacked weight when there is one (same bits, no packing per call).
#[allow(clippy::too_many_arguments)]
pub fn pooler_forward(
    out: &mut [f32],
    cls: &mut [f32],
    hidden: &[f32],
    dense: &LinearParams,
    packed: Option<&Prepacked>,
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
    linear_forward_packed(out, cls, None, dense, packed, b)?;
    for v in &mut out[..b * c] {
        *v = v.tanh();
    }
    Ok(())
}
