//! Backward of the embeddings (full fine-tune only): dropout → LayerNorm → scatter-add into
//! the word / position / token-type tables.

use tokken_kernels::cpu::dropout::dropout_backward;
use tokken_kernels::cpu::embedding::embedding_backward;

use super::activations::Acts;
use super::backward::ln_backward;
use super::model::{site, Ctx};
use crate::error::Result;
use crate::forward::BatchInput;

/// Reads d(embeddings output) from `a.grads.dout`; leaves d(word + position + token type
/// sum) in `a.grads.dresid` (with [`Ctx::input_grad`] also when the embeddings are frozen:
/// the input gradient of explanations).
pub fn embeddings_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    a: &mut Acts<'_>,
    batch: &BatchInput<'_>,
) -> Result<()> {
    let es = ctx.slots.embeddings.as_ref();
    if es.is_none() && !ctx.input_grad {
        return Ok(());
    }
    let cfg = &ctx.base.config;
    let (b, t, c) = (batch.b, batch.t, cfg.hidden_size);
    let g = &mut a.grads;
    let dln: &[f32] = match ctx.hidden_drop(site::EMBEDDINGS) {
        Some((p, seed)) => {
            dropout_backward(g.dtmp, g.dout, p, seed);
            g.dtmp
        }
        None => g.dout,
    };
    let ln_slots = es.map(|s| s.layer_norm.clone());
    let (gamma, _) = ctx.ln(&ctx.base.embeddings.layer_norm, &ln_slots)?;
    ln_backward(
        grads,
        g.dresid,
        dln,
        a.emb_sum,
        a.emb_mean,
        a.emb_rstd,
        gamma,
        &ln_slots,
        b * t,
        c,
    );
    let Some(es) = es else {
        return Ok(());
    };
    let dsum = &*g.dresid;
    let (ids, types) = (batch.ids, batch.type_ids);
    embedding_backward(
        Some(&mut grads[es.word.clone()]),
        None,
        None,
        dsum,
        ids,
        types,
        b,
        t,
        c,
    );
    embedding_backward(
        None,
        Some(&mut grads[es.position.clone()]),
        None,
        dsum,
        ids,
        types,
        b,
        t,
        c,
    );
    embedding_backward(
        None,
        None,
        Some(&mut grads[es.token_type.clone()]),
        dsum,
        ids,
        types,
        b,
        t,
        c,
    );
    Ok(())
}
