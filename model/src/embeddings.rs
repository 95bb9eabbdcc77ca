//! `BertEmbeddings` forward: word + position + token_type, then LayerNorm
//! (dropout is a no-op at inference). Position ids are 0..T.

use tokken_kernels::cpu::embedding::embedding_forward;
use tokken_kernels::cpu::layernorm::layernorm_forward;

use crate::error::Result;
use crate::params::EmbeddingParams;

/// `out[B, T, C] = LayerNorm(word[ids] + position[0..T] + token_type[type_ids])`.
/// `sum` is [B, T, C] scratch; `mean`, `rstd` are [B*T].
#[allow(clippy::too_many_arguments)]
pub fn embeddings_forward(
    out: &mut [f32],
    sum: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    ids: &[u32],
    type_ids: &[u32],
    p: &EmbeddingParams,
    b: usize,
    t: usize,
    c: usize,
    eps: f32,
) -> Result<()> {
    let n = b * t * c;
    embedding_forward(
        &mut sum[..n],
        ids,
        type_ids,
        p.word_embeddings.as_f32()?,
        p.position_embeddings.as_f32()?,
        p.token_type_embeddings.as_f32()?,
        b,
        t,
        c,
    );
    layernorm_forward(
        &mut out[..n],
        &mut mean[..b * t],
        &mut rstd[..b * t],
        &sum[..n],
        p.layer_norm.weight.as_f32()?,
        p.layer_norm.bias.as_f32()?,
        b * t,
        c,
        eps,
    );
    Ok(())
}
