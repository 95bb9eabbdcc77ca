//! The training loop: batches → [`TrainModel::forward_backward`] (with gradient
//! accumulation) → clipping → AdamW on the trainable parameters → schedule; evaluation each
//! epoch, the best model kept by macro-F1, early stopping, resumable checkpoints.
//!
//! Files ([`Trainer`] writes all of them atomically into the run dir):
//! - `train_config.json`: the [`TrainConfig`] plus where the data and base model are (what
//!   `--resume` needs to continue);
//! - `train_log.jsonl`: one line per optimizer step and per evaluation;
//! - `checkpoint/`: the last state (trainable tensors, AdamW moments, counters), replaced
//!   as a whole;
//! - the exported model ([`export`]): the best one by eval macro-F1, else the last;
//! - `metrics.json`: the best evaluation.
//!
//! Reproducibility: the batch order of an epoch depends only on `(seed, epoch)` and each
//! micro-batch's dropout seed only on `(seed, step, micro-batch)`, so a resumed run continues
//! exactly as the uninterrupted one would have (bit-for-bit with the same thread count).

pub mod batching;
pub mod checkpoint;
pub mod export;
pub mod hier_eval;
pub mod multi_label_eval;
pub mod optimizer;
pub mod run_loop;
pub mod start;
pub mod thresholds;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::train::TrainSetup;

pub use batching::{EncodedSet, PaddedBatch};
pub use optimizer::{AdamW, AdamWConfig};
pub use run_loop::{Event, Trainer};

/// Learning-rate schedule after the warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Linear decay to 0 at the last step (HF `linear`).
    Linear,
    /// Half-cosine decay to 0 (HF `cosine`).
    Cosine,
    /// Constant after the warmup (HF `constant_with_warmup`).
    Constant,
}

/// Everything that decides how a run trains (saved as `train_config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The base model dir.
    pub model: PathBuf,
    /// Training data file.
    pub train: PathBuf,
    /// Eval data file (`None` with `eval_split`: held out of `train`; both `None`: no eval).
    pub eval: Option<PathBuf>,
    /// Fraction of `train` held out (stratified, seeded) when `eval` is `None`.
    pub eval_split: Option<f64>,
    pub text_field: String,
    pub label_field: Option<String>,
    pub multi_label: bool,
    /// Class names in index order.
    pub labels: Vec<String>,
    /// Mode, LoRA, loss and dropouts.
    pub setup: TrainSetup,
    /// Set the loss's class weights to inverse class frequency in the training data
    /// (`n / (NL · count)`, scikit-learn's `balanced`).
    pub auto_class_weights: bool,
    /// Epochs (ignored when `max_steps` is set).
    pub epochs: usize,
    /// Optimizer steps in all (overrides `epochs`).
    pub max_steps: Option<u64>,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step (the step's loss is the mean over all its examples).
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub adamw: AdamWConfig,
    /// Warmup as a fraction of all steps (used when `warmup_steps` is `None`).
    pub warmup_ratio: f64,
    pub warmup_steps: Option<u64>,
    pub schedule: ScheduleKind,
    /// Longest input in tokens, `[CLS]`/`[SEP]` included.
    pub max_length: usize,
    pub seed: u64,
    /// Shuffle (and group by length) each epoch; off: file order.
    pub shuffle: bool,
    /// Evaluate after each epoch (when there is eval data).
    pub eval_every_epoch: bool,
    /// Stop after this many evaluations without a better macro-F1.
    pub early_stopping: Option<usize>,
    /// Write `checkpoint/` every this many optimizer steps (it is also written after each
    /// epoch and at the end).
    pub checkpoint_every: Option<u64>,
    /// Initial LoRA adapter (a PEFT dir) instead of the random A / zero B.
    pub init_adapter: Option<PathBuf>,
    /// MeCab dictionary dir.
    pub dicdir: Option<PathBuf>,
    /// Bias mitigation: group re-weighting, counterfactual augmentation (absent in run dirs
    /// written before it existed).
    #[serde(default)]
    pub mitigation: crate::bias::Mitigation,
    /// Reasoning-step template applied to every input ([`crate::template`]; `{levels}`
    /// expanded when the run starts). Absent: plain inputs (and in older run dirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::template::Template>,
    /// Precision of the frozen base weights ([`crate::train::precision`]): f32, or bf16
    /// GEMMs with f32 accumulation and f32 trainable weights, optimizer state and loss.
    #[serde(default)]
    pub dtype: crate::train::TrainDtype,
}

/// Counters that say where a run is (saved in every checkpoint).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: u64,
    /// The epoch in progress (0-based).
    pub epoch: u64,
    /// Micro-batches of `epoch` already consumed.
    pub batch_in_epoch: usize,
    /// Best eval macro-F1 so far, and the step it was reached at.
    pub best_macro_f1: Option<f64>,
    pub best_step: Option<u64>,
    /// Evaluations since the best one (early stopping).
    pub evals_since_best: usize,
    /// The run is over (all steps done or stopped early).
    pub finished: bool,
}
