//! Subword splitting of one MeCab surface, as HF's `WordpieceTokenizer` and
//! `CharacterTokenizer` do it.
//!
//! WordPiece: split the surface on whitespace like Python's `str.split()` (so surfaces made
//! only of `\r`, `\x0c`, `\u2028`, ... produce nothing); a word of more than
//! [`MAX_INPUT_CHARS_PER_WORD`] code points is `[UNK]`; otherwise greedy longest match from
//! the left, non-initial pieces looked up as `##piece`; if some position matches nothing,
//! the whole word is one `[UNK]`.
//!
//! Character: every code point of the (NFKC) surface is a token, `[UNK]` when not in the
//! vocabulary. No whitespace split here (HF does none).
//!
//! Both emit `(id, byte start, byte end)` relative to the surface.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

use crate::vocab::Vocab;

/// HF `WordpieceTokenizer.max_input_chars_per_word`.
pub const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// How a MeCab surface becomes subword tokens (`subword_tokenizer_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubwordMode {
    /// `wordpiece`: greedy longest match with `##` continuations.
    WordPiece,
    /// `character`: one token per character (the `-char` models).
    Character,
}

impl SubwordMode {
    /// Parses `wordpiece` / `character`.
    pub fn parse(s: &str) -> Option<SubwordMode> {
        match s {
            "wordpiece" => Some(SubwordMode::WordPiece),
            "character" => Some(SubwordMode::Character),
            _ => None,
        }
    }

    /// The `subword_tokenizer_type` name.
    pub fn name(self) -> &'static str {
        match self {
            SubwordMode::WordPiece => "wordpiece",
            SubwordMode::Character => "character",
        }
    }
}

/// Python's `str.isspace()`: Unicode White_Space plus the separators U+001C..U+001F
/// (bidi class B/S), which Rust's `char::is_whitespace` leaves out.
#[inline]
pub fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Splits `surface` with `mode`, calling `emit(id, start, end)` per token (byte offsets
/// into `surface`). `scratch` is reused to avoid allocating.
pub fn split_surface(
    vocab: &Vocab,
    mode: SubwordMode,
    unk_id: u32,
    surface: &str,
    scratch: &mut String,
    emit: &mut impl FnMut(u32, usize, usize),
) {
    match mode {
        SubwordMode::WordPiece if !may_hold_whitespace(surface) => {
            wordpiece_word(vocab, unk_id, surface, emit)
        }
        SubwordMode::WordPiece => {
            for (start, word) in python_split(surface) {
                wordpiece_word(vocab, unk_id, word, &mut |id, s, e| {
                    emit(id, start + s, start + e)
                });
            }
        }
        SubwordMode::Character => characters(vocab, unk_id, surface, scratch, emit),
    }
}

/// False when no byte of `text` can start a Python whitespace character: ASCII controls
/// and space, U+0085/U+00A0 (lead byte C2), U+1680 (E1), U+2000..U+205F (E2), U+3000
/// (E3 80 80). Lets the common surface skip the split.
#[inline]
fn may_hold_whitespace(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().any(|(i, &x)| {
        x <= 0x20
            || x == 0xC2
            || x == 0xE1
            || x == 0xE2
            || (x == 0xE3 && b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0x80))
    })
}

/// Python `str.split()` on a surface: `(byte start, word)` for each non-empty run.
fn python_split(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = &text[pos..];
        let skip = rest
            .char_indices()
            .find(|&(_, c)| !is_python_whitespace(c))
            .map(|(i, _)| i)?;
        let start = pos + skip;
        let len = text[start..]
            .char_indices()
            .find(|&(_, c)| is_python_whitespace(c))
            .map_or(text.len() - start, |(i, _)| i);
        pos = start + len;
        Some((start, &text[start..pos]))
    })
}

/// WordPiece on one whitespace-free word.
pub fn wordpiece_word(
    vocab: &Vocab,
    unk_id: u32,
    word: &str,
    emit: &mut impl FnMut(u32, usize, usize),
) {
    // More bytes than the limit is needed for more code points.
    if word.len() > MAX_INPUT_CHARS_PER_WORD && word.chars().nth(MAX_INPUT_CHARS_PER_WORD).is_some()
    {
        emit(unk_id, 0, word.len());
        return;
    }
    // Pieces are emitted only once every position matched (else the word is one [UNK]):
    // held in a small stack buffer, with a second walk for words of many pieces.
    const HELD: usize = 16;
    let mut held = [(0u32, 0usize, 0usize); HELD];
    let mut n = 0;
    let mut start = 0;
    while start < word.len() {
        match vocab.longest_prefix(&word[start..], start > 0) {
            Some((id, len)) => {
                if n < HELD {
                    held[n] = (id, start, start + len);
                }
                n += 1;
                start += len;
            }
            None => {
                emit(unk_id, 0, word.len());
                return;
            }
        }
    }
    if n <= HELD {
        for &(id, s, e) in &held[..n] {
            emit(id, s, e);
        }
        return;
    }
    let mut start = 0;
    while let Some((id, len)) = vocab.longest_prefix(&word[start..], start > 0) {
        emit(id, start, start + len);
        start += len;
        if start == word.len() {
            break;
        }
    }
}

