//! Arrival order: joining at the back, leaving, and the structure behind
//! both that makes every position O(log n).
//!
//! Entries sit in a deque of slots indexed by arrival sequence number; a
//! [`Fenwick`] tree over the same sequence numbers counts live entries, so
//! "live entries ahead of me" is one prefix sum. Removing an entry leaves a
//! vacant slot (cleared from the tree); vacant slots at the front are popped,
//! and the tree is rebuilt over the live span whenever sequence numbers run
//! past its end, so a shard can run for days. Expiry uses a min-heap of
//! check deadlines with one live record per entry, re-armed lazily, so a
//! heartbeat never touches the heap.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::{ShardQueue, Slot, MIN_TREE_SLOTS, VACANT};
use crate::fenwick::Fenwick;

/// Result of [`ShardQueue::join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JoinOutcome {
    /// New entry at the back: insert its row.
    Joined {
        /// Its arrival sequence number.
        seq: u64,
    },
    /// Already waiting: nothing changed, same place.
    AlreadyWaiting {
        /// Its arrival sequence number.
        seq: u64,
    },
    /// Already admitted with a live session: nothing changed.
    AlreadyAdmitted {
        /// End of the session.
        session_expires_ms: u64,
    },
}

impl ShardQueue {
    /// Adds `id` at the back of the queue, unless it is already waiting
    /// (same place, nothing changes) or holds a live session.
    ///
    /// Arrival times are made non-decreasing in arrival order (a clock that
    /// steps back yields the previous arrival time).
    pub fn join(&mut self, id: u64, now_ms: u64) -> JoinOutcome {
        if let Some(&seq) = self.index.get(&id) {
            return JoinOutcome::AlreadyWaiting { seq };
        }
        if let Some(&end) = self.sessions.get(&id) {
            if end > now_ms {
                return JoinOutcome::AlreadyAdmitted {
                    session_expires_ms: end,
                };
            }
            self.sessions.remove(&id);
        }
        if self.next_seq - self.tree_base >= self.tree.len() as u64 {
            self.rebuild_tree();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.slots.is_empty() {
            self.head_seq = seq;
        }
        let arrived_ms = now_ms.max(self.last_arrival_ms);
        self.last_arrival_ms = arrived_ms;
        let last_seen_ms = now_ms.min(VACANT - 1);
        self.slots.push_back(Slot {
            id,
            arrived_ms,
            last_seen_ms,
            rank: 0,
            hold_until_s: 0,
            away: false,
        });
        self.tree.add((seq - self.tree_base) as usize, 1);
        self.index.insert(id, seq);
        self.deadlines.push(Reverse((
            last_seen_ms.saturating_add(self.meta.config.expiry_grace_ms()),
            seq,
        )));
        self.facts_mut().joined += 1;
        JoinOutcome::Joined { seq }
    }

    /// Removes a waiting entry (the citizen left). True if it was waiting:
    /// delete its row.
    pub fn leave(&mut self, id: u64) -> bool {
        match self.index.get(&id) {
            Some(&seq) => {
                self.remove_waiting(id, seq);
                true
            }
            None => false,
        }
    }

    pub(super) fn slot(&self, seq: u64) -> Option<&Slot> {
        let i = seq.checked_sub(self.head_seq)?;
        self.slots.get(usize::try_from(i).ok()?)
    }

    pub(super) fn remove_waiting(&mut self, id: u64, seq: u64) {
        self.index.remove(&id);
        let i = (seq - self.head_seq) as usize;
        self.slots[i].last_seen_ms = VACANT;
        if std::mem::take(&mut self.slots[i].away) {
            self.away -= 1;
        }
        self.note_gone(seq, self.slots[i].rank);
        self.tree.add((seq - self.tree_base) as usize, -1);
        while self.slots.front().is_some_and(|s| !s.is_live()) {
            self.slots.pop_front();
            self.head_seq += 1;
        }
        if self.slots.is_empty() {
            self.head_seq = self.next_seq;
        }
        let span = self.slots.len().max(MIN_TREE_SLOTS);
        if self.slots.capacity() > 4 * span {
            self.slots.shrink_to(2 * span);
        }
        if self.tree.len() > 8 * span {
            self.rebuild_tree();
        }
    }

    /// Re-bases the tree at the current head with room to grow.
    pub(super) fn rebuild_tree(&mut self) {
        let len = (2 * (self.slots.len() + 1)).max(MIN_TREE_SLOTS);
        self.tree_base = self.head_seq;
        self.tree = Fenwick::from_flags(len, self.slots.iter().map(Slot::is_live));
    }
}
