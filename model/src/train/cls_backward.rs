//! Backward of the last layer's [CLS]-only part ([`super::activations::Acts::cls_last`]):
//! dense modules and LayerNorms whose rows are the B [CLS] rows. Input gradients are per
//! row, so they are computed on those B rows. Parameter gradients are sums over rows: to
//! get the very bits of the full path, the [CLS] rows' output gradients and inputs are
//! padded with zero rows back to `[B·T, ..]` and summed by the same kernels (same blocking,
//! same order; the zero rows add exact zeros, as the full path's rows with a zero output
//! gradient do). That costs the parameter-gradient sums of the whole batch, but only where
//! a parameter after the last attention trains (full fine-tune, LoRA on those modules).

use tokken_kernels::cpu::layernorm::layernorm_backward;

use super::backward::{ln_backward, LoraBufs};
use super::cls_rows::scatter_cls;
use super::dense::{dense_backward_input, dense_backward_params};
use super::lora::{lora_backward, lora_backward_input, LoraScratch, LoraSite};
use super::model::{Ctx, LinearSlots, LnSlots};
use super::trainable::two_mut;
use crate::error::Result;
use crate::params::LinearParams;

/// Zero-padded `[B·T, ..]` scratch ([`super::activations::GradScratch::pad_dy`] ..).
pub struct Pad<'s> {
    /// [B*T, max(C, I)]
    pub dy: &'s mut [f32],
    /// [B*T, max(C, I)]
    pub x: &'s mut [f32],
    /// [B*T, R]
    pub h: &'s mut [f32],
    /// [2, B*T]
    pub stats: &'s mut [f32],
}

/// [`super::backward::module_backward`] on the B [CLS] rows (row `r` is row `r · t` of
/// the batch): `dx (= or +=) dy · W + Σ LoRA dx` on those rows; weight, bias and LoRA
/// gradients over the zero-padded batch. `dy` [B, N], `x` [B, K], LoRA hiddens [B, R].
#[allow(clippy::too_many_arguments)]
pub fn cls_module_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    (dx, acc): (&mut [f32], bool),
    dy: &[f32],
    x: &[f32],
    frozen: &LinearParams,
    slots: &Option<LinearSlots>,
    loras: &[(&LoraSite, &[f32])],
    sc: LoraBufs<'_>,
    pad: Pad<'_>,
    (b, t): (usize, usize),
) -> Result<()> {
    let d = ctx.dense(frozen, slots)?;
    let (r, scale) = (ctx.lora_rank(), ctx.lora_scale());
    let LoraBufs { dh, xd, dxd } = sc;
    dense_backward_input(dx, acc, dy, &d, b);
    for (site, _) in loras {
        let (a, bm) = ctx.lora_ab(site);
        let scratch = LoraScratch {
            dh: &mut *dh,
            xd: &mut *xd,
            dxd: &mut *dxd,
        };
        let drop = ctx.lora_drop(site);
        lora_backward_input(dx, dy, d.n, a, bm, site, r, scale, b, t, drop, scratch);
    }
    if slots.is_none() && loras.is_empty() {
        return Ok(());
    }
    let bt = b * t;
    let (pdy, px) = (&mut pad.dy[..bt * d.n], &mut pad.x[..bt * d.k]);
    scatter_cls(pdy, &dy[..b * d.n], t, d.n);
    scatter_cls(px, &x[..b * d.k], t, d.k);
    if let Some(s) = slots {
        let (dw, db) = two_mut(grads, s.w.clone(), s.b.clone());
        dense_backward_params(dw, db, pdy, px, bt, d.n, d.k);
    }
    for (site, h) in loras {
        let ph = &mut pad.h[..bt * r];
        scatter_cls(ph, &h[..b * r], t, r);
        let (a, bm) = ctx.lora_ab(site);
        let (da, db) = two_mut(grads, site.a.clone(), site.b.clone());
        let scratch = LoraScratch {
            dh: &mut *dh,
            xd: &mut *xd,
            dxd: &mut *dxd,
        };
        let drop = ctx.lora_drop(site);
        lora_backward(
            None, da, db, pdy, d.n, px, ph, a, bm, site, r, scale, bt, 1, drop, scratch,
        );
    }
    Ok(())
}

/// [`ln_backward`] on the B [CLS] rows: `dinp` [B, C] from `dout`, `inp` [B, C] and
/// `mean`, `rstd` [B]; gamma/beta gradients (when trainable) over the zero-padded batch
/// (`full` [B·T, C] scratch takes that call's unused input gradient).
#[allow(clippy::too_many_arguments)]
pub fn cls_ln_backward(
    grads: &mut [f32],
    dinp: &mut [f32],
    (dout, inp, mean, rstd): (&[f32], &[f32], &[f32], &[f32]),
    gamma: &[f32],
    slots: &Option<LnSlots>,
    pad: Pad<'_>,
    full: &mut [f32],
    (b, t, c): (usize, usize, usize),
) {
    ln_backward(grads, dinp, dout, inp, mean, rstd, gamma, &None, b, c);
    let Some(s) = slots else {
        return;
    };
    let bt = b * t;
    let (pdy, px) = (&mut pad.dy[..bt * c], &mut pad.x[..bt * c]);
    scatter_cls(pdy, dout, t, c);
    scatter_cls(px, inp, t, c);
    // padded rows: mean 0, rstd 0, so their normalised input is 0 (never NaN)
    let (pmean, prstd) = pad.stats[..2 * bt].split_at_mut(bt);
    scatter_cls(pmean, mean, t, 1);
    scatter_cls(prstd, rstd, t, 1);
    let (dg, db) = two_mut(grads, s.w.clone(), s.b.clone());
    layernorm_backward(
        &mut full[..bt * c],
        dg,
        db,
        pdy,
        px,
        pmean,
        prstd,
        gamma,
        bt,
        c,
    );
}
