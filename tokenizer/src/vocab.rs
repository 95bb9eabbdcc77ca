//! `vocab.txt`: one token per line, id = line number (0-based), read the way HF's
//! `load_vocab` reads it (Python text mode: `\n`, `\r\n` and `\r` end a line; a line's
//! content is the token, spaces included; an empty line is the token `""`). A token listed
//! twice maps to its *last* line, as the Python dict assignment does.
//!
//! Lookups go through a byte trie so WordPiece's greedy longest match is one forward walk
//! (no allocation, no `"##" + substr` string building): one trie over every token, one over
//! the continuation tokens (`##x`) keyed by what follows the `##`.

use std::collections::HashMap;
use std::path::Path;

use crate::error::TokenizerError;

/// A loaded vocabulary.
pub struct Vocab {
    /// id -> token, one per line of the file.
    tokens: Vec<String>,
    /// every token (including `##x` ones) -> id.
    words: PrefixTrie,
    /// `##x` tokens keyed by `x` -> id.
    continuations: PrefixTrie,
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
        let words = PrefixTrie::build(last.iter().map(|(k, &v)| (k.as_bytes(), v)));
        let continuations = PrefixTrie::build(
            last.iter()
                .filter_map(|(k, &v)| k.strip_prefix("##").map(|rest| (rest.as_bytes(), v))),
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
        self.words.get(token.as_bytes())
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
        let trie = if continuation {
            &self.continuations
        } else {
            &self.words
        };
        trie.longest_prefix(text.as_bytes())
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

const NO_VALUE: u32 = u32::MAX;

/// A byte trie in two flat arrays: node `n`'s children are `edges[first..first + count]`,
/// sorted by label.
struct PrefixTrie {
    nodes: Vec<TrieNode>,
    edges: Vec<(u8, u32)>,
}

#[derive(Clone, Copy)]
struct TrieNode {
    first_edge: u32,
    edge_count: u32,
    /// id of the key ending here, or `NO_VALUE`.
    value: u32,
}

impl PrefixTrie {
    fn build<'a>(keys: impl Iterator<Item = (&'a [u8], u32)>) -> PrefixTrie {
        let mut keys: Vec<(&[u8], u32)> = keys.collect();
        keys.sort_unstable();
        // Breadth-first over key ranges that share a prefix of length `depth`.
        let mut nodes = vec![TrieNode {
            first_edge: 0,
            edge_count: 0,
            value: NO_VALUE,
        }];
        let mut edges = Vec::new();
        // (node index, key range, depth)
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize, keys.len(), 0usize)]);
        while let Some((node, lo, hi, depth)) = queue.pop_front() {
            let mut i = lo;
            if i < hi && keys[i].0.len() == depth {
                nodes[node].value = keys[i].1;
                i += 1;
            }
            nodes[node].first_edge = edges.len() as u32;
            while i < hi {
                let label = keys[i].0[depth];
                let mut j = i + 1;
                while j < hi && keys[j].0[depth] == label {
                    j += 1;
                }
                let child = nodes.len();
                nodes.push(TrieNode {
                    first_edge: 0,
                    edge_count: 0,
                    value: NO_VALUE,
                });
                edges.push((label, child as u32));
                queue.push_back((child, i, j, depth + 1));
                i = j;
            }
            nodes[node].edge_count = edges.len() as u32 - nodes[node].first_edge;
        }
        PrefixTrie { nodes, edges }
    }

    #[inline]
    fn child(&self, node: u32, label: u8) -> Option<u32> {
        let n = self.nodes[node as usize];
        let edges = &self.edges[n.first_edge as usize..(n.first_edge + n.edge_count) as usize];
        edges
            .binary_search_by_key(&label, |e| e.0)
            .ok()
            .map(|i| edges[i].1)
    }

    fn get(&self, key: &[u8]) -> Option<u32> {
        let mut node = 0;
        for &b in key {
            node = self.child(node, b)?;
        }
        let v = self.nodes[node as usize].value;
        (v != NO_VALUE).then_some(v)
    }

    #[inline]
    fn longest_prefix(&self, text: &[u8]) -> Option<(u32, usize)> {
        let mut node = 0;
        let mut best = None;
        for (i, &b) in text.iter().enumerate() {
            match self.child(node, b) {
                Some(c) => node = c,
                None => break,
            }
            let v = self.nodes[node as usize].value;
            if v != NO_VALUE {
                best = Some((v, i + 1));
            }
        }
        best
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
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = std::env::temp_dir().join(format!("tokken-vocab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("vocab.txt");
        std::fs::write(&p, b"a\nb\n\xff\n").unwrap();
        let e = Vocab::from_file(&p).err().unwrap().to_string();
        assert!(e.contains("vocab.txt") && e.contains(":3"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
