//! Backward of one `BertLayer`, the forward ([`super::forward`]) in reverse:
//! output.LayerNorm → dropout → output.dense (+ LoRA) → activation → intermediate.dense
//! (+ LoRA) → attention.output.LayerNorm → dropout → attention.output.dense (+ LoRA) →
//! attention → q|k|v (+ LoRA), with both residual paths joining the input gradients.

use tokken_kernels::cpu::attention::attention_backward;
use tokken_kernels::cpu::gelu::{gelu_backward, gelu_tanh_backward};

use super::activations::{GradScratch, LayerActs};
use super::attention_dropout::attention_dropout_backward;
use super::backward::{ln_backward, module_backward, LoraBufs};
use super::cls_backward::{cls_ln_backward, cls_module_backward, Pad};
use super::cls_rows::{dropout_rows, scatter_cls};
use super::lora::LoraSite;
use super::model::{site, Ctx};
use crate::activation::activation_forward;
use crate::config::HiddenAct;
use crate::error::Result;
use crate::forward::BatchInput;

/// Backward of [`crate::activation::activation_forward`]: `dinp = dout · act'(inp)`.
pub fn activation_backward(act: HiddenAct, dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
    match act {
        HiddenAct::Gelu => gelu_backward(dinp, inp, dout),
        HiddenAct::GeluTanh => gelu_tanh_backward(dinp, inp, dout),
        HiddenAct::Relu => {
            for ((d, &x), &g) in dinp.iter_mut().zip(inp).zip(dout) {
                *d = if x > 0.0 { g } else { 0.0 };
            }
        }
        HiddenAct::Silu => {
            for ((d, &x), &g) in dinp.iter_mut().zip(inp).zip(dout) {
                let s = 1.0 / (1.0 + (-x).exp());
                *d = g * s * (1.0 + x * (1.0 - s));
            }
        }
    }
}

/// The LoRA sites of modules `ms` with their saved hiddens.
fn loras<'a>(
    sites: &'a [Option<LoraSite>; 6],
    h: &'a [&mut [f32]],
    ms: &[usize],
) -> Vec<(&'a LoraSite, &'a [f32])> {
    ms.iter()
        .filter_map(|&m| sites[m].as_ref().map(|s| (s, &*h[m])))
        .collect()
}

