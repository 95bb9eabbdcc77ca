//! What happens to raw text before MeCab sees it, as in HF's `BertJapaneseTokenizer`:
//!
//! 1. [`SpecialTokens::split`]: the raw text is cut at literal special tokens (`[CLS]`,
//!    `[MASK]`, ...), leftmost match first, longest match at a position (HF's added-tokens
//!    trie). Each piece in between is analysed on its own; empty pieces vanish.
//! 2. [`Normalized::nfkc`]: each piece is NFKC-normalized (`unicodedata.normalize("NFKC")`),
//!    keeping for every normalized byte the span of original characters it came from, so
//!    token offsets can point into the original text. So `［ＭＡＳＫ］` becomes the *text*
//!    `[MASK]` here, after the split: MeCab splits it, it is not a special token.

use unicode_normalization::char::{canonical_combining_class, decompose_compatible};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// A piece of the raw text, by byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Ordinary text, to normalize and analyse.
    Text { start: usize, end: usize },
    /// A literal special token with its vocabulary id.
    Special { id: u32, start: usize, end: usize },
}

/// The literal tokens that are never analysed (HF: the added / special tokens).
#[derive(Debug, Clone)]
pub struct SpecialTokens {
    /// (token text, id), longest first so the first match at a position is the longest.
    tokens: Vec<(String, u32)>,
    /// Bytes a token can start with: a quick filter for the scan.
    first_bytes: [bool; 256],
}

impl SpecialTokens {
    /// Tokens with their ids; empty strings are ignored, a repeated token keeps its last id.
    pub fn new(tokens: impl IntoIterator<Item = (String, u32)>) -> SpecialTokens {
        let mut list: Vec<(String, u32)> = Vec::new();
        for (t, id) in tokens {
            if t.is_empty() {
                continue;
            }
            match list.iter_mut().find(|(s, _)| *s == t) {
                Some(entry) => entry.1 = id,
                None => list.push((t, id)),
            }
        }
        list.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        let mut first_bytes = [false; 256];
        for (t, _) in &list {
            first_bytes[t.as_bytes()[0] as usize] = true;
        }
        SpecialTokens {
            tokens: list,
            first_bytes,
        }
    }

    /// The tokens and their ids.
    pub fn tokens(&self) -> impl Iterator<Item = (&str, u32)> {
        self.tokens.iter().map(|(t, id)| (t.as_str(), *id))
    }

    /// True when `s` is exactly one of the special tokens.
    pub fn contains(&self, s: &str) -> bool {
        self.tokens.iter().any(|(t, _)| t == s)
    }

    /// Cuts `text` at special tokens into `out` (cleared first). Empty text pieces are
    /// dropped, as HF skips empty strings.
    pub fn split(&self, text: &str, out: &mut Vec<Piece>) {
        out.clear();
        let bytes = text.as_bytes();
        let mut piece_start = 0;
        let mut pos = 0;
        while pos < bytes.len() {
            if !self.first_bytes[bytes[pos] as usize] {
                pos += 1;
                continue;
            }
            let rest = &bytes[pos..];
            match self
                .tokens
                .iter()
                .find(|(t, _)| rest.starts_with(t.as_bytes()))
            {
                Some((t, id)) => {
                    if piece_start < pos {
                        out.push(Piece::Text {
                            start: piece_start,
                            end: pos,
                        });
                    }
                    out.push(Piece::Special {
                        id: *id,
                        start: pos,
                        end: pos + t.len(),
                    });
                    pos += t.len();
                    piece_start = pos;
                }
                None => pos += 1,
            }
        }
        if piece_start < bytes.len() {
            out.push(Piece::Text {
                start: piece_start,
                end: bytes.len(),
            });
        }
    }
}

/// A normalized piece and, per normalized byte, the original characters it came from.
/// Reused across calls: steady-state normalization allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    /// The normalized text.
    pub text: String,
    /// Per byte of `text`: first original char (counted from the piece start) ...
    char_start: Vec<u32>,
    /// ... and one past the last original char it came from.
    char_end: Vec<u32>,
}

