//! Build a character vocabulary (`subword_tokenizer_type: character`) from raw texts, for
//! training a small model from scratch when no pretrained vocabulary is at hand.
//!
//! `BertJapaneseTokenizer` in character mode NFKC-normalizes the text, splits it into MeCab
//! words and each word into characters, so the tokens it can ever look up are the
//! non-whitespace characters of the NFKC-normalized text. The vocabulary is the special
//! tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, ids 0–4 as in
//! `cl-tohoku/bert-base-japanese-char-v3`) followed by every character seen at least
//! `min_count` times, most frequent first (ties by code point, so the result is the same on
//! every machine).

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

/// The special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Options of [`build_char_vocab`].
#[derive(Clone, Debug)]
pub struct CharVocabOptions {
    /// Keep characters seen at least this often (rarer ones become `[UNK]`).
    pub min_count: usize,
    /// At most this many tokens in all, specials included (`None`: no limit).
    pub max_size: Option<usize>,
}

impl Default for CharVocabOptions {
    fn default() -> Self {
        CharVocabOptions {
            min_count: 1,
            max_size: None,
        }
    }
}

/// The vocabulary (one token per entry, in id order) of the characters in `texts`.
pub fn build_char_vocab<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    options: &CharVocabOptions,
) -> Vec<String> {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for text in texts {
        for c in text.nfkc() {
            if !c.is_whitespace() && !c.is_control() {
                *counts.entry(c).or_default() += 1;
            }
        }
    }
    let mut chars: Vec<(char, usize)> = counts
        .into_iter()
        .filter(|&(_, n)| n >= options.min_count.max(1))
        .collect();
    chars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut vocab: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    let room = options
        .max_size
        .map_or(usize::MAX, |m| m.saturating_sub(vocab.len()));
    vocab.extend(
        chars
            .into_iter()
            .map(|(c, _)| c.to_string())
            .filter(|c| !SPECIAL_TOKENS.contains(&c.as_str()))
            .take(room),
    );
    vocab
}

/// `vocab.txt` contents: one token per line.
pub fn vocab_file_text(vocab: &[String]) -> String {
    let mut s = String::with_capacity(vocab.len() * 4);
    for t in vocab {
        s.push_str(t);
        s.push('\n');
    }
    s
}

/// The `tokenizer_config.json` of a character vocabulary (MeCab words with unidic-lite,
/// then characters), as `cl-tohoku/bert-base-japanese-char-v3` has it.
pub fn char_tokenizer_config(model_max_length: usize) -> serde_json::Value {
    serde_json::json!({
        "tokenizer_class": "BertJapaneseTokenizer",
        "model_max_length": model_max_length,
        "do_lower_case": false,
        "word_tokenizer_type": "mecab",
        "subword_tokenizer_type": "character",
        "mecab_kwargs": { "mecab_dic": "unidic_lite" }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_first_then_by_frequency_nfkc_no_whitespace() {
        // "ＡＢ" normalizes to "AB"; the full-width space is whitespace after NFKC.
        let v = build_char_vocab(["ＡＢ　b", "bb A"], &CharVocabOptions::default());
        assert_eq!(&v[..5], &SPECIAL_TOKENS.map(String::from));
        assert_eq!(&v[5..], &["b", "A", "B"]);
    }

    #[test]
    fn min_count_and_max_size() {
        let opts = CharVocabOptions {
            min_count: 2,
            max_size: Some(6),
        };
        let v = build_char_vocab(["aab", "ccc"], &opts);
        assert_eq!(&v[5..], &["c"]);
    }
}
