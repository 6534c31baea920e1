//! A shard's picture of the other shards: how many of their waiting
//! entries are at each rank, as of the last grant it applied.
//!
//! "Others ahead of rank r" is every other entry of a smaller rank plus, at
//! rank r itself, those of shards with a smaller index: a Fenwick prefix over
//! the ranks plus one stored number, O(log ranks). Ranks arrive in increasing
//! order at the back (one per tick); anything else (a full view, the lottery's
//! ranks) rebuilds the tree, O(ranks).

use super::{ViewUpdate, RANK_SHIFT};
use crate::fenwick::Fenwick;

/// Ranks the tree starts with (it doubles as ranks arrive).
const MIN_RANKS: usize = 64;

/// The other shards' waiting entries by rank (see the module docs).
#[derive(Debug, Clone)]
pub struct OthersView {
    /// This shard's index (entries of smaller shards at the same rank are
    /// ahead of its own).
    shard: u32,
    /// Known ranks, ascending.
    ranks: Vec<u64>,
    /// Others' count at `ranks[i]`.
    counts: Vec<u32>,
    /// Of those, the ones in shards with a smaller index.
    lower: Vec<u32>,
    tree: Fenwick,
    total: u64,
    /// The tick whose view this is; `None`: no valid view (positions wait).
    tick: Option<u64>,
}

impl Default for OthersView {
    fn default() -> Self {
        Self::new(0)
    }
}

impl OthersView {
    /// No view yet.
    pub fn new(shard: u32) -> Self {
        Self {
            shard,
            ranks: Vec::new(),
            counts: Vec::new(),
            lower: Vec::new(),
            tree: Fenwick::new(MIN_RANKS),
            total: 0,
            tick: None,
        }
    }

    /// The tick of the view held, if valid.
    pub fn tick(&self) -> Option<u64> {
        self.tick
    }

    /// Drops validity (after the lottery reordered everyone): positions
    /// wait for the next full view.
    pub fn invalidate(&mut self) {
        self.tick = None;
    }

    /// Other shards' waiting entries (as of the view).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Other shards' waiting entries ahead of an entry of this shard with
    /// `rank`; `None` without a valid view, or with one older than the tick
    /// that gave the rank (it would miss entries of that rank elsewhere).
    pub fn ahead_of(&self, rank: u64) -> Option<u64> {
        if self.tick? < rank >> RANK_SHIFT {
            return None;
        }
        let i = self.ranks.partition_point(|&r| r < rank);
        let same = match self.ranks.get(i) {
            Some(&r) if r == rank => u64::from(self.lower[i]),
            _ => 0,
        };
        Some(self.tree.prefix(i) + same)
    }

    /// Applies the view update of `tick_id` for shard `shard`. A delta that
    /// does not start from the view held invalidates it instead (the next
    /// grant brings a full view). Returns whether the view is valid.
    pub fn apply(&mut self, shard: u32, tick_id: u64, update: &ViewUpdate) -> bool {
        match update {
            ViewUpdate::Full { ranks } => {
                self.shard = shard;
                let mut ranks = ranks.clone();
                ranks.sort_unstable();
                ranks.dedup_by_key(|r| r.0);
                let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                self.ranks = ranks.iter().map(|r| r.0).collect();
                self.counts = ranks.iter().map(|r| clamp(r.1)).collect();
                self.lower = ranks.iter().map(|r| clamp(r.2.min(r.1))).collect();
                self.rebuild();
            }
            ViewUpdate::Delta { from_tick, ranks } => {
                if self.tick != Some(*from_tick) || self.shard != shard {
                    self.tick = None;
                    return false;
                }
                for &(rank, total, lower) in ranks {
                    self.add(rank, total, lower);
                }
                self.compact();
            }
        }
        self.tick = Some(tick_id);
        true
    }

    fn add(&mut self, rank: u64, d: i64, d_lower: i64) {
        let i = match self.ranks.binary_search(&rank) {
            Ok(i) => i,
            Err(i) => {
                if d <= 0 {
                    return; // nothing to take away
                }
                self.ranks.insert(i, rank);
                self.counts.insert(i, 0);
                self.lower.insert(i, 0);
                if i + 1 != self.ranks.len() || self.ranks.len() > self.tree.len() {
                    // Not appended at the back within the tree: rebuild.
                    self.rebuild();
                }
                i
            }
        };
        let old = self.counts[i];
        let new = (i64::from(old) + d).clamp(0, i64::from(u32::MAX)) as u32;
        self.counts[i] = new;
        self.total = self.total + u64::from(new) - u64::from(old);
        self.lower[i] = (i64::from(self.lower[i]) + d_lower).clamp(0, i64::from(new)) as u32;
        self.tree.add(i, new.wrapping_sub(old) as i32);
    }

