//! [`TrainModel`]: a BERT classifier set up for training in one of the [`TrainMode`]s.

use std::ops::Range;

use tokken_engine::Tensor;

use super::activations::{ActShape, TrainActivations};
use super::backward::train_backward;
use super::dense::Dense;
use super::forward::train_forward;
use super::frozen_packed::FrozenPacked;
use super::lora::{LoraDropout, LoraSite};
use super::loss::loss_forward_backward_weighted;
use super::rng::{site_seed, Rng};
use super::trainable::{ParamMut, Trainable};
use super::{Targets, TrainMode, TrainSetup};
use crate::error::{ModelError, Result};
use crate::forward::BatchInput;
use crate::params::{BertParams, LayerNormParams, LinearParams};

/// The dense modules of a layer, by HF name relative to `encoder.layer.{l}`, in the order
/// of [`LayerSlots::lora`].
pub const LAYER_MODULES: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// A trainable dense layer: weight `[N, K]` and bias `[N]` ranges in the arena.
#[derive(Clone, Debug)]
pub struct LinearSlots {
    pub w: Range<usize>,
    pub b: Range<usize>,
}

/// A trainable LayerNorm: weight and bias `[C]`.
#[derive(Clone, Debug)]
pub struct LnSlots {
    pub w: Range<usize>,
    pub b: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct EmbeddingSlots {
    /// [V, C]
    pub word: Range<usize>,
    /// [P, C]
    pub position: Range<usize>,
    /// [TV, C]
    pub token_type: Range<usize>,
    pub layer_norm: LnSlots,
}

/// What is trainable in one layer (full fine-tune: everything; LoRA: the adapters).
#[derive(Clone, Debug, Default)]
pub struct LayerSlots {
    /// q | k | v fused: `query.weight, key.weight, value.weight` are adjacent in the arena,
    /// as are the three biases.
    pub qkv: Option<LinearSlots>,
    pub attention_output: Option<LinearSlots>,
    pub attention_layer_norm: Option<LnSlots>,
    pub intermediate: Option<LinearSlots>,
    pub output: Option<LinearSlots>,
    pub output_layer_norm: Option<LnSlots>,
    /// LoRA per module of [`LAYER_MODULES`].
    pub lora: [Option<LoraSite>; 6],
}

impl LayerSlots {
    /// Whether a parameter after the attention trains (attention.output, intermediate,
    /// output, their LayerNorms or adapters).
    pub fn after_attention(&self) -> bool {
        self.attention_output.is_some()
            || self.attention_layer_norm.is_some()
            || self.intermediate.is_some()
            || self.output.is_some()
            || self.output_layer_norm.is_some()
            || self.lora[3..].iter().any(Option::is_some)
    }

    fn any(&self) -> bool {
        self.qkv.is_some()
            || self.attention_layer_norm.is_some()
            || self.lora.iter().any(Option::is_some)
    }
}

/// Where every trainable parameter lives.
#[derive(Clone, Debug)]
pub struct Slots {
    pub embeddings: Option<EmbeddingSlots>,
    pub layers: Vec<LayerSlots>,
    pub pooler: Option<LinearSlots>,
    pub pooler_lora: Option<LoraSite>,
    pub classifier: LinearSlots,
}

impl Slots {
    /// The lowest layer the backward must reach (L when only the head trains).
    pub fn first_trainable_layer(&self) -> usize {
        if self.embeddings.is_some() {
            return 0;
        }
        self.layers
            .iter()
            .position(LayerSlots::any)
            .unwrap_or(self.layers.len())
    }

