//! The training forward: embeddings → L × layer → pooler → classifier with the same kernels
//! as inference, keeping every activation the backward reads ([`super::activations`]) and
//! applying dropout (training) and LoRA.

use tokken_kernels::cpu::attention::attention_forward;
use tokken_kernels::cpu::dropout::{dropout_add, dropout_forward};
use tokken_kernels::cpu::embedding::embedding_forward;
use tokken_kernels::cpu::layernorm::layernorm_forward;
use tokken_kernels::cpu::residual::{accumulate, residual_forward};

use super::activations::{Acts, LayerActs};
use super::attention_dropout::attention_dropout_forward;
use super::cls_rows::{dropout_rows, gather_cls};
use super::dense::dense_forward;
use super::lora::{lora_forward, LoraSite};
use super::model::{site, Ctx};
use crate::activation::activation_forward;
use crate::error::Result;
use crate::forward::BatchInput;

/// `out = dropout(x) + residual` (plain sum when `drop` is None).
pub fn dropout_residual(out: &mut [f32], x: &[f32], residual: &[f32], drop: Option<(f32, u64)>) {
    dropout_residual_rows(out, x, residual, drop, 1, 1);
}

/// [`dropout_residual`] on `[rows, width]` buffers whose row `r` is row `r · step` of the
/// batch the dropout stream is drawn over ([`super::cls_rows`]).
fn dropout_residual_rows(
    out: &mut [f32],
    x: &[f32],
    residual: &[f32],
    drop: Option<(f32, u64)>,
    width: usize,
    step: usize,
) {
    match drop {
        // the whole batch: one pass
        Some((p, seed)) if step == 1 => dropout_add(out, x, residual, p, seed),
        Some((p, seed)) => {
            dropout_rows(out, x, width, step, p, seed);
            accumulate(out, residual);
        }
        None => residual_forward(out, x, residual),
    }
}

/// `y[:, site.col..] += LoRA(x)` for an optional site, saving its hidden into `h`; row `r`
/// of `x` is row `r · step` of the batch (LoRA dropout mask).
#[allow(clippy::too_many_arguments)]
fn maybe_lora(
    ctx: &Ctx<'_>,
    site: &Option<LoraSite>,
    y: &mut [f32],
    ldy: usize,
    h: &mut [f32],
    scratch: &mut [f32],
    x: &[f32],
    rows: usize,
    step: usize,
) {
    if let Some(s) = site {
        let (a, b) = ctx.lora_ab(s);
        let (r, scale) = (ctx.lora_rank(), ctx.lora_scale());
        lora_forward(
            y,
            ldy,
            h,
            scratch,
            x,
            a,
            b,
            s,
            r,
            scale,
            rows,
            step,
            ctx.lora_drop(s),
        );
    }
}

/// `out[B, T, C] = words + position[0..T] + token_type[type_ids]`: the embeddings sum
/// from given word embeddings (HF `inputs_embeds`) instead of a table lookup.
fn inputs_embeds_sum(
    out: &mut [f32],
    words: &[f32],
    type_ids: &[u32],
    position: &[f32],
    token_type: &[f32],
    t: usize,
    c: usize,
) {
    for (i, ((o, w), &ty)) in out
        .chunks_exact_mut(c)
        .zip(words.chunks_exact(c))
        .zip(type_ids)
        .enumerate()
    {
        let pos = &position[(i % t) * c..(i % t + 1) * c];
        let typ = &token_type[ty as usize * c..(ty as usize + 1) * c];
        for j in 0..c {
            o[j] = w[j] + pos[j] + typ[j];
        }
    }
}

