//! One allocation for all forward activations, sized from (config, batch, seq) and reused
//! across calls (llm.c `ActivationTensors`). Buffers are handed out as named views.

use crate::config::BertConfig;
use crate::layer::RowScratch;

/// What the forward pass keeps besides the logits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardOptions {
    /// Keep the embeddings output and every layer's output (HF `output_hidden_states`).
    pub output_hidden_states: bool,
    /// Keep every layer's attention probabilities (HF `output_attentions`).
    pub output_attentions: bool,
    /// Compute the last layer's dense blocks only for each sequence's first ([CLS]) row,
    /// which is all the pooler and classifier read: logits and pooled output are bit for
    /// bit those of the full pass, for ~6 % fewer FLOPs at BERT-base. The last hidden state
    /// then holds only its [CLS] rows. Ignored when hidden states or attentions are kept.
    pub cls_rows_only: bool,
    /// Run every layer on row-major activations even where the token-lanes path would
    /// (`crate::layer_lanes`: up to 32 tokens, f32 weights prepacked for AVX-512). The results
    /// are the same bits either way; this is for comparisons and benchmarks.
    pub rows_layout_only: bool,
}

impl ForwardOptions {
    /// Just the logits (and pooled output), as fast as possible: [`Self::cls_rows_only`].
    pub const LOGITS: ForwardOptions = ForwardOptions {
        output_hidden_states: false,
        output_attentions: false,
        cls_rows_only: true,
        rows_layout_only: false,
    };

    /// Whether the last layer runs only on the [CLS] rows (see [`Self::cls_rows_only`]).
    pub(crate) fn last_layer_cls_only(&self) -> bool {
        self.cls_rows_only && !self.output_hidden_states && !self.output_attentions
    }
}

/// Index of the [B, T, C] hidden-state slot holding hidden state `i` (0 = embeddings
/// output): its own slot when all are kept, else one of two ping-pong slots.
pub(crate) fn hidden_slot(opts: ForwardOptions, i: usize) -> usize {
    if opts.output_hidden_states {
        i
    } else {
        i % 2
    }
}

/// Element counts of each activation buffer for one (B, T), in arena order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sizes {
    /// [L+1, B, T, C] when hidden states are kept, else two ping-pong [B, T, C] buffers.
    hidden: usize,
    /// [B*T] LayerNorm mean and reciprocal std (scratch at inference).
    ln_mean: usize,
    ln_rstd: usize,
    /// [B, T, 3C]
    qkv: usize,
    /// [B, T, C] attention output (heads concatenated)
    atty: usize,
    /// [B, NH, T] attention log-sum-exp
    lse: usize,
    /// [B, T, C] dense output + residual, before LayerNorm
    resid: usize,
    /// [B, T, C] attention block output (after its LayerNorm)
    ln_attn: usize,
    /// [B, T, I] intermediate dense output, activated in place
    fch: usize,
    /// [L, B, NH, T, T] when attentions are kept, else 0
    probs: usize,
    /// [B, C] the [CLS] rows of the last hidden state
    cls: usize,
    /// [B, C] pooler output
    pooled: usize,
    /// [B, NL]
    logits: usize,
}

impl Sizes {
    fn new(cfg: &BertConfig, b: usize, t: usize, opts: ForwardOptions) -> Sizes {
        let (c, i, nh, l) = (
            cfg.hidden_size,
            cfg.intermediate_size,
            cfg.num_attention_heads,
            cfg.num_hidden_layers,
        );
        let bt = b * t;
        Sizes {
            hidden: if opts.output_hidden_states {
                (l + 1) * bt * c
            } else {
                2 * bt * c
            },
            ln_mean: bt,
            ln_rstd: bt,
            qkv: bt * 3 * c,
            atty: bt * c,
            lse: b * nh * t,
            resid: bt * c,
            ln_attn: bt * c,
            fch: bt * i,
            probs: if opts.output_attentions {
                l * b * nh * t * t
            } else {
                0
            },
            cls: b * c,
            pooled: b * c,
            logits: b * cfg.num_labels(),
        }
    }