    /// Whether anything below the classifier trains.
    pub fn below_classifier(&self) -> bool {
        self.pooler.is_some()
            || self.pooler_lora.is_some()
            || self.first_trainable_layer() < self.layers.len()
    }
}

/// Dropout site numbers (distinct random streams per step).
pub mod site {
    pub const EMBEDDINGS: u64 = 0;
    pub const CLASSIFIER: u64 = 1;
    pub const POOLER_LORA: u64 = 2;
    pub fn attention_output(l: usize) -> u64 {
        16 + 16 * l as u64
    }
    pub fn ffn_output(l: usize) -> u64 {
        17 + 16 * l as u64
    }
    pub fn lora(l: usize, module: usize) -> u64 {
        18 + 16 * l as u64 + module as u64
    }
    pub fn attention_probs(l: usize) -> u64 {
        30 + 16 * l as u64
    }
}

/// Read-only view of the model for one forward/backward.
pub struct Ctx<'a> {
    pub base: &'a BertParams,
    pub slots: &'a Slots,
    pub values: &'a [f32],
    pub setup: &'a TrainSetup,
    /// The step's dropout seed; None in eval mode.
    pub drop_seed: Option<u64>,
    /// [B, T, C] word embeddings to use instead of looking up `batch.ids` (HF
    /// `inputs_embeds`; explanations interpolate them).
    pub inputs_embeds: Option<&'a [f32]>,
    /// Carry the backward down to the inputs even where nothing trains: d(embeddings sum)
    /// = d(`inputs_embeds`) is left in `grads.dresid` ([`TrainModel::input_gradient`]).
    pub input_grad: bool,
    /// Frozen dense weights packed once (None: every GEMM packs W itself).
    pub packed: Option<&'a FrozenPacked>,
}

impl<'a> Ctx<'a> {
    /// The lowest layer the backward visits: 0 when the input gradient is wanted.
    pub fn first_backward_layer(&self) -> usize {
        if self.input_grad {
            0
        } else {
            self.slots.first_trainable_layer()
        }
    }

    /// Whether the backward goes below the classifier.
    pub fn backward_below_classifier(&self) -> bool {
        self.input_grad || self.slots.below_classifier()
    }

    pub fn dense(&self, frozen: &'a LinearParams, s: &Option<LinearSlots>) -> Result<Dense<'a>> {
        match s {
            Some(s) => Ok(Dense::trainable(
                &self.values[s.w.clone()],
                &self.values[s.b.clone()],
                frozen.out_features,
                frozen.in_features,
            )),
            None => Dense::frozen(frozen, self.packed.and_then(|p| p.get(frozen))),
        }
    }

    /// (weight, bias) of a LayerNorm.
    pub fn ln(
        &self,
        frozen: &'a LayerNormParams,
        s: &Option<LnSlots>,
    ) -> Result<(&'a [f32], &'a [f32])> {
        match s {
            Some(s) => Ok((&self.values[s.w.clone()], &self.values[s.b.clone()])),
            None => Ok((frozen.weight.as_f32()?, frozen.bias.as_f32()?)),
        }
    }

    pub fn table(&self, frozen: &'a Tensor, s: Option<&Range<usize>>) -> Result<&'a [f32]> {
        match s {
            Some(r) => Ok(&self.values[r.clone()]),
            None => Ok(frozen.as_f32()?),
        }
    }

    /// (A, B) of a LoRA site.
    pub fn lora_ab(&self, s: &LoraSite) -> (&'a [f32], &'a [f32]) {
        (&self.values[s.a.clone()], &self.values[s.b.clone()])
    }

    pub fn lora_rank(&self) -> usize {
        self.setup.lora.r
    }

    pub fn lora_scale(&self) -> f32 {
        self.setup.lora.scale()
    }

    fn drop(&self, p: f32, site: u64) -> Option<(f32, u64)> {
        match self.drop_seed {
            Some(seed) if p > 0.0 => Some((p, site_seed(seed, site))),
            _ => None,
        }
    }

    pub fn hidden_drop(&self, site: u64) -> Option<(f32, u64)> {
        self.drop(self.setup.hidden_dropout, site)
    }

    pub fn attention_drop(&self, l: usize) -> Option<(f32, u64)> {
        self.drop(self.setup.attention_dropout, site::attention_probs(l))
    }

    pub fn classifier_drop(&self) -> Option<(f32, u64)> {
        self.drop(self.setup.classifier_dropout, site::CLASSIFIER)
    }

    pub fn lora_drop(&self, s: &LoraSite) -> LoraDropout {
        self.drop(self.setup.lora.dropout, s.site)
    }
}

/// A BERT classifier set up for training: frozen base weights (memory-mapped, no gradient
/// buffers), trainable parameters and gradients in one arena each, saved activations in
/// one arena reused across steps.
pub struct TrainModel {
    base: BertParams,
    setup: TrainSetup,
    slots: Slots,
    params: Trainable,
    acts: TrainActivations,
    /// Frozen dense weights packed once (filled on first use); None: packed per call.
    packed: Option<FrozenPacked>,
    /// Run the last layer after its attention on the [CLS] rows only (the default; see
    /// [`TrainModel::set_last_layer_cls_only`]).
    cls_last: bool,
}

fn add_linear(p: &mut Trainable, name: &str, lin: &LinearParams) -> Result<LinearSlots> {
    let (n, k) = (lin.out_features, lin.in_features);
    Ok(LinearSlots {
        w: p.add(
            format!("{name}.weight"),
            vec![n, k],
            &lin.weight.to_f32_vec(),
        ),
        b: p.add(format!("{name}.bias"), vec![n], &lin.bias.to_f32_vec()),
    })
}

fn add_ln(p: &mut Trainable, name: &str, ln: &LayerNormParams) -> Result<LnSlots> {
    let c = ln.weight.shape()[0];
    Ok(LnSlots {
        w: p.add(format!("{name}.weight"), vec![c], &ln.weight.to_f32_vec()),
        b: p.add(format!("{name}.bias"), vec![c], &ln.bias.to_f32_vec()),
    })
}

fn bad_setup(msg: String) -> ModelError {
    ModelError::Other(format!("training setup: {msg}"))
}

fn check_prob(name: &str, p: f32) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(bad_setup(format!(
            "{name} = {p} is not a probability in [0, 1)"
        )))
    }
}

