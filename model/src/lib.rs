//! tokken-model: BERT, training, evaluation, the Classifier API.
//!
//! # Shape legend
//! Buffers are documented with their shapes, row-major, e.g. `/// [B, T, C]`:
//! - `B` batch size, `T` tokens per sequence (padded), `C` hidden size,
//! - `NH` attention heads, `HS` head size (`C / NH`), `I` intermediate (feed-forward) size,
//! - `V` vocabulary size, `P` max positions, `TV` token-type vocabulary, `NL` labels,
//! - `R` LoRA rank, `L` layers.
//!
//! # Layout
//! [`config`] (config.json) → [`params`] (weights by HF names) → [`forward`] (embeddings →
//! L × layer → pooler → head, activations in one [`arena`]) → [`classifier`] (text in,
//! labels out). [`init`] writes random-init models in HF layout.

pub mod abstain;
pub mod activation;
pub mod arena;
pub mod bias;
pub mod classifier;
pub mod compare;
pub mod config;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod data;
pub mod embeddings;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod explain;
pub mod forward;
pub mod head;
pub mod hierarchy;
pub mod hub;
pub mod init;
pub mod interrupt;
pub mod layer;
pub mod layer_lanes;
pub mod linear;
pub mod livedoor;
pub mod metrics;
pub mod params;
pub mod pooler;
pub mod prepacked;
pub mod report;
pub mod rng;
pub mod run;
pub mod run_dir;
pub mod schedule;
pub mod template;
pub mod train;
pub mod trainer;

pub use arena::{Arena, ForwardOptions};
pub use classifier::{Classifier, ClassifierOptions, Prediction};
pub use config::BertConfig;
pub use error::{ModelError, Result};
pub use forward::{bert_forward, BatchInput};
pub use params::BertParams;
