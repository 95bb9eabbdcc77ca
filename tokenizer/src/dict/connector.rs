//! Connection costs re-laid out for cache locality, and the per-token context ids in that
//! layout.
//!
//! `matrix.bin` is `rsize x lsize` i16 (71 MB for unidic-lite), far bigger than any cache,
//! and the lattice reads it at random. Context ids are just names, so renumbering them is
//! free: at load the ids are renumbered in order of how often the lattice meets them (most
//! frequent first) and the matrix is copied in the new numbering. The costs the hot ids
//! need then sit in a small corner of the copy that stays cached. Every cost read is the
//! same number as before (a permutation of rows and columns), so results are identical.
//!
//! The lattice only needs a token's two context ids and word cost, so those are also copied
//! into a dense table (6 bytes per token instead of 16), indexed like the token table.

use memmap2::MmapMut;
use rayon::prelude::*;

use crate::dict::dic_file::{split_value, DicFile};
use crate::dict::matrix::Matrix;
use crate::dict::token::Token;
use crate::error::TokenizerError;

/// What the lattice reads of a token: context ids in the [`Connector`]'s numbering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct WordIds {
    /// Left context id (connector row), renumbered.
    pub left: u16,
    /// Right context id (connector column), renumbered.
    pub right: u16,
    /// Cost of the word itself.
    pub word_cost: i16,
}

/// The connection matrix with renumbered context ids.
#[derive(Debug)]
pub struct Connector {
    /// [rows, cols] i16 costs: row = renumbered left id of the next word, column =
    /// renumbered right id of the previous word. Anonymous memory asking for huge pages:
    /// filling it takes a few dozen page faults instead of thousands, and the rows the
    /// lattice reads need few TLB entries.
    costs: MmapMut,
    /// Columns per row (`matrix.lsize()`, at least 1).
    cols: usize,
    /// [rsize] renumbered left id of each original left id.
    left_map: Vec<u16>,
    /// [lsize] renumbered right id of each original right id.
    right_map: Vec<u16>,
}

impl Connector {
    /// Renumbers the ids of `matrix` by how often the tokens of `sys` and `unk` are
    /// expected to appear (see [`id_weights`]) and copies the costs in the new numbering.
    /// The tokens must have been validated against `matrix`.
    pub fn new(matrix: &Matrix, sys: &DicFile, unk: &DicFile) -> Result<Connector, TokenizerError> {
        // BOS and EOS use id 0, so every numbering holds at least id 0 (an empty matrix
        // reads as cost 0, as a missing cost always did).
        let rows = matrix.rsize().max(1);
        let cols = matrix.lsize().max(1);
        let (left_w, right_w) = id_weights(rows, cols, sys, unk);
        let left_map = ranks(&left_w);
        let right_map = ranks(&right_w);
        let left_inv = inverse(&left_map);
        let right_inv = inverse(&right_map);

        let src = matrix.costs();
        let lsize = matrix.lsize();
        let mut mem = MmapMut::map_anon(rows * cols * 2).map_err(|source| TokenizerError::Io {
            path: matrix.path().to_path_buf(),
            source,
        })?;
        // Only a hint: without huge pages the copy is slower to fill, not different.
        #[cfg(target_os = "linux")]
        let _ = mem.advise(memmap2::Advice::HugePage);
        let costs: &mut [i16] = bytemuck::try_cast_slice_mut(&mut mem[..]).unwrap_or(&mut []);
        // Rows in parallel: the copy (36 M gathered costs for unidic-lite) is most of the
        // dictionary's load time.
        costs
            .par_chunks_exact_mut(cols)
            .enumerate()
            .for_each(|(new_row, row)| {
                let old_row = left_inv[new_row] as usize;
                let Some(src_row) = src.get(old_row * lsize..(old_row + 1) * lsize) else {
                    return;
                };
                for (c, &old_col) in row.iter_mut().zip(&right_inv) {
                    if let Some(&v) = src_row.get(old_col as usize) {
                        *c = i16::from_le(v);
                    }
                }
            });
        Ok(Connector {
            costs: mem,
            cols,
            left_map,
            right_map,
        })
    }

    /// The renumbered ids and word cost of a (validated) token.
    #[inline]
    pub fn word_ids(&self, t: &Token) -> WordIds {
        WordIds {
            left: self.left_map.get(t.left_id as usize).copied().unwrap_or(0),
            right: self
                .right_map
                .get(t.right_id as usize)
                .copied()
                .unwrap_or(0),
            word_cost: t.word_cost,
        }
    }

    /// [`Connector::word_ids`] of every token of `file`, indexed like its token table.
    pub fn table(&self, file: &DicFile) -> Vec<WordIds> {
        file.tokens()
            .iter()
            .map(|&raw| self.word_ids(&Token::from_raw(raw)))
            .collect()
    }

    /// The renumbered left id of BOS/EOS (original id 0).
    #[inline]
    pub fn boundary_left(&self) -> u16 {
        self.left_map[0]
    }

