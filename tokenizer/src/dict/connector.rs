//! Connection costs re-laid out for cache locality, and the per-token context ids in that
//! layout.
//!
//! `matrix.bin` is `rsize x lsize` i16 (71 MB for unidic-lite, 481 MB for full UniDic),
//! far bigger than any cache, and the lattice reads it at random. Context ids are just
//! names, so renumbering them is free: at load the ids are renumbered in order of how often
//! the lattice meets them (most frequent first) and the costs are read from a copy in the
//! new numbering. The costs the hot ids need then sit in a small corner of the copy that
//! stays cached. Every cost read is the same number as before (a permutation of rows and
//! columns), so results are identical.
//!
//! The copy is filled a row at a time, the first time the lattice asks for a row: a
//! process that analyses a few sentences touches a few rows, so loading stays fast and
//! the memory used grows with the rows met, never beyond one matrix (the file's pages of
//! rows never met are never read either).
//!
//! The lattice only needs a token's two context ids and word cost, so those are also copied
//! into a dense table (6 bytes per token instead of 16), indexed like the token table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use memmap2::{MmapMut, MmapRaw};

use crate::dict::dic_file::{split_value, DicFile};
use crate::dict::matrix::Matrix;
use crate::dict::token::Token;
use crate::error::TokenizerError;

/// Row fills that may run at once (rows are locked by `row % FILL_LOCKS`).
const FILL_LOCKS: usize = 64;

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
    /// renumbered right id of the previous word. Anonymous memory asking for huge pages (the
    /// rows the lattice reads need few TLB entries); a row holds zeros until `filled` says
    /// otherwise.
    costs: MmapRaw,
    /// Columns per row (`matrix.lsize()`, at least 1).
    cols: usize,
    /// [rows] whether the row of `costs` has been copied from `source` (its length is the
    /// number of rows: `matrix.rsize()`, at least 1). Set once, with
    /// Release ordering, after the row is written; never cleared.
    filled: Vec<AtomicBool>,
    /// Held while a row is copied: [`FILL_LOCKS`] locks, row `r` takes `r % FILL_LOCKS`.
    fill_locks: Vec<Mutex<()>>,
    /// The file's matrix, read when a row is filled.
    source: Matrix,
    /// [rows] original left id of each renumbered one.
    left_inv: Vec<u16>,
    /// [cols] original right id of each renumbered one.
    right_inv: Vec<u16>,
    /// [rsize] renumbered left id of each original left id.
    left_map: Vec<u16>,
    /// [lsize] renumbered right id of each original right id.
    right_map: Vec<u16>,
}

impl Connector {
    /// Renumbers the ids of `matrix` by how often the tokens of `sys` and `unk` are
    /// expected to appear (see [`id_weights`]); costs are copied in the new numbering as
    /// rows are first read. The tokens must have been validated against `matrix`.
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

