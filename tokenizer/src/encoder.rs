//! Text -> BERT inputs, identical to HF `BertJapaneseTokenizer(text[, pair], ...)`.
//!
//! An immutable, shareable [`Tokenizer`] (dictionary, vocabulary, settings) and a
//! per-thread [`Worker`] that owns every buffer and reuses it, so
//! [`Worker::encode_into`] allocates nothing in steady state.
//!
//! Per sequence: split on literal special tokens -> NFKC each piece -> MeCab -> (lower-case)
//! -> WordPiece or character subwords -> ids. Then `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`
//! with type ids 0 / 1, truncation and padding exactly as HF's slow tokenizers do them.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::analyzer::{count_chars, Analyzer, AnalyzerWorker, Morpheme};
use crate::config::TokenizerConfig;
use crate::dicdir::{find_dicdir, find_dicdir_for};
use crate::error::TokenizerError;
use crate::normalize::{Normalized, Piece, SpecialTokens};
use crate::subword_cache::SubwordCache;
use crate::vocab::Vocab;
use crate::wordpiece::SubwordMode;

/// HF `TruncationStrategy` (truncation side: right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// `do_not_truncate` (HF's default).
    #[default]
    None,
    /// `longest_first`: remove from the longer sequence first (`truncation=True`).
    LongestFirst,
    /// `only_first`.
    OnlyFirst,
    /// `only_second`.
    OnlySecond,
}

/// HF `PaddingStrategy` (padding side: right; pad id, type id and mask 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// `do_not_pad` (HF's default). A [`Batch`] is still padded to its longest row.
    #[default]
    None,
    /// `longest`: to the longest sequence of the batch.
    Longest,
    /// `max_length`: to `max_length` (or `model_max_length`).
    MaxLength,
}

/// Options of one encode call; `Default` is HF's default (`tokenizer(text)`): special tokens
/// added, no truncation, no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub add_special_tokens: bool,
    pub truncation: Truncation,
    /// `max_length`; `None` means the config's `model_max_length` when truncating or
    /// padding to max length (as HF does).
    pub max_length: Option<usize>,
    pub padding: Padding,
    /// Round padded lengths up to a multiple of this.
    pub pad_to_multiple_of: Option<usize>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            add_special_tokens: true,
            truncation: Truncation::None,
            max_length: None,
            padding: Padding::None,
            pad_to_multiple_of: None,
        }
    }
}

impl EncodeOptions {
    /// `truncation=True, max_length=max_length, padding="longest"`: what a model batch needs.
    pub fn truncate_to(max_length: usize) -> EncodeOptions {
        EncodeOptions {
            truncation: Truncation::LongestFirst,
            max_length: Some(max_length),
            padding: Padding::Longest,
            ..EncodeOptions::default()
        }
    }
}

/// One encoded text (or pair). All vectors have the same length `[T]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    /// `[T]` token ids.
    pub ids: Vec<u32>,
    /// `[T]` 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, 0 for padding.
    pub type_ids: Vec<u32>,
    /// `[T]` 1 for tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// `[T]` `(start, end)` char (code point) offsets into the original text the token
    /// came from (into the second text for the pair's tokens); `(0, 0)` for added `[CLS]`,
    /// `[SEP]` and padding. Tokens from a character that NFKC merged with its neighbours
    /// (`ｶﾞ` -> `ガ`) span all of them.
    pub offsets: Vec<(usize, usize)>,
}

impl Encoding {
    /// Number of tokens, padding included.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.type_ids.clear();
        self.attention_mask.clear();
        self.offsets.clear();
    }

    fn push(&mut self, id: u32, type_id: u32, offset: (usize, usize)) {
        self.ids.push(id);
        self.type_ids.push(type_id);
        self.attention_mask.push(1);
        self.offsets.push(offset);
    }

    fn pad_to(&mut self, len: usize, pad_id: u32) {
        while self.ids.len() < len {
            self.ids.push(pad_id);
            self.type_ids.push(0);
            self.attention_mask.push(0);
            self.offsets.push((0, 0));
        }
    }
}

/// A padded batch as the model takes it: flat row-major `[B, T]` arrays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// B: number of rows.
    pub b: usize,
    /// T: tokens per row (padded).
    pub t: usize,
    /// `[B, T]` token ids.
    pub ids: Vec<u32>,
    /// `[B, T]` token type ids.
    pub type_ids: Vec<u32>,
    /// `[B, T]` attention mask, 1 for tokens.
    pub mask: Vec<u8>,
    /// `[B]` unpadded length of each row.
    pub lengths: Vec<usize>,
}

