//! What a shard tells the coordinator each tick ([`ShardSummary`]): its
//! counts, its new entries (to be ranked) and what changed among its ranked
//! ones (see [`crate::order`]).

use super::{RowChanges, ShardQueue};
use crate::wire::{ShardSummary, Summary, AWAY_SCAN};

impl ShardQueue {
    /// `(rank, n)` of the away among the first [`AWAY_SCAN`] live entries.
    fn away_ahead(&self) -> Vec<(u64, u64)> {
        if self.away == 0 {
            return Vec::new();
        }
        let mut out: Vec<(u64, u64)> = Vec::new();
        for slot in self.slots.iter().filter(|s| s.is_live()).take(AWAY_SCAN) {
            if slot.away && slot.rank != 0 {
                match out.last_mut() {
                    Some((r, n)) if *r == slot.rank => *n += 1,
                    _ => out.push((slot.rank, 1)),
                }
            }
        }
        out
    }

    /// What the coordinator needs from this shard for the tick asking.
    ///
    /// Applies the request's seals first, then runs
    /// [`ShardQueue::expire`] (so the counts hold only entries a grant may
    /// admit), and returns the row changes of both, which the edge must
    /// persist like any other, with [`ShardQueue::meta`] if it changed
    /// (a seal applied, newcomers counted).
    pub fn summary(&mut self, req: &Summary, now_ms: u64) -> (ShardSummary, RowChanges) {
        let sealed = self.apply_seals(&req.seals);
        let mut changes = self.expire(now_ms);
        changes.sealed = sealed;
        let active = self.active_sessions(now_ms);
        let ranked = self.take_report(req.tick_id, req.received_through);
        let (unranked, unranked_through_seq) = self.unranked();
        if unranked_through_seq > self.meta.counted_through_seq {
            self.meta.counted_through_seq = unranked_through_seq;
        }
        let summary = ShardSummary {
            shard: req.shard,
            last_applied_tick: self.meta.last_applied_tick,
            waiting: self.waiting_len(),
            oldest_arrival_ms: self.oldest_arrival_ms(),
            active_sessions: active,
            abandoned_total: self.meta.abandoned_total,
            admitted_total: self.meta.admitted_total,
            unranked,
            unranked_through_seq,
            sealed_through_seq: self.meta.sealed_through_seq,
            ranked,
            ranked_waiting: self.ranked_waiting(),
            view_tick: self.global.order.tick(),
            away: self.away,
            missed_total: self.meta.missed_total,
            away_ahead: self.away_ahead(),
            facts: self.take_facts(req.tick_id, req.received_through),
            settings_digest: Some(self.settings().digest()),
        };
        (summary, changes)
    }
}
