//! The candidates for best predecessor at one lattice position, and the search among them.
//!
//! For every new node the search takes the least `cost + connection cost` over the nodes
//! ending where it starts, ties to the first in MeCab's list order. A position has a handful
//! of candidates (7 on average in news text), one per right id, and each search reads one
//! matrix row at their right ids.

use crate::dict::connector::Connector;

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
        let list = &mut self.list;
        for i in 1..list.len() {
            let mut j = i;
            while j > 0 && list[j - 1].order > list[j].order {
                list.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// The best candidate for a node with left id `left` and the path cost through it before
    /// the node's own word cost: `(node index, cost)`, or `(u32::MAX, i64::MAX)` when there
    /// are no candidates.
    pub fn best(&self, conn: &Connector, left: u16) -> (u32, i64) {
        // An out-of-range cost reads as 0.
        let row = conn.row(left);
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
