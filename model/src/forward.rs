//! The BERT forward pass (HF `BertForSequenceClassification` at inference):
//! embeddings → L × layer → pooler → classifier.

use tokken_tokenizer::encoder::Batch;

use crate::arena::{hidden_slot, Arena, ForwardOptions};
use crate::embeddings::embeddings_forward;
use crate::error::{ModelError, Result};
use crate::head::classifier_forward;
use crate::layer::{layer_forward, LayerRows, LayerScratch};
use crate::layer_lanes;
use crate::params::BertParams;
use crate::pooler::pooler_forward;
use crate::trainer::batching::PaddedBatch;

/// A padded batch of token ids.
#[derive(Clone, Copy, Debug)]
pub struct BatchInput<'a> {
    /// [B, T] token ids (`input_ids`)
    pub ids: &'a [u32],
    /// [B, T] segment ids (`token_type_ids`)
    pub type_ids: &'a [u32],
    /// [B, T] 1 for real tokens, 0 for padding (`attention_mask`)
    pub mask: &'a [u8],
    pub b: usize,
    pub t: usize,
}

impl<'a> From<&'a Batch> for BatchInput<'a> {
    /// A tokenizer batch as model input.
    fn from(batch: &'a Batch) -> Self {
        BatchInput {
            ids: &batch.ids,
            type_ids: &batch.type_ids,
            mask: &batch.mask,
            b: batch.b,
            t: batch.t,
        }
    }
}

impl BatchInput<'_> {
    /// This batch with each sequence extended to `t` (>= its length) by padding: id 0, type
    /// 0, mask 0. Padded keys get exactly zero attention, so every real token's outputs are
    /// the same (CUDA graphs use this to share one captured forward between nearby lengths).
    pub fn padded_to(&self, t: usize) -> PaddedBatch {
        let t = t.max(self.t);
        let mut out = PaddedBatch {
            ids: vec![0; self.b * t],
            type_ids: vec![0; self.b * t],
            mask: vec![0; self.b * t],
            b: self.b,
            t,
            tokens: self.mask.iter().filter(|&&m| m != 0).count(),
            ..PaddedBatch::default()
        };
        for r in 0..self.b {
            let (from, to) = (r * self.t..(r + 1) * self.t, r * t..r * t + self.t);
            out.ids[to.clone()].copy_from_slice(&self.ids[from.clone()]);
            out.type_ids[to.clone()].copy_from_slice(&self.type_ids[from.clone()]);
            out.mask[to].copy_from_slice(&self.mask[from]);
        }
        out
    }

    /// Reject inputs that would index outside the model's tables.
    pub fn check(&self, params: &BertParams) -> Result<()> {
        let cfg = &params.config;
        let n = self.b * self.t;
        if self.b == 0 || self.t == 0 {
            return Err(ModelError::Input(format!(
                "empty batch ({} x {})",
                self.b, self.t
            )));
        }
        for (name, len) in [
            ("ids", self.ids.len()),
            ("type_ids", self.type_ids.len()),
            ("mask", self.mask.len()),
        ] {
            if len != n {
                return Err(ModelError::Input(format!(
                    "{name} has {len} entries, expected B*T = {} x {} = {n}",
                    self.b, self.t
                )));
            }
        }
        if self.t > cfg.max_position_embeddings {
            return Err(ModelError::Input(format!(
                "sequence length {} exceeds max_position_embeddings {}",
                self.t, cfg.max_position_embeddings
            )));
        }
        if let Some((i, &id)) = self
            .ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= cfg.vocab_size)
        {
            return Err(ModelError::Input(format!(
                "token id {id} at row {} position {} is outside the vocabulary (vocab_size {})",
                i / self.t,
                i % self.t,
                cfg.vocab_size
            )));
        }
        if let Some((i, &ty)) = self
            .type_ids
            .iter()
            .enumerate()
            .find(|(_, &ty)| ty as usize >= cfg.type_vocab_size)
        {
            return Err(ModelError::Input(format!(
                "token type id {ty} at row {} position {} is outside type_vocab_size {}",
                i / self.t,
                i % self.t,
                cfg.type_vocab_size
            )));
        }
        Ok(())
    }
}

