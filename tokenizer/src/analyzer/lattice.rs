//! The byte-position lattice and Viterbi search, in MeCab 0.996's exact order.
//!
//! For every position some node ends at (BOS ends at 0): skip whitespace, add dictionary
//! matches, add unknown words, then connect each new node to the best node ending there.
//! MeCab prepends nodes to its lists, so a position's new nodes are connected last-created
//! first, and each list of nodes ending at a position is visited most-recently-linked
//! first; the search takes the minimum with strict `<`, so this order decides ties.

use crate::dict::char_property::CharInfo;
use crate::dict::connector::{Connector, WordIds};
use crate::dict::dic_file::split_value;
use crate::dict::{Dictionary, NO_NODE};

use super::prevs::{Prev, Prevs};
use super::Morpheme;

/// No node.
const NONE: u32 = u32::MAX;
/// MeCab looks at most this many bytes ahead of a word's start.
const MAX_LOOKAHEAD: usize = 65535;

/// One lattice node.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Surface start (after skipped whitespace).
    start: usize,
    /// Surface end: where the node ends in the lattice.
    end: usize,
    /// Context ids (the connector's numbering) and word cost.
    word: WordIds,
    /// Index in the token table of `unk.dic` (unknown words), the user dictionary or
    /// `sys.dic`.
    token: u32,
    is_unknown: bool,
    /// 1 + the index of the user dictionary the token is from; 0 for `sys.dic` / `unk.dic`.
    user: u8,
    /// Best path cost up to and including this node.
    cost: i64,
    /// Best predecessor.
    prev: u32,
    /// Next node in the list of nodes ending at `end`.
    enext: u32,
}

/// Lattice buffers, reused across sentences.
#[derive(Debug, Default)]
pub(crate) struct Lattice {
    /// Every node created, BOS first, in creation order.
    nodes: Vec<Node>,
    /// [len + 1] head of the list of nodes ending at each byte position.
    end_head: Vec<u32>,
    /// [len] CharInfo of the character starting at each byte (entry 0 elsewhere).
    char_info: Vec<CharInfo>,
    /// [len] byte length of the character starting at each byte (1 elsewhere).
    char_len: Vec<u8>,
    /// Nodes ending at the current position, one per right id: the first in MeCab's list
    /// order among those of least cost (the others can never win).
    prevs: Prevs,
    /// Stamp of the current position, to reuse the two tables below without clearing.
    stamp: u32,
    /// [connector cols] (stamp, slot in `prevs`) per right id.
    right_slot: Vec<(u32, u32)>,
    /// [connector rows] (stamp, best node, best cost) per left id: nodes starting at the same
    /// position with the same left id have the same best predecessor.
    left_best: Vec<(u32, u32, i64)>,
}

impl Lattice {
    /// Analyses `text` (no NUL inside) and pushes the best path's words into `out`.
    pub fn analyze(&mut self, dict: &Dictionary, text: &[u8], out: &mut Vec<Morpheme>) {
        let len = text.len();
        self.prepare_chars(dict, text);
        self.nodes.clear();
        self.end_head.clear();
        self.end_head.resize(len + 1, NONE);
        let conn = &dict.conn;
        self.nodes.push(Node {
            start: 0,
            end: 0,
            word: WordIds {
                left: conn.boundary_left(),
                right: conn.boundary_right(),
                word_cost: 0,
            },
            token: NONE,
            is_unknown: false,
            user: 0,
            cost: 0,
            prev: NONE,
            enext: NONE,
        });
        self.end_head[0] = 0;
        if self.right_slot.len() != conn.cols() || self.left_best.len() != conn.rows() {
            self.right_slot = vec![(0, 0); conn.cols()];
            self.left_best = vec![(0, NONE, 0); conn.rows()];
            self.stamp = 0;
        }

        for pos in 0..len {
            if self.end_head[pos] == NONE {
                continue;
            }
            let first = self.nodes.len();
            self.lookup(dict, text, pos);
            if self.nodes.len() == first {
                continue;
            }
            self.collect_prevs(pos);
            for i in (first..self.nodes.len()).rev() {
                let Node { word, end, .. } = self.nodes[i];
                let (best, best_cost) = self.best_prev(conn, word.left);
                let cost = best_cost + word.word_cost as i64;
                let node = &mut self.nodes[i];
                node.cost = cost;
                node.prev = best;
                // MeCab keeps the distance a node moves the cursor in a u16; it only
                // overflows for a node after 65535 bytes of whitespace, which then ends
                // where it starts.
                let x = pos + ((end - pos) & 0xFFFF);
                // Nodes running past the text (trailing whitespace) are never visited.
                if x <= len {
                    node.enext = self.end_head[x];
                    self.end_head[x] = i as u32;
                    if x == pos {
                        // MeCab walks the live list: later nodes here see this one.
                        self.collect_prevs(pos);
                    }
                }
            }
        }

        // EOS (left id 0, no word cost) joins the furthest position that has nodes.
        let Some(eos_pos) = (0..=len).rev().find(|&p| self.end_head[p] != NONE) else {
            return;
        };
        self.collect_prevs(eos_pos);
        let (mut i, _) = self.best_prev(conn, conn.boundary_left());
        let first_out = out.len();
        while i != 0 && i != NONE {
            let n = &self.nodes[i as usize];
            out.push(Morpheme {
                start: n.start,
                end: n.end,
                token: n.token,
                word_cost: n.word.word_cost,
                cost: n.cost,
                is_unknown: n.is_unknown,
                user_dic: n.user.checked_sub(1),
            });
            i = n.prev;
        }
        out[first_out..].reverse();
    }

