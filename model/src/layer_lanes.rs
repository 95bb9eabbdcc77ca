//! Encoder layers on one headline in *token lanes*: activations `[features][32]` (token `t`
//! of feature `f` at `f * 32 + t`) instead of `[tokens][features]`, for up to 32 tokens
//! (B x T <= 32) with weights prepacked for the AVX-512 f32 kernel: f32 weights, or bf16
//! weights where the bf16 path widens them to f32 (`lanes_supported`).
//!
//! Why: in that layout each dense layer reads its input as the kernel's packed X panel and
//! writes its output tiles where they fall, so the per-call packing of X and the
//! transposition of every output tile (about 5 % of a one-headline forward, most of what
//! is not multiply-adds) disappear; see `tokken_kernels::cpu::gemm::gemm_prepacked_lanes`.
//!
//! When the forward needs only the [CLS] rows of the last layer, that layer runs its
//! attention in lanes and the blocks after it on the B [CLS] rows, row-major (the narrow
//! GEMM path), exactly as `LayerRows::ClsOnly` does.
//!
//! Same bits as [`crate::layer::layer_forward`] (the kernels are bitwise twins of the
//! row-major ones, and every op runs in the same order); `tests/lanes_forward.rs` checks
//! whole models against [`ForwardOptions::rows_layout_only`]. Lanes past the real tokens
//! start at zero and stay finite; no real token ever reads them.

use tokken_kernels::cpu::attention_lanes::attention_forward_lanes;
use tokken_kernels::cpu::gemm::{
    gemm_prepacked_bias, gemm_prepacked_lanes, gemm_prepacked_lanes_from, lanes_supported,
    PackedWeight, LANE_PANEL_ROWS, LANE_TOKENS,
};
use tokken_kernels::cpu::layernorm_lanes::layernorm_forward_lanes;

use crate::activation::activation_in_place;
use crate::arena::ForwardOptions;
use crate::config::BertConfig;
use crate::error::Result;
use crate::layer::{row_blocks_forward, RowScratch};
use crate::params::{BertParams, LayerParams, LinearParams};
use crate::prepacked::Prepacked;

const L: usize = LANE_TOKENS;

/// Floats of lane scratch a layer needs (each buffer a whole number of 32-float rows, so
/// all stay 64-byte aligned after an aligned start).
pub(crate) fn scratch_len(cfg: &BertConfig) -> usize {
    (7 * cfg.hidden_size + cfg.intermediate_size) * L
}

/// Whether layers `0..upto` can run in token lanes for a (B, T) batch: few enough tokens,
/// nothing per layer to keep, and every dense weight prepacked for the lanes GEMM.
pub(crate) fn applicable(
    params: &BertParams,
    b: usize,
    t: usize,
    opts: ForwardOptions,
    upto: usize,
) -> bool {
    b * t <= L
        && !opts.rows_layout_only
        && !opts.output_hidden_states
        && !opts.output_attentions
        && (0..upto).all(|l| weights(params, l).is_some())
}

/// Layer `l`'s four dense weights as packed for the lanes GEMM, if they are.
fn weights(params: &BertParams, l: usize) -> Option<[&PackedWeight; 4]> {
    let p = params.layers.get(l)?;
    let q = params.layer_prepacked(l)?;
    fn get<'a>(packed: &'a Prepacked, lin: &LinearParams) -> Option<&'a PackedWeight> {
        packed.get(&lin.weight).filter(|w| lanes_supported(w))
    }
    Some([
        get(&q.qkv, &p.qkv)?,
        get(&q.attention_output, &p.attention_output)?,
        get(&q.intermediate, &p.intermediate)?,
        get(&q.output, &p.output)?,
    ])
}

/// Buffers for a last layer that computes only each sequence's [CLS] row after attention
/// (`LayerRows::ClsOnly`): the row-major blocks' scratch and three `[B, C]` buffers.
pub(crate) struct ClsTail<'a> {
    pub rows: RowScratch<'a>,
    /// [B, C] the layer's input rows, the attention rows, and the output rows.
    pub inp: &'a mut [f32],
    pub ctx: &'a mut [f32],
    pub out: &'a mut [f32],
}

