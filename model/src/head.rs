//! The sequence-classification head (`classifier`): a dense layer on the pooler output
//! (dropout is a no-op at inference).

use crate::error::Result;
use crate::linear::linear_forward;
use crate::params::LinearParams;

/// `logits[B, NL] = pooled[B, C] · Wᵀ + b`.
pub fn classifier_forward(
    logits: &mut [f32],
    pooled: &[f32],
    classifier: &LinearParams,
    b: usize,
) -> Result<()> {
    linear_forward(logits, pooled, None, classifier, b)
}
