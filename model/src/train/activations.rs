//! The training activation arena (llm.c `ActivationTensors`): everything the backward
//! reads, plus the gradient scratch, in one allocation sized from (config, B, T, LoRA
//! sites), reused across steps and grown to the largest batch seen.

/// What sizes the arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActShape {
    pub b: usize,
    pub t: usize,
    /// C
    pub c: usize,
    /// I
    pub i: usize,
    pub nh: usize,
    /// NL
    pub labels: usize,
    /// LoRA rank R (0 without LoRA)
    pub r: usize,
    /// Per layer, which of its 6 dense modules carry LoRA ([`super::model::LAYER_MODULES`]).
    pub lora: Vec<[bool; 6]>,
    pub pooler_lora: bool,
    /// Attention-probability dropout is on: keep P per layer (see [`super::attention_dropout`]).
    pub attn_probs: bool,
    /// The last layer is computed after its attention for the [CLS] rows only (all the
    /// head reads): its post-attention activations are `[B, ..]` (see [`Acts::cls_last`]).
    pub cls_last: bool,
    /// With `cls_last`, a parameter of the last layer after its attention trains: keep the
    /// zero-padded scratch of [`GradScratch::pad_dy`] .. `pad_stats`.
    pub cls_params: bool,
}

/// Saved activations of one layer. In the last layer with [`Acts::cls_last`], everything
/// after the attention (`resid1` .. `rstd2`, the LoRA hiddens of modules 3..6) holds the B
/// [CLS] rows only (`[B, ..]` instead of `[B, T, ..]`).
pub struct LayerActs<'a> {
    /// [B, T, 3C] q | k | v
    pub qkv: &'a mut [f32],
    /// [B, T, C] attention output (heads concatenated)
    pub atty: &'a mut [f32],
    /// [B, NH, T]
    pub lse: &'a mut [f32],
    /// [B, NH, T, T] attention probabilities before dropout (empty without attention dropout)
    pub probs: &'a mut [f32],
    /// [B, T, C] dropout(attention.output.dense) + input, before LayerNorm
    pub resid1: &'a mut [f32],
    /// [B*T]
    pub mean1: &'a mut [f32],
    /// [B*T]
    pub rstd1: &'a mut [f32],
    /// [B, T, C] attention block output
    pub ln1: &'a mut [f32],
    /// [B, T, I] intermediate.dense output
    pub fch: &'a mut [f32],
    /// [B, T, C] dropout(output.dense) + ln1, before LayerNorm
    pub resid2: &'a mut [f32],
    /// [B*T]
    pub mean2: &'a mut [f32],
    /// [B*T]
    pub rstd2: &'a mut [f32],
    /// Per module, [B*T, R] LoRA hidden `dropout(x) · Aᵀ` (empty without LoRA).
    pub lora_h: Vec<&'a mut [f32]>,
    /// [B, C] the [CLS] rows of `atty` (last layer with `cls_last`; else empty)
    pub cls_atty: &'a mut [f32],
    /// [B, C] the [CLS] rows of the layer input (last layer with `cls_last`; else empty)
    pub cls_inp: &'a mut [f32],
}

/// Every view of the arena for one step.
pub struct Acts<'a> {
    /// [B, T, C] word + position + token type
    pub emb_sum: &'a mut [f32],
    /// [B*T]
    pub emb_mean: &'a mut [f32],
    /// [B*T]
    pub emb_rstd: &'a mut [f32],
    /// L+1 × [B, T, C]: embeddings output (after dropout), then each layer's output (the
    /// last one empty with `cls_last`: that layer writes `cls` only).
    pub hidden: Vec<&'a mut [f32]>,
    pub layers: Vec<LayerActs<'a>>,
    /// [B, T, C] a dense output before its dropout; the embeddings LayerNorm output
    pub tmp: &'a mut [f32],
    /// [B, C] the [CLS] rows of the last hidden state
    pub cls: &'a mut [f32],
    /// The last layer runs after its attention on the [CLS] rows only: the head reads
    /// nothing else of the last hidden state, so its other rows get no gradient either.
    pub cls_last: bool,
    /// [B, C] tanh(pooler.dense(cls))
    pub pooled: &'a mut [f32],
    /// [B, C] dropout(pooled), the classifier input
    pub pooled_d: &'a mut [f32],
    /// [B, NL]
    pub logits: &'a mut [f32],
    /// [B, R] LoRA hidden of the pooler (empty without)
    pub pooler_lora_h: &'a mut [f32],
    pub grads: GradScratch<'a>,
}