/// Layers `layers` of `params` on `m = b * t` tokens, from the `[m, C]` rows at `hidden[src..]`
/// to the `[m, C]` rows at `hidden[dst..]` (row-major; the two may coincide: the input is
/// read before anything is written). With `cls_tail`, the last of them runs its attention
/// in lanes and the rest on each sequence's [CLS] row only, as `LayerRows::ClsOnly` does
/// (only those rows of the output are written). `scratch` holds [`scratch_len`] floats,
/// 64-byte aligned. Only call when [`applicable`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn layers_forward(
    params: &BertParams,
    layers: std::ops::Range<usize>,
    hidden: &mut [f32],
    (src, dst): (usize, usize),
    mask: &[u8],
    b: usize,
    t: usize,
    scratch: &mut [f32],
    cls_tail: Option<ClsTail<'_>>,
) -> Result<()> {
    let cfg = &params.config;
    let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
    let m = b * t;
    let (x, rest) = scratch.split_at_mut(c * L);
    let (qkv, rest) = rest.split_at_mut(3 * c * L);
    let (ctx, rest) = rest.split_at_mut(c * L);
    let (resid, rest) = rest.split_at_mut(c * L);
    let (ln_attn, rest) = rest.split_at_mut(c * L);
    let fch = &mut rest[..i * L];

    to_lanes(x, &hidden[src..src + m * c], c);
    let last = layers.end.saturating_sub(1);
    for l in layers {
        let p = &params.layers[l];
        let [w_qkv, w_ao, w_i, w_o] =
            weights(params, l).expect("layers_forward: called where not applicable (internal)");
        if l == last {
            if let Some(tail) = cls_tail {
                // The layer's input at the [CLS] tokens, as rows (queries, residual).
                cls_rows_of(tail.inp, x, b, t, c);
                match params
                    .last_query_prepacked()
                    .and_then(|q| q.get(&p.qkv.weight))
                {
                    Some(w_q) => cls_attention_forward(
                        x,
                        qkv,
                        ctx,
                        (&tail.inp[..b * c], &mut tail.ctx[..b * c]),
                        p,
                        [w_q, w_qkv],
                        mask,
                        cfg,
                        b,
                        t,
                    )?,
                    None => attention_forward(x, qkv, ctx, p, w_qkv, mask, cfg, b, t)?,
                }
                return cls_rows_forward(tail, ctx, &mut hidden[dst..dst + m * c], params, l, b, t);
            }
        }
        let s = Scratch {
            qkv: &mut *qkv,
            ctx: &mut *ctx,
            resid: &mut *resid,
            ln_attn: &mut *ln_attn,
            fch: &mut *fch,
        };
        layer_forward(x, s, p, [w_qkv, w_ao, w_i, w_o], mask, cfg, b, t)?;
    }
    from_lanes(&mut hidden[dst..dst + m * c], x, c);
    Ok(())
}

/// One layer's lane buffers besides its input/output `x`.
struct Scratch<'a> {
    /// [3C][32]
    qkv: &'a mut [f32],
    /// [C][32] attention output, heads concatenated
    ctx: &'a mut [f32],
    /// [C][32] dense output + residual, before LayerNorm
    resid: &'a mut [f32],
    /// [C][32] attention block output
    ln_attn: &'a mut [f32],
    /// [I][32] intermediate dense output after the activation
    fch: &'a mut [f32],
}

/// `x = layer(x)` in token lanes: the ops of [`crate::layer::layer_forward`] in its order.
#[allow(clippy::too_many_arguments)]
fn layer_forward(
    x: &mut [f32],
    s: Scratch<'_>,
    p: &LayerParams,
    [w_qkv, w_ao, w_i, w_o]: [&PackedWeight; 4],
    mask: &[u8],
    cfg: &BertConfig,
    b: usize,
    t: usize,
) -> Result<()> {
    let c = cfg.hidden_size;
    let eps = cfg.layer_norm_eps as f32;
    attention_forward(x, s.qkv, s.ctx, p, w_qkv, mask, cfg, b, t)?;
    // attention.output: dense + residual + LayerNorm
    let bias = p.attention_output.bias.as_f32()?;
    gemm_prepacked_lanes(s.ctx, w_ao, bias, Some(x), s.resid, None);
    let ln = &p.attention_layer_norm;
    layernorm_forward_lanes(
        s.ln_attn,
        s.resid,
        ln.weight.as_f32()?,
        ln.bias.as_f32()?,
        c,
        eps,
    );
    // intermediate: dense, then the activation on each block of rows as it is finished
    let act = |rows: &mut [f32]| activation_in_place(cfg.hidden_act, rows);
    let bias = p.intermediate.bias.as_f32()?;
    gemm_prepacked_lanes(s.ln_attn, w_i, bias, None, s.fch, Some(&act));
    // output: dense + residual + LayerNorm
    gemm_prepacked_lanes(
        s.fch,
        w_o,
        p.output.bias.as_f32()?,
        Some(s.ln_attn),
        s.resid,
        None,
    );
    let ln = &p.output_layer_norm;
    layernorm_forward_lanes(x, s.resid, ln.weight.as_f32()?, ln.bias.as_f32()?, c, eps);
    Ok(())
}