fn validate(setup: &TrainSetup, labels: usize) -> Result<()> {
    check_prob("hidden_dropout", setup.hidden_dropout)?;
    check_prob("attention_dropout", setup.attention_dropout)?;
    check_prob("classifier_dropout", setup.classifier_dropout)?;
    let loss = &setup.loss;
    if !(0.0..=1.0).contains(&loss.label_smoothing) {
        return Err(bad_setup(format!(
            "label_smoothing = {} is not in [0, 1]",
            loss.label_smoothing
        )));
    }
    if let Some(w) = &loss.class_weights {
        if loss.multi_label {
            return Err(bad_setup(
                "class weights apply to single-label cross-entropy only".into(),
            ));
        }
        if w.len() != labels {
            return Err(bad_setup(format!(
                "{} class weights for {labels} labels",
                w.len()
            )));
        }
        if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(bad_setup(format!(
                "class weights must be finite and >= 0: {w:?}"
            )));
        }
    }
    if loss.multi_label && loss.label_smoothing > 0.0 {
        return Err(bad_setup(
            "label smoothing applies to single-label cross-entropy only".into(),
        ));
    }
    if let Some(h) = &loss.hierarchy {
        crate::hierarchy::loss::check_setup(h, loss, labels)?;
    }
    if setup.mode == TrainMode::Lora {
        let l = &setup.lora;
        check_prob("lora dropout", l.dropout)?;
        if l.r == 0 || !l.alpha.is_finite() {
            return Err(bad_setup(format!(
                "LoRA needs r >= 1 and a finite alpha (r {}, alpha {})",
                l.r, l.alpha
            )));
        }
    }
    Ok(())
}

