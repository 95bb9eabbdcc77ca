//! The backward pass, the forward in reverse: loss gradient (already in `dlogits`) →
//! classifier → pooler ([`super::head_backward`]) → layers L-1 .. first trainable
//! ([`super::layer_backward`]) → embeddings ([`super::embeddings_backward`], full
//! fine-tune only). Gradients stop at the lowest trainable parameter: layers below it are
//! never visited and frozen weights get no weight-gradient GEMMs.

use tokken_kernels::cpu::layernorm::{layernorm_backward, layernorm_backward_input};

use super::activations::Acts;
use super::dense::{dense_backward_input, dense_backward_params};
use super::embeddings_backward::embeddings_backward;
use super::head_backward::head_backward;
use super::layer_backward::layer_backward;
use super::lora::{lora_backward, LoraScratch, LoraSite};
use super::model::{Ctx, LinearSlots, LnSlots};
use super::trainable::two_mut;
use crate::error::Result;
use crate::forward::BatchInput;
use crate::params::LinearParams;

/// Accumulate `d(loss)/dθ` into `grads` for the forward saved in `a` (`a.grads.dlogits`
/// holds the loss gradient).
pub fn train_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    a: &mut Acts<'_>,
    batch: &BatchInput<'_>,
) -> Result<()> {
    head_backward(ctx, grads, a, batch)?;
    let first = ctx.first_backward_layer();
    let nl = ctx.base.layers.len();
    for l in (first..nl).rev() {
        let need_dinp = l > first || ctx.slots.embeddings.is_some() || ctx.input_grad;
        layer_backward(
            ctx,
            grads,
            l,
            &a.layers[l],
            a.hidden[l],
            &mut a.grads,
            batch,
            need_dinp,
            a.cls_last && l + 1 == nl,
        )?;
        if need_dinp {
            std::mem::swap(&mut a.grads.dout, &mut a.grads.dinp);
        }
    }
    if ctx.slots.embeddings.is_some() || ctx.input_grad {
        embeddings_backward(ctx, grads, a, batch)?;
    }
    Ok(())
}

/// The gradient scratch a LoRA backward borrows.
pub struct LoraBufs<'s> {
    /// [rows, R]
    pub dh: &'s mut [f32],
    /// [rows, K]
    pub xd: &'s mut [f32],
    /// [rows, K]
    pub dxd: &'s mut [f32],
}

/// Backward of one dense module (input `x` [rows, K], output gradient `dy` [rows, N]) and
/// the LoRA sites on its output columns (each with its saved hidden `h`):
/// `dx (= or +=) dy · W + Σ LoRA dx`, then weight/bias/LoRA gradients for what trains.
/// Row `r` is row `r · step` of the batch (LoRA dropout masks; 1 for all rows).
#[allow(clippy::too_many_arguments)]
pub fn module_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    mut dx: Option<(&mut [f32], bool)>,
    dy: &[f32],
    x: &[f32],
    frozen: &LinearParams,
    slots: &Option<LinearSlots>,
    loras: &[(&LoraSite, &[f32])],
    sc: LoraBufs<'_>,
    rows: usize,
    step: usize,
) -> Result<()> {
    let d = ctx.dense(frozen, slots)?;
    if let Some((buf, acc)) = dx.as_mut() {
        dense_backward_input(buf, *acc, dy, &d, rows);
    }
    if let Some(s) = slots {
        let (dw, db) = two_mut(grads, s.w.clone(), s.b.clone());
        dense_backward_params(dw, db, dy, x, rows, d.n, d.k);
    }
    for (site, h) in loras {
        let (a, b) = ctx.lora_ab(site);
        let (da, db) = two_mut(grads, site.a.clone(), site.b.clone());
        lora_backward(
            dx.as_mut().map(|(buf, _)| &mut **buf),
            da,
            db,
            dy,
            d.n,
            x,
            h,
            a,
            b,
            site,
            ctx.lora_rank(),
            ctx.lora_scale(),
            rows,
            step,
            ctx.lora_drop(site),
            LoraScratch {
                dh: &mut *sc.dh,
                xd: &mut *sc.xd,
                dxd: &mut *sc.dxd,
            },
        );
    }
    Ok(())
}

/// LayerNorm backward: `dinp` overwritten; gamma/beta gradients accumulate when trainable
/// (a frozen one computes only `dinp`, bit for bit the same).
#[allow(clippy::too_many_arguments)]
pub fn ln_backward(
    grads: &mut [f32],
    dinp: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    slots: &Option<LnSlots>,
    n: usize,
    c: usize,
) {
    match slots {
        Some(s) => {
            let (dg, db) = two_mut(grads, s.w.clone(), s.b.clone());
            layernorm_backward(dinp, dg, db, dout, inp, mean, rstd, gamma, n, c);
        }
        None => layernorm_backward_input(dinp, dout, inp, mean, rstd, gamma, n, c),
    }
}
