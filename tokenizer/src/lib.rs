//! tokken-tokenizer: a MeCab-compatible morphological analyzer over compiled MeCab
//! dictionaries (unidic-lite first) and `BertJapaneseTokenizer`-identical encoding
//! (WordPiece or character subwords). Needs no MeCab, Python or fugashi at run time.
//!
//! Two layers:
//! - the analyzer: [`dicdir`] finds the dictionary, [`dict`] reads its binaries (memory-mapped),
//!   [`analyzer`] builds the lattice and runs Viterbi exactly as MeCab 0.996 does;
//! - the BERT layer: [`normalize`] (special-token split, NFKC), [`vocab`], [`wordpiece`]
//!   (and character subwords), [`config`] (`tokenizer_config.json`), [`encoder`] (ids, pairs,
//!   truncation, padding, offsets, batches).

pub mod analyzer;
pub mod config;
pub mod dicdir;
pub mod dict;
pub mod encoder;
pub mod error;
pub mod huge_copy;
pub mod mecab_option;
pub mod normalize;
mod subword_cache;
pub mod vocab;
pub mod vocab_build;
pub mod wordpiece;

pub use analyzer::{
    char_spans, unidic_field_names, write_mecab_format, Analyzer, AnalyzerWorker, Morpheme,
};
pub use config::TokenizerConfig;
pub use dicdir::{find_dicdir, find_dicdir_for};
pub use encoder::{Batch, EncodeOptions, Encoding, Padding, Tokenizer, Truncation, Worker};
pub use error::TokenizerError;
pub use vocab::Vocab;
pub use wordpiece::SubwordMode;