/// attention.self in token lanes: `ctx = attention(q|k|v = x · W_qkvᵀ + b)`.
#[allow(clippy::too_many_arguments)]
fn attention_forward(
    x: &[f32],
    qkv: &mut [f32],
    ctx: &mut [f32],
    p: &LayerParams,
    w_qkv: &PackedWeight,
    mask: &[u8],
    cfg: &BertConfig,
    b: usize,
    t: usize,
) -> Result<()> {
    gemm_prepacked_lanes(x, w_qkv, p.qkv.bias.as_f32()?, None, qkv, None);
    let (c, nh) = (cfg.hidden_size, cfg.num_attention_heads);
    attention_forward_lanes(ctx, qkv, mask, b, t, c, nh);
    Ok(())
}

/// [`attention_forward`] for a last layer whose outputs are read at the [CLS] tokens only:
/// keys and values for every token in lanes, but queries only for the B [CLS] tokens
/// (`w_q`: the query rows of q|k|v packed alone), through the few-token GEMM on their
/// input rows `cls_x` (`[B, C]`; `q` `[B, C]` is scratch), written into their lanes. The first `C / 14 * 14` query rows of the other lanes
/// keep what the buffer held (earlier layers' queries: finite); their attention outputs
/// are computed and never read. The [CLS] lanes get the same bits (the few-token GEMM is
/// bit for bit the tile path).
#[allow(clippy::too_many_arguments)]
fn cls_attention_forward(
    x: &[f32],
    qkv: &mut [f32],
    ctx: &mut [f32],
    (cls_x, q): (&[f32], &mut [f32]),
    p: &LayerParams,
    [w_q, w_qkv]: [&PackedWeight; 2],
    mask: &[u8],
    cfg: &BertConfig,
    b: usize,
    t: usize,
) -> Result<()> {
    let (c, nh) = (cfg.hidden_size, cfg.num_attention_heads);
    let bias = p.qkv.bias.as_f32()?;
    // Rows from the panel holding query row C on: the last query rows and all keys, values.
    let from = c / LANE_PANEL_ROWS * LANE_PANEL_ROWS;
    gemm_prepacked_lanes_from(x, w_qkv, bias, None, qkv, None, from);
    gemm_prepacked_bias(b, cls_x, c, w_q, &bias[..c], None, q, c);
    for seq in 0..b {
        for f in 0..c {
            qkv[f * L + seq * t] = q[seq * c + f];
        }
    }
    attention_forward_lanes(ctx, qkv, mask, b, t, c, nh);
    Ok(())
}

/// The rest of layer `l` after attention on each sequence's [CLS] row only: the [CLS] lanes
/// of the attention output `ctx` gathered into rows (the input's are in `tail.inp`
/// already), the row-major blocks on those B rows (as `LayerRows::ClsOnly`, the same bits), and the results written
/// to the [CLS] rows of `out` (`[B * T, C]`; its other rows are left as they were).
#[allow(clippy::too_many_arguments)]
fn cls_rows_forward(
    tail: ClsTail<'_>,
    ctx: &[f32],
    out: &mut [f32],
    params: &BertParams,
    l: usize,
    b: usize,
    t: usize,
) -> Result<()> {
    let c = params.config.hidden_size;
    cls_rows_of(tail.ctx, ctx, b, t, c);
    let (p, packed) = (&params.layers[l], params.layer_prepacked(l));
    let cls_out = &mut tail.out[..b * c];
    row_blocks_forward(
        cls_out,
        tail.rows,
        &tail.ctx[..b * c],
        &tail.inp[..b * c],
        p,
        packed,
        &params.config,
        b,
    )?;
    for (seq, row) in cls_out.chunks_exact(c).enumerate() {
        out[seq * t * c..seq * t * c + c].copy_from_slice(row);
    }
    Ok(())
}

/// The [CLS] lane (`seq * t`) of each of the `b` sequences of `lanes` (`[c][32]`) into
/// the first `b` rows of `rows` (`[_, c]`).
fn cls_rows_of(rows: &mut [f32], lanes: &[f32], b: usize, t: usize, c: usize) {
    for (seq, row) in rows.chunks_exact_mut(c).take(b).enumerate() {
        for (f, v) in row.iter_mut().enumerate() {
            *v = lanes[f * L + seq * t];
        }
    }
}

/// `[m, c]` rows into `[c][32]` lanes; lanes past `m` zero.
fn to_lanes(lanes: &mut [f32], rows: &[f32], c: usize) {
    lanes.fill(0.0);
    for (tok, row) in rows.chunks_exact(c).enumerate() {
        for (f, &v) in row.iter().enumerate() {
            lanes[f * L + tok] = v;
        }
    }
}

/// `[c][32]` lanes back into `[m, c]` rows.
fn from_lanes(rows: &mut [f32], lanes: &[f32], c: usize) {
    for (tok, row) in rows.chunks_exact_mut(c).enumerate() {
        for (f, v) in row.iter_mut().enumerate() {
            *v = lanes[f * L + tok];
        }
    }
}