    /// Positions in [`Sizes::in_order`] of the buffers read back after a forward.
    const HIDDEN: usize = 0;
    const PROBS: usize = 9;
    const POOLED: usize = 11;
    const LOGITS: usize = 12;

    fn in_order(&self) -> [usize; 13] {
        [
            self.hidden,
            self.ln_mean,
            self.ln_rstd,
            self.qkv,
            self.atty,
            self.lse,
            self.resid,
            self.ln_attn,
            self.fch,
            self.probs,
            self.cls,
            self.pooled,
            self.logits,
        ]
    }

    fn total(&self) -> usize {
        self.in_order().iter().sum()
    }
}

/// Mutable named views into the arena for one forward call.
pub(crate) struct Activations<'a> {
    pub hidden: &'a mut [f32],
    pub qkv: &'a mut [f32],
    pub atty: &'a mut [f32],
    pub lse: &'a mut [f32],
    /// The row-wise blocks' buffers (resid, ln_attn, fch, ln_mean, ln_rstd).
    pub rows: RowScratch<'a>,
    pub probs: &'a mut [f32],
    pub cls: &'a mut [f32],
    pub pooled: &'a mut [f32],
    pub logits: &'a mut [f32],
    /// Token-lanes scratch (`crate::layer_lanes`), 64-byte aligned; empty for batches of
    /// more than 32 tokens.
    pub lanes: &'a mut [f32],
}

/// Hands out consecutive, disjoint mutable slices of one buffer.
struct Carver<'a> {
    rest: &'a mut [f32],
}

impl<'a> Carver<'a> {
    fn take(&mut self, n: usize) -> &'a mut [f32] {
        let (head, tail) = std::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        head
    }
}

/// The activation arena. Grows to the largest (B, T) seen; never shrinks.
#[derive(Debug, Default)]
pub struct Arena {
    buf: Vec<f32>,
    sizes: Sizes,
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    opts: ForwardOptions,
    /// Token-lanes scratch: [`crate::layer_lanes::scratch_len`] floats from a 64-byte
    /// boundary (`lanes_len` of them, 0 when the batch has more than 32 tokens).
    lanes_buf: Vec<f32>,
    lanes_len: usize,
    /// Layers the last forward ran in token lanes (`crate::layer_lanes`).
    pub(crate) lanes_layers: usize,
    /// Whether the last forward produced a pooled output / logits (it has a pooler / head).
    pub(crate) has_pooled: bool,
    pub(crate) has_logits: bool,
}

impl Arena {
    /// An empty arena; [`Arena::prepare`] sizes it.
    pub fn new() -> Arena {
        Arena::default()
    }

    /// Lay the arena out for a (B, T) batch of `cfg`'s model, growing it if needed.
    pub fn prepare(&mut self, cfg: &BertConfig, b: usize, t: usize, opts: ForwardOptions) {
        self.sizes = Sizes::new(cfg, b, t, opts);
        let total = self.sizes.total();
        if self.buf.len() < total {
            self.buf.resize(total, 0.0);
        }
        self.lanes_len = if b * t <= tokken_kernels::cpu::gemm::LANE_TOKENS {
            crate::layer_lanes::scratch_len(cfg)
        } else {
            0
        };
        // 16 spare floats to start on a 64-byte boundary.
        if self.lanes_len > 0 && self.lanes_buf.len() < self.lanes_len + 16 {
            self.lanes_buf.resize(self.lanes_len + 16, 0.0);
        }
        self.b = b;
        self.t = t;
        self.c = cfg.hidden_size;
        self.nh = cfg.num_attention_heads;
        self.opts = opts;
        self.has_pooled = false;
        self.has_logits = false;
        self.lanes_layers = 0;
    }

