//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `tokken-tokenizer`.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// No MeCab dictionary directory was found; `tried` lists every place looked at.
    #[error(
        "no MeCab dictionary ({name}) found; tried:\n{tried}\n\
         install it with `{install}`, or pass --dicdir <dir> / set TOKKEN_DICDIR \
         to a directory holding sys.dic, unk.dic, matrix.bin and char.bin"
    )]
    DicdirNotFound {
        /// The dictionary looked for.
        name: String,
        /// The command that installs it.
        install: String,
        tried: String,
    },

    /// A directory given explicitly (flag or environment) is not a compiled MeCab dictionary.
    #[error("{path}: not a MeCab dictionary directory ({reason})")]
    NotADicdir { path: PathBuf, reason: String },

    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A dictionary file is truncated, corrupt or inconsistent with the others.
    #[error("{path}: corrupt MeCab dictionary file: {reason}")]
    CorruptDictionary { path: PathBuf, reason: String },

    /// The dictionary was compiled for a charset other than UTF-8.
    #[error(
        "{path}: dictionary charset is {charset:?}; only utf8 dictionaries are supported \
         (recompile it with mecab-dict-index -t utf-8)"
    )]
    UnsupportedCharset { path: PathBuf, charset: String },

    /// A line of `dicrc` could not be understood.
    #[error("{path}:{line}: {reason}")]
    BadDicrc {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// A line of an input file (vocab.txt, ...) is invalid.
    #[error("{path}:{line}: {message}")]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A file (tokenizer_config.json, vocab.txt) is invalid or asks for something unsupported.
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },

    /// Invalid tokenizer settings or arguments (no file involved).
    #[error("{0}")]
    Invalid(String),
}