/// Run the whole forward; the logits land in `a.logits`.
pub fn train_forward(ctx: &Ctx<'_>, a: &mut Acts<'_>, batch: &BatchInput<'_>) -> Result<()> {
    let cfg = &ctx.base.config;
    let (b, t, c) = (batch.b, batch.t, cfg.hidden_size);
    let bt = b * t;
    let eps = cfg.layer_norm_eps as f32;

    // embeddings: sum of the three tables, LayerNorm, dropout
    let e = &ctx.base.embeddings;
    let es = ctx.slots.embeddings.as_ref();
    let position = ctx.table(&e.position_embeddings, es.map(|s| &s.position))?;
    let token_type = ctx.table(&e.token_type_embeddings, es.map(|s| &s.token_type))?;
    match ctx.inputs_embeds {
        Some(words) => {
            inputs_embeds_sum(a.emb_sum, words, batch.type_ids, position, token_type, t, c)
        }
        None => embedding_forward(
            a.emb_sum,
            batch.ids,
            batch.type_ids,
            ctx.table(&e.word_embeddings, es.map(|s| &s.word))?,
            position,
            token_type,
            b,
            t,
            c,
        ),
    }
    let (g, beta) = ctx.ln(&e.layer_norm, &es.map(|s| s.layer_norm.clone()))?;
    layernorm_forward(
        a.tmp, a.emb_mean, a.emb_rstd, a.emb_sum, g, beta, bt, c, eps,
    );
    match ctx.hidden_drop(site::EMBEDDINGS) {
        Some((p, seed)) => dropout_forward(a.hidden[0], a.tmp, p, seed),
        None => a.hidden[0].copy_from_slice(a.tmp),
    }

    let nl = ctx.base.layers.len();
    for l in 0..nl {
        let (lo, hi) = a.hidden.split_at_mut(l + 1);
        // with `cls_last` the last layer writes the [CLS] rows straight into `cls`
        let cls = a.cls_last && l + 1 == nl;
        layer_forward(
            ctx,
            l,
            &mut a.layers[l],
            if cls { &mut *a.cls } else { &mut *hi[0] },
            lo[l],
            a.tmp,
            a.grads.dfch,
            a.grads.lora_xd,
            batch,
            cls,
        )?;
    }

    // pooler: dense + tanh on [CLS]; classifier on dropout(pooled)
    if !a.cls_last {
        gather_cls(a.cls, a.hidden[nl], t, c);
    }
    let pooler = ctx
        .base
        .pooler
        .as_ref()
        .expect("TrainModel::new sets a pooler");
    dense_forward(a.pooled, a.cls, &ctx.dense(pooler, &ctx.slots.pooler)?, b);
    maybe_lora(
        ctx,
        &ctx.slots.pooler_lora,
        a.pooled,
        c,
        a.pooler_lora_h,
        a.grads.lora_xd,
        a.cls,
        b,
        1,
    );
    for v in a.pooled.iter_mut() {
        *v = v.tanh();
    }
    match ctx.classifier_drop() {
        Some((p, seed)) => dropout_forward(a.pooled_d, a.pooled, p, seed),
        None => a.pooled_d.copy_from_slice(a.pooled),
    }
    let cl = &ctx.slots.classifier;
    let labels = cfg.num_labels();
    let classifier = super::dense::Dense::trainable(
        &ctx.values[cl.w.clone()],
        &ctx.values[cl.b.clone()],
        labels,
        c,
    );
    dense_forward(a.logits, a.pooled_d, &classifier, b);
    Ok(())
}

/// One `BertLayer`, saving its activations in `s`; `tmp` is [B, T, C] scratch, `fch_act`
/// [B, T, I] scratch. With `cls`, everything after the attention runs on the [CLS] rows
/// only and `out` is `[B, C]` (else `[B, T, C]`).
#[allow(clippy::too_many_arguments)]
fn layer_forward(
    ctx: &Ctx<'_>,
    l: usize,
    s: &mut LayerActs<'_>,
    out: &mut [f32],
    inp: &[f32],
    tmp: &mut [f32],
    fch_act: &mut [f32],
    lora_scratch: &mut [f32],
    batch: &BatchInput<'_>,
    cls: bool,
) -> Result<()> {
    let cfg = &ctx.base.config;
    let (b, t, c, nh) = (batch.b, batch.t, cfg.hidden_size, cfg.num_attention_heads);
    let bt = b * t;
    let p = &ctx.base.layers[l];
    let ls = &ctx.slots.layers[l];

    // attention.self: fused q|k|v (+ LoRA per column block), attention
    dense_forward(s.qkv, inp, &ctx.dense(&p.qkv, &ls.qkv)?, bt);
    for m in 0..3 {
        maybe_lora(
            ctx,
            &ls.lora[m],
            s.qkv,
            3 * c,
            s.lora_h[m],
            lora_scratch,
            inp,
            bt,
            1,
        );
    }
    match ctx.attention_drop(l) {
        Some((pr, seed)) => {
            let dims = (b, t, c, nh);
            attention_dropout_forward(s.atty, s.probs, s.qkv, batch.mask, dims, pr, seed)
        }
        None => attention_forward(s.atty, s.lse, s.qkv, batch.mask, b, t, c, nh, None),
    }
    if cls {
        gather_cls(s.cls_atty, s.atty, t, c);
        gather_cls(s.cls_inp, inp, t, c);
        post_attention_forward(ctx, l, s, out, None, tmp, fch_act, lora_scratch, b, t)
    } else {
        post_attention_forward(ctx, l, s, out, Some(inp), tmp, fch_act, lora_scratch, bt, 1)
    }
}

