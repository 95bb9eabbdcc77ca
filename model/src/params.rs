//! `BertParams`: a BERT encoder's parameters, found by their HF key names.
//!
//! Accepted key layouts:
//! - `BertModel`: no prefix (`embeddings.word_embeddings.weight`, ...);
//! - `BertForSequenceClassification`: `bert.` prefix, plus `classifier.{weight,bias}`;
//! - `BertForPreTraining` / `BertForMaskedLM`: `bert.` prefix; `cls.*` is ignored and the
//!   classification head is absent (`BertForMaskedLM` has no pooler either).
//!
//! Frozen f32 weights stay memory-mapped (cheap `Tensor` clones of the loaded file); the
//! fused QKV weight `[3C, C]` and bias `[3C]` are built once here. [`BertParams::prepack`]
//! adds packed copies of the encoder's dense weights for fast small-batch forwards.

use std::sync::Arc;

use tokken_engine::{DType, Tensor, Weights};
use tokken_kernels::cpu::gemm::lanes_supported;

use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::prepacked::{LayerPrepacked, ModelPrepacked, Prepacked};

/// `LayerNorm.{weight,bias}`, both `[C]`, f32.
#[derive(Clone, Debug)]
pub struct LayerNormParams {
    /// [C]
    pub weight: Tensor,
    /// [C]
    pub bias: Tensor,
}

/// A dense layer `y = x · Wᵀ + b`.
#[derive(Clone, Debug)]
pub struct LinearParams {
    /// [out, in], f32 or bf16 (see [`BertParams::to_dtype`]).
    pub weight: Tensor,
    /// [out], always f32.
    pub bias: Tensor,
    pub out_features: usize,
    pub in_features: usize,
}

/// `embeddings.*`
#[derive(Clone, Debug)]
pub struct EmbeddingParams {
    /// [V, C]
    pub word_embeddings: Tensor,
    /// [P, C]
    pub position_embeddings: Tensor,
    /// [TV, C]
    pub token_type_embeddings: Tensor,
    pub layer_norm: LayerNormParams,
}

/// `encoder.layer.{l}.*`
#[derive(Clone, Debug)]
pub struct LayerParams {
    /// `attention.self.{query,key,value}` fused: weight [3C, C] (rows q | k | v), bias [3C].
    pub qkv: LinearParams,
    /// `attention.output.dense`: [C, C]
    pub attention_output: LinearParams,
    /// `attention.output.LayerNorm`
    pub attention_layer_norm: LayerNormParams,
    /// `intermediate.dense`: [I, C]
    pub intermediate: LinearParams,
    /// `output.dense`: [C, I]
    pub output: LinearParams,
    /// `output.LayerNorm`
    pub output_layer_norm: LayerNormParams,
}

/// All parameters of a BERT encoder with its optional pooler and classification head.
#[derive(Clone, Debug)]
pub struct BertParams {
    pub config: BertConfig,
    pub embeddings: EmbeddingParams,
    /// L layers.
    pub layers: Vec<LayerParams>,
    /// `pooler.dense`: [C, C] (absent in `BertForMaskedLM` checkpoints).
    pub pooler: Option<LinearParams>,
    /// `classifier`: [NL, C] (absent in base / pre-training checkpoints).
    pub classifier: Option<LinearParams>,
    /// Packed copies of the layers' dense weights ([`BertParams::prepack`]); None: the
    /// forward packs weights per call (zero-copy, half the memory).
    pub prepacked: Option<Arc<ModelPrepacked>>,
}

/// Key lookup with the checkpoint's prefix, shape checks and f32 conversion.
struct Lookup<'a> {
    weights: &'a Weights,
    prefix: &'static str,
    source: &'a str,
}

