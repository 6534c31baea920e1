//! One shard of the waiting queue: arrival order, heartbeats, abandonment,
//! admission into active sessions, exact live positions.
//!
//! A `QueueShard` Durable Object owns one [`ShardQueue`] in memory and
//! persists every entry as one SQLite row ([`EntryRow`]) plus one small
//! [`ShardMeta`] record. Every mutating call says which rows it changed, so
//! the Durable Object writes O(changed) rows and can rebuild the queue after
//! a restart with [`ShardQueue::restore`].
//!
//! # What the edge persists, and when
//! | call | rows to write |
//! |------|---------------|
//! | [`ShardQueue::join`] → `Joined` | insert [`ShardQueue::row`]`(id)` |
//! | [`ShardQueue::heartbeat`] → `Waiting { persist_last_seen: true }` | update `last_seen_ms` of that row |
//! | [`ShardQueue::heartbeat`] → `Abandoned` | delete that row |
//! | [`ShardQueue::leave`] / [`ShardQueue::release`] → `true` | delete that row |
//! | [`ShardQueue::expire`], [`ShardQueue::admit`], [`ShardQueue::apply_grant`], [`ShardQueue::summary`] | [`RowChanges`]: delete `abandoned`, set `admitted` rows to state `Admitted` with `session_expires_ms`; after `apply_grant` (not a duplicate) also [`ShardQueue::meta`] |
//!
//! Admitted rows whose `session_expires_ms <= now` are dead: the edge may
//! delete them whenever convenient (`DELETE … WHERE state = 'admitted' AND
//! session_expires_ms <= ?`); [`ShardQueue::restore`] ignores them anyway.
//!
//! # Heartbeat coarseness and expiry
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
//!
//! # Structure (why it is O(log n))
//! Entries sit in a deque of slots indexed by arrival sequence number; a
//! [`Fenwick`] tree over the same sequence numbers counts live entries, so
//! "live entries ahead of me" is one prefix sum. Removing an entry leaves a
//! vacant slot (cleared from the tree); vacant slots at the front are popped,
//! and the tree is rebuilt over the live span whenever sequence numbers run
//! past its end, so a shard can run for days. Expiry uses a min-heap of
//! check deadlines with one live record per entry, re-armed lazily, so a
//! heartbeat never touches the heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

pub use crate::config::ShardConfig;
use crate::eta::{poll_after_ms, EtaInfo};
use crate::fenwick::Fenwick;
use crate::operator::{Door, Lottery, OperatorConfig, SeededRng};
use crate::wire::{ArrivalHistogram, Grant, ShardSummary, HISTOGRAM_BUCKETS};
pub use crate::wire::{DEFAULT_HEAD_SAMPLE_LEN, MAX_HEAD_SAMPLE_LEN};

/// Smallest Fenwick tree allocated (slots).
const MIN_TREE_SLOTS: usize = 1024;
/// Marker of a vacant slot in `Slot::last_seen_ms`.
const VACANT: u64 = u64::MAX;

/// State of a persisted entry row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// In the queue.
    Waiting,
    /// Admitted; holds an active session until `session_expires_ms`.
    Admitted,
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
    /// Recorded last heartbeat (see the module docs on coarseness).
    pub last_seen_ms: u64,
    /// Waiting or admitted.
    pub state: EntryState,
    /// End of the active session; 0 while waiting.
    pub session_expires_ms: u64,
}

/// The small per-shard record persisted after every applied grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Operator settings last received (who may join: [`ShardQueue::door`]).
    #[serde(default)]
    pub operator: OperatorConfig,
    /// `event_start_ms` of the pre-queue lottery this shard has applied.
    #[serde(default)]
    pub lottery_done: Option<u64>,
}

impl ShardMeta {
    /// Meta of a brand-new shard.
    pub fn new(config: ShardConfig) -> Self {
        Self {
            config,
            last_applied_tick: None,
            abandoned_total: 0,
            admitted_total: 0,
            operator: OperatorConfig::default(),
            lottery_done: None,
        }
    }
}

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
}

impl RowChanges {
    /// True if no row changed.
    pub fn is_empty(&self) -> bool {
        self.admitted.is_empty() && self.abandoned.is_empty()
    }
}

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
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u64,
    arrived_ms: u64,
    /// Recorded last heartbeat, or [`VACANT`].
    last_seen_ms: u64,
}

impl Slot {
    fn is_live(&self) -> bool {
        self.last_seen_ms != VACANT
    }
}

/// What the last grant told this shard about the other shards.
#[derive(Debug, Clone, Default)]
struct GlobalView {
    /// `(arrival_ms, n)`: n waiting entries elsewhere arrived before
    /// `arrival_ms`; sorted by time.
    others_before: Vec<(u64, u64)>,
    others_waiting: u64,
    eta: EtaInfo,
    head_sample_len: u32,
}

