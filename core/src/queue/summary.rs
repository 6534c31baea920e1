//! What a shard tells the coordinator each tick: its counts, the exact
//! arrival times of its oldest entries (the head sample) and a histogram of
//! the rest ([`ShardSummary`]).

use super::{RowChanges, ShardQueue};
use crate::wire::{ArrivalHistogram, ShardSummary, HISTOGRAM_BUCKETS};

impl ShardQueue {
    /// What the coordinator needs from this shard for one tick.
    ///
    /// Runs [`ShardQueue::expire`] first (so the head sample holds only
    /// entries the grant may admit: that is what keeps admission FIFO
    /// across shards) and returns its row changes, which the edge must
    /// persist like any other expiry.
    pub fn summary(&mut self, shard: u32, now_ms: u64) -> (ShardSummary, RowChanges) {
        let changes = self.expire(now_ms);
        let active = self.active_sessions(now_ms);
        let waiting = self.waiting_len();
        let mut head = Vec::new();
        let want = u64::from(self.global.head_sample_len).min(waiting);
        for k in 0..want {
            let Some(idx) = self.tree.find_kth(k) else {
                break;
            };
            let arrived =
                self.slots[(self.tree_base + idx as u64 - self.head_seq) as usize].arrived_ms;
            head.push(arrived);
        }
        let summary = ShardSummary {
            shard,
            last_applied_tick: self.meta.last_applied_tick,
            waiting,
            oldest_arrival_ms: head.first().copied(),
            active_sessions: active,
            abandoned_total: self.meta.abandoned_total,
            admitted_total: self.meta.admitted_total,
            head_deltas_ms: ShardSummary::encode_head(&head),
            histogram: self.histogram(),
        };
        (summary, changes)
    }

    /// Counts of live entries per arrival bucket (power-of-two seconds,
    /// aligned to absolute time so the coordinator can combine shards).
    fn histogram(&self) -> ArrivalHistogram {
        let Some(front) = self.slots.front() else {
            return ArrivalHistogram::default();
        };
        let oldest = front.arrived_ms;
        let newest = self.slots.back().map_or(oldest, |s| s.arrived_ms);
        let mut width: u64 = 1000;
        while newest / width - oldest / width + 1 > HISTOGRAM_BUCKETS as u64 {
            width *= 2;
        }
        let start = oldest / width * width;
        let buckets = (newest / width - oldest / width + 1) as usize;
        let mut counts = Vec::with_capacity(buckets);
        let cum_at = |t: u64| -> u64 {
            let seq = self.head_seq + self.slots.partition_point(|s| s.arrived_ms < t) as u64;
            self.tree.prefix((seq - self.tree_base) as usize)
        };
        let mut prev = 0;
        for b in 1..=buckets {
            let cum = cum_at(start + b as u64 * width);
            counts.push(cum - prev);
            prev = cum;
        }
        ArrivalHistogram {
            start_ms: start,
            width_ms: width,
            counts,
        }
    }
}
