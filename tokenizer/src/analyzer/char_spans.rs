//! Character offsets of analysed words (the byte offsets of [`Morpheme`] turned into the
//! char offsets Python and JSON users index strings by).

use super::Morpheme;

/// `(start, end)` char offsets in `text` (the text that was analysed) of each of `words`,
/// counted in one pass when the words are in text order, as
/// [`AnalyzerWorker::analyze`](super::AnalyzerWorker::analyze) gives them. An offset that
/// is out of range or not on a character boundary counts the characters before it.
pub fn char_spans<'a>(
    text: &'a str,
    words: &'a [Morpheme],
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let bytes = text.as_bytes();
    // (byte offset, chars before it) of the last offset converted.
    let mut at = (0usize, 0usize);
    let mut to_chars = move |byte: usize| {
        let byte = byte.min(bytes.len());
        if byte < at.0 {
            at = (0, 0);
        }
        at.1 += count_chars(&bytes[at.0..byte]);
        at.0 = byte;
        at.1
    };
    words.iter().map(move |m| {
        let start = to_chars(m.start);
        (start, to_chars(m.end.max(m.start)))
    })
}

/// UTF-8 characters that start in `bytes` (bytes that are not continuation bytes).
#[inline]
pub(crate) fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start: usize, end: usize) -> Morpheme {
        Morpheme {
            start,
            end,
            token: 0,
            word_cost: 0,
            cost: 0,
            is_unknown: false,
            user_dic: None,
        }
    }

    #[test]
    fn byte_offsets_become_char_offsets() {
        // "東京 の😀a": 東 0..3, 京 3..6, space 6..7, の 7..10, 😀 10..14, a 14..15.
        let text = "東京 の😀a";
        let words = [word(0, 6), word(7, 10), word(10, 14), word(14, 15)];
        let spans: Vec<_> = char_spans(text, &words).collect();
        assert_eq!(spans, [(0, 2), (3, 4), (4, 5), (5, 6)]);
        for ((s, e), w) in spans.iter().zip(&words) {
            let by_chars: String = text.chars().skip(*s).take(e - s).collect();
            assert_eq!(by_chars, &text[w.start..w.end]);
        }
        // Out of order or out of range offsets are still counted from the start.
        let odd = [word(7, 10), word(0, 3), word(14, 99)];
        let spans: Vec<_> = char_spans(text, &odd).collect();
        assert_eq!(spans, [(3, 4), (0, 1), (5, 6)]);
    }
}