    /// Decodes every character once: CharInfo and length at each byte where one starts.
    fn prepare_chars(&mut self, dict: &Dictionary, text: &[u8]) {
        let map = dict.chars.map();
        let zero = map[0];
        self.char_info.clear();
        self.char_info.resize(text.len(), zero);
        self.char_len.clear();
        self.char_len.resize(text.len(), 1);
        let mut i = 0;
        while i < text.len() {
            let b0 = text[i];
            // `text` is valid UTF-8 (it came from a &str), so lead bytes give the length.
            let (code, l) = if b0 < 0x80 {
                (b0 as usize, 1)
            } else if b0 < 0xE0 {
                let c = ((b0 as usize & 0x1F) << 6)
                    | (text.get(i + 1).map_or(0, |&b| b as usize) & 0x3F);
                (c, 2)
            } else if b0 < 0xF0 {
                let b1 = text.get(i + 1).map_or(0, |&b| b as usize);
                let b2 = text.get(i + 2).map_or(0, |&b| b as usize);
                (
                    ((b0 as usize & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
                    3,
                )
            } else {
                // Above U+FFFF: MeCab's UCS-2 decoder gives 0.
                (0, 4)
            };
            self.char_info[i] = map[code];
            self.char_len[i] = l as u8;
            i += l;
        }
    }

    /// MeCab's `getCharInfo(p, end)` for `p <= end`: a character cut by `end` reads as entry
    /// 0 with length 1; at `end` itself it reads the byte there (the NUL terminator, entry 0,
    /// at the end of the text).
    #[inline]
    fn char_at(&self, dict: &Dictionary, text: &[u8], p: usize, end: usize) -> (CharInfo, usize) {
        if p < end {
            let l = self.char_len[p] as usize;
            if p + l <= end {
                return (self.char_info[p], l);
            }
            return (dict.chars.info(0), 1);
        }
        match text.get(end) {
            Some(&b) if b < 0x80 => (dict.chars.info(b as u16), 1),
            _ => (dict.chars.info(0), 1),
        }
    }

    /// Creates the nodes starting at `pos` (MeCab's `Tokenizer::lookup`).
    fn lookup(&mut self, dict: &Dictionary, text: &[u8], pos: usize) {
        let len = text.len();
        let end = if len - pos >= MAX_LOOKAHEAD {
            pos + MAX_LOOKAHEAD
        } else {
            len
        };

        // 1. Skip whitespace: characters kind-of the previous one, starting from SPACE.
        let mut c = dict.space;
        let mut begin2 = pos;
        let mut cinfo = CharInfo(0);
        let mut mblen = 0;
        while begin2 != end {
            let (ci, l) = self.char_at(dict, text, begin2, end);
            cinfo = ci;
            mblen = l;
            if !c.is_kind_of(ci) {
                break;
            }
            begin2 += l;
            c = ci;
        }

        // 2. Every token of every dictionary prefix match.
        let first = self.nodes.len();
        let words = dict.sys_words.as_slice();
        let nodes = &mut self.nodes;
        let key = &text[begin2..end];
        let darts = dict.sys_darts();
        // Resume after the first character from the precomputed table when it is in the BMP.
        let (from, start) = match bmp_code(key) {
            Some((code, l)) => (dict.first_char_node[code], l),
            None => (darts.root().unwrap_or(NO_NODE), 0),
        };
        // The next lookup most likely starts one character on: warm its first reads.
        let next = &text[(begin2 + mblen).min(end)..end];
        if let Some((code, l)) = bmp_code(next) {
            if let Some(&c) = next.get(l) {
                darts.prefetch(dict.first_char_node[code], c);
            }
        }
        if from != NO_NODE && !key.is_empty() {
            darts.common_prefix_search_utf8_from(from, key, start, |value, length| {
                push_known(nodes, words, 0, begin2, value, length)
            });
        }
        // Then each user dictionary's matches, as MeCab walks its dictionary list.
        if !key.is_empty() {
            for (u, user) in dict.user.iter().enumerate() {
                let words = &user.words[..];
                // u < MAX_USER_DICS = 255, checked at open.
                let tag = (u + 1) as u8;
                user.file
                    .darts()
                    .common_prefix_search(key, |value, length| {
                        push_known(nodes, words, tag, begin2, value, length)
                    });
            }
        }

        // 3. Known words found and the category does not always invoke unknown words.
        if self.nodes.len() > first && !cinfo.invoke() {
            return;
        }

        // 4. Unknown words of the first character's default category.
        let (u0, ucount) = dict
            .unk_tokens
            .get(cinfo.default_type())
            .copied()
            .unwrap_or((0, 0));
        let unk_words = &dict.unk_words[..];
        let add_unknown = |nodes: &mut Vec<Node>, span_end: usize| {
            for t in u0..u0 + ucount {
                if let Some(&word) = unk_words.get(t as usize) {
                    nodes.push(Node {
                        start: begin2,
                        end: span_end,
                        word,
                        token: t,
                        is_unknown: true,
                        user: 0,
                        cost: 0,
                        prev: NONE,
                        enext: NONE,
                    });
                }
            }
        };

        let mut begin3 = begin2 + mblen;
        if begin3 > end {
            // Only whitespace was left: a node past the end, which EOS never reaches.
            add_unknown(&mut self.nodes, begin3);
            return;
        }

        let mut group_end = usize::MAX;
        if cinfo.group() {
            let mut c = cinfo;
            let mut q = begin3;
            let mut clen = 0;
            while q != end {
                let (ci, l) = self.char_at(dict, text, q, end);
                if !c.is_kind_of(ci) {
                    break;
                }
                q += l;
                clen += 1;
                c = ci;
            }
            if clen <= dict.rc.max_grouping_size {
                add_unknown(&mut self.nodes, q);
            }
            group_end = q;
        }

        for _ in 1..=cinfo.length() {
            if begin3 > end {
                break;
            }
            if begin3 == group_end {
                continue;
            }
            add_unknown(&mut self.nodes, begin3);
            let (ci, l) = self.char_at(dict, text, begin3, end);
            if !cinfo.is_kind_of(ci) {
                break;
            }
            begin3 += l;
        }

        if self.nodes.len() == first {
            add_unknown(&mut self.nodes, begin3);
        }
    }

    /// Gathers the nodes ending at `pos` that can be a best predecessor: per right id, the
    /// first of least cost in MeCab's list order, sorted in that order. Starts a new stamp.
    fn collect_prevs(&mut self, pos: usize) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.right_slot.fill((0, 0));
            self.left_best.fill((0, NONE, 0));
            self.stamp = 1;
        }
        self.prevs.clear();
        let mut p = self.end_head[pos];
        let mut order = 0;
        while p != NONE {
            let n = &self.nodes[p as usize];
            let prev = Prev {
                right_id: n.word.right,
                order,
                cost: n.cost,
                index: p,
            };
            match self.right_slot.get_mut(n.word.right as usize) {
                Some(slot) if slot.0 == self.stamp => {
                    if let Some(kept) = self.prevs.get_mut(slot.1 as usize) {
                        if prev.cost < kept.cost {
                            *kept = prev;
                        }
                    }
                }
                Some(slot) => {
                    *slot = (self.stamp, self.prevs.len() as u32);
                    self.prevs.push(prev);
                }
                None => self.prevs.push(prev),
            }
            order += 1;
            p = n.enext;
        }
        self.prevs.finish();
    }

