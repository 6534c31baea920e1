//! What the edge persists: one [`EntryRow`] per entry, one [`ShardMeta`]
//! per shard, the [`RowChanges`] every mutating call reports, and
//! rebuilding a shard from them ([`ShardQueue::restore`]). The table of
//! which call writes which rows is in the [`crate::queue`] docs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde::{Deserialize, Serialize};

use super::{ShardConfig, ShardQueue, Slot, VACANT};
use crate::operator::{Message, OperatorConfig};
use crate::order::Seal;

/// State of a persisted entry row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// In the queue.
    Waiting,
    /// Admitted; holds an active session until `session_expires_ms`.
    Admitted,
}

impl EntryState {
    /// The text the edge stores in a row's `state` column (its SQL names
    /// `'waiting'` and `'admitted'` too: the test below pins both).
    pub const fn as_column(self) -> &'static str {
        match self {
            EntryState::Waiting => "waiting",
            EntryState::Admitted => "admitted",
        }
    }

    /// A stored `state` column. Text we never write restores as waiting: the
    /// citizen keeps a place in the line rather than gaining a session.
    pub fn from_column(text: &str) -> EntryState {
        if text == EntryState::Admitted.as_column() {
            EntryState::Admitted
        } else {
            EntryState::Waiting
        }
    }
}

/// One persisted entry (one SQLite row per id).
///
/// For `Admitted` rows only `id`, `state` and `session_expires_ms` matter
/// on restore; the edge may keep the other columns as they were.
/// `seq` is unique among *waiting* rows only (a restored empty shard starts
/// numbering again), so do not put a UNIQUE index on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRow {
    /// Entry id (derived by the edge from the ticket id).
    pub id: u64,
    /// Arrival sequence number within the shard.
    pub seq: u64,
    /// Arrival time (non-decreasing in `seq`).
    pub arrived_ms: u64,
    /// Recorded last heartbeat (coarse: see `queue/heartbeat.rs`).
    pub last_seen_ms: u64,
    /// Rank in the admission order ([`crate::order`]); 0 = none yet.
    #[serde(default)]
    pub rank: u64,
    /// The latest hold shown ([`crate::hold`]); 0 = none.
    #[serde(default)]
    pub hold_until_ms: u64,
    /// Waiting or admitted.
    pub state: EntryState,
    /// End of the active session; 0 while waiting.
    pub session_expires_ms: u64,
}

/// The small per-shard record, written whenever a restart would need what
/// changed in it ([`ShardQueue::meta_unsaved`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// Timing rules last received.
    pub config: ShardConfig,
    /// Id of the last grant applied (grants with an id `<=` this are
    /// duplicates and admit nobody).
    pub last_applied_tick: Option<u64>,
    /// Entries dropped for silence, ever (for `/admin/stats`).
    pub abandoned_total: u64,
    /// Entries admitted, ever.
    pub admitted_total: u64,
    /// Entries dropped after a hold ran out (back too late), ever.
    #[serde(default)]
    pub missed_total: u64,
    /// Operator settings last received (who may join: [`ShardQueue::door`]).
    #[serde(default)]
    pub operator: OperatorConfig,
    /// `event_start_ms` of the pre-queue lottery this shard has applied.
    #[serde(default)]
    pub lottery_done: Option<u64>,
    /// The highest sequence number a seal covered: sequence numbers are
    /// never handed out again up to it, even by a restored empty shard.
    #[serde(default)]
    pub sealed_through_seq: Option<u64>,
    /// The highest sequence number a summary counted among the unranked:
    /// the Coordinator may seal up to it, so it is never handed out again,
    /// even if those entries left and the shard restarted before the seal
    /// came (a newcomer would otherwise take a rank meant for them).
    #[serde(default)]
    pub counted_through_seq: Option<u64>,
    /// The operator's live message last received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

impl ShardMeta {
    /// Meta of a brand-new shard.
    pub fn new(config: ShardConfig) -> Self {
        Self {
            config,
            last_applied_tick: None,
            abandoned_total: 0,
            admitted_total: 0,
            missed_total: 0,
            operator: OperatorConfig::default(),
            lottery_done: None,
            sealed_through_seq: None,
            counted_through_seq: None,
            message: None,
        }
    }