/// The immutable tokenizer: share it (`&Tokenizer`, `Arc<Tokenizer>`) across threads.
pub struct Tokenizer {
    analyzer: Analyzer,
    vocab: Vocab,
    config: TokenizerConfig,
    specials: SpecialTokens,
    /// Surfaces never lower-cased: `never_split` plus every special token.
    never_split: Vec<String>,
    unk_id: u32,
    cls_id: u32,
    sep_id: u32,
    pad_id: u32,
    mask_id: u32,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab.len())
            .field("config", &self.config)
            .finish()
    }
}

impl Tokenizer {
    /// Loads `vocab.txt` and `tokenizer_config.json` from an HF model dir and opens the
    /// MeCab dictionary (`dicdir`, else the one its `mecab_dic` names, found by
    /// [`find_dicdir_for`]) with the user dictionaries its `mecab_option` names.
    pub fn from_model_dir(dir: &Path, dicdir: Option<&Path>) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_model_dir_with(dir, dicdir, &[])
    }

    /// [`Tokenizer::from_model_dir`] with `user_dics` added after the config's own (for
    /// analysis with a dictionary of new words; a model sees the words it was trained on
    /// only with the dictionaries it was trained with).
    pub fn from_model_dir_with(
        dir: &Path,
        dicdir: Option<&Path>,
        user_dics: &[PathBuf],
    ) -> Result<Tokenizer, TokenizerError> {
        let mut config = TokenizerConfig::from_model_dir(dir)?;
        config.user_dics.extend_from_slice(user_dics);
        let vocab = Vocab::from_file(&dir.join("vocab.txt"))?;
        let dicdir = find_dicdir_for(dicdir, &config.mecab_dic).map_err(|e| match e {
            // The config asked for what needs a dicdir: name the file that asked.
            TokenizerError::Invalid(message) => TokenizerError::BadFile {
                path: dir.join("tokenizer_config.json"),
                message,
            },
            e => e,
        })?;
        let analyzer = Analyzer::open_with_user_dics(&dicdir, &config.user_dics)?;
        Tokenizer::new(analyzer, vocab, config)
    }

    /// A tokenizer from a bare `vocab.txt` with the v3 settings and subword `mode`.
    pub fn from_vocab(
        vocab_path: &Path,
        mode: SubwordMode,
        dicdir: Option<&Path>,
    ) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_vocab_with(vocab_path, mode, dicdir, &[])
    }

    /// [`Tokenizer::from_vocab`] with user dictionaries (MeCab's `-u`).
    pub fn from_vocab_with(
        vocab_path: &Path,
        mode: SubwordMode,
        dicdir: Option<&Path>,
        user_dics: &[PathBuf],
    ) -> Result<Tokenizer, TokenizerError> {
        let vocab = Vocab::from_file(vocab_path)?;
        let config = TokenizerConfig {
            subword: mode,
            user_dics: user_dics.to_vec(),
            ..TokenizerConfig::default()
        };
        let analyzer = Analyzer::open_with_user_dics(&find_dicdir(dicdir)?, user_dics)?;
        Tokenizer::new(analyzer, vocab, config)
    }

    /// Assembles a tokenizer; every special token must be in the vocabulary.
    pub fn new(
        analyzer: Analyzer,
        vocab: Vocab,
        config: TokenizerConfig,
    ) -> Result<Tokenizer, TokenizerError> {
        let id_of = |t: &str| {
            vocab.get(t).ok_or_else(|| {
                TokenizerError::Invalid(format!(
                    "special token `{t}` is not in the vocabulary ({} tokens)",
                    vocab.len()
                ))
            })
        };
        let unk_id = id_of(&config.unk_token)?;
        let cls_id = id_of(&config.cls_token)?;
        let sep_id = id_of(&config.sep_token)?;
        let pad_id = id_of(&config.pad_token)?;
        let mask_id = id_of(&config.mask_token)?;
        let mut list = vec![
            (config.unk_token.clone(), unk_id),
            (config.sep_token.clone(), sep_id),
            (config.pad_token.clone(), pad_id),
            (config.cls_token.clone(), cls_id),
            (config.mask_token.clone(), mask_id),
        ];
        for (t, id) in &config.extra_special_tokens {
            let id = match id {
                Some(id) => *id,
                None => id_of(t)?,
            };
            if id as usize >= vocab.len() {
                return Err(TokenizerError::Invalid(format!(
                    "added token `{t}` has id {id}, outside the vocabulary ({} tokens)",
                    vocab.len()
                )));
            }
            list.push((t.clone(), id));
        }
        let never_split = config
            .never_split
            .iter()
            .cloned()
            .chain(list.iter().map(|(t, _)| t.clone()))
            .collect();
        Ok(Tokenizer {
            analyzer,
            specials: SpecialTokens::new(list),
            vocab,
            config,
            never_split,
            unk_id,
            cls_id,
            sep_id,
            pad_id,
            mask_id,
        })
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The id of `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]` (as configured).
    pub fn cls_id(&self) -> u32 {
        self.cls_id
    }
    pub fn sep_id(&self) -> u32 {
        self.sep_id
    }
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }
    pub fn mask_id(&self) -> u32 {
        self.mask_id
    }

    /// The token string of `id` (`[UNK]`'s text for ids outside the vocabulary, as HF).
    pub fn id_to_token(&self, id: u32) -> &str {
        self.vocab.token(id).unwrap_or(&self.config.unk_token)
    }

    /// Token strings of an encoding.
    pub fn tokens(&self, enc: &Encoding) -> Vec<&str> {
        enc.ids.iter().map(|&id| self.id_to_token(id)).collect()
    }

    /// A per-thread worker.
    pub fn worker(&self) -> Worker<'_> {
        Worker {
            tok: self,
            analyzer: self.analyzer.worker(),
            pieces: Vec::new(),
            norm: Normalized::new(),
            morphemes: Vec::new(),
            scratch: String::new(),
            subwords: SubwordCache::default(),
            first: Sequence::default(),
            second: Sequence::default(),
        }
    }

    /// Encodes one text.
    pub fn encode(&self, text: &str, opts: &EncodeOptions) -> Encoding {
        let mut enc = Encoding::default();
        self.worker().encode_into(text, None, opts, &mut enc);
        enc
    }

    /// Encodes a pair `[CLS] a [SEP] b [SEP]`.
    pub fn encode_pair(&self, a: &str, b: &str, opts: &EncodeOptions) -> Encoding {
        let mut enc = Encoding::default();
        self.worker().encode_into(a, Some(b), opts, &mut enc);
        enc
    }

    /// Encodes texts in parallel (rayon, one worker per task split), one [`Encoding`] each,
    /// each truncated and padded on its own (padding `longest` applies across the list).
    pub fn encode_all(&self, texts: &[&str], opts: &EncodeOptions) -> Vec<Encoding> {
        self.encode_all_inner(texts.len(), |i| (texts[i], None), opts)
    }

    /// Encodes texts in parallel into a padded `[B, T]` batch.
    pub fn encode_batch(&self, texts: &[&str], opts: &EncodeOptions) -> Batch {
        let encs = self.encode_all_inner(texts.len(), |i| (texts[i], None), &unpadded(opts));
        self.assemble(&encs, opts)
    }

    /// Encodes pairs in parallel into a padded `[B, T]` batch.
    pub fn encode_batch_pairs(&self, pairs: &[(&str, &str)], opts: &EncodeOptions) -> Batch {
        let encs = self.encode_all_inner(
            pairs.len(),
            |i| (pairs[i].0, Some(pairs[i].1)),
            &unpadded(opts),
        );
        self.assemble(&encs, opts)
    }

    fn encode_all_inner<'a>(
        &self,
        n: usize,
        item: impl Fn(usize) -> (&'a str, Option<&'a str>) + Sync,
        opts: &EncodeOptions,
    ) -> Vec<Encoding> {
        let mut encs: Vec<Encoding> = (0..n)
            .into_par_iter()
            .with_min_len(16)
            .map_init(
                || self.worker(),
                |w, i| {
                    let (a, b) = item(i);
                    let mut enc = Encoding::default();
                    w.encode_into(a, b, &unpadded(opts), &mut enc);
                    enc
                },
            )
            .collect();
        if let Some(len) = self.padded_len(encs.iter().map(Encoding::len).max(), opts) {
            for e in &mut encs {
                e.pad_to(len, self.pad_id);
            }
        }
        encs
    }

    fn assemble(&self, encs: &[Encoding], opts: &EncodeOptions) -> Batch {
        let longest = encs.iter().map(Encoding::len).max().unwrap_or(0);
        let t = self
            .padded_len(Some(longest), opts)
            .unwrap_or(longest)
            .max(longest);
        let b = encs.len();
        let mut batch = Batch {
            b,
            t,
            ids: vec![self.pad_id; b * t],
            type_ids: vec![0; b * t],
            mask: vec![0; b * t],
            lengths: Vec::with_capacity(b),
        };
        for (row, e) in encs.iter().enumerate() {
            let r = row * t..row * t + e.len();
            batch.ids[r.clone()].copy_from_slice(&e.ids);
            batch.type_ids[r.clone()].copy_from_slice(&e.type_ids);
            for (m, &a) in batch.mask[r].iter_mut().zip(&e.attention_mask) {
                *m = a as u8;
            }
            batch.lengths.push(e.len());
        }
        batch
    }

    /// `max_length` after HF's defaulting: the explicit value, else `model_max_length`.
    fn max_length(&self, opts: &EncodeOptions) -> Option<usize> {
        opts.max_length.or(self.config.model_max_length)
    }

    /// Length to pad to, given the longest sequence (`None`: no padding).
    fn padded_len(&self, longest: Option<usize>, opts: &EncodeOptions) -> Option<usize> {
        let target = match opts.padding {
            Padding::None => return None,
            Padding::Longest => longest?,
            Padding::MaxLength => self.max_length(opts)?,
        };
        Some(match opts.pad_to_multiple_of {
            Some(m) if m > 0 && target % m != 0 => (target / m + 1) * m,
            _ => target,
        })
    }
}

