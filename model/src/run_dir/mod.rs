//! The run dir written by `finetune` and read by `predict`, `eval`, `merge`:
//!
//! | file | what | here |
//! |---|---|---|
//! | `adapter_config.json` | PEFT LoRA config | [`AdapterConfig`] |
//! | `adapter_model.safetensors` | LoRA A/B + head under PEFT's key names | [`AdapterKey`] |
//! | `labels.json` | ordered labels and problem type | [`LabelsFile`] |
//! | `train_log.jsonl` | one line per logged step / eval | [`TrainLog`], [`read_train_log`] |
//! | `metrics.json` | final / best eval metrics | [`write_json_atomically`] |
//!
//! Every file is written atomically (temp file + rename) except `train_log.jsonl`, which is
//! appended one whole line per write.

mod adapter_config;
mod adapter_keys;
mod labels;
mod train_log;

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

pub use adapter_config::{AdapterConfig, TargetModules, PEFT_VERSION};
pub use adapter_keys::{
    lora_key, parse_adapter_key, AdapterKey, LoraModule, LoraPart, HEAD_PREFIX,
};
pub use labels::{LabelsFile, ProblemType};
pub use train_log::{read_train_log, EvalEntry, TrainEntry, TrainLog, TrainLogEntry};

use crate::error::{ModelError, Result};

pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
pub const LABELS: &str = "labels.json";
pub const TRAIN_LOG: &str = "train_log.jsonl";
pub const METRICS: &str = "metrics.json";

/// A dir is a run dir (rather than a plain HF model dir) when it has `adapter_config.json`
/// or `labels.json` and no `config.json`.
pub fn is_run_dir(dir: &Path) -> bool {
    !dir.join("config.json").is_file()
        && (dir.join(ADAPTER_CONFIG).is_file() || dir.join(LABELS).is_file())
}

/// Pretty JSON of `value` written to `path` atomically, with a final newline.
pub fn write_json_atomically<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    tokken_engine::write_file_atomically(path, |w| {
        use std::io::Write;
        w.write_all(json.as_bytes())?;
        w.write_all(b"\n")
    })?;
    Ok(())
}

/// Read a JSON file into `T`; errors name the file (and serde's line/column).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })
}
