//! A Fenwick (binary indexed) tree of small counts.
//!
//! [`crate::queue::ShardQueue`] keeps one 0/1 flag per arrival sequence
//! number (1 = still waiting). The live position of an entry is then a prefix
//! sum, and "the k-th oldest live entry" is a descent through the tree: both
//! O(log n), which is what lets a heartbeat report an *exact* position.
//! [`crate::order::OthersView`] keeps one count per rank of the admission
//! order (the other shards' waiting entries at that rank).
//!
//! Counts are `u32`: one shard never holds 4 billion waiting entries, and
//! the narrower type keeps the tree at 4 bytes per slot.

/// Fenwick tree over `len` slots (a power of two), all initially zero.
#[derive(Debug, Clone, Default)]
pub struct Fenwick {
    /// `tree[i]` (1-based) holds the sum of the flags in `(i - lowbit(i), i]`.
    tree: Vec<u32>,
}

impl Fenwick {
    /// A tree of `len` zero slots; `len` is rounded up to a power of two so
    /// that [`Fenwick::find_kth`] can descend by halving.
    pub fn new(len: usize) -> Self {
        let len = len.max(1).next_power_of_two();
        Self {
            tree: vec![0; len + 1],
        }
    }

    /// Builds a tree from the flags in O(n) (instead of n updates).
    pub fn from_flags(len: usize, flags: impl IntoIterator<Item = bool>) -> Self {
        Self::from_counts(len, flags.into_iter().map(u32::from))
    }

    /// Builds a tree from per-slot counts in O(n).
    pub fn from_counts(len: usize, counts: impl IntoIterator<Item = u32>) -> Self {
        let mut fw = Self::new(len);
        let n = fw.len();
        for (i, count) in counts.into_iter().enumerate() {
            assert!(i < n, "more counts than slots");
            fw.tree[i + 1] = count;
        }
        for i in 1..=n {
            let parent = i + lowbit(i);
            if parent <= n {
                fw.tree[parent] += fw.tree[i];
            }
        }
        fw
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.tree.len() - 1
    }

    /// Always false: a tree has at least one slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Adds `delta` to slot `i` (0-based); a slot never goes below zero.
    pub fn add(&mut self, i: usize, delta: i32) {
        let n = self.len();
        let mut i = i + 1;
        while i <= n {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += lowbit(i);
        }
    }

    /// Sum of slots `[0, i)`.
    pub fn prefix(&self, i: usize) -> u64 {
        let mut i = i.min(self.len());
        let mut sum = 0u64;
        while i > 0 {
            sum += u64::from(self.tree[i]);
            i -= lowbit(i);
        }
        sum
    }

    /// Index of the slot holding the `k`-th one (0-based `k`), or `None` if
    /// fewer than `k + 1` slots are set.
    pub fn find_kth(&self, k: u64) -> Option<usize> {
        let n = self.len();
        let mut pos = 0usize;
        let mut rem = k + 1;
        let mut step = n;
        while step > 0 {
            let next = pos + step;
            if next <= n && u64::from(self.tree[next]) < rem {
                pos = next;
                rem -= u64::from(self.tree[next]);
            }
            step >>= 1;
        }
        // `pos` is the largest index with prefix(pos) < k + 1: slot `pos`
        // (0-based) is the k-th one, if it exists at all.
        (pos < n).then_some(pos)
    }

    /// Bytes held by the tree (for memory accounting in benchmarks).
    pub fn heap_bytes(&self) -> usize {
        self.tree.capacity() * std::mem::size_of::<u32>()
    }
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_kth_match_a_scan() {
        let flags: Vec<bool> = (0..100).map(|i| i % 3 != 0 || i % 7 == 0).collect();
        let built = Fenwick::from_flags(100, flags.iter().copied());
        let mut added = Fenwick::new(100);
        for (i, &f) in flags.iter().enumerate() {
            if f {
                added.add(i, 1);
            }
        }
        let ones: Vec<usize> = (0..100).filter(|&i| flags[i]).collect();
        for i in 0..=100 {
            let expect = flags[..i].iter().filter(|&&f| f).count() as u64;
            assert_eq!(built.prefix(i), expect);
            assert_eq!(added.prefix(i), expect);
        }
        for (k, &slot) in ones.iter().enumerate() {
            assert_eq!(built.find_kth(k as u64), Some(slot));
        }
        assert_eq!(built.find_kth(ones.len() as u64), None);
        added.add(ones[0], -1);
        assert_eq!(added.find_kth(0), Some(ones[1]));
    }
}
