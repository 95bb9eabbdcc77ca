//! `train_log.jsonl`: one JSON object per line, `"kind": "train"` for a logged optimizer
//! step and `"kind": "eval"` for an evaluation. Non-finite numbers (a NaN loss) are written
//! as `null` and read back as NaN.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{ModelError, Result};

/// A logged optimizer step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainEntry {
    /// Optimizer steps done (1-based).
    pub step: usize,
    /// Fractional epoch (`1.5` = halfway through the second epoch).
    pub epoch: f64,
    /// Mean training loss since the last entry.
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    #[serde(deserialize_with = "f64_or_nan")]
    pub grad_norm: f64,
    /// Training throughput since the last entry.
    pub tokens_per_s: f64,
}

/// An evaluation on the eval set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalEntry {
    pub step: usize,
    pub epoch: f64,
    #[serde(
        default,
        deserialize_with = "opt_f64_or_nan",
        skip_serializing_if = "Option::is_none"
    )]
    pub loss: Option<f64>,
    pub accuracy: f64,
    pub macro_f1: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted_f1: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrainLogEntry {
    Train(TrainEntry),
    Eval(EvalEntry),
}

/// Appends entries to `train_log.jsonl`, one whole line per write, flushed.
pub struct TrainLog {
    path: PathBuf,
    file: File,
}

impl TrainLog {
    /// Start a new log (truncating an old one).
    pub fn create(path: &Path) -> Result<TrainLog> {
        Self::open(path, false)
    }

    /// Continue a log (`--resume`).
    pub fn append(path: &Path) -> Result<TrainLog> {
        Self::open(path, true)
    }

    fn open(path: &Path, append: bool) -> Result<TrainLog> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|source| ModelError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(TrainLog {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn log(&mut self, entry: &TrainLogEntry) -> Result<()> {
        let mut line = serde_json::to_string(entry).map_err(|source| ModelError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| ModelError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// Read a log back. A malformed line is an error naming `file:line`, except a last line
/// without its newline (a run killed mid-write), which is skipped.
pub fn read_train_log(path: &Path) -> Result<Vec<TrainLogEntry>> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(entry) => out.push(entry),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => {
                return Err(ModelError::Data {
                    path: path.to_path_buf(),
                    line: i + 1,
                    msg: format!("expected a train or eval log entry: {e}"),
                })
            }
        }
    }
    Ok(out)
}

fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn opt_f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    // A present `null` means a non-finite value was written.
    Ok(Some(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
}