/// One shard of the waiting queue. See the module docs.
#[derive(Debug, Clone)]
pub struct ShardQueue {
    meta: ShardMeta,
    /// `slots[i]` has sequence number `head_seq + i`; the front is live.
    slots: VecDeque<Slot>,
    head_seq: u64,
    next_seq: u64,
    /// Live flags; tree index = seq - tree_base.
    tree: Fenwick,
    tree_base: u64,
    /// Waiting id -> seq.
    index: HashMap<u64, u64>,
    /// `(check_at_ms, seq)`, min first; one current record per live entry.
    deadlines: BinaryHeap<Reverse<(u64, u64)>>,
    /// Admitted id -> session end.
    sessions: HashMap<u64, u64>,
    /// `(session_end, id)`, min first; lazily pruned.
    session_ends: BinaryHeap<Reverse<(u64, u64)>>,
    last_arrival_ms: u64,
    global: GlobalView,
}

impl ShardQueue {
    /// An empty shard.
    pub fn new(config: ShardConfig) -> Self {
        Self::from_meta(ShardMeta::new(config))
    }

    fn from_meta(meta: ShardMeta) -> Self {
        Self {
            meta,
            slots: VecDeque::new(),
            head_seq: 0,
            next_seq: 0,
            tree: Fenwick::new(MIN_TREE_SLOTS),
            tree_base: 0,
            index: HashMap::new(),
            deadlines: BinaryHeap::new(),
            sessions: HashMap::new(),
            session_ends: BinaryHeap::new(),
            last_arrival_ms: 0,
            global: GlobalView {
                head_sample_len: DEFAULT_HEAD_SAMPLE_LEN,
                ..GlobalView::default()
            },
        }
    }

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
                // Vacant slots for the gap; they inherit the predecessor's
                // arrival time so slots stay sorted by arrival.
                for _ in prev.seq + 1..row.seq {
                    q.slots.push_back(Slot {
                        id: 0,
                        arrived_ms: prev.arrived_ms,
                        last_seen_ms: VACANT,
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
            });
            deadlines.push(Reverse((row.last_seen_ms.saturating_add(grace), row.seq)));
            q.last_arrival_ms = row.arrived_ms;
        }
        q.deadlines = BinaryHeap::from(deadlines);
        q.next_seq = max_seq
            .map_or(0, |m| m + 1)
            .max(q.head_seq + q.slots.len() as u64);
        q.rebuild_tree();
        Ok(q)
    }

    /// The meta record to persist (after every non-duplicate grant).
    pub fn meta(&self) -> ShardMeta {
        self.meta
    }

    /// What a new arrival gets now: a place, a pre-queue place, or the
    /// closed page (schedule, `reject` mode, queue full).
    pub fn door(&self, now_ms: u64) -> Door {
        self.meta
            .operator
            .door(now_ms, self.new_arrival_eta_seconds())
    }

    /// Estimated wait of someone joining now (the back of the line, all
    /// shards, as of the last grant).
    pub fn new_arrival_eta_seconds(&self) -> u64 {
        let back = self.waiting_len() + self.global.others_waiting + 1;
        self.global.eta.eta_seconds(back)
    }

    /// `event_start_ms` while the room is in pre-queue (the waiting page
    /// shows a countdown instead of a position).
    pub fn prequeue_until(&self, now_ms: u64) -> Option<u64> {
        match self.meta.operator.phase(now_ms) {
            crate::operator::Phase::PreQueue { event_start_ms } => Some(event_start_ms),
            _ => None,
        }
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

    /// The pre-queue lottery: every waiting entry that arrived before
    /// `event_start` gets its effective arrival time and its place in key
    /// order (see [`crate::operator`]); later arrivals keep theirs, behind.
    /// Returns the rows to rewrite. O(n log n), once per event.
    pub fn shuffle_prequeue(&mut self, lottery: &Lottery, now_ms: u64) -> Vec<EntryRow> {
        let mut pre: Vec<EntryRow> = Vec::new();
        let mut rows: Vec<EntryRow> = Vec::with_capacity(self.index.len() + self.sessions.len());
        for slot in self.slots.iter().filter(|s| s.is_live()) {
            let Some(row) = self.row(slot.id) else {
                continue;
            };
            if row.arrived_ms < lottery.event_start_ms {
                pre.push(row);
            } else {
                rows.push(row);
            }
        }
        if pre.is_empty() {
            return Vec::new();
        }
        // The pre-queued hold the front seqs (slots are in arrival order):
        // hand those seqs out again in lottery order.
        let seqs: Vec<u64> = pre.iter().map(|r| r.seq).collect();
        pre.sort_by_key(|r| (lottery.effective_arrival_ms(r.id), lottery.key(r.id)));
        for (row, seq) in pre.iter_mut().zip(seqs) {
            row.seq = seq;
            row.arrived_ms = lottery.effective_arrival_ms(row.id);
        }
        rows.extend(pre.iter().copied());
        rows.extend(self.sessions.keys().filter_map(|&id| self.row(id)));
        let global = self.global.clone();
        match Self::restore(self.meta, rows, now_ms) {
            Ok(q) => {
                *self = q;
                self.global = global;
                pre
            }
            // Cannot happen (the rows come from a consistent queue); keep
            // the arrival order rather than lose anyone.
            Err(_) => Vec::new(),
        }
    }

    /// Current timing rules.
    pub fn config(&self) -> ShardConfig {
        self.meta.config
    }

    /// Live waiting entries (entries overdue but not yet expired included
    /// until the next call that takes `now`).
    pub fn waiting_len(&self) -> u64 {
        self.index.len() as u64
    }

    /// Arrival time of the oldest waiting entry.
    pub fn oldest_arrival_ms(&self) -> Option<u64> {
        self.slots.front().map(|s| s.arrived_ms)
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
                state: EntryState::Waiting,
                session_expires_ms: 0,
            });
        }
        self.sessions.get(&id).map(|&end| EntryRow {
            id,
            seq: 0,
            arrived_ms: 0,
            last_seen_ms: 0,
            state: EntryState::Admitted,
            session_expires_ms: end,
        })
    }

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
        });
        self.tree.add((seq - self.tree_base) as usize, 1);
        self.index.insert(id, seq);
        self.deadlines.push(Reverse((
            last_seen_ms.saturating_add(self.meta.config.expiry_grace_ms()),
            seq,
        )));
        JoinOutcome::Joined { seq }
    }

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

    /// Like [`ShardQueue::heartbeat`] but changes nothing (an overdue
    /// entry is reported as waiting until the next call that takes `now`).
    pub fn status(&self, id: u64, now_ms: u64) -> Status {
        match self.index.get(&id) {
            Some(&seq) => Status::Waiting(self.waiting_status(seq)),
            None => self.session_status(id, now_ms),
        }
    }

    /// Whether `id` holds a live session at `now_ms`.
    pub fn is_admitted(&self, id: u64, now_ms: u64) -> bool {
        self.sessions.get(&id).is_some_and(|&end| end > now_ms)
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

    /// Drops every waiting entry silent past the grace (see the module
    /// docs). They are never admitted; their places go to those behind.
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

    /// Approximate heap bytes held per waiting entry's structures (for the
    /// benchmark's memory figure): slots, tree, index, deadline heap.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        // hashbrown: one control byte plus the (key, value) pair per bucket;
        // capacity() reports 7/8 of the buckets.
        let buckets = |cap: usize| {
            if cap == 0 {
                0
            } else {
                (cap * 8 / 7).next_power_of_two()
            }
        };
        self.slots.capacity() * size_of::<Slot>()
            + self.tree.heap_bytes()
            + buckets(self.index.capacity()) * (size_of::<(u64, u64)>() + 1)
            + self.deadlines.capacity() * size_of::<Reverse<(u64, u64)>>()
            + buckets(self.sessions.capacity()) * (size_of::<(u64, u64)>() + 1)
            + self.session_ends.capacity() * size_of::<Reverse<(u64, u64)>>()
    }

    // ---- internals ----

    fn slot(&self, seq: u64) -> Option<&Slot> {
        let i = seq.checked_sub(self.head_seq)?;
        self.slots.get(usize::try_from(i).ok()?)
    }

    fn position_of_seq(&self, seq: u64) -> u64 {
        self.tree.prefix((seq - self.tree_base) as usize) + 1
    }

    fn waiting_status(&self, seq: u64) -> WaitingStatus {
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

    fn session_status(&self, id: u64, now_ms: u64) -> Status {
        match self.sessions.get(&id) {
            Some(&end) if end > now_ms => Status::Admitted {
                session_expires_ms: end,
            },
            _ => Status::NotFound,
        }
    }

    fn prune_sessions(&mut self, now_ms: u64) {
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

    fn remove_waiting(&mut self, id: u64, seq: u64) {
        self.index.remove(&id);
        let i = (seq - self.head_seq) as usize;
        self.slots[i].last_seen_ms = VACANT;
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
    fn rebuild_tree(&mut self) {
        let len = (2 * (self.slots.len() + 1)).max(MIN_TREE_SLOTS);
        self.tree_base = self.head_seq;
        self.tree = Fenwick::from_flags(len, self.slots.iter().map(Slot::is_live));
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
