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
//! # Files
//! One concept per file, each an `impl ShardQueue` block over the state
//! defined here:
//! - `order.rs`: arrival order: [`ShardQueue::join`], [`ShardQueue::leave`],
//!   the slot deque and Fenwick tree behind it (why it is O(log n)).
//! - `heartbeat.rs`: heartbeats, their coarseness, and dropping the silent
//!   ([`ShardQueue::heartbeat`], [`ShardQueue::expire`]).
//! - `admission.rs`: applying the coordinator's grant
//!   ([`ShardQueue::apply_grant`]), FIFO and random admission, the active
//!   sessions they open.
//! - `positions.rs`: exact positions in the one admission order
//!   ([`crate::order`]), the waiting page's [`Status`].
//! - `ranks.rs`: the entries' ranks in that order: seals from the
//!   coordinator, the changes reported back, the view of the other shards.
//! - `schedule.rs`: the operator's schedule in a shard: the door for new
//!   arrivals, the pre-queue countdown and its lottery.
//! - `summary.rs`: what the shard reports to the coordinator each tick.
//! - `facts.rs`: what it counts for the launch report.
//! - `rows.rs`: the persisted rows and meta record, and
//!   [`ShardQueue::restore`] from them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

pub use crate::config::ShardConfig;
use crate::eta::EtaInfo;
use crate::fenwick::Fenwick;
use crate::operator::ShardFacts;
use crate::order::OthersView;

mod admission;
mod facts;
mod heartbeat;
mod order;
mod positions;
mod ranks;
mod rows;
mod schedule;
mod summary;

pub use admission::GrantOutcome;
pub use order::JoinOutcome;
pub use positions::{Status, WaitingStatus};
pub use rows::{EntryRow, EntryState, RestoreError, RowChanges, ShardMeta};

/// Smallest Fenwick tree allocated (slots).
const MIN_TREE_SLOTS: usize = 1024;
/// Marker of a vacant slot in `Slot::last_seen_ms`.
const VACANT: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u64,
    arrived_ms: u64,
    /// Recorded last heartbeat, or [`VACANT`].
    last_seen_ms: u64,
    /// Rank in the admission order; 0 until the coordinator gives one.
    rank: u64,
    /// The latest hold shown ([`crate::hold`]), in epoch seconds (rounded
    /// up; `u32` keeps a slot at 40 bytes); 0: none.
    hold_until_s: u32,
    /// Silent past the grace but within the hold: keeps the place, is not
    /// admitted (set by [`ShardQueue::expire`], cleared by a heartbeat).
    away: bool,
}

// Memory per waiting entry is a benchmarked promise (BENCHMARKS.md).
const _: () = assert!(std::mem::size_of::<Slot>() == 40);

impl Slot {
    fn is_live(&self) -> bool {
        self.last_seen_ms != VACANT
    }

    /// The hold in epoch milliseconds (0: none).
    fn hold_ms(&self) -> u64 {
        u64::from(self.hold_until_s) * 1_000
    }

    fn set_hold_ms(&mut self, ms: u64) {
        self.hold_until_s = u32::try_from(ms.div_ceil(1_000)).unwrap_or(u32::MAX);
    }
}

/// What the last grant told this shard about the other shards.
#[derive(Debug, Clone, Default)]
struct GlobalView {
    /// The other shards' ranked entries.
    order: OthersView,
    /// Waiting entries in other shards, ranked or not.
    others_waiting: u64,
    eta: EtaInfo,
}

/// What the shard owes the coordinator in its next summary.
#[derive(Debug, Clone, Default)]
struct Report {
    /// Tick of the last summary given; `None`: report in full next.
    last_summary_tick: Option<u64>,
    /// Changes of ranked counts since then.
    changes: BTreeMap<u64, i64>,
    /// Sequence numbers of unranked entries gone since then (a seal of
    /// entries counted in that summary must not count them).
    gone_unranked: Vec<u64>,
}

/// The launch report's facts the shard owes the coordinator
/// ([`ShardFacts`]): those of the last summary are kept until the
/// coordinator shows it received it, and sent again otherwise.
#[derive(Debug, Clone, Default)]
struct FactsOwed {
    /// Tick of the last summary that carried facts.
    sent_tick: Option<u64>,
    /// What that summary carried.
    sent: ShardFacts,
    /// Since then.
    fresh: ShardFacts,
}

/// One shard of the waiting queue. See the module docs.
#[derive(Debug, Clone)]
pub struct ShardQueue {
    meta: ShardMeta,
    /// The meta as last written (or restored): [`ShardQueue::meta_unsaved`].
    saved_meta: ShardMeta,
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
    /// Live ranked entries per rank.
    own: BTreeMap<u64, u64>,
    report: Report,
    /// Entries away within their hold.
    away: u64,
    facts: FactsOwed,
    /// Per rank held here: when its first entry's first exact ETA said it
    /// would be admitted (epoch ms), for the report's ETA error. Memory
    /// only (one per join interval still waiting); lost with a restart,
    /// when the report counts those admissions without an ETA error.
    promised: BTreeMap<u64, u64>,
}

impl ShardQueue {
    /// An empty shard.
    pub fn new(config: ShardConfig) -> Self {
        Self::from_meta(ShardMeta::new(config))
    }

    fn from_meta(meta: ShardMeta) -> Self {
        Self {
            saved_meta: meta.clone(),
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
            global: GlobalView::default(),
            own: BTreeMap::new(),
            report: Report::default(),
            away: 0,
            facts: FactsOwed::default(),
            promised: BTreeMap::new(),
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

    /// Waiting entries away within their hold.
    pub fn away_len(&self) -> u64 {
        self.away
    }

    /// When an entry loses its place: past the grace after its last
    /// heartbeat, or past the grace after its hold, whichever is later.
    fn drop_at(&self, slot: &Slot) -> u64 {
        let grace = self.meta.config.expiry_grace_ms();
        let seen = slot.last_seen_ms.saturating_add(grace);
        if slot.hold_until_s == 0 {
            seen
        } else {
            seen.max(slot.hold_ms().saturating_add(grace))
        }
    }

    /// Arrival time of the oldest waiting entry.
    pub fn oldest_arrival_ms(&self) -> Option<u64> {
        self.slots.front().map(|s| s.arrived_ms)
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
}
