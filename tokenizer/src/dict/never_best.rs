//! Tokens that can never be on a best path, found once at load so the lattice skips them.
//!
//! The tokens of one surface all start and end at the same place. Take two of them, U before
//! T in the token table, with the same left id, the same right id and U's word cost <= T's:
//! - the same left id gives them the same best predecessor, so T's path cost is never
//!   lower than U's;
//! - the same right id gives them the same connection cost to every next word;
//! - the lattice links U ahead of T in MeCab's list of nodes ending there, and of equal
//!   costs the first in that list wins.
//!
//! So U always beats T, both as a predecessor and before EOS, and T never appears in the
//! output. Leaving T out changes no result and saves its node (in news text, about 7 % of
//! the dictionary nodes with unidic-lite).

use super::connector::WordIds;

/// The left id that marks a token the lattice skips. Real ids are below the matrix size,
/// which is at most `u16::MAX` (MeCab stores the sizes in u16).
pub const NEVER_BEST: u16 = u16::MAX;

/// Sets `left` to [`NEVER_BEST`] in every token of `table` that an earlier token of the same
/// surface always beats (see the module docs). `groups` are the surfaces' token ranges
/// `(first, count)`; a range reaching past the table is clipped (the dictionary's
/// validation has refused such files already).
pub fn mark_never_best(table: &mut [WordIds], groups: impl Iterator<Item = (u32, u32)>) {
    for (first, count) in groups {
        let first = first as usize;
        let end = (first + count as usize).min(table.len());
        for t in first + 1..end {
            let w = table[t];
            let beaten = table[first..t]
                .iter()
                .any(|u| u.left == w.left && u.right == w.right && u.word_cost <= w.word_cost);
            if beaten {
                table[t].left = NEVER_BEST;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(left: u16, right: u16, word_cost: i16) -> WordIds {
        WordIds {
            left,
            right,
            word_cost,
        }
    }

    #[test]
    fn only_later_tokens_with_the_same_ids_and_no_lower_cost_are_marked() {
        let mut table = vec![
            // surface A: tokens 0..5
            w(1, 2, 100),
            w(1, 2, 100), // same ids and cost, later: beaten (ties go to the first)
            w(1, 2, 99),  // cheaper: kept
            w(1, 3, 50),  // other right id: kept
            w(4, 2, 50),  // other left id: kept
            // surface B: tokens 5..7, same ids as A's first but another surface
            w(1, 2, 200),
            w(1, 2, 300), // beaten by token 5
        ];
        mark_never_best(&mut table, [(0, 5), (5, 2)].into_iter());
        let marked: Vec<bool> = table.iter().map(|t| t.left == NEVER_BEST).collect();
        assert_eq!(marked, [false, true, false, false, false, false, true]);
        // A group past the end of the table is clipped, not a panic.
        mark_never_best(&mut table, [(6, 9)].into_iter());
    }
}
