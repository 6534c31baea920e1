//! Heartbeats and abandonment: a waiting page proves it is still there;
//! an entry silent too long loses its place.
//!
//! A heartbeat only moves the *recorded* `last_seen_ms` (in memory and in
//! the row alike) when it is at least `last_seen_granularity_ms` newer than
//! the recorded one, so most heartbeats write nothing. The recorded value
//! therefore lags the true last heartbeat by less than the granularity, and
//! expiry compensates: an entry is dropped once
//! `now > recorded_last_seen + abandon_after + granularity`.
//! Consequently a citizen silent for more than `abandon_after + granularity`
//! is never admitted, and nobody silent for at most `abandon_after` is ever
//! dropped. Because memory and rows hold the same recorded value, a restored
//! shard behaves exactly like the one that crashed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{RowChanges, ShardConfig, ShardQueue, Status, VACANT};

impl ShardQueue {
    /// Refreshes `last_seen` of a waiting entry and reports its standing.
    /// An entry already overdue is dropped instead (`Abandoned`): its row
    /// must be deleted. O(log n).
    pub fn heartbeat(&mut self, id: u64, now_ms: u64) -> Status {
        let Some(&seq) = self.index.get(&id) else {
            return self.session_status(id, now_ms);
        };
        let grace = self.meta.config.expiry_grace_ms();
        let granularity = self.meta.config.last_seen_granularity_ms;
        let i = (seq - self.head_seq) as usize;
        let last_seen = self.slots[i].last_seen_ms;
        if now_ms > last_seen.saturating_add(grace) {
            self.remove_waiting(id, seq);
            self.meta.abandoned_total += 1;
            return Status::Abandoned;
        }
        let persist = now_ms >= last_seen.saturating_add(granularity) && now_ms > last_seen;
        if persist {
            self.slots[i].last_seen_ms = now_ms.min(VACANT - 1);
        }
        let mut status = self.waiting_status(seq);
        status.persist_last_seen = persist;
        Status::Waiting(status)
    }

    /// Drops every waiting entry silent past the grace
    /// ([`ShardConfig::expiry_grace_ms`]; why the grace: `queue/heartbeat.rs`).
    /// They are never admitted; their places go to those behind.
    pub fn expire(&mut self, now_ms: u64) -> RowChanges {
        self.prune_sessions(now_ms);
        let grace = self.meta.config.expiry_grace_ms();
        let mut dropped: Vec<(u64, u64)> = Vec::new();
        while let Some(&Reverse((check_at, seq))) = self.deadlines.peek() {
            if check_at >= now_ms {
                break;
            }
            self.deadlines.pop();
            let Some(slot) = self.slot(seq).filter(|s| s.is_live()) else {
                continue; // stale record of an entry that is gone
            };
            let due = slot.last_seen_ms.saturating_add(grace);
            if due < now_ms {
                dropped.push((seq, slot.id));
            } else {
                self.deadlines.push(Reverse((due, seq)));
            }
        }
        dropped.sort_unstable();
        let mut changes = RowChanges::default();
        for (seq, id) in dropped {
            self.remove_waiting(id, seq);
            changes.abandoned.push(id);
        }
        self.meta.abandoned_total += changes.abandoned.len() as u64;
        changes
    }

    /// Replaces the timing rules (also done by every grant).
    pub fn set_config(&mut self, config: ShardConfig) {
        let shrinks = config.expiry_grace_ms() < self.meta.config.expiry_grace_ms();
        self.meta.config = config;
        if shrinks {
            // Armed deadlines may now be too late: re-arm them all.
            let grace = config.expiry_grace_ms();
            let records: Vec<_> = self
                .index
                .values()
                .filter_map(|&seq| {
                    let slot = self.slot(seq)?;
                    Some(Reverse((slot.last_seen_ms.saturating_add(grace), seq)))
                })
                .collect();
            self.deadlines = BinaryHeap::from(records);
        }
    }
}