impl Normalized {
    pub fn new() -> Normalized {
        Normalized::default()
    }

    /// NFKC-normalizes `piece`. Characters are grouped into segments that normalize
    /// independently (a segment starts at a character whose compatibility decomposition
    /// begins with a starter that never combines backwards); every output byte maps to its
    /// whole segment, which is one character except around composing sequences such as
    /// `ｶﾞ` -> `ガ`.
    pub fn nfkc(&mut self, piece: &str) {
        self.clear();
        let mut i = 0; // byte
        let mut chars = 0u32; // original chars before `i`
        while i < piece.len() {
            // A run of characters that are NFKC on their own and start a segment: copied as
            // they are, one segment each, except that the last one joins the non-starters
            // that follow it (か + U+3099 -> が).
            let (run_end, run_chars, last_start) = stable_run(piece, i);
            if run_end > i {
                let joins = piece[run_end..]
                    .chars()
                    .next()
                    .is_some_and(|c| !is_boundary_before(c));
                let (end, n) = if joins {
                    (last_start, run_chars - 1)
                } else {
                    (run_end, run_chars)
                };
                self.push_stable(&piece[i..end], chars);
                chars += n;
                i = end;
                if !joins {
                    continue;
                }
            }
            // One segment: the character at `i` and every one up to the next boundary.
            let mut rest = piece[i..].char_indices();
            let mut end = piece.len();
            let mut n = 0;
            for (k, c) in rest.by_ref() {
                if k > 0 && is_boundary_before(c) {
                    end = i + k;
                    break;
                }
                n += 1;
            }
            self.push_segment(&piece[i..end], chars, chars + n);
            chars += n;
            i = end;
        }
    }

    /// Copies `piece` unchanged (`normalize_text = false`), mapping each byte to its char.
    pub fn identity(&mut self, piece: &str) {
        self.clear();
        for (n, c) in piece.chars().enumerate() {
            self.push_char(c, n as u32, n as u32 + 1);
        }
    }

    /// Original char span `(start, end)`, relative to the piece, of normalized bytes
    /// `start..end` (`start < end`, both within `text`).
    #[inline]
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        (
            self.char_start[start] as usize,
            self.char_end[end - 1] as usize,
        )
    }

    fn clear(&mut self) {
        self.text.clear();
        self.char_start.clear();
        self.char_end.clear();
    }

    fn push_segment(&mut self, seg: &str, first_char: u32, end_char: u32) {
        let mut it = seg.chars();
        let single = it.next().filter(|_| it.as_str().is_empty());
        match single {
            Some(c) if is_nfkc_alone(c) => self.push_char(c, first_char, end_char),
            _ => {
                for c in seg.nfkc() {
                    self.push_char(c, first_char, end_char);
                }
            }
        }
    }

    /// Appends `run`, characters that are NFKC and their own segment, the first being
    /// original char `first_char`.
    fn push_stable(&mut self, run: &str, first_char: u32) {
        self.text.push_str(run);
        let mut k = first_char;
        for &b in run.as_bytes() {
            // A lead byte starts the next character.
            k += (b & 0xC0 != 0x80) as u32;
            self.char_start.push(k - 1);
            self.char_end.push(k);
        }
    }

    #[inline]
    fn push_char(&mut self, c: char, start: u32, end: u32) {
        self.text.push(c);
        let n = c.len_utf8();
        for _ in 0..n {
            self.char_start.push(start);
            self.char_end.push(end);
        }
    }
}

/// The run of [`is_fast_stable`] characters at byte `i` of `text`: its byte end, its
/// number of characters and the byte start of its last character.
#[inline]
fn stable_run(text: &str, i: usize) -> (usize, u32, usize) {
    let mut end = i;
    let mut n = 0;
    let mut last = i;
    for c in text[i..].chars() {
        if !is_fast_stable(c) {
            break;
        }
        last = end;
        end += c.len_utf8();
        n += 1;
    }
    (end, n, last)
}

