//! The candidates for best predecessor at one lattice position, and the search among them.
//!
//! For every new node the search takes the least `cost + connection cost` over the nodes
//! ending where it starts, ties to the first in MeCab's list order. A position has a handful
//! of candidates (7 on average in news text), one per right id, and each search reads one
//! matrix row at their right ids.

/// A node ending at the position being extended.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prev {
    /// Right context id (the connector's numbering).
    pub right_id: u16,
    /// Position in MeCab's list of nodes ending here (ties go to the smallest).
    pub order: u32,
    /// Best path cost up to and including the node.
    pub cost: i64,
    /// Node index in the lattice.
    pub index: u32,
}

/// The candidates of one position.
#[derive(Debug, Default)]
pub(super) struct Prevs {
    /// In MeCab's list order once [`Prevs::finish`] has run.
    list: Vec<Prev>,
}

impl Prevs {
    /// Empties the set.
    #[inline]
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Number of candidates.
    #[inline]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Adds a candidate.
    #[inline]
    pub fn push(&mut self, p: Prev) {
        self.list.push(p);
    }

    /// The candidate at `slot` (in push order until [`Prevs::finish`]).
    #[inline]
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Prev> {
        self.list.get_mut(slot)
    }

    /// Puts the candidates in list order, so that the search's ties go to the first with a
    /// plain `<`. A kept node may come later in the list than the first of its right id.
    pub fn finish(&mut self) {
        // Orders are distinct, so an unstable sort is deterministic. The list is nearly
        // sorted already; long lists (pathological text) stay O(n log n).
        self.list.sort_unstable_by_key(|p| p.order);
    }

    /// The best candidate for a node with left id `left` and the path cost through it before
    /// the node's own word cost: `(node index, cost)`, or `(u32::MAX, i64::MAX)` when there
    /// are no candidates.
    /// `row` holds the connection costs into that left id by right id (a cost out of its
    /// range reads as 0).
    pub fn best(&self, row: &[i16]) -> (u32, i64) {
        let mut best = u32::MAX;
        let mut best_cost = i64::MAX;
        // Branch-free: a mispredicted compare would flush the other costs' loads in flight.
        for p in &self.list {
            let c = p.cost + row.get(p.right_id as usize).map_or(0, |&c| c as i64);
            let better = c < best_cost;
            best_cost = std::hint::select_unpredictable(better, c, best_cost);
            best = std::hint::select_unpredictable(better, p.index, best);
        }
        (best, best_cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(right_id: u16, order: u32, cost: i64, index: u32) -> Prev {
        Prev {
            right_id,
            order,
            cost,
            index,
        }
    }

    /// The least `cost + row[right]` wins; on a tie the first in list order, whatever the
    /// order the candidates were added in.
    #[test]
    fn least_total_then_first_in_list_order() {
        let mut prevs = Prevs::default();
        // Pushed in first-seen order of their right ids; the node kept for right id 0 came
        // later in the list (order 5) than the others.
        prevs.push(prev(0, 5, 10, 100));
        prevs.push(prev(1, 1, 12, 101));
        prevs.push(prev(2, 3, 7, 102));
        prevs.finish();
        let orders: Vec<u32> = prevs.list.iter().map(|p| p.order).collect();
        assert_eq!(orders, [1, 3, 5]);
        // Totals 10+2, 12+0, 7+5: all 12; order 1 (node 101) is first.
        assert_eq!(prevs.best(&[2, 0, 5]), (101, 12));
        // Totals 10-3, 12+0, 7+0: 7 twice; order 3 (node 102) comes before order 5.
        assert_eq!(prevs.best(&[-3, 0, 0]), (102, 7));
        // A strict minimum wins wherever it is.
        assert_eq!(prevs.best(&[-4, 0, 0]), (100, 6));
        // Costs past the row read as 0.
        assert_eq!(prevs.best(&[]), (102, 7));
        prevs.clear();
        assert_eq!(prevs.best(&[1, 2, 3]), (u32::MAX, i64::MAX));
    }
}