impl TrainModel {
    /// Set up `base` for training. A missing pooler or classifier is initialised as HF does
    /// (normal(0, initializer_range), zero bias) from `seed`, which also draws the LoRA A
    /// matrices (Kaiming-uniform, in module order); B starts at zero.
    pub fn new(mut base: BertParams, setup: TrainSetup, seed: u64) -> Result<TrainModel> {
        let cfg = base.config.clone();
        let (c, labels) = (cfg.hidden_size, cfg.num_labels());
        validate(&setup, labels)?;
        let mut rng = Rng::new(seed);
        let std = cfg.initializer_range;
        let new_linear = |rng: &mut Rng, n: usize, k: usize| -> Result<LinearParams> {
            Ok(LinearParams {
                weight: Tensor::from_f32(vec![n, k], rng.normal_vec(n * k, std))?,
                bias: Tensor::from_f32(vec![n], vec![0.0; n])?,
                out_features: n,
                in_features: k,
            })
        };
        if base.pooler.is_none() {
            base.pooler = Some(new_linear(&mut rng, c, c)?);
        }
        if base
            .classifier
            .as_ref()
            .is_some_and(|cl| cl.out_features != labels)
        {
            return Err(bad_setup(format!(
                "the checkpoint's classifier has {} outputs but the config has {labels} labels",
                base.classifier.as_ref().map_or(0, |cl| cl.out_features)
            )));
        }
        let classifier = match &base.classifier {
            Some(cl) => cl.clone(),
            None => new_linear(&mut rng, labels, c)?,
        };

        let mut p = Trainable::default();
        let full = setup.mode == TrainMode::Full;
        let embeddings = if full {
            let e = &base.embeddings;
            Some(EmbeddingSlots {
                word: p.add(
                    "bert.embeddings.word_embeddings.weight".into(),
                    e.word_embeddings.shape().to_vec(),
                    &e.word_embeddings.to_f32_vec(),
                ),
                position: p.add(
                    "bert.embeddings.position_embeddings.weight".into(),
                    e.position_embeddings.shape().to_vec(),
                    &e.position_embeddings.to_f32_vec(),
                ),
                token_type: p.add(
                    "bert.embeddings.token_type_embeddings.weight".into(),
                    e.token_type_embeddings.shape().to_vec(),
                    &e.token_type_embeddings.to_f32_vec(),
                ),
                layer_norm: add_ln(&mut p, "bert.embeddings.LayerNorm", &e.layer_norm)?,
            })
        } else {
            None
        };
        let mut layers = Vec::with_capacity(base.layers.len());
        let mut any_lora = false;
        for (l, lp) in base.layers.iter().enumerate() {
            let pre = format!("bert.encoder.layer.{l}");
            let mut s = LayerSlots::default();
            if full {
                // q, k, v weights adjacent (= the fused [3C, C]), then the three biases
                let w = lp.qkv.weight.to_f32_vec();
                let b = lp.qkv.bias.to_f32_vec();
                let mut wr = Vec::new();
                for (m, chunk) in w.chunks_exact(c * c).enumerate() {
                    wr.push(p.add(
                        format!("{pre}.{}.weight", LAYER_MODULES[m]),
                        vec![c, c],
                        chunk,
                    ));
                }
                let mut br = Vec::new();
                for (m, chunk) in b.chunks_exact(c).enumerate() {
                    br.push(p.add(format!("{pre}.{}.bias", LAYER_MODULES[m]), vec![c], chunk));
                }
                s.qkv = Some(LinearSlots {
                    w: wr[0].start..wr[2].end,
                    b: br[0].start..br[2].end,
                });
                s.attention_output = Some(add_linear(
                    &mut p,
                    &format!("{pre}.attention.output.dense"),
                    &lp.attention_output,
                )?);
                s.attention_layer_norm = Some(add_ln(
                    &mut p,
                    &format!("{pre}.attention.output.LayerNorm"),
                    &lp.attention_layer_norm,
                )?);
                s.intermediate = Some(add_linear(
                    &mut p,
                    &format!("{pre}.intermediate.dense"),
                    &lp.intermediate,
                )?);
                s.output = Some(add_linear(
                    &mut p,
                    &format!("{pre}.output.dense"),
                    &lp.output,
                )?);
                s.output_layer_norm = Some(add_ln(
                    &mut p,
                    &format!("{pre}.output.LayerNorm"),
                    &lp.output_layer_norm,
                )?);
            }
            if setup.mode == TrainMode::Lora {
                let dims = [
                    (c, c, 0),
                    (c, c, c),
                    (c, c, 2 * c),
                    (c, c, 0),
                    (cfg.intermediate_size, c, 0),
                    (c, cfg.intermediate_size, 0),
                ];
                for (m, &(n, k, col)) in dims.iter().enumerate() {
                    let module = format!("{pre}.{}", LAYER_MODULES[m]);
                    if setup.lora.targets(&module) {
                        s.lora[m] = Some(add_lora(
                            &mut p,
                            &mut rng,
                            &setup,
                            module,
                            n,
                            k,
                            col,
                            site::lora(l, m),
                        ));
                        any_lora = true;
                    }
                }
            }
            layers.push(s);
        }
        let pooler_lin = base.pooler.clone().expect("pooler set above");
        let pooler = if full {
            Some(add_linear(&mut p, "bert.pooler.dense", &pooler_lin)?)
        } else {
            None
        };
        let pooler_lora =
            if setup.mode == TrainMode::Lora && setup.lora.targets("bert.pooler.dense") {
                any_lora = true;
                Some(add_lora(
                    &mut p,
                    &mut rng,
                    &setup,
                    "bert.pooler.dense".into(),
                    c,
                    c,
                    0,
                    site::POOLER_LORA,
                ))
            } else {
                None
            };
        if setup.mode == TrainMode::Lora && !any_lora {
            return Err(bad_setup(format!(
                "LoRA target modules {:?} match no dense layer (try query, key, value, attention.output.dense, intermediate.dense, output.dense)",
                setup.lora.target_modules
            )));
        }
        let classifier = add_linear(&mut p, "classifier", &classifier)?;
        let slots = Slots {
            embeddings,
            layers,
            pooler,
            pooler_lora,
            classifier,
        };
        let packed = Some(FrozenPacked::new(&base, &slots));
        Ok(TrainModel {
            base,
            setup,
            slots,
            params: p,
            acts: TrainActivations::default(),
            packed,
            cls_last: true,
        })
    }

