//! Where a waiting entry stands: its exact position within the shard and
//! in the one admission order across all shards ([`crate::order`]), its
//! wait.

use serde::{Deserialize, Serialize};

use super::ShardQueue;
use crate::eta::poll_after_ms;

/// Poll interval while counting: a rank comes with the next tick (about a
/// second), its view with the grant right after.
pub const COUNTING_POLL_MS: u64 = 1_500;

/// Where a waiting entry stands, as returned to the waiting page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WaitingStatus {
    /// Arrival sequence number within the shard.
    pub seq: u64,
    /// Exact live position within the shard (1 = next to be admitted).
    pub position: u64,
    /// Live waiting entries in this shard.
    pub shard_waiting: u64,
    /// Position in the admission order across all shards; `None` while the
    /// entry has no rank yet or the shard has no view of the others (about
    /// a tick after joining): "counting the people ahead of you".
    pub global_position: Option<u64>,
    /// Waiting entries across all shards (as of the last grant, plus this
    /// shard's exact count).
    pub global_waiting: u64,
    /// Estimated seconds until admission.
    pub eta_seconds: u64,
    /// When the page should poll next.
    pub poll_after_ms: u64,
    /// Whether the recorded `last_seen_ms` moved: write it to the row.
    pub persist_last_seen: bool,
    /// Until when the place is kept without any poll ([`crate::hold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until_ms: Option<u64>,
    /// The hold moved: write the row now (a promise made to the citizen).
    #[serde(default)]
    pub persist_hold: bool,
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
            Some(&seq) => {
                let mut w = self.waiting_status(seq);
                let hold = self.slot(seq).map_or(0, |s| s.hold_ms());
                self.decorate_hold(&mut w, hold, now_ms);
                Status::Waiting(w)
            }
            None => self.session_status(id, now_ms),
        }
    }

    /// Exact live position within the shard (1 = next), O(log n).
    pub fn position(&self, id: u64) -> Option<u64> {
        let &seq = self.index.get(&id)?;
        Some(self.position_of_seq(seq))
    }

    /// Position across all shards: 1 + the live entries of this shard
    /// ahead of it (exact) + the other shards' entries ahead of it in the
    /// order as of the last grant (too high by at most what they admitted,
    /// lost or dropped since; never too low: nobody is ranked ahead of an
    /// entry that has a rank). `None` while counting (see
    /// [`WaitingStatus::global_position`]).
    pub fn global_position(&self, id: u64) -> Option<u64> {
        let &seq = self.index.get(&id)?;
        self.global_position_of_seq(seq)
    }

    fn global_position_of_seq(&self, seq: u64) -> Option<u64> {
        let rank = self.slot(seq)?.rank;
        if rank == 0 {
            return None;
        }
        let others = self.global.order.ahead_of(rank)?;
        Some(self.position_of_seq(seq) + others)
    }

    /// Estimated wait of someone joining now (the back of the line, all
    /// shards, as of the last grant).
    pub fn new_arrival_eta_seconds(&self) -> u64 {
        let back = self.waiting_len() + self.others_waiting() + 1;
        self.global.eta.eta_seconds(back)
    }

    fn position_of_seq(&self, seq: u64) -> u64 {
        self.tree.prefix((seq - self.tree_base) as usize) + 1
    }

    /// Waiting entries in the other shards: the view's count, or the last
    /// grant's total if that is higher (it includes their unranked).
    fn others_waiting(&self) -> u64 {
        self.global.others_waiting.max(self.global.order.total())
    }

    pub(super) fn waiting_status(&self, seq: u64) -> WaitingStatus {
        let position = self.position_of_seq(seq);
        let global_position = self.global_position_of_seq(seq);
        // While counting, the ETA assumes everyone elsewhere is ahead.
        let ahead = global_position.unwrap_or(position + self.others_waiting());
        let eta_seconds = self.global.eta.eta_seconds(ahead);
        let poll_after_ms = match global_position {
            Some(_) => poll_after_ms(eta_seconds, self.meta.config.abandon_after_ms),
            None => COUNTING_POLL_MS
                .min(self.meta.config.abandon_after_ms / 3)
                .max(250),
        };
        WaitingStatus {
            seq,
            position,
            shard_waiting: self.waiting_len(),
            global_position,
            global_waiting: self.waiting_len() + self.others_waiting(),
            eta_seconds,
            poll_after_ms,
            persist_last_seen: false,
            hold_until_ms: None,
            persist_hold: false,
        }
    }
}
