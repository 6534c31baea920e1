//! FIFO across shards: which shards this tick's admissions come from.
//!
//! Each summary carries the exact arrival times of its oldest waiting
//! entries (the *head sample*). The controller merges the samples and grants
//! each shard the number of its entries among the `budget` globally oldest,
//! so admission is FIFO by arrival time across shards, exact up to changes
//! within the tick (entries that leave between summary and grant). The
//! grant asks each shard for a head sample of at least twice the budget, so
//! the merge rarely runs past a sample; when it does, the remainder is split
//! in proportion to the shards' waiting counts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::wire::{ShardSummary, DEFAULT_HEAD_SAMPLE_LEN, MAX_HEAD_SAMPLE_LEN};

/// Head sample length each shard reports next (see the module docs).
pub(super) fn head_sample_len(budget: u64) -> u32 {
    // Twice the whole budget: even if one shard holds all of the oldest
    // entries, the merge stays within its sample.
    (2 * budget)
        .max(u64::from(DEFAULT_HEAD_SAMPLE_LEN))
        .next_power_of_two()
        .min(u64::from(MAX_HEAD_SAMPLE_LEN)) as u32
}

/// Splits `budget` so that the globally oldest entries are admitted.
pub(super) fn split_fifo(budget: u64, summaries: &[ShardSummary], heads: &[Vec<u64>]) -> Vec<u64> {
    let n = summaries.len();
    let mut taken = vec![0u64; n];
    if budget == 0 {
        return taken;
    }
    // Entries of a shard beyond its sample arrived no earlier than its last
    // sampled arrival: the merge is exact up to the earliest such time.
    let exact_until = summaries
        .iter()
        .zip(heads)
        .filter(|(s, h)| (h.len() as u64) < s.waiting)
        .map(|(_, h)| h.last().copied().unwrap_or(0))
        .min()
        .unwrap_or(u64::MAX);
    let mut merge: BinaryHeap<Reverse<(u64, usize)>> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.first().map(|&t| Reverse((t, i))))
        .collect();
    let mut left = budget;
    while left > 0 {
        let Some(&Reverse((t, i))) = merge.peek() else {
            break;
        };
        if t > exact_until || taken[i] >= summaries[i].waiting {
            break;
        }
        merge.pop();
        taken[i] += 1;
        left -= 1;
        if let Some(&next) = heads[i].get(taken[i] as usize) {
            merge.push(Reverse((next, i)));
        }
    }
    if left > 0 {
        // Beyond the samples: split by remaining waiting counts (largest
        // remainder, ties to the lower shard index).
        let rest: Vec<u64> = summaries
            .iter()
            .zip(&taken)
            .map(|(s, &t)| s.waiting.saturating_sub(t))
            .collect();
        let total: u64 = rest.iter().sum();
        if total > 0 {
            let give = left.min(total);
            let mut remainders: Vec<(u64, usize)> = Vec::with_capacity(n);
            let mut given = 0;
            for (i, &r) in rest.iter().enumerate() {
                let exact = u128::from(give) * u128::from(r);
                let share = (exact / u128::from(total)) as u64;
                taken[i] += share;
                given += share;
                remainders.push(((exact % u128::from(total)) as u64, i));
            }
            remainders.sort_by_key(|&(rem, i)| (Reverse(rem), i));
            for &(_, i) in remainders.iter().take((give - given) as usize) {
                taken[i] += 1;
            }
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_sample_is_twice_the_budget_rounded_up_within_bounds() {
        assert_eq!(head_sample_len(0), DEFAULT_HEAD_SAMPLE_LEN);
        assert_eq!(head_sample_len(100), DEFAULT_HEAD_SAMPLE_LEN);
        assert_eq!(head_sample_len(129), 512);
        assert_eq!(head_sample_len(1_000), 2_048);
        assert_eq!(head_sample_len(1_000_000), MAX_HEAD_SAMPLE_LEN);
    }
}