/// Character subwords of one surface (HF re-applies NFKC to the surface first; a
/// substring of NFKC text almost always is NFKC already, so that is checked, not redone).
fn characters(
    vocab: &Vocab,
    unk_id: u32,
    surface: &str,
    scratch: &mut String,
    emit: &mut impl FnMut(u32, usize, usize),
) {
    let mut buf = [0u8; 4];
    if is_nfkc_quick(surface.chars()) == IsNormalized::Yes {
        for (i, c) in surface.char_indices() {
            let id = vocab.get(c.encode_utf8(&mut buf)).unwrap_or(unk_id);
            emit(id, i, i + c.len_utf8());
        }
    } else {
        scratch.clear();
        scratch.extend(surface.nfkc());
        for c in scratch.chars() {
            let id = vocab.get(c.encode_utf8(&mut buf)).unwrap_or(unk_id);
            emit(id, 0, surface.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        Vocab::from_text(
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n東京\n東\n##京\n##都\n都\nab\n##c\n##bc\na\n😀\n",
        )
    }

    /// (token, the surface bytes it covers)
    fn run(mode: SubwordMode, surface: &str) -> Vec<(String, String)> {
        let v = vocab();
        let mut out = Vec::new();
        let mut scratch = String::new();
        split_surface(&v, mode, 1, surface, &mut scratch, &mut |id, s, e| {
            out.push((v.token(id).unwrap().to_string(), surface[s..e].to_string()));
        });
        out
    }

    fn toks(mode: SubwordMode, surface: &str) -> Vec<String> {
        run(mode, surface).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn greedy_longest_match_with_continuations() {
        use SubwordMode::WordPiece as W;
        assert_eq!(toks(W, "東京都"), ["東京", "##都"]);
        assert_eq!(toks(W, "abc"), ["ab", "##c"]);
        assert_eq!(toks(W, "abbc"), ["ab", "##bc"]);
        // Greedy, not optimal: "a" + "##bc" would cover "abc", but "ab" is longer and wins,
        // then "c" has no "##c", so the word is [UNK].
        let v = Vocab::from_text("[UNK]\nab\na\n##bc\n");
        let mut ids = Vec::new();
        wordpiece_word(&v, 0, "abc", &mut |id, _, _| ids.push(id));
        assert_eq!(ids, [0]);
        assert_eq!(toks(W, "京"), ["[UNK]"]); // only ##京 exists
        assert_eq!(toks(W, "東x"), ["[UNK]"]); // one bad position -> the whole word
        assert_eq!(
            run(W, "東京都"),
            [
                ("東京".to_string(), "東京".to_string()),
                ("##都".to_string(), "都".to_string())
            ]
        );
    }

    #[test]
    fn whitespace_kinds_split_or_vanish() {
        use SubwordMode::WordPiece as W;
        for ws in ["\r", "\x0c", "\u{2028}", "\u{1c}", "\u{85}", "\t\n", " "] {
            assert!(toks(W, ws).is_empty(), "{ws:?}");
        }
        assert_eq!(toks(W, "東\r都"), ["東", "都"]);
        assert_eq!(run(W, "\u{2028}都")[0].1, "都");
        // U+200B is not whitespace in Python: stays in the word and makes it unknown.
        assert_eq!(toks(W, "東\u{200b}"), ["[UNK]"]);
    }

    #[test]
    fn whitespace_prefilter_never_misses_python_whitespace() {
        for cp in 0..=0x10FFFFu32 {
            if let Some(c) = char::from_u32(cp) {
                if is_python_whitespace(c) {
                    let s = format!("東{c}");
                    assert!(may_hold_whitespace(&s), "U+{cp:04X}");
                }
            }
        }
        assert!(!may_hold_whitespace("東京都ｶﾀｶﾅ😀abc"));
    }

    #[test]
    fn astral_chars_and_long_words() {
        use SubwordMode::WordPiece as W;
        assert_eq!(toks(W, "😀"), ["😀"]);
        assert_eq!(toks(W, "😀😀"), ["[UNK]"]); // no ##😀
        let hundred = "a".repeat(100);
        assert_eq!(toks(W, &hundred), ["[UNK]"]); // "a" then no "##a" -> [UNK]
        let v = Vocab::from_text("[UNK]\na\n##a\n");
        let count = |w: &str| {
            let mut n = Vec::new();
            wordpiece_word(&v, 0, w, &mut |id, _, _| n.push(id));
            n
        };
        assert_eq!(count(&"a".repeat(100)).len(), 100);
        assert_eq!(count(&"a".repeat(101)), [0]); // over 100 code points
                                                  // 100 code points of 4 bytes each is still within the limit.
        assert_eq!(toks(W, &"😀".repeat(100)), ["[UNK]"]);
    }

    #[test]
    fn character_mode() {
        use SubwordMode::Character as C;
        assert_eq!(toks(C, "東京"), ["東", "[UNK]"]);
        assert_eq!(toks(C, "都😀"), ["都", "😀"]);
        // No whitespace split in character mode: an odd-whitespace surface is [UNK].
        assert_eq!(toks(C, "\r"), ["[UNK]"]);
        // Re-normalized: half-width katakana would be composed first.
        assert_eq!(toks(C, "ｶﾞ").len(), 1);
    }
}