impl Lookup<'_> {
    /// The tensor at `prefix + key` (or the pre-2019 `gamma`/`beta` LayerNorm names),
    /// checked to have `shape`, as f32 (mapped, not copied, when stored as f32).
    fn get(&self, key: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_opt(key, shape)?
            .ok_or_else(|| ModelError::MissingTensor {
                source_name: self.source.to_string(),
                key: format!("{}{key}", self.prefix),
            })
    }

    fn get_opt(&self, key: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        let full = format!("{}{key}", self.prefix);
        let t = match self.weights.get(&full) {
            Some(t) => t,
            None => match legacy_layer_norm_name(&full).and_then(|k| self.weights.get(&k)) {
                Some(t) => t,
                None => return Ok(None),
            },
        };
        if t.shape() != shape {
            return Err(ModelError::BadShape {
                source_name: self.source.to_string(),
                key: full,
                expected: shape.to_vec(),
                found: t.shape().to_vec(),
            });
        }
        Ok(Some(to_f32(t)?))
    }

    fn has(&self, key: &str) -> bool {
        self.weights.get(&format!("{}{key}", self.prefix)).is_some()
    }

    fn layer_norm(&self, key: &str, c: usize) -> Result<LayerNormParams> {
        Ok(LayerNormParams {
            weight: self.get(&format!("{key}.weight"), &[c])?,
            bias: self.get(&format!("{key}.bias"), &[c])?,
        })
    }

    fn linear(&self, key: &str, out_features: usize, in_features: usize) -> Result<LinearParams> {
        Ok(LinearParams {
            weight: self.get(&format!("{key}.weight"), &[out_features, in_features])?,
            bias: self.get(&format!("{key}.bias"), &[out_features])?,
            out_features,
            in_features,
        })
    }

    /// A linear layer that may be absent; half of one present is an error.
    fn linear_opt(&self, key: &str, out_f: usize, in_f: usize) -> Result<Option<LinearParams>> {
        if self.has(&format!("{key}.weight")) || self.has(&format!("{key}.bias")) {
            self.linear(key, out_f, in_f).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// TF-era checkpoints name LayerNorm parameters `gamma` / `beta`; HF renames them on load.
fn legacy_layer_norm_name(key: &str) -> Option<String> {
    if !key.contains("LayerNorm") {
        return None;
    }
    key.strip_suffix(".weight")
        .map(|k| format!("{k}.gamma"))
        .or_else(|| key.strip_suffix(".bias").map(|k| format!("{k}.beta")))
}

/// f32 view of a tensor: the same (possibly mapped) storage when already f32.
fn to_f32(t: &Tensor) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        Ok(t.clone())
    } else {
        Ok(t.to_dtype(DType::F32))
    }
}

/// Concatenate row blocks `[r_i, C]` into one owned `[Σr_i, C]` f32 tensor.
fn concat_rows(parts: &[&Tensor]) -> Result<Tensor> {
    let cols = parts[0].shape().last().copied().unwrap_or(1);
    let mut data = Vec::with_capacity(parts.iter().map(|p| p.numel()).sum());
    let mut rows = 0;
    for p in parts {
        data.extend_from_slice(p.as_f32()?);
        rows += p.shape().iter().rev().skip(1).product::<usize>();
    }
    let shape = if parts[0].shape().len() == 1 {
        vec![data.len()]
    } else {
        vec![rows, cols]
    };
    Ok(Tensor::from_f32(shape, data)?)
}

