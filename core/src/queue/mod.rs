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
//! - `positions.rs`: exact in-shard and estimated global positions, the
//!   waiting page's [`Status`].
//! - `schedule.rs`: the operator's schedule in a shard: the door for new
//!   arrivals, the pre-queue countdown and its lottery.
//! - `summary.rs`: what the shard reports to the coordinator each tick.
//! - `rows.rs`: the persisted rows and meta record, and
//!   [`ShardQueue::restore`] from them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

pub use crate::config::ShardConfig;
use crate::eta::EtaInfo;
use crate::fenwick::Fenwick;
pub use crate::wire::{DEFAULT_HEAD_SAMPLE_LEN, MAX_HEAD_SAMPLE_LEN};

mod admission;
mod heartbeat;
mod order;
mod positions;
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