    pub fn setup(&self) -> &TrainSetup {
        &self.setup
    }

    /// Pack the frozen dense weights once (on, the default) or on every GEMM call (off:
    /// frees the packed copies; see [`super::frozen_packed`] for the memory trade-off).
    /// The results are bit for bit the same either way.
    pub fn set_prepack(&mut self, on: bool) {
        if !on {
            self.packed = None;
        } else if self.packed.is_none() {
            self.packed = Some(FrozenPacked::new(&self.base, &self.slots));
        }
    }

    /// Compute the last encoder layer after its attention (attention.output, intermediate,
    /// output and their LayerNorms, dropouts and LoRA) for each sequence's [CLS] row only
    /// (on, the default) or for every row (off). Everything a `TrainModel` computes (losses,
    /// eval logits, input gradients) reads the last hidden state through the pooler, i.e.
    /// its [CLS] rows only, so the other rows' values are unused and their gradients zero.
    /// Both ways give the same bits: the kept rows draw the same dropout masks
    /// ([`super::cls_rows`]) and the parameter gradients of those modules are summed over
    /// the zero-padded batch ([`super::cls_backward`]). Off is for tests.
    pub fn set_last_layer_cls_only(&mut self, on: bool) {
        self.cls_last = on;
    }

    /// Bytes of the frozen weights' packed copies made so far.
    pub fn prepacked_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, FrozenPacked::bytes)
    }

    pub fn config(&self) -> &crate::config::BertConfig {
        &self.base.config
    }

    fn act_shape(&self, b: usize, t: usize) -> ActShape {
        let cfg = &self.base.config;
        ActShape {
            b,
            t,
            c: cfg.hidden_size,
            i: cfg.intermediate_size,
            nh: cfg.num_attention_heads,
            labels: cfg.num_labels(),
            r: if self.setup.mode == TrainMode::Lora {
                self.setup.lora.r
            } else {
                0
            },
            lora: self
                .slots
                .layers
                .iter()
                .map(|s| std::array::from_fn(|m| s.lora[m].is_some()))
                .collect(),
            pooler_lora: self.slots.pooler_lora.is_some(),
            attn_probs: self.setup.attention_dropout > 0.0,
            cls_last: self.cls_last,
            cls_params: self
                .slots
                .layers
                .last()
                .is_some_and(LayerSlots::after_attention),
        }
    }

    /// One training forward + backward. Returns the (unscaled) mean loss of the batch;
    /// gradients `+= d(loss · loss_scale)/dθ` (with micro-batches of size b out of N,
    /// `loss_scale = b / N` makes the sum the large batch's gradient; exact for the plain
    /// and label-smoothed cross-entropy and for BCE, approximate with class weights, whose
    /// weighted mean normalises by each micro-batch's weight sum). Dropout masks come from
    /// `dropout_seed` (one seed per step gives bit-reproducible runs on the same machine and
    /// thread count).
    pub fn forward_backward(
        &mut self,
        batch: &BatchInput<'_>,
        targets: &Targets<'_>,
        dropout_seed: u64,
        loss_scale: f32,
    ) -> Result<f32> {
        self.forward_backward_weighted(batch, targets, None, dropout_seed, loss_scale)
    }

    /// [`TrainModel::forward_backward`] with per-example loss weights `[B]` (`None`: all 1;
    /// see [`super::loss::loss_forward_backward_weighted`]).
    pub fn forward_backward_weighted(
        &mut self,
        batch: &BatchInput<'_>,
        targets: &Targets<'_>,
        example_weights: Option<&[f32]>,
        dropout_seed: u64,
        loss_scale: f32,
    ) -> Result<f32> {
        batch.check(&self.base)?;
        on_pool(|| {
            let shape = self.act_shape(batch.b, batch.t);
            let mut acts = self.acts.views(&shape);
            let ctx = Ctx {
                base: &self.base,
                slots: &self.slots,
                values: &self.params.values,
                setup: &self.setup,
                drop_seed: Some(dropout_seed),
                inputs_embeds: None,
                input_grad: false,
                packed: self.packed.as_ref(),
            };
            train_forward(&ctx, &mut acts, batch)?;
            let loss = loss_forward_backward_weighted(
                acts.grads.dlogits,
                acts.logits,
                targets,
                example_weights,
                &self.setup.loss,
                batch.b,
                shape.labels,
            )?;
            for d in acts.grads.dlogits.iter_mut() {
                *d *= loss_scale;
            }
            train_backward(&ctx, &mut self.params.grads, &mut acts, batch)?;
            Ok(loss)
        })
    }

    /// Eval-mode logits `[B, NL]` (no dropout) with the current parameters.
    pub fn forward_logits(&mut self, batch: &BatchInput<'_>) -> Result<&[f32]> {
        batch.check(&self.base)?;
        let shape = self.act_shape(batch.b, batch.t);
        let mut acts = self.acts.views(&shape);
        let ctx = Ctx {
            base: &self.base,
            slots: &self.slots,
            values: &self.params.values,
            setup: &self.setup,
            drop_seed: None,
            inputs_embeds: None,
            input_grad: false,
            packed: self.packed.as_ref(),
        };
        train_forward(&ctx, &mut acts, batch)?;
        Ok(acts.logits)
    }

    /// Eval-mode forward (no dropout) from `inputs_embeds` ([B, T, C] word embeddings, HF's
    /// `inputs_embeds`; `None`: looked up from `batch.ids`), then the backward of
    /// `Σ dlogits · logits` down to the inputs: `dinputs_embeds` [B, T, C] is overwritten
    /// with d/d(`inputs_embeds`) (= d/d(word + position + token type sum)). Returns the
    /// logits [B, NL]. Trainable parameters' gradients accumulate as in
    /// [`TrainModel::forward_backward`]; frozen weights get none.
    pub fn input_gradient(
        &mut self,
        batch: &BatchInput<'_>,
        inputs_embeds: Option<&[f32]>,
        dlogits: &[f32],
        dinputs_embeds: &mut [f32],
    ) -> Result<Vec<f32>> {
        batch.check(&self.base)?;
        let shape = self.act_shape(batch.b, batch.t);
        let n = batch.b * batch.t * shape.c;
        if inputs_embeds.is_some_and(|e| e.len() != n) || dinputs_embeds.len() != n {
            return Err(ModelError::Input(format!(
                "input_gradient: inputs_embeds and their gradient must be [B, T, C] = {n} values"
            )));
        }
        if dlogits.len() != batch.b * shape.labels {
            return Err(ModelError::Input(format!(
                "input_gradient: dlogits must be [B, NL] = {} values",
                batch.b * shape.labels
            )));
        }
        let mut acts = self.acts.views(&shape);
        let ctx = Ctx {
            base: &self.base,
            slots: &self.slots,
            values: &self.params.values,
            setup: &self.setup,
            drop_seed: None,
            inputs_embeds,
            input_grad: true,
            packed: self.packed.as_ref(),
        };
        train_forward(&ctx, &mut acts, batch)?;
        acts.grads.dlogits.copy_from_slice(dlogits);
        train_backward(&ctx, &mut self.params.grads, &mut acts, batch)?;
        dinputs_embeds.copy_from_slice(&acts.grads.dresid[..n]);
        Ok(acts.logits.to_vec())
    }

    /// Bytes held by the activation arena (saved activations + gradient scratch), grown to
    /// the largest batch seen; the parameter and gradient arenas add `8 × num_trainable()`.
    pub fn activation_bytes(&self) -> usize {
        4 * self.acts.len()
    }

    pub fn zero_grads(&mut self) {
        self.params.zero_grads();
    }

    /// What a device backend (`crate::cuda::CudaLoraStep`) reads and writes: the frozen
    /// base, where every trainable lives, the setup, the parameter values and the gradient
    /// arena (gradients accumulate there as in [`TrainModel::forward_backward`]).
    pub fn parts_mut(&mut self) -> (&BertParams, &Slots, &TrainSetup, &[f32], &mut [f32]) {
        (
            &self.base,
            &self.slots,
            &self.setup,
            &self.params.values,
            &mut self.params.grads,
        )
    }

    /// Every trainable tensor with its gradient, for the optimizer.
    pub fn trainable_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.params.params_mut()
    }

    /// HF state-dict keys of the trainable tensors, in arena order.
    pub fn trainable_names(&self) -> Vec<String> {
        self.params.slots.iter().map(|s| s.name.clone()).collect()
    }

    /// Number of trainable scalars.
    pub fn num_trainable(&self) -> usize {
        self.params.values.len()
    }

    /// Trainable tensors by name with their shapes (checkpoints, adapter files).
    pub fn state_tensors(&self) -> Vec<(String, Vec<f32>, Vec<usize>)> {
        self.params
            .slots
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    self.params.values[s.range.clone()].to_vec(),
                    s.shape.clone(),
                )
            })
            .collect()
    }

    /// Inverse of [`TrainModel::state_tensors`]: every trainable tensor must be given,
    /// with its shape; unknown names are errors.
    pub fn load_state(&mut self, tensors: &[(String, Vec<f32>, Vec<usize>)]) -> Result<()> {
        for (name, values, shape) in tensors {
            let slot = self.params.slots.iter().find(|s| &s.name == name).ok_or_else(|| {
                ModelError::Other(format!(
                    "load_state: `{name}` is not a trainable tensor of this model (mode {:?}); expected one of {:?}",
                    self.setup.mode,
                    self.trainable_names()
                ))
            })?;
            if &slot.shape != shape || values.len() != slot.range.len() {
                return Err(ModelError::BadShape {
                    source_name: "load_state".into(),
                    key: name.clone(),
                    expected: slot.shape.clone(),
                    found: shape.clone(),
                });
            }
        }
        for slot in &self.params.slots {
            if !tensors.iter().any(|(n, _, _)| n == &slot.name) {
                return Err(ModelError::MissingTensor {
                    source_name: "load_state".into(),
                    key: slot.name.clone(),
                });
            }
        }
        for (name, values, _) in tensors {
            let slot = self
                .params
                .slots
                .iter()
                .find(|s| &s.name == name)
                .expect("checked");
            self.params.values[slot.range.clone()].copy_from_slice(values);
        }
        Ok(())
    }

    /// Plain BERT parameters with every trained value in place and LoRA merged
    /// (`W + scale · B · A`), for `merge` and fast inference. Dense weights come out f32.
    pub fn merged(&self) -> Result<BertParams> {
        let v = &self.params.values;
        let tensor =
            |r: &Range<usize>, shape: Vec<usize>| Tensor::from_f32(shape, v[r.clone()].to_vec());
        let linear = |lin: &LinearParams, s: &Option<LinearSlots>| -> Result<LinearParams> {
            Ok(match s {
                Some(s) => LinearParams {
                    weight: tensor(&s.w, vec![lin.out_features, lin.in_features])?,
                    bias: tensor(&s.b, vec![lin.out_features])?,
                    ..lin.clone()
                },
                None => lin.clone(),
            })
        };
        let ln = |p: &LayerNormParams, s: &Option<LnSlots>| -> Result<LayerNormParams> {
            Ok(match s {
                Some(s) => LayerNormParams {
                    weight: tensor(&s.w, p.weight.shape().to_vec())?,
                    bias: tensor(&s.b, p.bias.shape().to_vec())?,
                },
                None => p.clone(),
            })
        };
        let scale = self.setup.lora.scale();
        let r = self.setup.lora.r;
        // W[col.., :] += scale · B A
        let merge = |lin: LinearParams, sites: &[&LoraSite]| -> Result<LinearParams> {
            if sites.is_empty() {
                return Ok(lin);
            }
            let mut w = lin.weight.to_f32_vec();
            for s in sites {
                let (a, b) = (&v[s.a.clone()], &v[s.b.clone()]);
                tokken_kernels::cpu::gemm::sgemm(
                    tokken_kernels::cpu::gemm::Trans::N,
                    tokken_kernels::cpu::gemm::Trans::N,
                    s.n,
                    s.k,
                    r,
                    scale,
                    b,
                    r,
                    a,
                    s.k,
                    1.0,
                    &mut w[s.col * s.k..],
                    s.k,
                );
            }
            Ok(LinearParams {
                weight: Tensor::from_f32(vec![lin.out_features, lin.in_features], w)?,
                ..lin
            })
        };
        let mut out = self.base.clone();
        if let Some(e) = &self.slots.embeddings {
            let be = &self.base.embeddings;
            out.embeddings.word_embeddings = tensor(&e.word, be.word_embeddings.shape().to_vec())?;
            out.embeddings.position_embeddings =
                tensor(&e.position, be.position_embeddings.shape().to_vec())?;
            out.embeddings.token_type_embeddings =
                tensor(&e.token_type, be.token_type_embeddings.shape().to_vec())?;
            out.embeddings.layer_norm = ln(&be.layer_norm, &Some(e.layer_norm.clone()))?;
        }
        for ((o, bl), s) in out
            .layers
            .iter_mut()
            .zip(&self.base.layers)
            .zip(&self.slots.layers)
        {
            let sites = |ms: &[usize]| -> Vec<&LoraSite> {
                ms.iter().filter_map(|&m| s.lora[m].as_ref()).collect()
            };
            o.qkv = merge(linear(&bl.qkv, &s.qkv)?, &sites(&[0, 1, 2]))?;
            o.attention_output = merge(
                linear(&bl.attention_output, &s.attention_output)?,
                &sites(&[3]),
            )?;
            o.attention_layer_norm = ln(&bl.attention_layer_norm, &s.attention_layer_norm)?;
            o.intermediate = merge(linear(&bl.intermediate, &s.intermediate)?, &sites(&[4]))?;
            o.output = merge(linear(&bl.output, &s.output)?, &sites(&[5]))?;
            o.output_layer_norm = ln(&bl.output_layer_norm, &s.output_layer_norm)?;
        }
        let pooler = self.base.pooler.as_ref().expect("set in new");
        let pooler_sites: Vec<&LoraSite> = self.slots.pooler_lora.iter().collect();
        out.pooler = Some(merge(linear(pooler, &self.slots.pooler)?, &pooler_sites)?);
        let cl = &self.slots.classifier;
        let labels = self.base.config.num_labels();
        let c = self.base.config.hidden_size;
        out.classifier = Some(LinearParams {
            weight: tensor(&cl.w, vec![labels, c])?,
            bias: tensor(&cl.b, vec![labels])?,
            out_features: labels,
            in_features: c,
        });
        Ok(out)
    }
}

/// Run `f` on a worker of rayon's global pool: the many parallel kernels of a step then
/// fork and join inside the pool instead of each waking the pool from outside and blocking
/// the calling thread (results do not depend on the thread).
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

#[allow(clippy::too_many_arguments)]
fn add_lora(
    p: &mut Trainable,
    rng: &mut Rng,
    setup: &TrainSetup,
    module: String,
    n: usize,
    k: usize,
    col: usize,
    site: u64,
) -> LoraSite {
    let r = setup.lora.r;
    // kaiming_uniform_(a = √5) on [R, K]: bound = √(6 / ((1 + 5) K)) = 1/√K
    let a_init = rng.uniform_vec(r * k, 1.0 / (k as f64).sqrt());
    let a = p.add(format!("{module}.lora_A.weight"), vec![r, k], &a_init);
    let b = p.add(
        format!("{module}.lora_B.weight"),
        vec![n, r],
        &vec![0.0; n * r],
    );
    LoraSite {
        module,
        a,
        b,
        col,
        n,
        k,
        site,
    }
}
