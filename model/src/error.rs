//! The one error type of tokken-model.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A config.json field is missing, of the wrong type or out of range.
    #[error("{path}: field `{field}`: {msg}")]
    Config {
        path: PathBuf,
        field: String,
        msg: String,
    },
    #[error("weights: {0}")]
    Engine(#[from] tokken_engine::EngineError),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] tokken_tokenizer::error::TokenizerError),
    /// A parameter tensor the model needs is not in the checkpoint.
    #[error("{source_name}: missing tensor `{key}`")]
    MissingTensor { source_name: String, key: String },
    /// A parameter tensor has the wrong shape.
    #[error("{source_name}: tensor `{key}` has shape {found:?}, expected {expected:?}")]
    BadShape {
        source_name: String,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// Input ids / type ids / lengths out of range for this model.
    #[error("bad input: {0}")]
    Input(String),
    /// A head is needed but the checkpoint has none (e.g. a BertForMaskedLM file).
    #[error("{0}")]
    NoHead(String),
    #[error("{0}")]
    Other(String),
    /// A data file line is malformed: `path:line: what was expected`.
    #[error("{}:{line}: {msg}", path.display())]
    Data {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// A data or run-dir file is unusable as a whole (unknown format, no rows, bad header).
    #[error("{}: {msg}", path.display())]
    DataFile { path: PathBuf, msg: String },
    /// Metrics asked of inputs they are undefined for (empty, mismatched lengths).
    #[error("metrics: {0}")]
    Metrics(String),
}

pub type Result<T> = std::result::Result<T, ModelError>;
