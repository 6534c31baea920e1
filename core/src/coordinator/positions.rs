//! Global positions: what each grant tells its shard about the others.
//!
//! Each grant carries, for the receiving shard, breakpoints
//! `(arrival_ms, n)` = "n waiting entries in other shards arrived before
//! `arrival_ms`", counted after this tick's admissions. They are exact at
//! the receiving shard's head-sample arrival times (wherever the other
//! shards' samples reach) and come from the other shards' histograms,
//! linearly interpolated, elsewhere. See
//! [`crate::queue::ShardQueue::global_position`] for the error bound.

use crate::wire::{ArrivalHistogram, ShardSummary};

/// Most head-sample breakpoints sent to one shard for global positions.
const HEAD_BREAKPOINTS: usize = 64;

/// One shard's waiting entries as they will be after this tick's grants.
pub(super) struct ShardAfterTick {
    /// Head sample, minus the entries admitted this tick.
    head: Vec<u64>,
    /// Whether `head` holds every waiting entry.
    complete: bool,
    histogram: ArrivalHistogram,
    granted: u64,
    waiting: u64,
}

impl ShardAfterTick {
    pub(super) fn new(s: &ShardSummary, head: &[u64], granted: u64) -> Self {
        let skip = (granted as usize).min(head.len());
        Self {
            head: head[skip..].to_vec(),
            complete: head.len() as u64 >= s.waiting,
            histogram: s.histogram.clone(),
            granted,
            waiting: s.waiting,
        }
    }

    pub(super) fn waiting_after(&self) -> u64 {
        self.waiting.saturating_sub(self.granted)
    }

    /// Entries of this shard still waiting after the tick that arrived
    /// before `t`.
    fn count_before(&self, t: u64) -> f64 {
        let exact = self.head.partition_point(|&a| a < t) as f64;
        if self.complete || self.head.last().is_some_and(|&last| t <= last) {
            return exact;
        }
        // Beyond the sample: histogram (which still counts the admitted).
        let est = self.histogram.count_before(t) - self.granted as f64;
        est.max(self.head.len() as f64)
            .min(self.waiting_after() as f64)
    }
}

/// Breakpoints of "waiting entries elsewhere that arrived earlier" for
/// shard `i`, at its own head sample times and histogram boundaries.
pub(super) fn others_before(i: usize, after: &[ShardAfterTick]) -> Vec<(u64, u64)> {
    let me = &after[i];
    let mut times: Vec<u64> = Vec::new();
    let step = me.head.len().div_ceil(HEAD_BREAKPOINTS).max(1);
    times.extend(me.head.iter().step_by(step));
    times.extend(me.head.last());
    let h = &me.histogram;
    if !h.counts.is_empty() {
        times.extend((0..=h.counts.len() as u64).map(|b| h.start_ms + b * h.width_ms));
    }
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .map(|t| {
            let n: f64 = after
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, o)| o.count_before(t))
                .sum();
            (t, n.floor() as u64)
        })
        .collect()
}