    /// The renumbered right id of BOS/EOS (original id 0).
    #[inline]
    pub fn boundary_right(&self) -> u16 {
        self.right_map[0]
    }

    /// Number of columns (right ids).
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of rows (left ids).
    #[inline]
    pub fn rows(&self) -> usize {
        self.left_map.len()
    }

    /// The costs of every previous right id before a word with renumbered left id `left`:
    /// [cols], indexed by renumbered right id. Empty when `left` is out of range.
    #[inline]
    pub fn row(&self, left: u16) -> &[i16] {
        let costs: &[i16] = bytemuck::try_cast_slice(&self.costs[..]).unwrap_or(&[]);
        let start = left as usize * self.cols;
        costs.get(start..start + self.cols).unwrap_or(&[])
    }

    /// Connection cost of renumbered `right` followed by renumbered `left` (0 out of range).
    #[inline]
    pub fn cost(&self, right: u16, left: u16) -> i16 {
        self.row(left).get(right as usize).copied().unwrap_or(0)
    }
}

/// A few kilobytes of everyday Japanese (news, sport, chat, reviews): what the lattice
/// meets most often there is what it meets most often anywhere.
const WARMUP_TEXT: &str = include_str!("warmup_ja.txt");

/// How often each (left, right) id is expected to meet the lattice: the tokens of every
/// dictionary match at every character of [`WARMUP_TEXT`] (the lattice's candidates), and
/// unknown-word tokens, which are created all the time, above all of them. Ids never seen
/// weigh 0 and keep their original order (dictionaries number similar contexts together).
fn id_weights(rows: usize, cols: usize, sys: &DicFile, unk: &DicFile) -> (Vec<u64>, Vec<u64>) {
    let mut left = vec![0u64; rows];
    let mut right = vec![0u64; cols];
    let mut add = |t: &Token, w: u64| {
        if let Some(x) = left.get_mut(t.left_id as usize) {
            *x += w;
        }
        if let Some(x) = right.get_mut(t.right_id as usize) {
            *x += w;
        }
    };
    let text = WARMUP_TEXT.as_bytes();
    let tokens = sys.tokens();
    let da = sys.darts();
    let mut matches = 0u64;
    for (i, &b) in text.iter().enumerate() {
        if b & 0xC0 == 0x80 {
            continue;
        }
        da.common_prefix_search(&text[i..], |v, _| {
            let (t0, n) = split_value(v);
            for t in t0..t0.saturating_add(n) {
                if let Some(&raw) = tokens.get(t as usize) {
                    add(&Token::from_raw(raw), 1);
                    matches += 1;
                }
            }
        });
    }
    // BOS/EOS (id 0) meet every sentence; unknown words most positions.
    add(&Token::from_raw([0; 4]), matches + 1);
    for &raw in unk.tokens() {
        add(&Token::from_raw(raw), matches + 1);
    }
    (left, right)
}

/// New id of each old id: ids sorted by weight, heaviest first (ties by old id).
fn ranks(weights: &[u64]) -> Vec<u16> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(a.cmp(&b)));
    let mut map = vec![0u16; weights.len()];
    for (new, &old) in order.iter().enumerate() {
        map[old] = new as u16;
    }
    map
}

/// The inverse of a permutation.
fn inverse(map: &[u16]) -> Vec<u16> {
    let mut inv = vec![0u16; map.len()];
    for (old, &new) in map.iter().enumerate() {
        inv[new as usize] = old as u16;
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_put_heaviest_first_and_invert() {
        let map = ranks(&[2, 5, 5, 1]);
        assert_eq!(map, vec![2, 0, 1, 3]);
        assert_eq!(inverse(&map), vec![1, 2, 0, 3]);
    }

    /// Every renumbered cost is the original one (checked on a spread of id pairs of the
    /// installed dictionary, when there is one).
    #[test]
    fn renumbered_costs_equal_the_originals() {
        let dir = match crate::find_dicdir(None) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skipping: no dictionary ({e})");
                return;
            }
        };
        let dict = crate::dict::Dictionary::open(&dir).unwrap();
        let (m, c) = (&dict.matrix, &dict.conn);
        assert_eq!((c.rows(), c.cols()), (m.rsize(), m.lsize()));
        let mut checked = 0;
        for l in (0..m.rsize()).step_by(7) {
            for r in (l % 13..m.lsize()).step_by(13) {
                let cost = c.cost(c.right_map[r], c.left_map[l]);
                assert_eq!(cost, m.cost(r as u16, l as u16), "left {l} right {r}");
                checked += 1;
            }
        }
        assert!(checked > 100_000);
        assert_eq!(c.cost(c.boundary_right(), c.boundary_left()), m.cost(0, 0));
        let t = Token::from_raw(dict.sys.tokens()[1234]);
        let w = dict.sys_words.as_slice()[1234];
        assert_eq!(c.cost(w.right, w.left), m.cost(t.right_id, t.left_id));
        assert_eq!(w.word_cost, t.word_cost);
    }
}
