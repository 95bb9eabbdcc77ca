//! Training precision. `f32` is the reference. `bf16` converts the frozen base model's
//! dense weights to bf16 once; their GEMMs (forward `Y = X · Wᵀ` and the input gradient
//! `dX = dY · W`) then run on the bf16 kernels with f32 accumulation
//! (`gemm_f32_bf16`: activations and output gradients rounded to bf16 while packing).
//! Everything that trains or is summed stays f32: LoRA A/B and the classifier (master
//! weights, gradients, AdamW state), LayerNorm, softmax, GELU, attention, the loss and
//! every activation buffer — so the LoRA update follows f32 training closely (the measured
//! gradient agreement is in `tests/train_bf16.rs`).
//!
//! Full fine-tuning trains every dense weight in f32, so there is nothing frozen to run in
//! bf16: it is refused rather than silently run in f32.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokken_engine::DType;

use super::TrainMode;
use crate::error::{ModelError, Result};
use crate::params::BertParams;

/// Precision of the frozen base weights during training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainDtype {
    /// f32 everywhere (reference).
    #[default]
    F32,
    /// Frozen dense weights in bf16, GEMMs on the bf16 kernels with f32 accumulation.
    Bf16,
}

impl TrainDtype {
    pub fn name(self) -> &'static str {
        match self {
            TrainDtype::F32 => "f32",
            TrainDtype::Bf16 => "bf16",
        }
    }
}

impl FromStr for TrainDtype {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<TrainDtype> {
        match s {
            "f32" => Ok(TrainDtype::F32),
            "bf16" => Ok(TrainDtype::Bf16),
            other => Err(ModelError::Input(format!(
                "training dtype `{other}`: use f32 or bf16"
            ))),
        }
    }
}

/// The base model as training in `dtype` reads it: unchanged for f32; for bf16 every frozen
/// dense weight converted once (round to nearest even). Embeddings, LayerNorm parameters,
/// biases and the classifier (it trains: its f32 values initialise the master weights) stay
/// f32. Errors for bf16 with full fine-tuning (see the module docs).
pub fn base_for_training(
    params: BertParams,
    dtype: TrainDtype,
    mode: TrainMode,
) -> Result<BertParams> {
    match dtype {
        TrainDtype::F32 => Ok(params),
        TrainDtype::Bf16 if mode == TrainMode::Full => Err(ModelError::Input(
            "bf16 training runs the frozen base weights in bf16; full fine-tuning has no \
             frozen dense weights (they all train in f32), so use --dtype f32 for --mode full"
                .into(),
        )),
        TrainDtype::Bf16 => {
            let mut out = params.to_dtype(DType::BF16)?;
            out.classifier = params.classifier;
            Ok(out)
        }
    }
}