        // Untouched anonymous pages cost no memory: only filled rows take any.
        let mem = MmapMut::map_anon(rows * cols * 2).map_err(|source| TokenizerError::Io {
            path: matrix.path().to_path_buf(),
            source,
        })?;
        // Only a hint: without huge pages the rows are the same, in small pages.
        #[cfg(target_os = "linux")]
        let _ = mem.advise(memmap2::Advice::HugePage);
        Ok(Connector {
            costs: MmapRaw::from(mem),
            cols,
            filled: (0..rows).map(|_| AtomicBool::new(false)).collect(),
            fill_locks: (0..FILL_LOCKS).map(|_| Mutex::new(())).collect(),
            source: matrix.clone(),
            left_inv,
            right_inv,
            left_map,
            right_map,
        })
    }

    /// Copies row `row` (renumbered left id, `< rows`) from the file's matrix, unless
    /// another thread did first.
    #[cold]
    #[inline(never)]
    fn fill(&self, row: usize) {
        let _guard = self.fill_locks[row % FILL_LOCKS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.filled[row].load(Ordering::Acquire) {
            return;
        }
        // SAFETY: `row < rows`, so the range is inside the mapping, which is i16-aligned
        // (page-aligned). No reader makes a slice of this row before `filled[row]` is set
        // (below, after the last write), and writers of this row hold its lock, so this is
        // the only reference to these bytes.
        let out = unsafe {
            std::slice::from_raw_parts_mut(
                (self.costs.as_mut_ptr() as *mut i16).add(row * self.cols),
                self.cols,
            )
        };
        let old_row = self.left_inv[row] as usize;
        let lsize = self.source.lsize();
        if let Some(src) = self
            .source
            .costs()
            .get(old_row * lsize..(old_row + 1) * lsize)
        {
            for (c, &old_col) in out.iter_mut().zip(&self.right_inv) {
                if let Some(&v) = src.get(old_col as usize) {
                    *c = i16::from_le(v);
                }
            }
        }
        self.filled[row].store(true, Ordering::Release);
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
        self.filled.len()
    }

    /// The costs of every previous right id before a word with renumbered left id `left`:
    /// [cols], indexed by renumbered right id. Empty when `left` is out of range.
    #[inline]
    pub fn row(&self, left: u16) -> &[i16] {
        let row = left as usize;
        let Some(filled) = self.filled.get(row) else {
            return &[];
        };
        if !filled.load(Ordering::Acquire) {
            self.fill(row);
        }
        // SAFETY: `row < rows`, so the range is inside the (i16-aligned) mapping, and the row
        // is filled: its writes happened before `filled[row]` was set (Release, seen above
        // with Acquire) and a filled row is never written again.
        unsafe {
            std::slice::from_raw_parts(
                (self.costs.as_ptr() as *const i16).add(row * self.cols),
                self.cols,
            )
        }
    }

    /// How many rows have been copied so far (each takes `cols * 2` bytes of memory).
    pub fn filled_rows(&self) -> usize {
        self.filled
            .iter()
            .filter(|f| f.load(Ordering::Relaxed))
            .count()
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

    /// A freshly opened copy of the installed dictionary (None, after a "skipping" line,
    /// when there is none).
    fn installed_dictionary() -> Option<crate::dict::Dictionary> {
        match crate::find_dicdir(None) {
            Ok(dir) => Some(crate::dict::Dictionary::open(&dir).unwrap()),
            Err(e) => {
                eprintln!("skipping: no dictionary ({e})");
                None
            }
        }
    }

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
        let Some(dict) = installed_dictionary() else {
            return;
        };
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

    /// Opening copies no row; reading a row copies that row only, once.
    #[test]
    fn rows_are_copied_when_first_read() {
        let Some(dict) = installed_dictionary() else {
            return;
        };
        let c = &dict.conn;
        assert_eq!(c.filled_rows(), 0);
        let last = (c.rows() - 1) as u16;
        let first_read = c.row(last).to_vec();
        assert_eq!(c.filled_rows(), 1);
        assert_eq!(c.row(last), &first_read[..]);
        assert_eq!(c.filled_rows(), 1);
        assert!(c.row(c.rows() as u16).is_empty(), "out of range");
        assert_eq!(c.filled_rows(), 1);
    }

    /// Threads reading the same rows at once, in different orders, all see the file's
    /// costs: a row is copied by one of them and read complete by all.
    #[test]
    fn concurrent_first_reads_see_complete_rows() {
        let Some(dict) = installed_dictionary() else {
            return;
        };
        let (m, c) = (&dict.matrix, &dict.conn);
        let rows: Vec<usize> = (0..m.rsize()).step_by(3).collect();
        std::thread::scope(|scope| {
            for t in 0..8usize {
                let rows = &rows;
                scope.spawn(move || {
                    // Each thread starts at a different row and walks them all.
                    for k in 0..rows.len() {
                        let l = rows[(k + t * rows.len() / 8) % rows.len()];
                        let row = c.row(c.left_map[l]);
                        for r in (l % 17..m.lsize()).step_by(17) {
                            assert_eq!(
                                row[c.right_map[r] as usize],
                                m.cost(r as u16, l as u16),
                                "left {l} right {r}"
                            );
                        }
                    }
                });
            }
        });
        assert_eq!(c.filled_rows(), rows.len());
    }
}
