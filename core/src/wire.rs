//! What a shard and the coordinator exchange every tick: the shard's
//! [`ShardSummary`] goes up, the coordinator's [`Grant`] comes back.
//! A grant may carry the next tick's question ([`Grant::next`]), which the
//! shard answers in the same reply: then a tick is one call per shard.
//!
//! Shared by [`crate::queue`] (which builds summaries and applies grants)
//! and [`crate::coordinator`] (which reads summaries and plans grants), so
//! neither depends on the other.

use serde::{Deserialize, Serialize};

use crate::config::ShardConfig;
use crate::eta::EtaInfo;
use crate::operator::{Lottery, Message, OperatorConfig, ShardFacts};
use crate::order::{RankReport, Seal, ViewUpdate};

/// The Coordinator's per-tick question: this shard's [`ShardSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub shard: u32,
    /// The tick asking.
    #[serde(default)]
    pub tick_id: u64,
    /// Tick of this shard's last summary the Coordinator took in: the shard
    /// reports changes since then if that was its last one, else in full.
    #[serde(default)]
    pub received_through: Option<u64>,
    /// Ranks the shard has not shown it applied (sent again until it has).
    #[serde(default)]
    pub seals: Vec<Seal>,
}

/// What one shard reports to the coordinator each tick
/// ([`crate::queue::ShardQueue::summary`]). O(changes since its last
/// summary), or O(ranks it holds) when it reports in full.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSummary {
    /// Shard index.
    pub shard: u32,
    /// Last grant the shard applied.
    pub last_applied_tick: Option<u64>,
    /// Live waiting entries.
    pub waiting: u64,
    /// Arrival time of the oldest waiting entry.
    pub oldest_arrival_ms: Option<u64>,
    /// Active sessions.
    pub active_sessions: u64,
    /// Entries dropped for silence, ever.
    pub abandoned_total: u64,
    /// Entries admitted, ever.
    pub admitted_total: u64,
    /// Live entries without a rank yet (joined since the last seal): this
    /// tick's rank is theirs.
    pub unranked: u64,
    /// The highest sequence number among them.
    pub unranked_through_seq: Option<u64>,
    /// The highest sequence number covered by a seal applied.
    pub sealed_through_seq: Option<u64>,
    /// The ranked entries: changes since the summary the coordinator last
    /// received, or all of them.
    pub ranked: RankReport,
    /// Live ranked entries (the coordinator checks its book against it).
    pub ranked_waiting: u64,
    /// Tick of the view of the other shards this shard holds.
    pub view_tick: Option<u64>,
    /// Entries away within their hold ([`crate::hold`]).
    #[serde(default)]
    pub away: u64,
    /// Entries dropped after their hold ran out, ever.
    #[serde(default)]
    pub missed_total: u64,
    /// `(rank, n)`: the away among the shard's first
    /// [`AWAY_SCAN`] entries; a grant passes over them, so the
    /// coordinator gives their turn to those present.
    #[serde(default)]
    pub away_ahead: Vec<(u64, u64)>,
    /// For the launch report: what happened here since the last summary
    /// the coordinator received ([`ShardFacts`]).
    #[serde(default)]
    pub facts: ShardFacts,
    /// [`ShardSettings::digest`] of the settings this shard holds (`None`
    /// from a shard that does not say: it is sent them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_digest: Option<u64>,
}

/// What a shard applies from the coordinator, as in force at a tick: the
/// timing rules, the operator's settings for new arrivals (door, schedule)
/// and the live message (the event's, else the room's), which the shard
/// hands out with every standing. They rarely change, and were about 260
/// of a grant's 600 bytes of JSON: a grant carries them only to a shard whose
/// summary shows a different digest. A shard keeps them in its meta, so a
/// restart keeps them too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardSettings {
    pub config: ShardConfig,
    #[serde(default)]
    pub operator: OperatorConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

impl ShardSettings {
    /// A fingerprint of the settings, compared between the two ends of one
    /// deployment. (Rust's default hasher may differ between compiler
    /// releases: across a version skew the digests differ, and the cost is
    /// sending the settings, never keeping stale ones. Equal digests of
    /// different settings are a 64-bit collision.)
    pub fn digest(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// How far down its line a shard looks for away entries each tick.
pub const AWAY_SCAN: usize = 4_096;

/// One tick's instructions for one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Tick id (the shard applies each id at most once, in increasing order).
    pub tick_id: u64,
    /// Shard index.
    pub shard: u32,
    /// How many of its first entries in the admission order the shard
    /// admits (none of a rank above `admit_through_rank`).
    pub admit: u32,
    /// The highest rank this grant admits from.
    #[serde(default)]
    pub admit_through_rank: u64,
    /// Ranks for entries that had none (applied before admitting).
    #[serde(default)]
    pub seals: Vec<Seal>,
    /// The other shards' entries by rank (none while the coordinator's
    /// book is incomplete).
    #[serde(default)]
    pub view: Option<ViewUpdate>,
    /// The settings to apply, sent only when the shard's summary showed it
    /// holds others ([`ShardSummary::settings_digest`]); `None`: keep them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ShardSettings>,
    /// Waiting entries in other shards (after this tick).
    pub others_waiting: u64,
    /// Rate to turn positions into ETAs.
    pub eta: EtaInfo,
    /// The pre-queue lottery, once `event_start` has passed (applied once
    /// per event; see [`crate::operator`]).
    #[serde(default)]
    pub lottery: Option<Lottery>,
    /// Random mode: admit `admit` entries uniformly, from this seed.
    #[serde(default)]
    pub random_seed: Option<u64>,
    /// The next tick's question, asked now: the shard answers it right
    /// after applying this grant (duplicate or not), in the grant's reply,
    /// and the coordinator's next tick uses that answer instead of asking
    /// again. Set by the sender, never part of a stored plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Summary>,
}