impl BertParams {
    /// Find every parameter of `config`'s model in `weights`; `source` names the file in errors.
    pub fn from_weights(
        config: &BertConfig,
        weights: &Weights,
        source: &str,
    ) -> Result<BertParams> {
        let c = config.hidden_size;
        let i = config.intermediate_size;
        // `bert.` for the task models, none for a bare BertModel.
        let prefix = if weights
            .get("bert.embeddings.word_embeddings.weight")
            .is_some()
        {
            "bert."
        } else {
            ""
        };
        let w = Lookup {
            weights,
            prefix,
            source,
        };
        let embeddings = EmbeddingParams {
            word_embeddings: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, c])?,
            position_embeddings: w.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, c],
            )?,
            token_type_embeddings: w.get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, c],
            )?,
            layer_norm: w.layer_norm("embeddings.LayerNorm", c)?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let q = w.linear(&format!("{p}.attention.self.query"), c, c)?;
            let k = w.linear(&format!("{p}.attention.self.key"), c, c)?;
            let v = w.linear(&format!("{p}.attention.self.value"), c, c)?;
            let qkv = LinearParams {
                // Stacked, not copied: mapped f32 weights stay mapped (the forward, packing,
                // conversions and training's copies read the parts).
                weight: Tensor::stack_rows(&[q.weight, k.weight, v.weight])?,
                bias: concat_rows(&[&q.bias, &k.bias, &v.bias])?,
                out_features: 3 * c,
                in_features: c,
            };
            layers.push(LayerParams {
                qkv,
                attention_output: w.linear(&format!("{p}.attention.output.dense"), c, c)?,
                attention_layer_norm: w
                    .layer_norm(&format!("{p}.attention.output.LayerNorm"), c)?,
                intermediate: w.linear(&format!("{p}.intermediate.dense"), i, c)?,
                output: w.linear(&format!("{p}.output.dense"), c, i)?,
                output_layer_norm: w.layer_norm(&format!("{p}.output.LayerNorm"), c)?,
            });
        }
        // The classifier sits outside the `bert.` prefix.
        let head = Lookup {
            weights,
            prefix: "",
            source,
        };
        Ok(BertParams {
            config: config.clone(),
            embeddings,
            layers,
            pooler: w.linear_opt("pooler.dense", c, c)?,
            classifier: head.linear_opt("classifier", config.num_labels(), c)?,
            prepacked: None,
        })
    }

    /// Load `config.json` and the weights (`model.safetensors`, else `pytorch_model.bin`)
    /// of a model dir.
    pub fn load(dir: &std::path::Path) -> Result<BertParams> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let weights = Weights::load(dir)?;
        BertParams::from_weights(&config, &weights, &dir.display().to_string())
    }

    /// Every dense layer's weight in `dtype` (f32 or bf16), converted once. Embeddings,
    /// LayerNorm parameters and biases stay f32.
    pub fn to_dtype(&self, dtype: DType) -> Result<BertParams> {
        let conv = |lin: &LinearParams| -> Result<LinearParams> {
            let weight = if lin.weight.dtype() == dtype {
                lin.weight.clone()
            } else {
                lin.weight.to_dtype(dtype)
            };
            Ok(LinearParams {
                weight,
                ..lin.clone()
            })
        };
        let mut out = self.clone();
        out.prepacked = None;
        for layer in &mut out.layers {
            layer.qkv = conv(&layer.qkv)?;
            layer.attention_output = conv(&layer.attention_output)?;
            layer.intermediate = conv(&layer.intermediate)?;
            layer.output = conv(&layer.output)?;
        }
        out.pooler = out.pooler.as_ref().map(&conv).transpose()?;
        out.classifier = out.classifier.as_ref().map(&conv).transpose()?;
        Ok(out)
    }

    /// Pack every layer's dense weights once for the GEMM kernels, in their current dtype
    /// (see [`crate::prepacked`] for the memory trade-off). Idempotent; a later weight
    /// change (dtype conversion, LoRA merge) silently falls back to unpacked GEMMs.
    pub fn prepack(&mut self) -> Result<()> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                Ok(LayerPrepacked {
                    qkv: Prepacked::new(&l.qkv)?,
                    attention_output: Prepacked::new(&l.attention_output)?,
                    intermediate: Prepacked::new(&l.intermediate)?,
                    output: Prepacked::new(&l.output)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let pooler = self.pooler.as_ref().map(Prepacked::new).transpose()?;
        // Only where the token-lanes path runs (weights packed for it), its only user.
        let last_query = match (self.layers.last(), layers.last()) {
            (Some(l), Some(packed))
                if packed.qkv.get(&l.qkv.weight).is_some_and(lanes_supported) =>
            {
                Some(Prepacked::first_rows(&l.qkv, self.config.hidden_size)?)
            }
            _ => None,
        };
        self.prepacked = Some(Arc::new(ModelPrepacked {
            layers,
            pooler,
            last_query,
        }));
        Ok(())
    }

    /// Layer `l`'s packed weights, if [`BertParams::prepack`] ran.
    pub fn layer_prepacked(&self, l: usize) -> Option<&LayerPrepacked> {
        self.prepacked.as_ref().and_then(|p| p.layers.get(l))
    }

    /// The last layer's packed query rows, if [`BertParams::prepack`] ran on an f32 model.
    pub fn last_query_prepacked(&self) -> Option<&Prepacked> {
        self.prepacked.as_ref().and_then(|p| p.last_query.as_ref())
    }

    /// The pooler's packed weight, if [`BertParams::prepack`] ran.
    pub fn pooler_prepacked(&self) -> Option<&Prepacked> {
        self.prepacked.as_ref().and_then(|p| p.pooler.as_ref())
    }

    /// The dtype of the dense-layer weights.
    pub fn dtype(&self) -> DType {
        self.layers
            .first()
            .map_or(DType::F32, |l| l.qkv.weight.dtype())
    }
}
