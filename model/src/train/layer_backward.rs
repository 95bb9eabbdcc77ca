//! Backward of one `BertLayer`, the forward ([`super::forward`]) in reverse:
//! output.LayerNorm → dropout → output.dense (+ LoRA) → activation → intermediate.dense
//! (+ LoRA) → attention.output.LayerNorm → dropout → attention.output.dense (+ LoRA) →
//! attention → q|k|v (+ LoRA), with both residual paths joining the input gradients.

use tokken_kernels::cpu::attention::attention_backward;
use tokken_kernels::cpu::dropout::dropout_backward;
use tokken_kernels::cpu::gelu::{gelu_backward, gelu_tanh_backward};

use super::activations::{GradScratch, LayerActs};
use super::attention_dropout::attention_dropout_backward;
use super::backward::{ln_backward, module_backward, LoraBufs};
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
/// `need_dinp`. `inp` is the layer's saved input.
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
) -> Result<()> {
    let cfg = &ctx.base.config;
    let (b, t, c, nh) = (batch.b, batch.t, cfg.hidden_size, cfg.num_attention_heads);
    let bt = b * t;
    let p = &ctx.base.layers[l];
    let ls = &ctx.slots.layers[l];

    // output.LayerNorm, then the dropout before it
    let (gamma, _) = ctx.ln(&p.output_layer_norm, &ls.output_layer_norm)?;
    ln_backward(
        grads,
        g.dresid,
        g.dout,
        s.resid2,
        s.mean2,
        s.rstd2,
        gamma,
        &ls.output_layer_norm,
        (&mut *g.sink_gamma, &mut *g.sink_beta),
        bt,
        c,
    );
    let dfo: &[f32] = match ctx.hidden_drop(site::ffn_output(l)) {
        Some((pr, seed)) => {
            dropout_backward(g.dtmp, g.dresid, pr, seed);
            g.dtmp
        }
        None => g.dresid,
    };
    // output.dense; its input act(fch) is recomputed (into dfch, free until the activation
    // backward) only when a weight or adapter of it trains
    if ls.output.is_some() || ls.lora[5].is_some() {
        activation_forward(cfg.hidden_act, g.dfch, s.fch);
    }
    module_backward(
        ctx,
        grads,
        Some((&mut *g.dfch_act, false)),
        dfo,
        g.dfch,
        &p.output,
        &ls.output,
        &loras(&ls.lora, &s.lora_h, &[5]),
        LoraBufs {
            dh: g.lora_dh,
            xd: g.lora_xd,
            dxd: g.lora_dxd,
        },
        bt,
    )?;
    // residual into the attention block output, then the activation and intermediate.dense
    g.dln1.copy_from_slice(g.dresid);
    activation_backward(cfg.hidden_act, g.dfch, s.fch, g.dfch_act);
    module_backward(
        ctx,
        grads,
        Some((&mut *g.dln1, true)),
        g.dfch,
        s.ln1,
        &p.intermediate,
        &ls.intermediate,
        &loras(&ls.lora, &s.lora_h, &[4]),
        LoraBufs {
            dh: g.lora_dh,
            xd: g.lora_xd,
            dxd: g.lora_dxd,
        },
        bt,
    )?;
    // attention.output.LayerNorm, its dropout, the residual into the layer input
    let (gamma, _) = ctx.ln(&p.attention_layer_norm, &ls.attention_layer_norm)?;
    ln_backward(
        grads,
        g.dresid,
        g.dln1,
        s.resid1,
        s.mean1,
        s.rstd1,
        gamma,
        &ls.attention_layer_norm,
        (&mut *g.sink_gamma, &mut *g.sink_beta),
        bt,
        c,
    );
    if need_dinp {
        g.dinp.copy_from_slice(g.dresid);
    }
    let dao: &[f32] = match ctx.hidden_drop(site::attention_output(l)) {
        Some((pr, seed)) => {
            dropout_backward(g.dtmp, g.dresid, pr, seed);
            g.dtmp
        }
        None => g.dresid,
    };
    module_backward(
        ctx,
        grads,
        Some((&mut *g.datty, false)),
        dao,
        s.atty,
        &p.attention_output,
        &ls.attention_output,
        &loras(&ls.lora, &s.lora_h, &[3]),
        LoraBufs {
            dh: g.lora_dh,
            xd: g.lora_xd,
            dxd: g.lora_dxd,
        },
        bt,
    )?;
    // attention.self
    match ctx.attention_drop(l) {
        Some((pr, seed)) => {
            let dims = (b, t, c, nh);
            attention_dropout_backward(g.dqkv, g.dheads, g.datty, s.qkv, s.probs, dims, pr, seed)
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
        LoraBufs {
            dh: g.lora_dh,
            xd: g.lora_xd,
            dxd: g.lora_dxd,
        },
        bt,
    )?;
    Ok(())
}