    /// The best predecessor among `prevs` for a node with left id `left_id`, and the path
    /// cost through it before the node's own word cost: least `cost + connection cost`,
    /// ties to the first in MeCab's list order (its strict `<`).
    #[inline]
    fn best_prev(&mut self, conn: &Connector, left_id: u16) -> (u32, i64) {
        if let Some(&(stamp, best, cost)) = self.left_best.get(left_id as usize) {
            if stamp == self.stamp {
                return (best, cost);
            }
        }
        let (best, best_cost) = self.prevs.best(conn.row(left_id));
        if let Some(slot) = self.left_best.get_mut(left_id as usize) {
            *slot = (self.stamp, best, best_cost);
        }
        (best, best_cost)
    }
}

/// Pushes a node per token of a dictionary match: `value` from the double array (first
/// token, count), the surface `length` bytes from `start`, tokens read from `words`, of
/// user dictionary `user` (0: `sys.dic`).
#[inline]
fn push_known(
    nodes: &mut Vec<Node>,
    words: &[WordIds],
    user: u8,
    start: usize,
    value: u32,
    length: usize,
) {
    let (t0, count) = split_value(value);
    for t in t0..t0 + count {
        if let Some(&word) = words.get(t as usize) {
            nodes.push(Node {
                start,
                end: start + length,
                word,
                token: t,
                is_unknown: false,
                user,
                cost: 0,
                prev: NONE,
                enext: NONE,
            });
        }
    }
}

/// The code point and length of `key`'s first character when it is a whole BMP character
/// (a key cut inside a character, or starting in one, gives None).
#[inline]
fn bmp_code(key: &[u8]) -> Option<(usize, usize)> {
    let cont = |i: usize| {
        key.get(i)
            .filter(|&&b| b & 0xC0 == 0x80)
            .map(|&b| (b & 0x3F) as usize)
    };
    let b0 = *key.first()? as usize;
    if b0 < 0x80 {
        Some((b0, 1))
    } else if (0xC2..0xE0).contains(&b0) {
        Some((((b0 & 0x1F) << 6) | cont(1)?, 2))
    } else if (0xE0..0xF0).contains(&b0) {
        Some((((b0 & 0x0F) << 12) | (cont(1)? << 6) | cont(2)?, 3))
    } else {
        None
    }
}
