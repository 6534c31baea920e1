//! Admission: the coordinator's [`Grant`] applied once per tick, the
//! oldest live entries (or, in random mode, uniformly chosen ones) moved
//! into active sessions, and those sessions until they end.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::{EntryRow, GlobalView, RowChanges, ShardQueue, Status, MAX_HEAD_SAMPLE_LEN};
use crate::operator::SeededRng;
use crate::wire::Grant;

/// Result of [`ShardQueue::apply_grant`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantOutcome {
    /// The grant's tick was already applied: nothing changed at all.
    pub duplicate: bool,
    /// Rows to write (plus [`ShardQueue::meta`] unless `duplicate`).
    pub changes: RowChanges,
    /// Rows rewritten by the pre-queue lottery (new `seq` and
    /// `arrived_ms`): write them all (`INSERT OR REPLACE`), before `changes`.
    #[serde(default)]
    pub reordered: Vec<EntryRow>,
}

impl ShardQueue {
    /// Applies the coordinator's grant for one tick: adopts its timing
    /// rules and global view, then admits `grant.admit` oldest live
    /// entries. A grant whose tick id is not newer than the last applied
    /// one is a duplicate (alarms are at-least-once) and changes nothing.
    pub fn apply_grant(&mut self, grant: &Grant, now_ms: u64) -> GrantOutcome {
        if self
            .meta
            .last_applied_tick
            .is_some_and(|last| grant.tick_id <= last)
        {
            return GrantOutcome {
                duplicate: true,
                ..GrantOutcome::default()
            };
        }
        self.meta.last_applied_tick = Some(grant.tick_id);
        self.set_config(grant.config);
        self.meta.operator = grant.operator;
        let reordered = match grant.lottery {
            Some(l)
                if now_ms >= l.event_start_ms
                    && self.meta.lottery_done != Some(l.event_start_ms) =>
            {
                self.meta.lottery_done = Some(l.event_start_ms);
                self.shuffle_prequeue(&l, now_ms)
            }
            _ => Vec::new(),
        };
        self.global = GlobalView {
            others_before: grant.others_before.clone(),
            others_waiting: grant.others_waiting,
            eta: grant.eta,
            head_sample_len: grant.head_sample_len.clamp(1, MAX_HEAD_SAMPLE_LEN),
        };
        let changes = match grant.random_seed {
            Some(seed) => self.admit_random(u64::from(grant.admit), seed, now_ms),
            None => self.admit(u64::from(grant.admit), now_ms),
        };
        GrantOutcome {
            duplicate: false,
            changes,
            reordered,
        }
    }

    /// Expires overdue entries, then admits the `k` oldest live ones into
    /// sessions ending at `now_ms + session_ms`.
    pub fn admit(&mut self, k: u64, now_ms: u64) -> RowChanges {
        let mut changes = self.expire(now_ms);
        let end = now_ms.saturating_add(self.meta.config.session_ms);
        changes.session_expires_ms = end;
        while (changes.admitted.len() as u64) < k {
            let Some(front) = self.slots.front().copied() else {
                break;
            };
            let seq = self.head_seq;
            self.remove_waiting(front.id, seq);
            self.sessions.insert(front.id, end);
            self.session_ends.push(Reverse((end, front.id)));
            changes.admitted.push(front.id);
        }
        self.meta.admitted_total += changes.admitted.len() as u64;
        changes
    }

    /// Admits `k` live entries chosen uniformly at random (random mode),
    /// after expiry. O(k log n).
    pub fn admit_random(&mut self, k: u64, seed: u64, now_ms: u64) -> RowChanges {
        let mut changes = self.expire(now_ms);
        let end = now_ms.saturating_add(self.meta.config.session_ms);
        changes.session_expires_ms = end;
        let mut rng = SeededRng::new(seed);
        while (changes.admitted.len() as u64) < k && self.waiting_len() > 0 {
            let r = rng.below(self.waiting_len());
            let Some(idx) = self.tree.find_kth(r) else {
                break;
            };
            let seq = self.tree_base + idx as u64;
            let Some(id) = self.slot(seq).map(|s| s.id) else {
                break;
            };
            self.remove_waiting(id, seq);
            self.sessions.insert(id, end);
            self.session_ends.push(Reverse((end, id)));
            changes.admitted.push(id);
        }
        self.meta.admitted_total += changes.admitted.len() as u64;
        changes
    }

    /// Whether `id` holds a live session at `now_ms`.
    pub fn is_admitted(&self, id: u64, now_ms: u64) -> bool {
        self.sessions.get(&id).is_some_and(|&end| end > now_ms)
    }

    /// Ends an active session early (the origin says the citizen is done).
    /// True if there was one: delete its row.
    pub fn release(&mut self, id: u64) -> bool {
        self.sessions.remove(&id).is_some()
    }

    /// Active sessions at `now_ms` (prunes ended ones).
    pub fn active_sessions(&mut self, now_ms: u64) -> u64 {
        self.prune_sessions(now_ms);
        self.sessions.len() as u64
    }

    pub(super) fn session_status(&self, id: u64, now_ms: u64) -> Status {
        match self.sessions.get(&id) {
            Some(&end) if end > now_ms => Status::Admitted {
                session_expires_ms: end,
            },
            _ => Status::NotFound,
        }
    }

    pub(super) fn prune_sessions(&mut self, now_ms: u64) {
        while let Some(&Reverse((end, id))) = self.session_ends.peek() {
            if end > now_ms {
                break;
            }
            self.session_ends.pop();
            // Only remove if this record is the session's current end (a
            // re-admitted id carries a newer record).
            if self.sessions.get(&id) == Some(&end) {
                self.sessions.remove(&id);
            }
        }
    }
}
