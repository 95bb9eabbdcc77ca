//! `vocab.txt`: one token per line, id = line number (0-based), read the way HF's
//! `load_vocab` reads it (Python text mode: `\n`, `\r\n` and `\r` end a line; a line's
//! content is the token, spaces included; an empty line is the token `""`). A token listed
//! twice maps to its *last* line, as the Python dict assignment does.
//!
//! Lookups never allocate (no `"##" + substr` string building): one table over every token,
//! one over the continuation tokens (`##x`) keyed by what follows the `##`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use crate::error::TokenizerError;

/// A loaded vocabulary.
pub struct Vocab {
    /// id -> token, one per line of the file.
    tokens: Vec<String>,
    /// every token (including `##x` ones) -> id.
    words: TokenTable,
    /// `##x` tokens keyed by `x` -> id.
    continuations: TokenTable,
}

impl Vocab {
    /// Reads `vocab.txt`. Errors name the file (and the line, for invalid UTF-8).
    pub fn from_file(path: &Path) -> Result<Vocab, TokenizerError> {
        let bytes = std::fs::read(path).map_err(|e| TokenizerError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t,
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                return Err(TokenizerError::BadLine {
                    path: path.to_path_buf(),
                    line,
                    message: "not valid UTF-8".into(),
                });
            }
        };
        let vocab = Vocab::from_text(text);
        if vocab.is_empty() {
            return Err(TokenizerError::BadFile {
                path: path.to_path_buf(),
                message: "the vocabulary is empty".into(),
            });
        }
        Ok(vocab)
    }

    /// Builds a vocabulary from the text of a `vocab.txt`.
    pub fn from_text(text: &str) -> Vocab {
        Vocab::from_tokens(python_lines(text).map(str::to_owned).collect())
    }

    /// Builds a vocabulary where token `i` has id `i`.
    pub fn from_tokens(tokens: Vec<String>) -> Vocab {
        // Later lines win, as in `vocab[token] = index`.
        let mut last: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            last.insert(t.as_str(), id as u32);
        }
        let words = TokenTable::build(last.iter().map(|(k, &v)| (*k, v)));
        let continuations = TokenTable::build(
            last.iter()
                .filter_map(|(k, &v)| k.strip_prefix("##").map(|rest| (rest, v))),
        );
        drop(last);
        Vocab {
            tokens,
            words,
            continuations,
        }
    }

    /// Number of lines (ids run `0..len`).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when the file had no lines.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn get(&self, token: &str) -> Option<u32> {
        self.words.get(token)
    }

    /// The token of `id`.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Longest token that is a prefix of `text`: `(id, byte length)`.
    /// With `continuation`, only `##` tokens count and `text` is matched against what follows
    /// their `##` (WordPiece's non-initial pieces).
    #[inline]
    pub fn longest_prefix(&self, text: &str, continuation: bool) -> Option<(u32, usize)> {
        let table = if continuation {
            &self.continuations
        } else {
            &self.words
        };
        table.longest_prefix(text)
    }
}

/// Lines as Python's `open(..., encoding="utf-8").readlines()` + `rstrip("\n")` yields them:
/// universal newlines (`\r\n`, `\r`, `\n`), no empty last line after a final terminator.
fn python_lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        while pos < bytes.len() && bytes[pos] != b'\n' && bytes[pos] != b'\r' {
            pos += 1;
        }
        let line = &text[start..pos];
        if pos < bytes.len() {
            if bytes[pos] == b'\r' && pos + 1 < bytes.len() && bytes[pos + 1] == b'\n' {
                pos += 2;
            } else {
                pos += 1;
            }
        }
        Some(line)
    })
}

/// Exact-match table with a longest-prefix search that tries candidate lengths from the
/// longest token down (MeCab surfaces are short and usually whole tokens, so this is
/// mostly one probe). Keys of up to [`INLINE`] bytes are packed into 16 bytes held in the
/// table's slots: a lookup is usually one cache line, no pointer chase, no `memcmp`.
struct TokenTable {
    short: InlineTable,
    long: HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>,
    /// Longest key in bytes.
    max_len: usize,
}

/// Longest key packed inline: 15 bytes, the 16th holds the length.
pub(crate) const INLINE: usize = 15;

/// `key` (at most [`INLINE`] bytes) zero-padded, with its length in the last byte.
#[inline]
pub(crate) fn pack(key: &[u8]) -> [u64; 2] {
    let mut buf = [0u8; 16];
    buf[..key.len()].copy_from_slice(key);
    buf[15] = key.len() as u8;
    [
        u64::from_le_bytes(buf[..8].try_into().unwrap()),
        u64::from_le_bytes(buf[8..].try_into().unwrap()),
    ]
}

/// FxHash of a [`pack`]ed key; its high bits are well mixed.
#[inline]
pub(crate) fn hash_packed(key: [u64; 2]) -> u64 {
    let mut h = FxHasher::default();
    h.add(key[0]);
    h.add(key[1]);
    h.hash
}

/// Open addressing with linear probing over packed keys, at most half full.
struct InlineTable {
    slots: Vec<Slot>,
    /// log2 of the slot count.
    bits: u32,
}