/// Per-item options inside a batch: padding happens across the batch afterwards.
fn unpadded(opts: &EncodeOptions) -> EncodeOptions {
    EncodeOptions {
        padding: Padding::None,
        ..*opts
    }
}

/// Token ids of one sequence before special tokens, with char offsets.
#[derive(Debug, Default)]
struct Sequence {
    ids: Vec<u32>,
    offsets: Vec<(usize, usize)>,
}

/// Per-thread encoding state; every buffer is reused.
pub struct Worker<'t> {
    tok: &'t Tokenizer,
    analyzer: AnalyzerWorker,
    pieces: Vec<Piece>,
    norm: Normalized,
    morphemes: Vec<Morpheme>,
    scratch: String,
    /// WordPiece results of recent surfaces.
    subwords: SubwordCache,
    first: Sequence,
    second: Sequence,
}

impl Worker<'_> {
    /// Encodes `text` (and `pair`) into `out` (cleared first, capacity kept).
    pub fn encode_into(
        &mut self,
        text: &str,
        pair: Option<&str>,
        opts: &EncodeOptions,
        out: &mut Encoding,
    ) {
        let tok = self.tok;
        self.sequence(text, false);
        if let Some(b) = pair {
            self.sequence(b, true);
        }
        let len_b = pair.map(|_| self.second.ids.len());
        let num_special = match (opts.add_special_tokens, pair.is_some()) {
            (false, _) => 0,
            (true, false) => 2,
            (true, true) => 3,
        };
        let max_length = match opts.truncation {
            Truncation::None => None,
            _ => tok.max_length(opts),
        };
        let (keep_a, keep_b) = truncated_lengths(
            self.first.ids.len(),
            len_b,
            num_special,
            max_length,
            opts.truncation,
        );

        out.clear();
        if opts.add_special_tokens {
            out.push(tok.cls_id, 0, (0, 0));
        }
        for i in 0..keep_a {
            out.push(self.first.ids[i], 0, self.first.offsets[i]);
        }
        if opts.add_special_tokens {
            out.push(tok.sep_id, 0, (0, 0));
        }
        if let Some(keep_b) = keep_b {
            for i in 0..keep_b {
                out.push(self.second.ids[i], 1, self.second.offsets[i]);
            }
            if opts.add_special_tokens {
                out.push(tok.sep_id, 1, (0, 0));
            }
        }
        if let Some(len) = tok.padded_len(Some(out.len()), opts) {
            out.pad_to(len, tok.pad_id);
        }
    }

    /// The subword ids of `text` without special tokens, appended to `ids`: HF's
    /// `tokenize` + `convert_tokens_to_ids`.
    pub fn tokenize_into(&mut self, text: &str, ids: &mut Vec<u32>) {
        self.sequence(text, false);
        ids.extend_from_slice(&self.first.ids);
    }

    /// Runs MeCab only (after the special-token split and NFKC) and calls `f` with each
    /// normalized piece and its words: for timing and for `--format mecab`.
    pub fn analyze_pieces(&mut self, text: &str, mut f: impl FnMut(&str, &[Morpheme])) {
        let tok = self.tok;
        tok.specials.split(text, &mut self.pieces);
        for p in &self.pieces {
            if let Piece::Text { start, end } = *p {
                if tok.config.normalize_text {
                    self.norm.nfkc(&text[start..end]);
                } else {
                    self.norm.identity(&text[start..end]);
                }
                self.analyzer.analyze(&self.norm.text, &mut self.morphemes);
                f(&self.norm.text, &self.morphemes);
            }
        }
    }

    /// Fills `self.first` (or `self.second`) with the subword ids of `text`.
    fn sequence(&mut self, text: &str, second: bool) {
        let Worker {
            tok,
            analyzer,
            pieces,
            norm,
            morphemes,
            scratch,
            subwords,
            first,
            second: second_seq,
        } = self;
        let tok: &Tokenizer = tok;
        let seq = if second { second_seq } else { first };
        seq.ids.clear();
        seq.offsets.clear();
        tok.specials.split(text, pieces);
        let mut chars_before = 0usize; // chars of `text` before `counted`
        let mut counted = 0usize; // byte position
        for p in pieces.iter() {
            let (start, end) = match *p {
                Piece::Text { start, end } | Piece::Special { start, end, .. } => (start, end),
            };
            chars_before += count_chars(&text.as_bytes()[counted..start]);
            counted = start;
            let piece = &text[start..end];
            match *p {
                Piece::Special { id, .. } => {
                    let n = count_chars(piece.as_bytes());
                    seq.ids.push(id);
                    seq.offsets.push((chars_before, chars_before + n));
                }
                Piece::Text { .. } => {
                    if tok.config.normalize_text {
                        norm.nfkc(piece);
                    } else {
                        norm.identity(piece);
                    }
                    analyzer.analyze(&norm.text, morphemes);
                    for m in morphemes.iter() {
                        let surface = &norm.text[m.start..m.end];
                        let base = chars_before;
                        // do_lower_case: surfaces other than special / never_split tokens;
                        // a changed surface's tokens all span the whole surface.
                        let lower;
                        let (word, whole) = if tok.config.do_lower_case
                            && !tok.never_split.iter().any(|t| t == surface)
                        {
                            lower = surface.to_lowercase();
                            if lower == surface {
                                (surface, None)
                            } else {
                                (lower.as_str(), Some(norm.original_span(m.start, m.end)))
                            }
                        } else {
                            (surface, None)
                        };
                        let norm_ref: &Normalized = norm;
                        subwords.split(
                            &tok.vocab,
                            tok.config.subword,
                            tok.unk_id,
                            word,
                            scratch,
                            &mut |id, s, e| {
                                let (cs, ce) = match whole {
                                    Some(span) => span,
                                    None => norm_ref.original_span(m.start + s, m.start + e),
                                };
                                seq.ids.push(id);
                                seq.offsets.push((base + cs, base + ce));
                            },
                        );
                    }
                }
            }
        }
    }
}