/// Layer `l`'s backward from `g.dout` (d output); writes `g.dinp` (d input) when
/// `need_dinp`. `inp` is the layer's saved input. With `cls` the layer ran after its
/// attention on the [CLS] rows only ([`LayerActs`]): d output is `g.dcls` [B, C] (the other
/// rows' is zero) and everything down to the attention runs on those B rows
/// ([`super::cls_backward`]).
#[allow(clippy::too_many_arguments)]
pub fn layer_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    l: usize,
    s: &LayerActs<'_>,
    inp: &[f32],
    g: &mut GradScratch<'_>,
    batch: &BatchInput<'_>,
    need_dinp: bool,
    cls: bool,
) -> Result<()> {
    let cfg = &ctx.base.config;
    let (b, t, c, nh) = (batch.b, batch.t, cfg.hidden_size, cfg.num_attention_heads);
    // rows after the attention; row r is row r·step of the batch (dropout masks)
    let (rows, step) = if cls { (b, t) } else { (b * t, 1) };
    let (rc, ri) = (rows * c, rows * cfg.intermediate_size);
    let p = &ctx.base.layers[l];
    let ls = &ctx.slots.layers[l];
    macro_rules! lora_bufs {
        () => {
            LoraBufs {
                dh: g.lora_dh,
                xd: g.lora_xd,
                dxd: g.lora_dxd,
            }
        };
    }
    macro_rules! pad {
        () => {
            Pad {
                dy: g.pad_dy,
                x: g.pad_x,
                h: g.pad_h,
                stats: g.pad_stats,
            }
        };
    }

    // output.LayerNorm, then the dropout before it
    let (gamma, _) = ctx.ln(&p.output_layer_norm, &ls.output_layer_norm)?;
    if cls {
        let saved = (&*g.dcls, &*s.resid2, &*s.mean2, &*s.rstd2);
        let (slots, dims) = (&ls.output_layer_norm, (b, t, c));
        cls_ln_backward(
            grads,
            &mut g.dresid[..rc],
            saved,
            gamma,
            slots,
            pad!(),
            g.dout,
            dims,
        );
    } else {
        let slots = &ls.output_layer_norm;
        ln_backward(
            grads, g.dresid, g.dout, s.resid2, s.mean2, s.rstd2, gamma, slots, rows, c,
        );
    }
    let dfo: &[f32] = match ctx.hidden_drop(site::ffn_output(l)) {
        Some((pr, seed)) => {
            dropout_rows(&mut g.dtmp[..rc], &g.dresid[..rc], c, step, pr, seed);
            &g.dtmp[..rc]
        }
        None => &g.dresid[..rc],
    };
    // output.dense; its input act(fch) is recomputed (into dfch, free until the activation
    // backward) only when a weight or adapter of it trains
    if ls.output.is_some() || ls.lora[5].is_some() {
        activation_forward(cfg.hidden_act, &mut g.dfch[..ri], s.fch);
    }
    let dx = (&mut g.dfch_act[..ri], false);
    let (x, lo) = (&g.dfch[..ri], loras(&ls.lora, &s.lora_h, &[5]));
    if cls {
        let (frozen, slots) = (&p.output, &ls.output);
        cls_module_backward(
            ctx,
            grads,
            dx,
            dfo,
            x,
            frozen,
            slots,
            &lo,
            lora_bufs!(),
            pad!(),
            (b, t),
        )?;
    } else {
        let (frozen, slots) = (&p.output, &ls.output);
        module_backward(
            ctx,
            grads,
            Some(dx),
            dfo,
            x,
            frozen,
            slots,
            &lo,
            lora_bufs!(),
            rows,
            1,
        )?;
    }
    // residual into the attention block output, then the activation and intermediate.dense
    g.dln1[..rc].copy_from_slice(&g.dresid[..rc]);
    activation_backward(cfg.hidden_act, &mut g.dfch[..ri], s.fch, &g.dfch_act[..ri]);
    let dx = (&mut g.dln1[..rc], true);
    let (dy, lo) = (&g.dfch[..ri], loras(&ls.lora, &s.lora_h, &[4]));
    let (frozen, slots) = (&p.intermediate, &ls.intermediate);
    if cls {
        cls_module_backward(
            ctx,
            grads,
            dx,
            dy,
            s.ln1,
            frozen,
            slots,
            &lo,
            lora_bufs!(),
            pad!(),
            (b, t),
        )?;
    } else {
        module_backward(
            ctx,
            grads,
            Some(dx),
            dy,
            s.ln1,
            frozen,
            slots,
            &lo,
            lora_bufs!(),
            rows,
            1,
        )?;
    }
    // attention.output.LayerNorm, its dropout, the residual into the layer input
    let (gamma, _) = ctx.ln(&p.attention_layer_norm, &ls.attention_layer_norm)?;
    let slots = &ls.attention_layer_norm;
    if cls {
        let saved = (&g.dln1[..rc], &*s.resid1, &*s.mean1, &*s.rstd1);
        cls_ln_backward(
            grads,
            &mut g.dresid[..rc],
            saved,
            gamma,
            slots,
            pad!(),
            g.dout,
            (b, t, c),
        );
    } else {
        ln_backward(
            grads, g.dresid, g.dln1, s.resid1, s.mean1, s.rstd1, gamma, slots, rows, c,
        );
    }
    if need_dinp {
        if cls {
            scatter_cls(g.dinp, &g.dresid[..rc], t, c);
        } else {
            g.dinp.copy_from_slice(g.dresid);
        }
    }
    let dao: &[f32] = match ctx.hidden_drop(site::attention_output(l)) {
        Some((pr, seed)) => {
            dropout_rows(&mut g.dtmp[..rc], &g.dresid[..rc], c, step, pr, seed);
            &g.dtmp[..rc]
        }
        None => &g.dresid[..rc],
    };
    // d atty: every row, or the [CLS] rows (into dln1, free again) scattered into zeros
    let lo = loras(&ls.lora, &s.lora_h, &[3]);
    let (frozen, slots) = (&p.attention_output, &ls.attention_output);
    if cls {
        let dx = (&mut g.dln1[..rc], false);
        cls_module_backward(
            ctx,
            grads,
            dx,
            dao,
            s.cls_atty,
            frozen,
            slots,
            &lo,
            lora_bufs!(),
            pad!(),
            (b, t),
        )?;
        scatter_cls(g.datty, &g.dln1[..rc], t, c);
    } else {
        let dx = (&mut *g.datty, false);
        module_backward(
            ctx,
            grads,
            Some(dx),
            dao,
            s.atty,
            frozen,
            slots,
            &lo,
            lora_bufs!(),
            rows,
            1,
        )?;
    }
    // attention.self (every query row; with `cls` only the [CLS] ones have a gradient)
    match ctx.attention_drop(l) {
        Some((pr, seed)) => {
            let dims = (b, t, c, nh);
            attention_dropout_backward(g.dqkv, g.datty, s.qkv, s.probs, dims, pr, seed)
        }
        None => attention_backward(
            g.dqkv, g.datty, s.qkv, s.atty, s.lse, batch.mask, b, t, c, nh,
        ),
    }
    module_backward(
        ctx,
        grads,
        need_dinp.then_some((&mut *g.dinp, true)),
        g.dqkv,
        inp,
        &p.qkv,
        &ls.qkv,
        &loras(&ls.lora, &s.lora_h, &[0, 1, 2]),
        lora_bufs!(),
        b * t,
        1,
    )?;
    Ok(())
}
