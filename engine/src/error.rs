//! The crate's one error type.

use std::path::PathBuf;

use crate::{DType, Device};

/// Everything that can go wrong in the engine. File errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file exists but is not a valid weights file (truncated, corrupt, unsupported layout).
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    /// The file asks for something we will not do (a pickle global outside the allow-list).
    #[error("{path}: refused: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("dtype mismatch: expected {expected}, got {got}")]
    DTypeMismatch { expected: DType, got: DType },
    #[error("tensor {name:?}: expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// `data.len()` does not equal the product of `shape`.
    #[error("shape {shape:?} holds {expected} elements but {got} were given")]
    DataLength {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("missing tensor {name:?}")]
    MissingTensor { name: String },
    /// A CPU view was asked of a tensor that lives elsewhere.
    #[error("tensor is on {device}, not on the CPU")]
    NotOnCpu { device: Device },
    /// An index or range outside a tensor (views, reshapes).
    #[error("{0}")]
    OutOfRange(String),
    #[error(transparent)]
    Threads(#[from] crate::threads::ThreadsError),
    /// A device that cannot be used: bad spelling, CUDA not built, no CUDA device.
    #[error("{0}")]
    Device(String),
}

impl EngineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        EngineError::BadFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