    /// How many layers the last forward ran in token lanes (0: all row-major). The
    /// results are the same bits either way; benches and tests report which path ran.
    pub fn lanes_layers(&self) -> usize {
        self.lanes_layers
    }

    /// Floats held (capacity in use), for memory reports.
    pub fn len(&self) -> usize {
        self.buf.len() + self.lanes_buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn views(&mut self) -> Activations<'_> {
        let s = self.sizes;
        let skip = self.lanes_buf.as_ptr().align_offset(64).min(16);
        let lanes = match self.lanes_len {
            0 => &mut [],
            len => &mut self.lanes_buf[skip..skip + len],
        };
        let mut k = Carver {
            rest: &mut self.buf[..],
        };
        // Carved in arena order (`Sizes::in_order`).
        let hidden = k.take(s.hidden);
        let (ln_mean, ln_rstd) = (k.take(s.ln_mean), k.take(s.ln_rstd));
        let (qkv, atty, lse) = (k.take(s.qkv), k.take(s.atty), k.take(s.lse));
        let (resid, ln_attn) = (k.take(s.resid), k.take(s.ln_attn));
        let fch = k.take(s.fch);
        Activations {
            hidden,
            qkv,
            atty,
            lse,
            rows: RowScratch {
                resid,
                ln_attn,
                fch,
                ln_mean,
                ln_rstd,
            },
            probs: k.take(s.probs),
            cls: k.take(s.cls),
            pooled: k.take(s.pooled),
            logits: k.take(s.logits),
            lanes,
        }
    }

    /// Start offset of buffer number `idx` in arena order.
    fn offset(&self, idx: usize) -> usize {
        self.sizes.in_order()[..idx].iter().sum()
    }

    fn region(&self, idx: usize) -> &[f32] {
        let start = self.offset(idx);
        &self.buf[start..start + self.sizes.in_order()[idx]]
    }

    /// [B, T, C] hidden state `i` (0 = embeddings output, `l + 1` = layer `l`'s output).
    /// Without `output_hidden_states` only the last computed one is valid, and with
    /// [`ForwardOptions::cls_rows_only`] only the [CLS] rows of the last one.
    pub fn hidden_state(&self, i: usize) -> &[f32] {
        let n = self.b * self.t * self.c;
        let slot = hidden_slot(self.opts, i);
        &self.region(Sizes::HIDDEN)[slot * n..(slot + 1) * n]
    }

    /// [B, NH, T, T] attention probabilities of layer `l` (needs `output_attentions`).
    pub fn attention(&self, l: usize) -> Option<&[f32]> {
        if !self.opts.output_attentions {
            return None;
        }
        let n = self.b * self.nh * self.t * self.t;
        self.region(Sizes::PROBS).get(l * n..(l + 1) * n)
    }

    /// [B, C] pooler output; empty when the model has no pooler.
    pub fn pooled(&self) -> &[f32] {
        if self.has_pooled {
            self.region(Sizes::POOLED)
        } else {
            &[]
        }
    }

    /// [B, NL] logits; empty when the model has no classification head.
    pub fn logits(&self) -> &[f32] {
        if self.has_logits {
            self.region(Sizes::LOGITS)
        } else {
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The named positions read back the buffers they name.
    #[test]
    fn named_positions_match_the_arena_order() {
        let cfg = BertConfig::preset("tiny", 99, 3).expect("tiny preset");
        let opts = ForwardOptions {
            output_attentions: true,
            ..ForwardOptions::default()
        };
        let s = Sizes::new(&cfg, 2, 5, opts);
        let order = s.in_order();
        assert_eq!(order[Sizes::HIDDEN], s.hidden);
        assert_eq!(order[Sizes::PROBS], s.probs);
        assert_eq!(order[Sizes::POOLED], s.pooled);
        assert_eq!(order[Sizes::LOGITS], s.logits);
        // Distinct sizes, so the checks above cannot pass by coincidence.
        assert!(s.probs != s.pooled && s.pooled != s.logits && s.hidden != s.probs);
    }
}
