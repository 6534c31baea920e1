//! Where a waiting entry stands: its exact position within the shard, its
//! estimated position across all shards (from the last grant), its wait.

use serde::{Deserialize, Serialize};

use super::ShardQueue;
use crate::eta::poll_after_ms;

/// Where a waiting entry stands, as returned to the waiting page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WaitingStatus {
    /// Arrival sequence number within the shard.
    pub seq: u64,
    /// Exact live position within the shard (1 = next to be admitted).
    pub position: u64,
    /// Live waiting entries in this shard.
    pub shard_waiting: u64,
    /// Position across all shards (see [`ShardQueue::global_position`] for
    /// the error bound).
    pub global_position: u64,
    /// Waiting entries across all shards (as of the last grant, plus this
    /// shard's exact count).
    pub global_waiting: u64,
    /// Estimated seconds until admission.
    pub eta_seconds: u64,
    /// When the page should poll next.
    pub poll_after_ms: u64,
    /// Whether the recorded `last_seen_ms` moved: write it to the row.
    pub persist_last_seen: bool,
}

/// Result of [`ShardQueue::heartbeat`] and [`ShardQueue::status`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Still waiting.
    Waiting(WaitingStatus),
    /// Admitted; the session is live.
    Admitted {
        /// End of the session.
        session_expires_ms: u64,
    },
    /// Was silent too long and has just been dropped: delete its row.
    Abandoned,
    /// Unknown id (never joined, left, dropped earlier, or session over).
    NotFound,
}

impl ShardQueue {
    /// Like [`ShardQueue::heartbeat`] but changes nothing (an overdue
    /// entry is reported as waiting until the next call that takes `now`).
    pub fn status(&self, id: u64, now_ms: u64) -> Status {
        match self.index.get(&id) {
            Some(&seq) => Status::Waiting(self.waiting_status(seq)),
            None => self.session_status(id, now_ms),
        }
    }

    /// Exact live position within the shard (1 = next), O(log n).
    pub fn position(&self, id: u64) -> Option<u64> {
        let &seq = self.index.get(&id)?;
        Some(self.position_of_seq(seq))
    }

    /// Position across all shards: the exact in-shard position plus the
    /// number of other shards' waiting entries that arrived earlier, as
    /// estimated from the last grant.
    ///
    /// Error bound: the second term is exact at the arrival times of the
    /// coordinator's head samples (the front of every shard) and linearly
    /// interpolated between its breakpoints elsewhere, so it is off by at
    /// most the number of other shards' entries that arrived within the
    /// same breakpoint interval as this entry (one histogram bucket:
    /// at most 1/64 of the shard's waiting time span), plus the other
    /// shards' joins, leaves and expiries since the last tick (about one
    /// second of churn). Ties in arrival millisecond count as "not earlier".
    pub fn global_position(&self, id: u64) -> Option<u64> {
        let &seq = self.index.get(&id)?;
        let slot = self.slot(seq)?;
        Some(self.position_of_seq(seq) + self.others_before(slot.arrived_ms))
    }

    /// Estimated wait of someone joining now (the back of the line, all
    /// shards, as of the last grant).
    pub fn new_arrival_eta_seconds(&self) -> u64 {
        let back = self.waiting_len() + self.global.others_waiting + 1;
        self.global.eta.eta_seconds(back)
    }

    fn position_of_seq(&self, seq: u64) -> u64 {
        self.tree.prefix((seq - self.tree_base) as usize) + 1
    }

    pub(super) fn waiting_status(&self, seq: u64) -> WaitingStatus {
        let position = self.position_of_seq(seq);
        let arrived = self.slots[(seq - self.head_seq) as usize].arrived_ms;
        let global_position = position + self.others_before(arrived);
        let eta_seconds = self.global.eta.eta_seconds(global_position);
        WaitingStatus {
            seq,
            position,
            shard_waiting: self.waiting_len(),
            global_position,
            global_waiting: self.waiting_len() + self.global.others_waiting,
            eta_seconds,
            poll_after_ms: poll_after_ms(eta_seconds, self.meta.config.abandon_after_ms),
            persist_last_seen: false,
        }
    }

    fn others_before(&self, arrived_ms: u64) -> u64 {
        let bp = &self.global.others_before;
        if bp.is_empty() {
            // This shard held nobody at the last tick: the entry arrived
            // after everyone then waiting elsewhere.
            return self.global.others_waiting;
        }
        let i = bp.partition_point(|&(t, _)| t <= arrived_ms);
        if i == 0 {
            return bp[0].1;
        }
        if i == bp.len() {
            return self.global.others_waiting.max(bp[i - 1].1);
        }
        let (t0, c0) = bp[i - 1];
        let (t1, c1) = bp[i];
        if c1 <= c0 || t1 <= t0 {
            return c0;
        }
        let frac = (arrived_ms - t0) as f64 / (t1 - t0) as f64;
        c0 + ((c1 - c0) as f64 * frac).floor() as u64
    }
}
