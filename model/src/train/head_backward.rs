//! Backward of the head: classifier (always trainable) → dropout → tanh → pooler dense
//! (+ LoRA) → the [CLS] rows of the last hidden state. Stops at the classifier when
//! nothing below it trains.

use tokken_kernels::cpu::dropout::dropout_backward;

use super::activations::Acts;
use super::backward::{module_backward, LoraBufs};
use super::dense::{dense_backward_input, dense_backward_params, Dense};
use super::model::Ctx;
use super::trainable::two_mut;
use crate::error::Result;
use crate::forward::BatchInput;

/// Classifier and pooler gradients; leaves d(last hidden) in `a.grads.dout` when a layer
/// below trains (only its [CLS] rows in `a.grads.dcls` with `a.cls_last`).
pub fn head_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    a: &mut Acts<'_>,
    batch: &BatchInput<'_>,
) -> Result<()> {
    let cfg = &ctx.base.config;
    let (b, t, c, labels) = (batch.b, batch.t, cfg.hidden_size, cfg.num_labels());
    let g = &mut a.grads;

    // classifier: logits = pooled_d · Wᵀ + b
    let cl = &ctx.slots.classifier;
    {
        let (dw, db) = two_mut(grads, cl.w.clone(), cl.b.clone());
        dense_backward_params(dw, db, g.dlogits, a.pooled_d, b, labels, c);
    }
    if !ctx.backward_below_classifier() {
        return Ok(());
    }
    let classifier = Dense::trainable(
        &ctx.values[cl.w.clone()],
        &ctx.values[cl.b.clone()],
        labels,
        c,
    );
    dense_backward_input(g.dpooled_d, false, g.dlogits, &classifier, b);
    match ctx.classifier_drop() {
        Some((p, seed)) => dropout_backward(g.dpooled, g.dpooled_d, p, seed),
        None => g.dpooled.copy_from_slice(g.dpooled_d),
    }
    // tanh: d pre-activation = d pooled · (1 - pooled²), in place
    for (d, &y) in g.dpooled.iter_mut().zip(a.pooled.iter()) {
        *d *= 1.0 - y * y;
    }
    // pooler.dense on the [CLS] rows
    let layers_train = ctx.first_backward_layer() < ctx.base.layers.len();
    let pooler = ctx
        .base
        .pooler
        .as_ref()
        .expect("TrainModel::new sets a pooler");
    let loras: Vec<_> = ctx
        .slots
        .pooler_lora
        .iter()
        .map(|s| (s, &*a.pooler_lora_h))
        .collect();
    module_backward(
        ctx,
        grads,
        layers_train.then_some((&mut *g.dcls, false)),
        g.dpooled,
        a.cls,
        pooler,
        &ctx.slots.pooler,
        &loras,
        LoraBufs {
            dh: g.lora_dh,
            xd: g.lora_xd,
            dxd: g.lora_dxd,
        },
        b,
        1,
    )?;
    if layers_train && !a.cls_last {
        // only the [CLS] row of each sequence reaches the pooler (with `cls_last` the last
        // layer's backward reads `dcls` itself)
        g.dout.fill(0.0);
        for (seq, d) in g.dout.chunks_exact_mut(t * c).zip(g.dcls.chunks_exact(c)) {
            seq[..c].copy_from_slice(d);
        }
    }
    Ok(())
}
