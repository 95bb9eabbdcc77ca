//! `BertLayer` forward: self-attention block then feed-forward block, each closed by
//! residual + LayerNorm (post-LN, as in BERT).

use tokken_kernels::cpu::attention::attention_forward;
use tokken_kernels::cpu::layernorm::layernorm_forward;

use crate::activation::activation_forward;
use crate::config::BertConfig;
use crate::error::Result;
use crate::linear::linear_forward_packed as linear;
use crate::params::LayerParams;
use crate::prepacked::LayerPrepacked;

/// Scratch buffers one layer writes (views into the arena).
pub(crate) struct LayerScratch<'a> {
    /// [B, T, 3C]
    pub qkv: &'a mut [f32],
    /// [B, T, C]
    pub atty: &'a mut [f32],
    /// [B, NH, T]
    pub lse: &'a mut [f32],
    /// [B, T, C]
    pub resid: &'a mut [f32],
    /// [B, T, C]
    pub ln_attn: &'a mut [f32],
    /// [B, T, I]
    pub fch: &'a mut [f32],
    /// [B, T, I]
    pub fch_act: &'a mut [f32],
    /// [B*T]
    pub ln_mean: &'a mut [f32],
    /// [B*T]
    pub ln_rstd: &'a mut [f32],
}

/// `out[B, T, C] = layer(inp[B, T, C])` with key-padding `mask[B, T]` (1 = real token).
/// `probs` ([B, NH, T, T]) receives the attention probabilities when given; `packed` are
/// the layer's prepacked weights, if any.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_forward(
    out: &mut [f32],
    s: LayerScratch<'_>,
    probs: Option<&mut [f32]>,
    inp: &[f32],
    mask: &[u8],
    p: &LayerParams,
    packed: Option<&LayerPrepacked>,
    cfg: &BertConfig,
    b: usize,
    t: usize,
) -> Result<()> {
    let (c, nh) = (cfg.hidden_size, cfg.num_attention_heads);
    let bt = b * t;
    let eps = cfg.layer_norm_eps as f32;

    // attention.self: fused q|k|v projection, then scaled dot-product attention
    linear(s.qkv, inp, None, &p.qkv, packed.map(|q| &q.qkv), bt)?;
    attention_forward(s.atty, s.lse, s.qkv, mask, b, t, c, nh, probs);
    // attention.output: dense + residual + LayerNorm
    linear(
        s.resid,
        s.atty,
        Some(inp),
        &p.attention_output,
        packed.map(|q| &q.attention_output),
        bt,
    )?;
    layernorm_forward(
        s.ln_attn,
        s.ln_mean,
        s.ln_rstd,
        s.resid,
        p.attention_layer_norm.weight.as_f32()?,
        p.attention_layer_norm.bias.as_f32()?,
        bt,
        c,
        eps,
    );
    // intermediate: dense + activation
    linear(
        s.fch,
        s.ln_attn,
        None,
        &p.intermediate,
        packed.map(|q| &q.intermediate),
        bt,
    )?;
    activation_forward(cfg.hidden_act, s.fch_act, s.fch);
    // output: dense + residual + LayerNorm
    linear(
        s.resid,
        s.fch_act,
        Some(s.ln_attn),
        &p.output,
        packed.map(|q| &q.output),
        bt,
    )?;
    layernorm_forward(
        out,
        s.ln_mean,
        s.ln_rstd,
        s.resid,
        p.output_layer_norm.weight.as_f32()?,
        p.output_layer_norm.bias.as_f32()?,
        bt,
        c,
        eps,
    );
    Ok(())
}
