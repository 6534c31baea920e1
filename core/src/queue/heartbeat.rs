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
use crate::hold;

/// Longest poll interval suggested while a place is held: the page still
/// shows a live position now and then.
pub const HELD_POLL_MAX_MS: u64 = 120_000;

impl ShardQueue {
    /// Refreshes `last_seen` of a waiting entry and reports its standing,
    /// with the hold of its place if it may be away ([`crate::hold`]; a
    /// hold once shown never moves earlier). An entry already past its drop
    /// time is dropped instead (`Abandoned`): its row must be deleted; one
    /// that was away within its hold is back. O(log n).
    pub fn heartbeat(&mut self, id: u64, now_ms: u64) -> Status {
        let Some(&seq) = self.index.get(&id) else {
            return self.session_status(id, now_ms);
        };
        let granularity = self.meta.config.last_seen_granularity_ms;
        let i = (seq - self.head_seq) as usize;
        if now_ms > self.drop_at(&self.slots[i]) {
            // Held past their last poll, and not back in time.
            let missed = self.slots[i].hold_ms() > self.slots[i].last_seen_ms;
            self.remove_waiting(id, seq);
            self.meta.abandoned_total += 1;
            self.meta.missed_total += u64::from(missed);
            self.facts_mut().abandoned += 1;
            return Status::Abandoned;
        }
        if std::mem::take(&mut self.slots[i].away) {
            self.away -= 1;
            self.facts_mut().back += 1;
        }
        let last_seen = self.slots[i].last_seen_ms;
        let persist = now_ms >= last_seen.saturating_add(granularity) && now_ms > last_seen;
        if persist {
            self.slots[i].last_seen_ms = now_ms.min(VACANT - 1);
        }
        let mut status = self.waiting_status(seq);
        status.persist_last_seen = persist;
        if let Some(position) = status.global_position {
            let cfg = self.meta.config;
            let fresh = hold::hold_until_ms(now_ms, position, &self.global.eta, &cfg);
            let stored = self.slots[i].hold_ms();
            let next = hold::next_hold(stored, fresh, now_ms);
            if next != stored {
                self.slots[i].set_hold_ms(next);
                status.persist_hold = true;
            }
        }
        self.decorate_hold(&mut status, self.slots[i].hold_ms(), now_ms);
        Status::Waiting(status)
    }

    /// Puts the hold into a status answer: the time, and a polling cadence
    /// that spares the shard while the place is held.
    pub(super) fn decorate_hold(&self, status: &mut super::WaitingStatus, hold: u64, now_ms: u64) {
        if hold > now_ms {
            status.hold_until_ms = Some(hold);
            let relaxed = ((hold - now_ms) / 4).min(HELD_POLL_MAX_MS);
            status.poll_after_ms = status.poll_after_ms.max(relaxed);
        }
    }

    /// Handles every waiting entry whose check time has come: one silent
    /// past the grace ([`ShardConfig::expiry_grace_ms`]; why the grace:
    /// `queue/heartbeat.rs`) is away while its hold lasts (kept, not
    /// admitted) and dropped after it; without a hold it is dropped at
    /// once. The dropped are never admitted; their places go to those
    /// behind.
    pub fn expire(&mut self, now_ms: u64) -> RowChanges {
        self.prune_sessions(now_ms);
        let grace = self.meta.config.expiry_grace_ms();
        let mut dropped: Vec<(u64, u64)> = Vec::new();
        while let Some(&Reverse((check_at, seq))) = self.deadlines.peek() {
            if check_at >= now_ms {
                break;
            }
            self.deadlines.pop();
            let Some(slot) = self.slot(seq).filter(|s| s.is_live()).copied() else {
                continue; // stale record of an entry that is gone
            };
            let drop_at = self.drop_at(&slot);
            let seen_due = slot.last_seen_ms.saturating_add(grace);
            if drop_at < now_ms {
                dropped.push((seq, slot.id));
            } else if seen_due < now_ms {
                // Silent, but the place is held: away until the hold ends.
                if !slot.away {
                    let i = (seq - self.head_seq) as usize;
                    self.slots[i].away = true;
                    self.away += 1;
                    self.facts_mut().away += 1;
                }
                self.deadlines.push(Reverse((drop_at, seq)));
            } else {
                self.deadlines.push(Reverse((seen_due, seq)));
            }
        }
        dropped.sort_unstable();
        let mut changes = RowChanges::default();
        for (seq, id) in dropped {
            let missed = self.slot(seq).is_some_and(|s| s.hold_ms() > s.last_seen_ms);
            self.remove_waiting(id, seq);
            self.meta.missed_total += u64::from(missed);
            changes.abandoned.push(id);
        }
        self.meta.abandoned_total += changes.abandoned.len() as u64;
        self.facts_mut().abandoned += changes.abandoned.len() as u64;
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
                    let due = slot.last_seen_ms.saturating_add(grace);
                    Some(Reverse((due.min(self.drop_at(slot)), seq)))
                })
                .collect();
            self.deadlines = BinaryHeap::from(records);
        }
    }
}
