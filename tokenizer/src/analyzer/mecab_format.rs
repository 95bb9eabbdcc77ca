//! MeCab's default output format.

use std::fmt::Write;

use super::{Analyzer, Morpheme};

/// Appends MeCab's default output for `morphemes` of `text` to `out`: one
/// `surface\tfeatures` line per word, then `EOS`.
pub fn write_mecab_format(
    analyzer: &Analyzer,
    text: &str,
    morphemes: &[Morpheme],
    out: &mut String,
) {
    let bytes = text.as_bytes();
    for m in morphemes {
        let surface = bytes.get(m.start..m.end).unwrap_or(&[]);
        let _ = writeln!(
            out,
            "{}\t{}",
            String::from_utf8_lossy(surface),
            analyzer.feature(m)
        );
    }
    out.push_str("EOS\n");
}