    /// Whether `self` and `other` differ in anything a restart must restore:
    /// every field but `last_applied_tick` (a grant that changed nothing
    /// else may be applied again after a restart; [`GrantOutcome::save_meta`]
    /// says when one may not). Written out field by field, so that a new
    /// field cannot be left out.
    ///
    /// [`GrantOutcome::save_meta`]: super::GrantOutcome::save_meta
    pub fn differs_for_restore(&self, other: &Self) -> bool {
        let Self {
            config,
            last_applied_tick: _,
            abandoned_total,
            admitted_total,
            missed_total,
            operator,
            lottery_done,
            sealed_through_seq,
            counted_through_seq,
            message,
        } = self;
        *config != other.config
            || *abandoned_total != other.abandoned_total
            || *admitted_total != other.admitted_total
            || *missed_total != other.missed_total
            || *operator != other.operator
            || *lottery_done != other.lottery_done
            || *sealed_through_seq != other.sealed_through_seq
            || *counted_through_seq != other.counted_through_seq
            || *message != other.message
    }
}

/// Rows changed by a housekeeping or admission call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowChanges {
    /// Ids admitted, oldest first: set their rows to `Admitted` with
    /// `session_expires_ms`.
    pub admitted: Vec<u64>,
    /// Session end for every id in `admitted`.
    pub session_expires_ms: u64,
    /// Ids dropped for silence, oldest first: delete their rows.
    pub abandoned: Vec<u64>,
    /// Ranks given to waiting rows without one: `UPDATE … SET rank WHERE
    /// rank = 0 AND seq <= through_seq`, in order.
    #[serde(default)]
    pub sealed: Vec<Seal>,
}

impl RowChanges {
    /// True if no row changed.
    pub fn is_empty(&self) -> bool {
        self.admitted.is_empty() && self.abandoned.is_empty() && self.sealed.is_empty()
    }
}

/// Errors rebuilding a shard from its rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Two rows share an id.
    #[error("duplicate entry id {0}")]
    DuplicateId(u64),
    /// Two waiting rows share a sequence number.
    #[error("duplicate sequence number {0}")]
    DuplicateSeq(u64),
    /// Arrival times go backwards along sequence numbers.
    #[error("arrival time of seq {0} is earlier than its predecessor's")]
    ArrivalNotMonotonic(u64),
    /// Ranks go backwards along sequence numbers, or a ranked entry
    /// follows an unranked one.
    #[error("rank of seq {0} is out of order")]
    RankNotMonotonic(u64),
}

impl ShardQueue {
    /// Rebuilds a shard from its persisted meta and rows (any order).
    /// Admitted rows whose session ended by `now_ms` are ignored. Waiting
    /// rows are restored as they are (expiry runs on the next call that
    /// takes `now`). Global position and ETA information comes back with
    /// the next grant (about a second).
    pub fn restore(
        meta: ShardMeta,
        rows: impl IntoIterator<Item = EntryRow>,
        now_ms: u64,
    ) -> Result<Self, RestoreError> {
        let mut q = Self::from_meta(meta);
        let mut waiting: Vec<EntryRow> = Vec::new();
        let mut max_seq: Option<u64> = None;
        let mut seen_admitted = HashMap::new();
        for row in rows {
            match row.state {
                EntryState::Waiting => {
                    max_seq = Some(max_seq.map_or(row.seq, |m: u64| m.max(row.seq)));
                    waiting.push(row);
                }
                EntryState::Admitted => {
                    if seen_admitted.insert(row.id, ()).is_some() {
                        return Err(RestoreError::DuplicateId(row.id));
                    }
                    if row.session_expires_ms > now_ms {
                        q.sessions.insert(row.id, row.session_expires_ms);
                        q.session_ends
                            .push(Reverse((row.session_expires_ms, row.id)));
                    }
                }
            }
        }
        waiting.sort_unstable_by_key(|r| r.seq);
        let grace = q.meta.config.expiry_grace_ms();
        let mut deadlines = Vec::with_capacity(waiting.len());
        q.index.reserve(waiting.len());
        if let Some(first) = waiting.first() {
            q.head_seq = first.seq;
        }
        for (i, row) in waiting.iter().enumerate() {
            if i > 0 {
                let prev = &waiting[i - 1];
                if prev.seq == row.seq {
                    return Err(RestoreError::DuplicateSeq(row.seq));
                }
                if row.arrived_ms < prev.arrived_ms {
                    return Err(RestoreError::ArrivalNotMonotonic(row.seq));
                }
                // Ranks follow sequence numbers; the unranked (0) are last.
                let ranked_after_unranked = prev.rank == 0 && row.rank != 0;
                if ranked_after_unranked || (row.rank != 0 && row.rank < prev.rank) {
                    return Err(RestoreError::RankNotMonotonic(row.seq));
                }
                // Vacant slots for the gap; they inherit the predecessor's
                // arrival time so slots stay sorted by arrival.
                for _ in prev.seq + 1..row.seq {
                    q.slots.push_back(Slot {
                        id: 0,
                        arrived_ms: prev.arrived_ms,
                        last_seen_ms: VACANT,
                        rank: prev.rank,
                        hold_until_s: 0,
                        away: false,
                    });
                }
            }
            if q.index.insert(row.id, row.seq).is_some() || seen_admitted.contains_key(&row.id) {
                return Err(RestoreError::DuplicateId(row.id));
            }
            q.slots.push_back(Slot {
                id: row.id,
                arrived_ms: row.arrived_ms,
                last_seen_ms: row.last_seen_ms.min(VACANT - 1),
                rank: row.rank,
                hold_until_s: 0,
                away: false,
            });
            if let Some(slot) = q.slots.back_mut() {
                slot.set_hold_ms(row.hold_until_ms);
            }
            if row.rank != 0 {
                *q.own.entry(row.rank).or_insert(0) += 1;
            }
            // Away-ness is found again by the next expiry pass.
            deadlines.push(Reverse((row.last_seen_ms.saturating_add(grace), row.seq)));
            q.last_arrival_ms = row.arrived_ms;
        }
        q.deadlines = BinaryHeap::from(deadlines);
        q.next_seq = max_seq
            .map_or(0, |m| m + 1)
            .max(q.head_seq + q.slots.len() as u64)
            .max(q.meta.sealed_through_seq.map_or(0, |s| s + 1))
            .max(q.meta.counted_through_seq.map_or(0, |s| s + 1));
        if q.slots.is_empty() {
            q.head_seq = q.next_seq;
        }
        // Slots are indexed by sequence number: up to a seal that covered
        // entries since gone, the numbers in between stay vacant.
        while q.head_seq + (q.slots.len() as u64) < q.next_seq {
            let last = q.slots.back().copied().expect("non-empty here");
            q.slots.push_back(Slot {
                id: 0,
                last_seen_ms: VACANT,
                away: false,
                hold_until_s: 0,
                ..last
            });
        }
        q.rebuild_tree();
        Ok(q)
    }

