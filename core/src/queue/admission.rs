//! Admission: the coordinator's [`Grant`] applied once per tick, the
//! oldest live entries (or, in random mode, uniformly chosen ones) moved
//! into active sessions, and those sessions until they end.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::{EntryRow, RowChanges, ShardQueue, Status};
use crate::operator::{BypassKind, SeededRng};
use crate::wire::Grant;

/// Result of [`ShardQueue::apply_grant`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantOutcome {
    /// The grant's tick was already applied: nothing changed at all.
    pub duplicate: bool,
    /// Rows to write (and [`ShardQueue::meta`] if `save_meta`).
    pub changes: RowChanges,
    /// Rows rewritten by the pre-queue lottery (new `seq` and
    /// `arrived_ms`): write them all (`INSERT OR REPLACE`), before `changes`.
    #[serde(default)]
    pub reordered: Vec<EntryRow>,
    /// The entry ids the lottery shuffled (the pre-queued of this shard),
    /// for the published list ([`crate::operator::fairness`]).
    #[serde(default)]
    pub drawn: Vec<u64>,
    /// Write [`ShardQueue::meta`] (then [`ShardQueue::meta_saved`]). False
    /// when the grant changed nothing a restart would have to restore (no
    /// row, nobody to admit, and [`ShardQueue::meta_unsaved`] false): the
    /// write would only record its tick id, and applying the same grant
    /// again after a restart changes nothing either. Most shards' grants
    /// in a big room are such, and a write is a storage commit before the
    /// shard may answer.
    #[serde(default)]
    pub save_meta: bool,
}

impl ShardQueue {
    /// Applies the coordinator's grant for one tick: its seals, timing
    /// rules, the lottery, the view of the other shards, then admits its
    /// first `grant.admit` entries in the order (none ranked above
    /// `grant.admit_through_rank`). A grant whose tick id is not newer than
    /// the last applied one is a duplicate (alarms are at-least-once) and
    /// changes nothing.
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
        let sealed = self.apply_seals(&grant.seals);
        if let Some(settings) = &grant.settings {
            self.set_config(settings.config);
            self.meta.operator = settings.operator;
            self.meta.message.clone_from(&settings.message);
        }
        let reordered = match grant.lottery {
            Some(l)
                if now_ms >= l.event_start_ms
                    && self.meta.lottery_done != Some(l.event_start_ms) =>
            {
                self.meta.lottery_done = Some(l.event_start_ms);
                self.shuffle_prequeue(&l, grant.tick_id, now_ms)
            }
            _ => Vec::new(),
        };
        if let (Some(view), true) = (&grant.view, reordered.is_empty()) {
            self.apply_view(grant.shard, grant.tick_id, view);
        }
        self.global.others_waiting = grant.others_waiting;
        self.global.eta = grant.eta;
        self.note_promises(now_ms);
        let mut changes = match grant.random_seed {
            Some(seed) => self.admit_random(u64::from(grant.admit), seed, now_ms),
            None => self.admit_through(u64::from(grant.admit), grant.admit_through_rank, now_ms),
        };
        changes.sealed = sealed;
        let drawn = match grant.lottery {
            Some(l) if !reordered.is_empty() => reordered
                .iter()
                .filter(|r| r.arrived_ms < l.event_start_ms)
                .map(|r| r.id)
                .collect(),
            _ => Vec::new(),
        };
        let save_meta = self.meta_unsaved()
            || grant.admit > 0
            || !changes.is_empty()
            || !reordered.is_empty()
            || !drawn.is_empty();
        GrantOutcome {
            duplicate: false,
            changes,
            reordered,
            drawn,
            save_meta,
        }
    }

    /// Expires overdue entries, then admits the `k` oldest live ones, ranked
    /// or not, into sessions ending at `now_ms + session_ms` (a shard on its
    /// own; under a coordinator grants use [`ShardQueue::admit_through`]).
    pub fn admit(&mut self, k: u64, now_ms: u64) -> RowChanges {
        self.admit_through(k, u64::MAX, now_ms)
    }

    /// Like [`ShardQueue::admit`], but only ranked entries of a rank up to
    /// `through_rank` (`u64::MAX`: anyone, the unranked included). Entries
    /// away within their hold keep their place and are passed over.
    pub fn admit_through(&mut self, k: u64, through_rank: u64, now_ms: u64) -> RowChanges {
        let mut changes = self.expire(now_ms);
        let end = now_ms.saturating_add(self.meta.config.session_ms);
        changes.session_expires_ms = end;
        let mut seq = self.head_seq;
        while (changes.admitted.len() as u64) < k && seq < self.next_seq {
            // Admitting the front pops the vacant slots behind it too.
            seq = seq.max(self.head_seq);
            let Some(slot) = self.slot(seq).copied() else {
                break;
            };
            if !slot.is_live() || slot.away {
                seq += 1;
                continue;
            }
            if through_rank != u64::MAX && (slot.rank == 0 || slot.rank > through_rank) {
                break;
            }
            self.note_admitted(&slot, now_ms);
            self.remove_waiting(slot.id, seq);
            self.sessions.insert(slot.id, end);
            self.session_ends.push(Reverse((end, slot.id)));
            changes.admitted.push(slot.id);
            seq += 1;
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
        let mut tries = 0u64;
        while (changes.admitted.len() as u64) < k && self.waiting_len() > 0 {
            let r = rng.below(self.waiting_len());
            let Some(idx) = self.tree.find_kth(r) else {
                break;
            };
            let seq = self.tree_base + idx as u64;
            let Some(slot) = self.slot(seq).copied() else {
                break;
            };
            if slot.away {
                // Away within the hold: not admitted; try another (bounded).
                tries += 1;
                if tries > 4 * k + 16 {
                    break;
                }
                continue;
            }
            let id = slot.id;
            self.note_admitted(&slot, now_ms);
            self.remove_waiting(id, seq);
            self.sessions.insert(id, end);
            self.session_ends.push(Reverse((end, id)));
            changes.admitted.push(id);
        }
        self.meta.admitted_total += changes.admitted.len() as u64;
        changes
    }

    /// Opens a session for `id` at once, outside the line: the operator's
    /// bypass rule of `kind` matched the request (counted for the report).
    /// The session counts against the active cap like any other. Returns
    /// its end; write the row ([`ShardQueue::row`]).
    pub fn admit_now(&mut self, id: u64, kind: BypassKind, now_ms: u64) -> u64 {
        if let Some(&seq) = self.index.get(&id) {
            self.remove_waiting(id, seq);
        }
        let end = now_ms.saturating_add(self.meta.config.session_ms);
        self.sessions.insert(id, end);
        self.session_ends.push(Reverse((end, id)));
        self.facts_mut().bypassed[kind as usize] += 1;
        end
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
