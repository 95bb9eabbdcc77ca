//! Backward of the embeddings (full fine-tune only): dropout → LayerNorm → scatter-add into
//! the word / position / token-type tables.

use tokken_kernels::cpu::dropout::dropout_backward;
use tokken_kernels::cpu::embedding::embedding_backward;

use super::activations::Acts;
use super::backward::ln_backward;
use super::model::{site, Ctx};
use crate::error::Result;
use crate::forward::BatchInput;

/// Reads d(embeddings output) from `a.grads.dout`.
pub fn embeddings_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    a: &mut Acts<'_>,
    batch: &BatchInput<'_>,
) -> Result<()> {
    let Some(es) = ctx.slots.embeddings.as_ref() else {
        return Ok(());
    };
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
    let gamma = &ctx.values[es.layer_norm.w.clone()];
    ln_backward(
        grads,
        g.dresid,
        dln,
        a.emb_sum,
        a.emb_mean,
        a.emb_rstd,
        gamma,
        &Some(es.layer_norm.clone()),
        (g.sink_gamma, g.sink_beta),
        b * t,
        c,
    );
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
