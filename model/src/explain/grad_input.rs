//! Gradient × input: `Σ_c x[t, c] · ∂f/∂x[t, c](x)` per token, one forward + backward.

use super::explainer::Explainer;
use crate::error::Result;

/// [T] gradient × input attributions of logit `class` for `ids`, and that logit.
pub fn grad_input(ex: &mut Explainer, ids: &[u32], class: usize) -> Result<(Vec<f32>, f32)> {
    let c = ex.hidden_size();
    let x = ex.word_embeddings(ids)?;
    let (logits, grads) = ex.gradients(ids, &x, class)?;
    let scores = x
        .chunks_exact(c)
        .zip(grads.chunks_exact(c))
        .map(|(x, g)| x.iter().zip(g).map(|(a, b)| a * b).sum())
        .collect();
    Ok((scores, logits[class]))
}