    /// The meta record to persist (after every non-duplicate grant).
    pub fn meta(&self) -> &ShardMeta {
        &self.meta
    }

    /// Whether [`ShardQueue::meta`] changed since it was last written (as
    /// [`ShardQueue::meta_saved`] recorded, or as restored) in anything a
    /// restart must restore ([`ShardMeta::differs_for_restore`]): a seal,
    /// newcomers counted, the settings, a counter. One rule for every
    /// call that may change it (summary, grant, a heartbeat that drops
    /// its entry): after each, write the meta if this says so.
    pub fn meta_unsaved(&self) -> bool {
        self.meta.differs_for_restore(&self.saved_meta)
    }

    /// Records that [`ShardQueue::meta`] as it is now was written.
    pub fn meta_saved(&mut self) {
        self.saved_meta.clone_from(&self.meta);
    }

    /// The row to persist for `id`, if the shard knows it.
    pub fn row(&self, id: u64) -> Option<EntryRow> {
        if let Some(&seq) = self.index.get(&id) {
            let slot = self.slot(seq)?;
            return Some(EntryRow {
                id,
                seq,
                arrived_ms: slot.arrived_ms,
                last_seen_ms: slot.last_seen_ms,
                rank: slot.rank,
                hold_until_ms: slot.hold_ms(),
                state: EntryState::Waiting,
                session_expires_ms: 0,
            });
        }
        self.sessions.get(&id).map(|&end| EntryRow {
            id,
            seq: 0,
            arrived_ms: 0,
            last_seen_ms: 0,
            rank: 0,
            hold_until_ms: 0,
            state: EntryState::Admitted,
            session_expires_ms: end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::EntryState;

    #[test]
    fn the_state_column_round_trips_and_unknown_text_is_waiting() {
        for state in [EntryState::Waiting, EntryState::Admitted] {
            assert_eq!(EntryState::from_column(state.as_column()), state);
        }
        // The literals the edge's SQL uses.
        assert_eq!(EntryState::Waiting.as_column(), "waiting");
        assert_eq!(EntryState::Admitted.as_column(), "admitted");
        for odd in ["", "ADMITTED", "admitted ", "abandoned"] {
            assert_eq!(EntryState::from_column(odd), EntryState::Waiting, "{odd:?}");
        }
    }
}