/// Characters that are already NFKC on their own and never interact with neighbours
/// (the common ASCII, kana and kanji fast path).
#[inline]
fn is_fast_stable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E
        | 0x3001..=0x3002 // 、。
        | 0x3005 // 々
        | 0x3008..=0x3011 // 〈〉《》「」『』【】
        | 0x3041..=0x3096
        | 0x30A1..=0x30FE
        | 0x4E00..=0x9FFF)
}

/// A single char that is NFKC by itself and a starter.
#[inline]
fn is_nfkc_alone(c: char) -> bool {
    is_fast_stable(c)
        || (canonical_combining_class(c) == 0
            && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes)
}

/// Whether normalization of the text before `c` is independent of `c` and what follows:
/// `c`'s compatibility decomposition starts with a starter that does not compose with a
/// preceding character (quick-check Yes, combining class 0).
#[inline]
fn is_boundary_before(c: char) -> bool {
    if is_fast_stable(c) {
        return true;
    }
    let mut first = None;
    decompose_compatible(c, |d| {
        if first.is_none() {
            first = Some(d);
        }
    });
    let first = first.unwrap_or(c);
    canonical_combining_class(first) == 0
        && is_nfkc_quick(std::iter::once(first)) == IsNormalized::Yes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specials() -> SpecialTokens {
        SpecialTokens::new(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                .iter()
                .enumerate()
                .map(|(i, t)| (t.to_string(), i as u32)),
        )
    }

    fn pieces(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        specials().split(text, &mut out);
        out.iter()
            .map(|p| match *p {
                Piece::Text { start, end } => format!("T:{}", &text[start..end]),
                Piece::Special { id, start, end } => format!("S{id}:{}", &text[start..end]),
            })
            .collect()
    }

    #[test]
    fn splits_on_literal_special_tokens() {
        assert_eq!(
            pieces("私は[MASK]です[SEP][CLS]x"),
            [
                "T:私は",
                "S4:[MASK]",
                "T:です",
                "S3:[SEP]",
                "S2:[CLS]",
                "T:x"
            ]
        );
        assert_eq!(pieces("[MASK]"), ["S4:[MASK]"]);
        assert_eq!(pieces(""), Vec::<String>::new());
        // Not special: lowercase, partial, full-width (full-width turns into `[MASK]` only
        // after the split, by NFKC).
        assert_eq!(pieces("[mask][MAS[MASK"), ["T:[mask][MAS[MASK"]);
        assert_eq!(pieces("［ＭＡＳＫ］"), ["T:［ＭＡＳＫ］"]);
        assert_eq!(pieces("[[MASK]]"), ["T:[", "S4:[MASK]", "T:]"]);
    }

    #[test]
    fn longest_special_wins_at_a_position() {
        let s = SpecialTokens::new([("<a>".to_string(), 1), ("<a><b>".to_string(), 2)]);
        let mut out = Vec::new();
        s.split("x<a><b>y<a>", &mut out);
        assert_eq!(
            out,
            [
                Piece::Text { start: 0, end: 1 },
                Piece::Special {
                    id: 2,
                    start: 1,
                    end: 7
                },
                Piece::Text { start: 7, end: 8 },
                Piece::Special {
                    id: 1,
                    start: 8,
                    end: 11
                },
            ]
        );
    }

    #[test]
    fn nfkc_matches_python_and_maps_back() {
        let mut n = Normalized::new();
        // Full-width ASCII, half-width katakana with voiced marks, ligature, circled digit.
        let src = "ＡＢｶﾞｷﾞ①ﬁ㍻x";
        n.nfkc(src);
        assert_eq!(n.text, "ABガギ1fi平成x");
        let span_of = |needle: &str| {
            let b = n.text.find(needle).unwrap();
            n.original_span(b, b + needle.len())
        };
        assert_eq!(span_of("B"), (1, 2));
        assert_eq!(span_of("ガ"), (2, 4)); // ｶﾞ: two original chars
        assert_eq!(span_of("ギ"), (4, 6));
        assert_eq!(span_of("1"), (6, 7));
        assert_eq!(span_of("fi"), (7, 8)); // one char became two
        assert_eq!(span_of("平成"), (8, 9));
        assert_eq!(span_of("x"), (9, 10));
    }

    #[test]
    fn nfkc_composes_across_combining_marks_and_keeps_astral_chars() {
        let mut n = Normalized::new();
        // か + combining voiced mark -> が; e + acute -> é; emoji and 𠮷 unchanged;
        // NBSP and ideographic space -> ' '.
        n.nfkc("か\u{3099}e\u{301}😀𠮷\u{a0}\u{3000}");
        assert_eq!(n.text, "がé😀𠮷  ");
        assert_eq!(n.original_span(0, 3), (0, 2));
        let e = n.text.find('é').unwrap();
        assert_eq!(n.original_span(e, e + 2), (2, 4));
        let emoji = n.text.find('😀').unwrap();
        assert_eq!(n.original_span(emoji, emoji + 4), (4, 5));
        assert_eq!(n.original_span(emoji + 4, emoji + 8), (5, 6));
    }

    /// The plain form of [`Normalized::nfkc`] (no fast runs): a segment starts at the first
    /// character and at every boundary, and each is normalized on its own.
    fn segment_by_segment(piece: &str) -> Normalized {
        let mut n = Normalized::new();
        let (mut seg_start, mut seg_char, mut chars) = (0, 0u32, 0u32);
        for (i, c) in piece.char_indices() {
            if i > seg_start && is_boundary_before(c) {
                n.push_segment(&piece[seg_start..i], seg_char, chars);
                seg_start = i;
                seg_char = chars;
            }
            chars += 1;
        }
        if seg_start < piece.len() {
            n.push_segment(&piece[seg_start..], seg_char, chars);
        }
        n
    }

    #[test]
    fn segmented_nfkc_equals_whole_string_nfkc() {
        // Composition, reordering, Hangul jamo, compatibility forms, ASCII and kana mixed.
        let alphabet: Vec<char> = "aAｱｶﾞﾟ゙゚か\u{3099}\u{309A}e\u{301}\u{327}\u{323}\u{1100}\u{1161}\u{11A8}가①㍻ﬁＡ　\u{a0}漢字。、！？「」々・ヾ\u{2028}\u{fb01}\u{1e9b}\u{212b}\u{f900}😀"
            .chars()
            .collect();
        let mut n = Normalized::new();
        let mut seed = 0x9E3779B97F4A7C15u64;
        for _ in 0..3000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 9) as usize;
            let mut r = seed;
            for _ in 0..len {
                r = r
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push(alphabet[(r >> 33) as usize % alphabet.len()]);
            }
            n.nfkc(&s);
            let whole: String = s.nfkc().collect();
            assert_eq!(n.text, whole, "input {s:?}");
            assert_eq!(n.char_start.len(), n.text.len());
            let r = segment_by_segment(&s);
            assert_eq!(
                (&n.char_start, &n.char_end),
                (&r.char_start, &r.char_end),
                "input {s:?}"
            );
        }
    }

    /// Every fast-path character is its own NFKC, a starter, and never composes with what
    /// precedes it (quick check Yes): what the slow path would have found.
    #[test]
    fn fast_stable_characters_are_nfkc_starters() {
        let mut checked = 0;
        for c in (0..0x11000u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_fast_stable(c))
        {
            let alone: String = std::iter::once(c).nfkc().collect();
            assert_eq!(alone, c.to_string(), "{c:?} U+{:04X}", c as u32);
            assert_eq!(canonical_combining_class(c), 0, "U+{:04X}", c as u32);
            assert_eq!(is_nfkc_quick(std::iter::once(c)), IsNormalized::Yes);
            checked += 1;
        }
        assert!(checked > 20_000);
    }

    #[test]
    fn identity_maps_each_char() {
        let mut n = Normalized::new();
        n.identity("ｶﾞa");
        assert_eq!(n.text, "ｶﾞa");
        assert_eq!(n.original_span(3, 6), (1, 2));
    }
}