/// Run the forward pass; results are read from `arena`
/// ([`Arena::logits`], [`Arena::pooled`], [`Arena::hidden_state`], [`Arena::attention`]).
///
/// Without a pooler (or classifier) the pooled output (or logits) read back empty. Errors
/// only on bad input or unsupported weight dtypes.
pub fn bert_forward(
    params: &BertParams,
    input: &BatchInput<'_>,
    arena: &mut Arena,
    opts: ForwardOptions,
) -> Result<()> {
    input.check(params)?;
    // On a worker of rayon's pool, so the kernels' fork-joins stay inside the pool instead
    // of each waking it from this thread (at one headline they are most of the cost).
    rayon::scope(|_| {
        let cfg = &params.config;
        let (b, t, c, nh) = (input.b, input.t, cfg.hidden_size, cfg.num_attention_heads);
        let n = b * t * c;
        arena.prepare(cfg, b, t, opts);
        let slot_of = |i: usize| hidden_slot(opts, i);
        let mut a = arena.views();

        embeddings_forward(
            &mut a.hidden[slot_of(0) * n..(slot_of(0) + 1) * n],
            a.rows.resid,
            a.rows.ln_mean,
            a.rows.ln_rstd,
            input.ids,
            input.type_ids,
            &params.embeddings,
            b,
            t,
            c,
            cfg.layer_norm_eps as f32,
        )?;

        // One headline: the layers in token lanes (same bits, less data movement); a last
        // layer on the [CLS] rows only runs its attention in lanes and the rest on B rows.
        let nl = params.layers.len();
        let first_row_layer =
            if nl > 0 && !a.lanes.is_empty() && layer_lanes::applicable(params, b, t, opts, nl) {
                let cls_tail = opts.last_layer_cls_only().then(|| {
                    let (inp, rest) = a.qkv.split_at_mut(b * c);
                    layer_lanes::ClsTail {
                        rows: a.rows.reborrow(),
                        inp,
                        ctx: &mut a.atty[..b * c],
                        out: &mut rest[..b * c],
                    }
                });
                // Hidden state 0 in, hidden state `nl` out (the slots may coincide).
                let (src, dst) = (slot_of(0) * n, slot_of(nl) * n);
                layer_lanes::layers_forward(
                    params,
                    0..nl,
                    a.hidden,
                    (src, dst),
                    input.mask,
                    b,
                    t,
                    a.lanes,
                    cls_tail,
                )?;
                nl
            } else {
                0
            };

        let probs_len = b * nh * t * t;
        for (l, layer) in params.layers.iter().enumerate().skip(first_row_layer) {
            // hidden slots l (input) and l+1 (output) are distinct, so split between them
            let (src, dst) = (slot_of(l), slot_of(l + 1));
            let (inp, out) = if src < dst {
                let (lo, hi) = a.hidden.split_at_mut(dst * n);
                (&lo[src * n..(src + 1) * n], &mut hi[..n])
            } else {
                let (lo, hi) = a.hidden.split_at_mut(src * n);
                (&hi[..n], &mut lo[dst * n..(dst + 1) * n])
            };
            let probs = if opts.output_attentions {
                Some(&mut a.probs[l * probs_len..(l + 1) * probs_len])
            } else {
                None
            };
            let scratch = LayerScratch {
                qkv: &mut *a.qkv,
                atty: &mut *a.atty,
                lse: &mut *a.lse,
                rows: a.rows.reborrow(),
            };
            let rows = if l + 1 == params.layers.len() && opts.last_layer_cls_only() {
                LayerRows::ClsOnly
            } else {
                LayerRows::All
            };
            let packed = params.layer_prepacked(l);
            layer_forward(
                out, scratch, probs, inp, input.mask, layer, packed, cfg, b, t, rows,
            )?;
        }

        let last = slot_of(params.layers.len());
        let last_hidden = &a.hidden[last * n..(last + 1) * n];
        let (mut has_pooled, mut has_logits) = (false, false);
        if let Some(pooler) = &params.pooler {
            pooler_forward(
                a.pooled,
                a.cls,
                last_hidden,
                pooler,
                params.pooler_prepacked(),
                b,
                t,
                c,
            )?;
            has_pooled = true;
            if let Some(classifier) = &params.classifier {
                classifier_forward(a.logits, a.pooled, classifier, b)?;
                has_logits = true;
            }
        }
        arena.has_pooled = has_pooled;
        arena.has_logits = has_logits;
        arena.lanes_layers = first_row_layer;
        Ok(())
    })
}
