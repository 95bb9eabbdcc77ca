//! The MeCab-compatible morphological analyzer: an immutable, shareable [`Analyzer`] (the
//! memory-mapped dictionary) and a per-thread [`AnalyzerWorker`] that owns the lattice and
//! reuses it across sentences, so steady-state analysis allocates nothing.
//!
//! The lattice and Viterbi search follow MeCab 0.996 exactly (see `docs/TOKENIZER.md`):
//! [`lattice`] builds nodes at byte positions and keeps MeCab's node order, which decides
//! ties between equal-cost paths.

mod char_spans;
mod feature_fields;
mod feature_names;
mod lattice;
mod mecab_format;
mod prevs;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dict::dic_file::DicFile;
use crate::dict::token::Token;
use crate::dict::Dictionary;
use crate::error::TokenizerError;
pub use char_spans::char_spans;
pub(crate) use char_spans::count_chars;
pub use feature_fields::{feature_fields, FeatureFields};
pub use feature_names::unidic_field_names;
use lattice::Lattice;
pub use mecab_format::write_mecab_format;

/// One word of the best path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Morpheme {
    /// Byte offset of the surface in the analysed text (whitespace before it excluded);
    /// [`char_spans`] gives char offsets.
    pub start: usize,
    /// Byte offset just past the surface.
    pub end: usize,
    /// Index of the word's record in the token table of its dictionary file (`unk.dic` for
    /// unknown words, else the user dictionary or `sys.dic`): [`Analyzer::token`] reads
    /// it (context ids, part-of-speech id, feature offset). The analysis itself never
    /// reads the record (the lattice keeps a compact copy of what it needs), and most
    /// callers (`wakati`, BERT encoding) never need it: reading it for every word would
    /// cost a cache miss each.
    pub token: u32,
    /// Cost of the word itself.
    pub word_cost: i16,
    /// Cost of the best path from the start of the text through this word.
    pub cost: i64,
    /// Whether the word came from the unknown-word rules (`unk.dic`) rather than `sys.dic`.
    pub is_unknown: bool,
    /// The index (in the order given) of the user dictionary the word came from, if any.
    pub user_dic: Option<u8>,
}

impl Morpheme {
    /// The surface bytes in `text`, the text that was analysed.
    pub fn surface<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

/// A loaded dictionary; cheap to clone, `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Analyzer {
    dict: Arc<Dictionary>,
}

impl Analyzer {
    /// Opens the compiled MeCab dictionary in `dicdir` (see [`crate::find_dicdir`]).
    pub fn open(dicdir: &Path) -> Result<Analyzer, TokenizerError> {
        Analyzer::open_with_user_dics(dicdir, &[])
    }

    /// Opens the dictionary in `dicdir` with user dictionaries (MeCab's `-u a.dic,b.dic`),
    /// compiled by `mecab-dict-index -u` for that dictionary; their words join the lattice
    /// after `sys.dic`'s, as in MeCab.
    pub fn open_with_user_dics(
        dicdir: &Path,
        user_dics: &[PathBuf],
    ) -> Result<Analyzer, TokenizerError> {
        Ok(Analyzer {
            dict: Arc::new(Dictionary::open_with_user_dics(dicdir, user_dics)?),
        })
    }

    /// A worker for one thread.
    pub fn worker(&self) -> AnalyzerWorker {
        AnalyzerWorker {
            analyzer: self.clone(),
            lattice: Lattice::default(),
        }
    }

    /// The dictionary.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    /// The comma-separated feature string of `m` (26 fields for known words in unidic-lite,
    /// 6 for unknown ones), borrowed from the memory-mapped dictionary. Should the
    /// dictionary hold bytes that are not UTF-8 there, this returns the UTF-8 prefix; use
    /// [`Analyzer::try_feature`] to get an error instead.
    pub fn feature(&self, m: &Morpheme) -> &str {
        let bytes = self.feature_bytes(m);
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The CSV fields of [`Analyzer::feature`], unquoted (`"1,0"` becomes `1,0`): the
    /// fields fugashi exposes as `node.feature`.
    pub fn feature_fields(&self, m: &Morpheme) -> FeatureFields<'_> {
        feature_fields(self.feature(m))
    }

    /// The names of the dictionary's feature fields when it is a UniDic (fugashi's
    /// `UnidicFeatures17/26/29`, chosen as fugashi does by the field count of a known word,
    /// here the first word of 日本); `None` for other dictionaries.
    pub fn unidic_field_names(&self) -> Option<&'static [&'static str]> {
        let mut words = Vec::new();
        self.worker().analyze("日本", &mut words);
        let known = words.iter().find(|m| !m.is_unknown)?;
        unidic_field_names(self.feature_fields(known).count())
    }

    /// Like [`Analyzer::feature`], but invalid UTF-8 in the dictionary is an error.
    pub fn try_feature(&self, m: &Morpheme) -> Result<&str, TokenizerError> {
        std::str::from_utf8(self.feature_bytes(m)).map_err(|e| TokenizerError::CorruptDictionary {
            path: self.file_of(m).path().to_path_buf(),
            reason: format!(
                "feature at offset {} is not UTF-8 ({e})",
                self.token(m).feature
            ),
        })
    }

    fn feature_bytes(&self, m: &Morpheme) -> &[u8] {
        if m.is_unknown {
            if let Some(f) = &self.dict.rc.unk_feature {
                return f.as_bytes();
            }
        }
        self.file_of(m).feature_bytes(self.token(m).feature)
    }

    /// The dictionary record of `m`: left and right context ids, part-of-speech id, word
    /// cost and feature offset (a record of zeros should `m` not come from this analyzer).
    pub fn token(&self, m: &Morpheme) -> Token {
        self.file_of(m)
            .tokens()
            .get(m.token as usize)
            .map_or(Token::from_raw([0; 4]), |&raw| Token::from_raw(raw))
    }

    /// The dictionary file `m`'s token is from.
    fn file_of(&self, m: &Morpheme) -> &DicFile {
        self.dict.token_file(m.is_unknown, m.user_dic)
    }
}

/// Per-thread analysis state: the lattice buffers, reused across sentences.
#[derive(Debug)]
pub struct AnalyzerWorker {
    analyzer: Analyzer,
    lattice: Lattice,
}

impl AnalyzerWorker {
    /// Analyses `text` up to its first NUL (MeCab reads a C string) and writes the words of
    /// the best path, in order, into `out` (cleared first). Whitespace never becomes a word.
    pub fn analyze(&mut self, text: &str, out: &mut Vec<Morpheme>) {
        out.clear();
        let bytes = text.as_bytes();
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        self.lattice
            .analyze(&self.analyzer.dict, &bytes[..len], out);
    }

    /// The analyzer this worker belongs to.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }
}