/// How many tokens of the first and second sequence to keep: HF `prepare_for_model` +
/// `truncate_sequences` (transformers 5, truncation side right). `max_length` is `None`
/// when not truncating. Like HF, `only_first` / `only_second` may leave the total above
/// `max_length` when the chosen sequence is too short.
pub fn truncated_lengths(
    len_a: usize,
    len_b: Option<usize>,
    num_special: usize,
    max_length: Option<usize>,
    strategy: Truncation,
) -> (usize, Option<usize>) {
    let total = len_a + len_b.unwrap_or(0) + num_special;
    let Some(max) = max_length else {
        return (len_a, len_b);
    };
    if strategy == Truncation::None || max == 0 || total <= max {
        return (len_a, len_b);
    }
    let remove = total - max;
    match (strategy, len_b) {
        (Truncation::OnlyFirst, _) | (Truncation::LongestFirst, None) => {
            (len_a.saturating_sub(remove), len_b)
        }
        (Truncation::LongestFirst, Some(lb)) => {
            let first_remove = len_a.abs_diff(lb).min(remove);
            let second_remove = remove - first_remove;
            let (rm_a, rm_b) = if len_a > lb {
                (
                    first_remove + second_remove / 2,
                    second_remove - second_remove / 2,
                )
            } else {
                (
                    second_remove / 2,
                    first_remove + second_remove - second_remove / 2,
                )
            };
            (len_a.saturating_sub(rm_a), Some(lb.saturating_sub(rm_b)))
        }
        (Truncation::OnlySecond, Some(lb)) if lb > 0 => (len_a, Some(lb.saturating_sub(remove))),
        _ => (len_a, len_b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_strategies_follow_hf() {
        use Truncation::{LongestFirst, OnlyFirst, OnlySecond};
        // Single sequence: 10 tokens + 2 specials into 8 -> keep 6.
        assert_eq!(
            truncated_lengths(10, None, 2, Some(8), LongestFirst),
            (6, None)
        );
        assert_eq!(
            truncated_lengths(10, None, 2, Some(8), OnlyFirst),
            (6, None)
        );
        assert_eq!(
            truncated_lengths(10, None, 2, Some(8), OnlySecond),
            (10, None)
        );
        assert_eq!(
            truncated_lengths(10, None, 2, Some(8), Truncation::None),
            (10, None)
        );
        assert_eq!(
            truncated_lengths(10, None, 2, Some(12), LongestFirst),
            (10, None)
        );
        // Shorter than the specials: everything goes (Python `ids[:-k]`, k > len).
        assert_eq!(
            truncated_lengths(3, None, 2, Some(1), LongestFirst),
            (0, None)
        );
        // Pair, longest_first: first evens out the lengths, then splits the rest, the odd
        // one from the second sequence.
        assert_eq!(
            truncated_lengths(10, Some(4), 3, Some(12), LongestFirst),
            (5, Some(4))
        );
        assert_eq!(
            truncated_lengths(10, Some(4), 3, Some(9), LongestFirst),
            (3, Some(3))
        );
        assert_eq!(
            truncated_lengths(4, Some(10), 3, Some(9), LongestFirst),
            (3, Some(3))
        );
        assert_eq!(
            truncated_lengths(5, Some(5), 3, Some(10), LongestFirst),
            (4, Some(3))
        );
        // only_first / only_second cut one side, possibly not enough.
        assert_eq!(
            truncated_lengths(10, Some(4), 3, Some(12), OnlyFirst),
            (5, Some(4))
        );
        assert_eq!(
            truncated_lengths(10, Some(4), 3, Some(12), OnlySecond),
            (10, Some(0))
        );
        assert_eq!(
            truncated_lengths(4, Some(10), 3, Some(12), OnlySecond),
            (4, Some(5))
        );
        assert_eq!(
            truncated_lengths(2, Some(10), 3, Some(6), OnlyFirst),
            (0, Some(10))
        );
        // only_second with an empty second sequence leaves things as they are.
        assert_eq!(
            truncated_lengths(10, Some(0), 3, Some(6), OnlySecond),
            (10, Some(0))
        );
    }
}

/// Rules of the BERT layer end to end, with the real MeCab dictionary (skipped when absent)
/// and a tiny vocabulary whose expected ids follow from the rules.
#[cfg(test)]
mod analyzer_tests {
    use super::*;

    /// ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 東京5 都6 に7 行く8 私9 は10 犬11 です12
    /// [13 ]14 MASK15 カタカナ16 😀17 東18 ##京19 デ20 abc21
    const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n東京\n都\nに\n行く\n私\nは\n犬\nです\n[\n]\nMASK\nカタカナ\n😀\n東\n##京\nデ\nabc\n";

    fn tokenizer(config: TokenizerConfig) -> Option<Tokenizer> {
        let dicdir = match find_dicdir(None) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skipping: no MeCab dictionary: {e}");
                return None;
            }
        };
        let analyzer = Analyzer::open(&dicdir).unwrap();
        Some(Tokenizer::new(analyzer, Vocab::from_text(VOCAB), config).unwrap())
    }

    fn wp() -> Option<Tokenizer> {
        tokenizer(TokenizerConfig::default())
    }

    fn ids(tok: &Tokenizer, text: &str) -> Vec<u32> {
        tok.encode(text, &EncodeOptions::default()).ids
    }

    #[test]
    fn single_sequence_ids_types_mask_offsets() {
        let Some(tok) = wp() else { return };
        let e = tok.encode("東京都に行く", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 5, 6, 7, 8, 3]);
        assert_eq!(e.type_ids, [0; 6]);
        assert_eq!(e.attention_mask, [1; 6]);
        assert_eq!(e.offsets, [(0, 0), (0, 2), (2, 3), (3, 4), (4, 6), (0, 0)]);
        assert_eq!(
            tok.tokens(&e),
            ["[CLS]", "東京", "都", "に", "行く", "[SEP]"]
        );
    }

    #[test]
    fn pair_has_type_ids_and_offsets_into_each_text() {
        let Some(tok) = wp() else { return };
        let e = tok.encode_pair("私は犬です", "東京都", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 9, 10, 11, 12, 3, 5, 6, 3]);
        assert_eq!(e.type_ids, [0, 0, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(e.offsets[6], (0, 2));
        assert_eq!(e.offsets[7], (2, 3));
    }

    #[test]
    fn empty_input() {
        let Some(tok) = wp() else { return };
        assert_eq!(ids(&tok, ""), [2, 3]);
        let e = tok.encode_pair("", "", &EncodeOptions::default());
        assert_eq!((e.ids, e.type_ids), (vec![2, 3, 3], vec![0, 0, 1]));
        let no_specials = EncodeOptions {
            add_special_tokens: false,
            ..EncodeOptions::default()
        };
        assert!(tok.encode("", &no_specials).ids.is_empty());
    }

    #[test]
    fn literal_and_full_width_special_tokens() {
        let Some(tok) = wp() else { return };
        let e = tok.encode("私は[MASK]です", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 9, 10, 4, 12, 3]);
        assert_eq!(e.offsets[3], (2, 8));
        assert_eq!(e.offsets[4], (8, 10));
        // NFKC makes `[MASK]` text after the split: MeCab splits it, not special.
        let e = tok.encode("私は［ＭＡＳＫ］", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 9, 10, 13, 15, 14, 3]);
        assert_eq!(&e.offsets[3..6], [(2, 3), (3, 7), (7, 8)]);
        // Specials next to each other and at the ends.
        assert_eq!(ids(&tok, "[CLS][SEP]犬[PAD]"), [2, 2, 3, 11, 0, 3]);
    }

    #[test]
    fn nfkc_half_width_katakana_and_offsets_across_changes() {
        let Some(tok) = wp() else { return };
        let e = tok.encode("ｶﾀｶﾅ", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 16, 3]);
        assert_eq!(e.offsets[1], (0, 4));
        // ﾃﾞ (2 chars) -> デ (1 char); full-width AB -> AB, not in the vocab -> [UNK].
        let e = tok.encode("ﾃﾞ東京ＡＢ東京都", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 20, 5, 1, 5, 6, 3]);
        assert_eq!(
            e.offsets,
            [(0, 0), (0, 2), (2, 4), (4, 6), (6, 8), (8, 9), (0, 0)]
        );
    }

    #[test]
    fn whitespace_surfaces_vanish_in_wordpiece_but_not_in_character_mode() {
        let Some(tok) = wp() else { return };
        for ws in ["\r", "\x0c", "\u{2028}", " ", "\u{3000}", "\t\n"] {
            assert_eq!(ids(&tok, &format!("東京{ws}都")), [2, 5, 6, 3], "{ws:?}");
        }
        let Some(ch) = tokenizer(TokenizerConfig {
            subword: SubwordMode::Character,
            ..TokenizerConfig::default()
        }) else {
            return;
        };
        // 東 in vocab, 京 not (only ##京), \r is a MeCab word and a [UNK] character.
        assert_eq!(ids(&ch, "東京\r都"), [2, 18, 1, 1, 6, 3]);
        assert_eq!(ids(&ch, "東京 都"), [2, 18, 1, 6, 3]);
    }

    #[test]
    fn emoji_and_nul() {
        let Some(tok) = wp() else { return };
        let e = tok.encode("東京😀都", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 5, 17, 6, 3]);
        assert_eq!(e.offsets[2..4], [(2, 3), (3, 4)]);
        // MeCab reads a C string: the text ends at NUL (per piece).
        assert_eq!(ids(&tok, "東京\0都"), [2, 5, 3]);
        assert_eq!(ids(&tok, "東京\0都[SEP]犬"), [2, 5, 3, 11, 3]);
    }

    #[test]
    fn truncation_and_padding() {
        let Some(tok) = wp() else { return };
        let opts = |truncation, max_length, padding| EncodeOptions {
            truncation,
            max_length,
            padding,
            ..EncodeOptions::default()
        };
        let e = tok.encode(
            "東京都に行く",
            &opts(Truncation::LongestFirst, Some(4), Padding::None),
        );
        assert_eq!(e.ids, [2, 5, 6, 3]);
        // max_length defaults to model_max_length (512): nothing to cut here.
        let e = tok.encode(
            "東京都に行く",
            &opts(Truncation::LongestFirst, None, Padding::None),
        );
        assert_eq!(e.len(), 6);
        // Pair 4 + 4 + 3 specials into 7: two from each.
        let e = tok.encode_pair(
            "東京都に行く",
            "私は犬です",
            &opts(Truncation::LongestFirst, Some(7), Padding::None),
        );
        assert_eq!(e.ids, [2, 5, 6, 3, 9, 10, 3]);
        let e = tok.encode_pair(
            "東京都に行く",
            "私は犬です",
            &opts(Truncation::OnlySecond, Some(8), Padding::None),
        );
        assert_eq!(e.ids, [2, 5, 6, 7, 8, 3, 9, 3]);
        let e = tok.encode_pair(
            "東京都に行く",
            "私は犬です",
            &opts(Truncation::OnlyFirst, Some(8), Padding::None),
        );
        assert_eq!(e.ids, [2, 5, 3, 9, 10, 11, 12, 3]);
        // Padding to max_length: pad id 0, type 0, mask 0, offsets (0, 0).
        let e = tok.encode(
            "東京都",
            &opts(Truncation::None, Some(6), Padding::MaxLength),
        );
        assert_eq!(e.ids, [2, 5, 6, 3, 0, 0]);
        assert_eq!(e.attention_mask, [1, 1, 1, 1, 0, 0]);
        assert_eq!(e.type_ids, [0; 6]);
        assert_eq!(e.offsets[5], (0, 0));
        // Longer than max_length without truncation: left as is.
        let e = tok.encode(
            "東京都に行く",
            &opts(Truncation::None, Some(4), Padding::MaxLength),
        );
        assert_eq!(e.len(), 6);
        // pad_to_multiple_of rounds up.
        let e = tok.encode(
            "東京都",
            &EncodeOptions {
                padding: Padding::Longest,
                pad_to_multiple_of: Some(8),
                ..EncodeOptions::default()
            },
        );
        assert_eq!(e.len(), 8);
    }

    #[test]
    fn batches_are_padded_rectangles() {
        let Some(tok) = wp() else { return };
        let b = tok.encode_batch(&["東京都", "私は犬です"], &EncodeOptions::default());
        assert_eq!((b.b, b.t), (2, 6));
        assert_eq!(b.ids, [2, 5, 6, 3, 0, 0, 2, 9, 10, 11, 12, 3]);
        assert_eq!(b.mask, [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(b.lengths, [4, 6]);
        let b = tok.encode_batch(
            &["東京都", "私は犬です"],
            &EncodeOptions {
                padding: Padding::MaxLength,
                max_length: Some(8),
                ..EncodeOptions::default()
            },
        );
        assert_eq!(b.t, 8);
        let b = tok.encode_batch_pairs(&[("東京都", "犬")], &EncodeOptions::truncate_to(5));
        assert_eq!(b.ids, [2, 5, 3, 11, 3]);
        assert_eq!(b.type_ids, [0, 0, 0, 1, 1]);
        // Parallel batch == one by one, on many texts.
        let texts: Vec<String> = (0..200)
            .map(|i| "東京都に行く私は犬です".chars().take(i % 11).collect())
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let all = tok.encode_all(&refs, &EncodeOptions::default());
        for (t, e) in refs.iter().zip(&all) {
            assert_eq!(*e, tok.encode(t, &EncodeOptions::default()));
        }
    }

    #[test]
    fn lower_case_spares_special_tokens() {
        let Some(tok) = tokenizer(TokenizerConfig {
            do_lower_case: true,
            ..TokenizerConfig::default()
        }) else {
            return;
        };
        let e = tok.encode("ABC[MASK]", &EncodeOptions::default());
        assert_eq!(e.ids, [2, 21, 4, 3]);
        assert_eq!(e.offsets[1], (0, 3));
    }

    #[test]
    fn worker_reuse_gives_the_same_result() {
        let Some(tok) = wp() else { return };
        let mut w = tok.worker();
        let mut e = Encoding::default();
        let opts = EncodeOptions::default();
        for text in ["東京都に行く", "私は[MASK]です", "", "ｶﾀｶﾅ"] {
            w.encode_into(text, None, &opts, &mut e);
            assert_eq!(e, tok.encode(text, &opts));
        }
    }
}
