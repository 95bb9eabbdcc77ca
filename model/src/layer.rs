//! `BertLayer` forward: self-attention block then feed-forward block, each closed by
//! residual + LayerNorm (post-LN, as in BERT).

use tokken_kernels::cpu::attention::attention_forward;
use tokken_kernels::cpu::layernorm::layernorm_forward;

use crate::activation::activation_forward_in_place;
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
    /// the blocks after attention
    pub rows: RowScratch<'a>,
}

/// Scratch of the row-wise part of a layer (everything after attention), for up to B*T rows.
pub(crate) struct RowScratch<'a> {
    /// [B, T, C]
    pub resid: &'a mut [f32],
    /// [B, T, C]
    pub ln_attn: &'a mut [f32],
    /// [B, T, I] intermediate dense output, then its activation (in place)
    pub fch: &'a mut [f32],
    /// [B*T]
    pub ln_mean: &'a mut [f32],
    /// [B*T]
    pub ln_rstd: &'a mut [f32],
}

impl RowScratch<'_> {
    /// The same buffers, borrowed again for one layer.
    pub(crate) fn reborrow(&mut self) -> RowScratch<'_> {
        RowScratch {
            resid: &mut *self.resid,
            ln_attn: &mut *self.ln_attn,
            fch: &mut *self.fch,
            ln_mean: &mut *self.ln_mean,
            ln_rstd: &mut *self.ln_rstd,
        }
    }
}

/// Which rows of its output a layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerRows {
    /// Every token's row.
    All,
    /// Only each sequence's first ([CLS]) row, all the pooler reads: attention still runs
    /// over every key, but the dense layers after it run on B rows instead of B*T. The
    /// other rows of `out` are left as they were.
    ClsOnly,
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
    rows: LayerRows,
) -> Result<()> {
    let (c, nh) = (cfg.hidden_size, cfg.num_attention_heads);
    let bt = b * t;

    // attention.self: fused q|k|v projection, then scaled dot-product attention
    linear(s.qkv, inp, None, &p.qkv, packed.map(|q| &q.qkv), bt)?;
    attention_forward(s.atty, s.lse, s.qkv, mask, b, t, c, nh, probs);
    match rows {
        LayerRows::All => row_blocks_forward(out, s.rows, s.atty, inp, p, packed, cfg, bt),
        LayerRows::ClsOnly => {
            // Each row's result depends only on that row, so computing the B [CLS] rows
            // packed together gives them bit for bit as the full layer would. q|k|v is
            // spent after attention: it holds the packed inputs and output.
            let (cls_inp, rest) = s.qkv.split_at_mut(b * c);
            let cls_out = &mut rest[..b * c];
            for seq in 0..b {
                let (src, dst) = (seq * t * c, seq * c);
                cls_inp[dst..dst + c].copy_from_slice(&inp[src..src + c]);
                // in place: row seq*t is read before any later copy can overwrite it
                s.atty.copy_within(src..src + c, dst);
            }
            row_blocks_forward(
                cls_out,
                s.rows,
                &s.atty[..b * c],
                cls_inp,
                p,
                packed,
                cfg,
                b,
            )?;
            for seq in 0..b {
                out[seq * t * c..seq * t * c + c].copy_from_slice(&cls_out[seq * c..(seq + 1) * c]);
            }
            Ok(())
        }
    }
}

/// The row-wise rest of a layer for `rows` rows: attention.output (dense, plus the
/// residual `inp`, then LayerNorm), intermediate (dense, activation) and output (dense,
/// plus residual, then LayerNorm) into `out[rows, C]`. `atty`: attention output [rows, C].
#[allow(clippy::too_many_arguments)]
pub(crate) fn row_blocks_forward(
    out: &mut [f32],
    s: RowScratch<'_>,
    atty: &[f32],
    inp: &[f32],
    p: &LayerParams,
    packed: Option<&LayerPrepacked>,
    cfg: &BertConfig,
    rows: usize,
) -> Result<()> {
    let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
    let eps = cfg.layer_norm_eps as f32;
    let resid = &mut s.resid[..rows * c];
    let ln_attn = &mut s.ln_attn[..rows * c];
    let fch = &mut s.fch[..rows * i];
    let (ln_mean, ln_rstd) = (&mut s.ln_mean[..rows], &mut s.ln_rstd[..rows]);
    // attention.output: dense + residual + LayerNorm
    linear(
        resid,
        atty,
        Some(inp),
        &p.attention_output,
        packed.map(|q| &q.attention_output),
        rows,
    )?;
    layernorm_forward(
        ln_attn,
        ln_mean,
        ln_rstd,
        resid,
        p.attention_layer_norm.weight.as_f32()?,
        p.attention_layer_norm.bias.as_f32()?,
        rows,
        c,
        eps,
    );
    // intermediate: dense + activation
    linear(
        fch,
        ln_attn,
        None,
        &p.intermediate,
        packed.map(|q| &q.intermediate),
        rows,
    )?;
    activation_forward_in_place(cfg.hidden_act, fch);
    // output: dense + residual + LayerNorm
    linear(
        resid,
        fch,
        Some(ln_attn),
        &p.output,
        packed.map(|q| &q.output),
        rows,
    )?;
    layernorm_forward(
        out,
        ln_mean,
        ln_rstd,
        resid,
        p.output_layer_norm.weight.as_f32()?,
        p.output_layer_norm.bias.as_f32()?,
        rows,
        c,
        eps,
    );
    Ok(())
}