#[derive(Clone, Copy)]
#[repr(C, packed(4))]
struct Slot {
    key: [u64; 2],
    /// `EMPTY` marks a free slot.
    id: u32,
}

const EMPTY: u32 = u32::MAX;

impl InlineTable {
    fn with_capacity(n: usize) -> InlineTable {
        let bits = (2 * n.max(1)).next_power_of_two().trailing_zeros().max(4);
        InlineTable {
            slots: vec![
                Slot {
                    key: [0; 2],
                    id: EMPTY
                };
                1 << bits
            ],
            bits,
        }
    }

    #[inline]
    fn home(&self, key: [u64; 2]) -> usize {
        (hash_packed(key) >> (64 - self.bits)) as usize
    }

    fn insert(&mut self, key: [u64; 2], id: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.id == EMPTY || { slot.key } == key {
                *slot = Slot { key, id };
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn get(&self, key: [u64; 2]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = self.slots[i];
            if slot.id == EMPTY {
                return None;
            }
            if { slot.key } == key {
                return Some(slot.id);
            }
            i = (i + 1) & mask;
        }
    }
}

impl TokenTable {
    fn build<'a>(keys: impl Iterator<Item = (&'a str, u32)>) -> TokenTable {
        let keys: Vec<(&str, u32)> = keys.collect();
        let mut table = TokenTable {
            short: InlineTable::with_capacity(keys.len()),
            long: HashMap::default(),
            max_len: 0,
        };
        for (k, v) in keys {
            table.max_len = table.max_len.max(k.len());
            if k.len() <= INLINE {
                table.short.insert(pack(k.as_bytes()), v);
            } else {
                table.long.insert(Box::from(k), v);
            }
        }
        table
    }

    #[inline]
    fn get(&self, key: &str) -> Option<u32> {
        if key.len() <= INLINE {
            self.short.get(pack(key.as_bytes()))
        } else {
            self.long.get(key).copied()
        }
    }

    #[inline]
    fn longest_prefix(&self, text: &str) -> Option<(u32, usize)> {
        let mut end = text.len().min(self.max_len);
        while end > 0 {
            if text.is_char_boundary(end) {
                if let Some(v) = self.get(&text[..end]) {
                    return Some((v, end));
                }
            }
            end -= 1;
        }
        None
    }
}

/// FxHash (rustc's hasher): a multiply-rotate over 8-byte words; fast for short keys.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while bytes.len() >= 8 {
            self.add(u64::from_le_bytes(bytes[..8].try_into().unwrap()));
            bytes = &bytes[8..];
        }
        if bytes.len() >= 4 {
            self.add(u32::from_le_bytes(bytes[..4].try_into().unwrap()) as u64);
            bytes = &bytes[4..];
        }
        for &b in bytes {
            self.add(b as u64);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_python_universal_newlines() {
        let v = Vocab::from_text("[PAD]\r\n[UNK]\ra b\n\nx");
        let toks: Vec<_> = (0..v.len() as u32).map(|i| v.token(i).unwrap()).collect();
        assert_eq!(toks, ["[PAD]", "[UNK]", "a b", "", "x"]);
        assert_eq!(Vocab::from_text("a\nb\n").len(), 2);
        assert_eq!(Vocab::from_text("a\n\n").len(), 2);
        assert_eq!(v.get("a b"), Some(2));
        assert_eq!(v.get(""), Some(3));
    }

    #[test]
    fn duplicate_token_maps_to_last_line() {
        let v = Vocab::from_text("a\nb\na\n");
        assert_eq!(v.get("a"), Some(2));
        assert_eq!(v.token(0), Some("a"));
    }

    #[test]
    fn longest_prefix_and_continuations() {
        let v = Vocab::from_text("[UNK]\n東\n東京\n東京都庁\n##京\n##都\n##");
        assert_eq!(v.longest_prefix("東京都", false), Some((2, 6)));
        assert_eq!(v.longest_prefix("都", false), None);
        assert_eq!(v.longest_prefix("都庁", true), Some((5, 3)));
        // "##" itself is a whole-word token, and the continuation of "".
        assert_eq!(v.get("##"), Some(6));
        assert_eq!(v.longest_prefix("##京x", false), Some((4, 5)));
        assert_eq!(v.get("東京都"), None);
        // Keys past the inline limit and keys that differ only by trailing NULs.
        let v = Vocab::from_text("a\na\0\n一二三四五六\n一二三四五\n");
        assert_eq!(
            (v.get("a"), v.get("a\0"), v.get("a\0\0")),
            (Some(0), Some(1), None)
        );
        assert_eq!(v.longest_prefix("一二三四五六七", false), Some((2, 18)));
        assert_eq!(v.longest_prefix("一二三四五七", false), Some((3, 15)));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::Builder::new()
            .prefix("tokken-vocab-")
            .tempdir()
            .unwrap();
        let p = dir.path().join("vocab.txt");
        std::fs::write(&p, b"a\nb\n\xff\n").unwrap();
        let e = Vocab::from_file(&p).err().unwrap().to_string();
        assert!(e.contains("vocab.txt") && e.contains(":3"), "{e}");
    }
}