/// Activation-gradient scratch, reused by every layer (overwritten, never accumulated
/// across layers).
pub struct GradScratch<'a> {
    /// [B, T, C] gradient w.r.t. the current layer's output
    pub dout: &'a mut [f32],
    /// [B, T, C] gradient w.r.t. the current layer's input
    pub dinp: &'a mut [f32],
    /// [B, T, C]
    pub dresid: &'a mut [f32],
    /// [B, T, C]
    pub dln1: &'a mut [f32],
    /// [B, T, C] gradient of a dense output before its dropout
    pub dtmp: &'a mut [f32],
    /// [B, T, 3C]
    pub dqkv: &'a mut [f32],
    /// [B, T, C]
    pub datty: &'a mut [f32],
    /// [B, T, I]; also holds act(fch) while a layer's forward runs and when the backward
    /// recomputes it (the activation output is not kept per layer)
    pub dfch: &'a mut [f32],
    /// [B, T, I]
    pub dfch_act: &'a mut [f32],
    /// [B*T, R]
    pub lora_dh: &'a mut [f32],
    /// [B*T, max(C, I)] dropout(x) of a LoRA input (forward and backward)
    pub lora_xd: &'a mut [f32],
    /// [B*T, max(C, I)]
    pub lora_dxd: &'a mut [f32],
    /// [B, NL]
    pub dlogits: &'a mut [f32],
    /// [B, C]
    pub dpooled_d: &'a mut [f32],
    /// [B, C]
    pub dpooled: &'a mut [f32],
    /// [B, C]
    pub dcls: &'a mut [f32],
    /// [B*T, max(C, I)] with `cls_params`: an output gradient of the last layer's [CLS]
    /// rows padded with zero rows to the whole batch, so its parameter gradients sum the
    /// rows exactly as the full path does (same kernels, same blocking; zero rows add
    /// exact zeros). Else empty.
    pub pad_dy: &'a mut [f32],
    /// [B*T, max(C, I)] the matching input, zero-padded (with `cls_params`)
    pub pad_x: &'a mut [f32],
    /// [B*T, R] a LoRA hidden, zero-padded (with `cls_params` and LoRA)
    pub pad_h: &'a mut [f32],
    /// [2, B*T] LayerNorm mean and rstd, zero-padded (with `cls_params`)
    pub pad_stats: &'a mut [f32],
}

/// Hands out consecutive slices; with too small a buffer it only counts (first pass).
struct Carver<'a> {
    rest: &'a mut [f32],
    total: usize,
}

impl<'a> Carver<'a> {
    fn take(&mut self, n: usize) -> &'a mut [f32] {
        self.total += n;
        if self.rest.len() < n {
            self.rest = &mut [];
            return &mut [];
        }
        let (head, tail) = std::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        head
    }
}

fn carve<'a>(k: &mut Carver<'a>, s: &ActShape) -> Acts<'a> {
    let (b, t, c, i, r) = (s.b, s.t, s.c, s.i, s.r);
    let bt = b * t;
    let wide = c.max(i);
    let emb_sum = k.take(bt * c);
    let emb_mean = k.take(bt);
    let emb_rstd = k.take(bt);
    let nl = s.lora.len();
    let cls_last = s.cls_last && nl > 0;
    let pad = cls_last && s.cls_params;
    let hidden = (0..=nl)
        .map(|l| k.take(if l == nl && cls_last { 0 } else { bt * c }))
        .collect();
    let layers = s
        .lora
        .iter()
        .enumerate()
        .map(|(l, has)| {
            let cls = cls_last && l + 1 == nl;
            // rows after the attention
            let n = if cls { b } else { bt };
            LayerActs {
                qkv: k.take(bt * 3 * c),
                atty: k.take(bt * c),
                lse: k.take(b * s.nh * t),
                probs: k.take(if s.attn_probs { b * s.nh * t * t } else { 0 }),
                resid1: k.take(n * c),
                mean1: k.take(n),
                rstd1: k.take(n),
                ln1: k.take(n * c),
                fch: k.take(n * i),
                resid2: k.take(n * c),
                mean2: k.take(n),
                rstd2: k.take(n),
                lora_h: has
                    .iter()
                    .enumerate()
                    .map(|(m, &on)| {
                        k.take(if !on {
                            0
                        } else if m < 3 {
                            bt * r
                        } else {
                            n * r
                        })
                    })
                    .collect(),
                cls_atty: k.take(if cls { b * c } else { 0 }),
                cls_inp: k.take(if cls { b * c } else { 0 }),
            }
        })
        .collect();
    Acts {
        emb_sum,
        emb_mean,
        emb_rstd,
        hidden,
        layers,
        tmp: k.take(bt * c),
        cls: k.take(b * c),
        cls_last,
        pooled: k.take(b * c),
        pooled_d: k.take(b * c),
        logits: k.take(b * s.labels),
        pooler_lora_h: k.take(if s.pooler_lora { b * r } else { 0 }),
        grads: GradScratch {
            dout: k.take(bt * c),
            dinp: k.take(bt * c),
            dresid: k.take(bt * c),
            dln1: k.take(bt * c),
            dtmp: k.take(bt * c),
            dqkv: k.take(bt * 3 * c),
            datty: k.take(bt * c),
            dfch: k.take(bt * i),
            dfch_act: k.take(bt * i),
            lora_dh: k.take(bt * r),
            lora_xd: k.take(bt * wide),
            lora_dxd: k.take(bt * wide),
            dlogits: k.take(b * s.labels),
            dpooled_d: k.take(b * c),
            dpooled: k.take(b * c),
            dcls: k.take(b * c),
            pad_dy: k.take(if pad { bt * wide } else { 0 }),
            pad_x: k.take(if pad { bt * wide } else { 0 }),
            pad_h: k.take(if pad { bt * r } else { 0 }),
            pad_stats: k.take(if pad { 2 * bt } else { 0 }),
        },
    }
}

/// The arena. Views are laid out for the shape of the last [`TrainActivations::views`] call.
#[derive(Debug, Default)]
pub struct TrainActivations {
    buf: Vec<f32>,
}

impl TrainActivations {
    /// Views for `shape`, growing the buffer if needed (contents are unspecified).
    pub fn views(&mut self, shape: &ActShape) -> Acts<'_> {
        let mut counter = Carver {
            rest: &mut [],
            total: 0,
        };
        carve(&mut counter, shape);
        let need = counter.total;
        if self.buf.len() < need {
            self.buf.resize(need, 0.0);
        }
        carve(
            &mut Carver {
                rest: &mut self.buf[..need],
                total: 0,
            },
            shape,
        )
    }

    /// Floats held, for memory reports.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