/// The rest of a `BertLayer` after the attention, on `rows` rows whose row `r` is row
/// `r · step` of the batch (dropout masks): attention.output, intermediate, output. Reads
/// `s.atty` and the layer input `inp` (`None`: `s.cls_atty` and `s.cls_inp`, the [CLS]
/// rows); `out` [rows, C].
#[allow(clippy::too_many_arguments)]
fn post_attention_forward(
    ctx: &Ctx<'_>,
    l: usize,
    s: &mut LayerActs<'_>,
    out: &mut [f32],
    inp: Option<&[f32]>,
    tmp: &mut [f32],
    fch_act: &mut [f32],
    lora_scratch: &mut [f32],
    rows: usize,
    step: usize,
) -> Result<()> {
    let cfg = &ctx.base.config;
    let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
    let eps = cfg.layer_norm_eps as f32;
    let p = &ctx.base.layers[l];
    let ls = &ctx.slots.layers[l];
    let (atty, inp): (&[f32], &[f32]) = match inp {
        Some(inp) => (s.atty, inp),
        None => (s.cls_atty, s.cls_inp),
    };
    let (tmp, fch_act) = (&mut tmp[..rows * c], &mut fch_act[..rows * i]);

    // attention.output: dense (+ LoRA), dropout, residual, LayerNorm
    let ao = ctx.dense(&p.attention_output, &ls.attention_output)?;
    dense_forward(tmp, atty, &ao, rows);
    maybe_lora(
        ctx,
        &ls.lora[3],
        tmp,
        c,
        s.lora_h[3],
        lora_scratch,
        atty,
        rows,
        step,
    );
    dropout_residual_rows(
        s.resid1,
        tmp,
        &inp[..rows * c],
        ctx.hidden_drop(site::attention_output(l)),
        c,
        step,
    );
    let (g, beta) = ctx.ln(&p.attention_layer_norm, &ls.attention_layer_norm)?;
    layernorm_forward(s.ln1, s.mean1, s.rstd1, s.resid1, g, beta, rows, c, eps);
    // intermediate: dense (+ LoRA), activation
    dense_forward(
        s.fch,
        s.ln1,
        &ctx.dense(&p.intermediate, &ls.intermediate)?,
        rows,
    );
    maybe_lora(
        ctx,
        &ls.lora[4],
        s.fch,
        i,
        s.lora_h[4],
        lora_scratch,
        s.ln1,
        rows,
        step,
    );
    // act(fch) goes to scratch: the backward recomputes it when output.dense trains
    activation_forward(cfg.hidden_act, fch_act, s.fch);
    // output: dense (+ LoRA), dropout, residual, LayerNorm
    dense_forward(tmp, fch_act, &ctx.dense(&p.output, &ls.output)?, rows);
    maybe_lora(
        ctx,
        &ls.lora[5],
        tmp,
        c,
        s.lora_h[5],
        lora_scratch,
        fch_act,
        rows,
        step,
    );
    dropout_residual_rows(
        s.resid2,
        tmp,
        s.ln1,
        ctx.hidden_drop(site::ffn_output(l)),
        c,
        step,
    );
    let (g, beta) = ctx.ln(&p.output_layer_norm, &ls.output_layer_norm)?;
    layernorm_forward(out, s.mean2, s.rstd2, s.resid2, g, beta, rows, c, eps);
    Ok(())
}
