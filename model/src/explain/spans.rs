//! From token attributions back to the original text: per-token character offsets,
//! character spans (tokens sharing characters merged) and words: MeCab words when their
//! boundaries map onto the original characters ([`mecab_word_starts`]), else WordPiece
//! `##` continuations joined to the piece before them.

use serde::Serialize;
use tokken_tokenizer::encoder::Tokenizer;

/// One token with its attribution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenScore {
    pub token: String,
    pub id: u32,
    /// Char (code point) offsets into the original text; `(0, 0)` for `[CLS]`/`[SEP]`.
    pub start: usize,
    pub end: usize,
    pub score: f32,
    /// `[CLS]`, `[SEP]` or `[PAD]`.
    pub special: bool,
}

/// A run of original characters and the attribution of the tokens covering it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CharSpan {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub score: f32,
}

/// A word: a token and the `##` continuation pieces after it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WordScore {
    /// The original characters it spans.
    pub text: String,
    pub start: usize,
    pub end: usize,
    /// Its tokens, `first..=last`.
    pub first_token: usize,
    pub last_token: usize,
    pub score: f32,
}

/// Chars `start..end` of `chars` as a string (clamped to the text).
fn chars_between(chars: &[char], start: usize, end: usize) -> String {
    let end = end.min(chars.len());
    chars[start.min(end)..end].iter().collect()
}

/// Character spans of the non-special tokens in text order; a token that overlaps the
/// previous span (NFKC merged its characters with a neighbour's) joins it.
pub fn char_spans(text: &str, tokens: &[TokenScore]) -> Vec<CharSpan> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans: Vec<CharSpan> = Vec::new();
    for tok in tokens.iter().filter(|t| !t.special && t.end > t.start) {
        match spans.last_mut() {
            Some(last) if tok.start < last.end => {
                last.end = last.end.max(tok.end);
                last.score += tok.score;
            }
            _ => spans.push(CharSpan {
                start: tok.start,
                end: tok.end,
                text: String::new(),
                score: tok.score,
            }),
        }
    }
    for s in &mut spans {
        s.text = chars_between(&chars, s.start, s.end);
    }
    spans
}

/// Char offsets where MeCab words start in `text`, as the tokenizer analyses it. `None`
/// when they cannot be placed on the original characters: the text holds special tokens
/// (several pieces) or normalization (NFKC) changed its length in characters.
pub fn mecab_word_starts(tok: &Tokenizer, text: &str) -> Option<Vec<usize>> {
    let mut worker = tok.worker();
    let (mut pieces, mut norm_chars) = (0usize, 0usize);
    let mut starts = Vec::new();
    worker.analyze_pieces(text, |norm, morphemes| {
        pieces += 1;
        norm_chars = norm.chars().count();
        starts.extend(
            morphemes
                .iter()
                .map(|m| norm.get(..m.start).map_or(0, |s| s.chars().count())),
        );
    });
    (pieces == 1 && norm_chars == text.chars().count()).then_some(starts)
}

/// Words of the non-special tokens: a token continues the word before it when it starts
/// with `##` (WordPiece) or, given MeCab's `word_starts`, when no MeCab word starts at its
/// first character (character subwords carry no `##`). Without `word_starts` a
/// character-subword text's words are its characters. Scores add up.
pub fn words(text: &str, tokens: &[TokenScore], word_starts: Option<&[usize]>) -> Vec<WordScore> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<WordScore> = Vec::new();
    let mut prev_real = false;
    for (i, tok) in tokens.iter().enumerate() {
        if tok.special {
            prev_real = false;
            continue;
        }
        let inside_mecab_word = word_starts.is_some_and(|ws| ws.binary_search(&tok.start).is_err());
        let continues = prev_real && (tok.token.starts_with("##") || inside_mecab_word);
        match out.last_mut() {
            Some(w) if continues => {
                w.end = w.end.max(tok.end);
                w.last_token = i;
                w.score += tok.score;
            }
            _ => out.push(WordScore {
                text: String::new(),
                start: tok.start,
                end: tok.end,
                first_token: i,
                last_token: i,
                score: tok.score,
            }),
        }
        prev_real = true;
    }
    for w in &mut out {
        w.text = chars_between(&chars, w.start, w.end);
    }
    out
}
