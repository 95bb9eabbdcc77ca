//! Training: explicit backward mirrored on the forward (llm.c style, no autograd tape),
//! LoRA with PEFT semantics, and the three training modes.
//!
//! Layout: [`TrainModel`] ([`model`]) owns the frozen base weights (memory-mapped, no
//! gradient buffers), the trainable parameters and their gradients in one arena each
//! ([`trainable`]) and the saved activations in one arena ([`activations`]).
//! [`forward`] is the training forward (same kernels as inference, keeping what the
//! backward needs); [`backward`] walks it in reverse: [`head_backward`] →
//! [`layer_backward`] × L → [`embeddings_backward`]. [`dense`] holds the dense-layer
//! forward/backward shared by all of them, [`lora`] the low-rank update, [`loss`] the losses.
//! The head reads only each sequence's [CLS] row of the last hidden state, so the last
//! layer runs after its attention on those B rows only ([`cls_rows`], [`cls_backward`];
//! bit for bit the full computation, [`TrainModel::set_last_layer_cls_only`]).
//!
//! Parameter names are the HF `BertForSequenceClassification` state-dict keys
//! (`bert.encoder.layer.0.attention.self.query.lora_A.weight`, `classifier.weight`, ...);
//! PEFT's `adapter_model.safetensors` keys are these with the prefix `base_model.model.`.
//!
//! Dropout sites mirror HF: after the embeddings LayerNorm, on the attention probabilities,
//! on the attention output and the feed-forward output before each residual, before the
//! classifier, and on the LoRA input. Every site has its own counter-based stream derived
//! from the step's seed, so a run is bit-reproducible. Attention-probability dropout runs
//! an unfused attention ([`attention_dropout`], P saved per layer) because the fused kernel
//! has no dropout hook yet; with `attention_dropout = 0` the fused kernel is used.

pub mod activations;
pub mod attention_dropout;
pub mod backward;
pub mod cls_backward;
pub mod cls_rows;
pub mod dense;
pub mod embeddings_backward;
pub mod forward;
pub mod frozen_packed;
pub mod head_backward;
pub mod layer_backward;
pub mod lora;
pub mod loss;
pub mod model;
pub mod precision;
pub mod rng;
pub mod trainable;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

pub use lora::LoraConfig;
pub use model::TrainModel;
pub use precision::TrainDtype;
pub use trainable::ParamMut;

/// What is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainMode {
    /// LoRA adapters on the target modules + the classifier (PEFT `SEQ_CLS`
    /// `modules_to_save`); everything else frozen.
    Lora,
    /// Every parameter (embeddings, layers, pooler, classifier).
    Full,
    /// The classifier only.
    HeadOnly,
}

/// The loss on the logits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Per-class weights `[NL]` of the cross-entropy (torch `weight`: weighted mean).
    pub class_weights: Option<Vec<f32>>,
    /// ε of torch `label_smoothing` (single-label only).
    pub label_smoothing: f32,
    /// Multi-label: sigmoid BCE with logits over `[B, NL]` 0/1 targets (mean over B·NL).
    pub multi_label: bool,
    /// Hierarchical: the logits are the label tree's nodes and the loss is the weighted sum
    /// of the per-level masked cross-entropies ([`crate::hierarchy::loss`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<crate::hierarchy::HierarchyLoss>,
}

/// Targets of one batch.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// [B] class indices
    Single(&'a [i32]),
    /// [B, NL] 0/1
    Multi(&'a [f32]),
}

/// Everything [`TrainModel::new`] needs besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSetup {
    pub mode: TrainMode,
    pub lora: LoraConfig,
    pub loss: LossConfig,
    /// HF `hidden_dropout_prob`: after the embeddings LayerNorm and before both residuals.
    pub hidden_dropout: f32,
    /// HF `attention_probs_dropout_prob`, on the attention probabilities.
    pub attention_dropout: f32,
    /// HF `classifier_dropout`, or `hidden_dropout_prob` when that is null.
    pub classifier_dropout: f32,
}

/// Dropout probabilities as a model dir's `config.json` gives them (HF defaults 0.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigDropouts {
    pub hidden: f32,
    pub attention: f32,
    pub classifier: f32,
}

impl ConfigDropouts {
    /// Read `hidden_dropout_prob`, `attention_probs_dropout_prob` and `classifier_dropout`
    /// from `config.json` (absent fields take HF's defaults; a null classifier dropout falls
    /// back to the hidden dropout, as `BertForSequenceClassification` does).
    pub fn from_file(path: &Path) -> Result<ConfigDropouts> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ModelError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        let prob = |field: &str| -> Result<Option<f32>> {
            match value.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(p) if (0.0..1.0).contains(&p) => Ok(Some(p as f32)),
                    _ => Err(ModelError::Config {
                        path: path.to_path_buf(),
                        field: field.to_string(),
                        msg: format!("expected a probability in [0, 1), found {v}"),
                    }),
                },
            }
        };
        let hidden = prob("hidden_dropout_prob")?.unwrap_or(0.1);
        Ok(ConfigDropouts {
            hidden,
            attention: prob("attention_probs_dropout_prob")?.unwrap_or(0.1),
            classifier: prob("classifier_dropout")?.unwrap_or(hidden),
        })
    }
}

impl TrainSetup {
    /// A setup whose dropouts are the model's own (`config.json`).
    pub fn with_dropouts(
        mode: TrainMode,
        lora: LoraConfig,
        loss: LossConfig,
        d: ConfigDropouts,
    ) -> TrainSetup {
        TrainSetup {
            mode,
            lora,
            loss,
            hidden_dropout: d.hidden,
            attention_dropout: d.attention,
            classifier_dropout: d.classifier,
        }
    }

    /// The same setup with every dropout off (gradient checks, deterministic tests).
    pub fn without_dropout(mut self) -> TrainSetup {
        self.hidden_dropout = 0.0;
        self.attention_dropout = 0.0;
        self.classifier_dropout = 0.0;
        self.lora.dropout = 0.0;
        self
    }
}