    /// Drops emptied ranks at the front once they are half the list (the
    /// front is where admissions empty them), so the view stays O(live
    /// ranks).
    fn compact(&mut self) {
        let empty = self.counts.iter().take_while(|&&c| c == 0).count();
        if empty > 0 && empty * 2 >= self.ranks.len() {
            self.ranks.drain(..empty);
            self.counts.drain(..empty);
            self.lower.drain(..empty);
            self.rebuild();
        }
    }

    fn rebuild(&mut self) {
        let len = (2 * self.ranks.len()).max(MIN_RANKS);
        self.tree = Fenwick::from_counts(len, self.counts.iter().copied());
        self.total = self.counts.iter().map(|&c| u64::from(c)).sum();
    }

    /// Bytes held (for the benchmark's memory figure).
    pub fn heap_bytes(&self) -> usize {
        self.ranks.capacity() * 8
            + (self.counts.capacity() + self.lower.capacity()) * 4
            + self.tree.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(ranks: &[(u64, u64, u64)]) -> ViewUpdate {
        ViewUpdate::Full {
            ranks: ranks.to_vec(),
        }
    }

    fn delta(from_tick: u64, ranks: &[(u64, i64, i64)]) -> ViewUpdate {
        ViewUpdate::Delta {
            from_tick,
            ranks: ranks.to_vec(),
        }
    }

    #[test]
    fn ahead_counts_smaller_ranks_and_smaller_shards_at_the_same_rank() {
        let mut v = OthersView::new(2);
        assert_eq!(v.ahead_of(10), None, "no view yet");
        // Rank 10: 3 in shard 1 (ahead of shard 2) and 4 in shard 3;
        // rank 20: 5 in shard 0.
        v.apply(2, 5, &full(&[(10, 7, 3), (20, 5, 5)]));
        assert_eq!(v.total(), 12);
        assert_eq!(v.ahead_of(5), Some(0));
        assert_eq!(v.ahead_of(10), Some(3), "shard 1 is ahead, shard 3 behind");
        assert_eq!(v.ahead_of(15), Some(7));
        assert_eq!(
            v.ahead_of(20),
            Some(12),
            "shard 0 at 20 is ahead of shard 2 at 20"
        );
        assert_eq!(v.ahead_of(21), Some(12));
        // A view older than the tick of a rank gives no position.
        assert_eq!(v.ahead_of(6 << RANK_SHIFT), None);
    }

    #[test]
    fn deltas_apply_in_sequence_and_a_gap_invalidates() {
        let mut v = OthersView::new(1);
        v.apply(1, 5, &full(&[(10, 3, 3)]));
        // Shard 0 lost one at rank 10; rank 20 got 4 in shard 2, 1 in shard 0.
        assert!(v.apply(1, 6, &delta(5, &[(10, -1, -1), (20, 5, 1)])));
        assert_eq!(v.ahead_of(20), Some(3));
        assert_eq!(v.ahead_of(21), Some(7));
        // A delta from tick 8 does not follow the view of tick 6.
        assert!(!v.apply(1, 9, &delta(8, &[(30, 1, 1)])));
        assert_eq!(v.ahead_of(21), None);
        assert!(
            !v.apply(1, 10, &delta(9, &[])),
            "stays invalid until a full view"
        );
        v.apply(1, 11, &full(&[(30, 2, 2)]));
        assert_eq!(v.ahead_of(31), Some(2));
    }

    #[test]
    fn many_ranks_grow_the_tree_and_emptied_fronts_compact() {
        let mut v = OthersView::new(0);
        v.apply(0, 0, &full(&[]));
        for t in 1..=1_000u64 {
            let mut ranks = vec![(t << 16, 2, 0)];
            if t > 500 {
                ranks.push(((t - 500) << 16, -2, 0));
            }
            v.apply(0, t, &delta(t - 1, &ranks));
        }
        assert_eq!(v.total(), 1_000);
        assert_eq!(v.ahead_of(1_000 << 16), Some(998));
        assert!(v.ranks.len() <= 1_000, "compacted: {}", v.ranks.len());
        // A rank below everything known rebuilds and still counts right.
        v.apply(0, 1_001, &delta(1_000, &[(1, 5, 0)]));
        assert_eq!(v.ahead_of(2), Some(5));
        assert_eq!(v.ahead_of(1_001 << 16), Some(1_005));
    }
}
