//! What a shard and the coordinator exchange every tick: the shard's
//! [`ShardSummary`] goes up, the coordinator's [`Grant`] comes back.
//!
//! Shared by [`crate::queue`] (which builds summaries and applies grants)
//! and [`crate::coordinator`] (which reads summaries and plans grants), so
//! neither depends on the other.

use serde::{Deserialize, Serialize};

use crate::config::ShardConfig;
use crate::eta::EtaInfo;
use crate::operator::{Lottery, OperatorConfig};

/// Default number of head arrival times a summary carries until the
/// coordinator asks for another length in its grant.
pub const DEFAULT_HEAD_SAMPLE_LEN: u32 = 256;
/// Upper bound on the head sample a grant may ask for.
pub const MAX_HEAD_SAMPLE_LEN: u32 = 4096;
/// Most buckets in a shard's arrival histogram.
pub const HISTOGRAM_BUCKETS: usize = 64;

/// Counts of waiting entries per arrival-time bucket. Buckets are
/// `width_ms` wide (1 s times a power of two) and aligned to absolute time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalHistogram {
    /// Start of the first bucket.
    pub start_ms: u64,
    /// Width of every bucket.
    pub width_ms: u64,
    /// Waiting entries per bucket.
    pub counts: Vec<u64>,
}

impl ArrivalHistogram {
    /// End of the last bucket.
    pub fn end_ms(&self) -> u64 {
        self.start_ms + self.width_ms * self.counts.len() as u64
    }

    /// Estimated entries that arrived before `t` (uniform within a bucket).
    pub fn count_before(&self, t: u64) -> f64 {
        if self.counts.is_empty() || t <= self.start_ms {
            return 0.0;
        }
        let b = ((t - self.start_ms) / self.width_ms) as usize;
        let full: u64 = self.counts.iter().take(b).sum();
        match self.counts.get(b) {
            None => full as f64,
            Some(&c) => {
                let into = (t - self.start_ms - b as u64 * self.width_ms) as f64;
                full as f64 + c as f64 * into / self.width_ms as f64
            }
        }
    }
}

/// What one shard reports to the coordinator each tick
/// ([`crate::queue::ShardQueue::summary`]). Bounded size: the head sample
/// is at most [`MAX_HEAD_SAMPLE_LEN`] numbers, the histogram at most
/// [`HISTOGRAM_BUCKETS`].
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
    /// Arrival times of the oldest waiting entries, oldest first, each as
    /// the difference to the previous one (the first to
    /// `oldest_arrival_ms`): small numbers keep the JSON short.
    pub head_deltas_ms: Vec<u64>,
    /// Waiting entries per arrival bucket.
    pub histogram: ArrivalHistogram,
}

impl ShardSummary {
    /// Delta-encodes sorted arrival times for `head_deltas_ms`.
    pub fn encode_head(arrivals: &[u64]) -> Vec<u64> {
        let mut prev = arrivals.first().copied().unwrap_or(0);
        arrivals
            .iter()
            .map(|&a| {
                let d = a.saturating_sub(prev);
                prev = a;
                d
            })
            .collect()
    }

    /// Decodes `head_deltas_ms` back into arrival times.
    pub fn head_arrivals(&self) -> Vec<u64> {
        let mut t = self.oldest_arrival_ms.unwrap_or(0);
        self.head_deltas_ms
            .iter()
            .map(|&d| {
                t += d;
                t
            })
            .collect()
    }
}

/// One tick's instructions for one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Tick id (the shard applies each id at most once, in increasing order).
    pub tick_id: u64,
    /// Shard index.
    pub shard: u32,
    /// How many of its oldest live entries the shard admits.
    pub admit: u32,
    /// Timing rules to apply.
    pub config: ShardConfig,
    /// `(arrival_ms, n)`: n waiting entries in other shards arrived before
    /// `arrival_ms` (after this tick). Sorted by time.
    pub others_before: Vec<(u64, u64)>,
    /// Waiting entries in other shards (after this tick).
    pub others_waiting: u64,
    /// Rate to turn positions into ETAs.
    pub eta: EtaInfo,
    /// Head sample length to report in the next summary.
    pub head_sample_len: u32,
    /// Operator settings the shard applies to new arrivals (door, schedule).
    #[serde(default)]
    pub operator: OperatorConfig,
    /// The pre-queue lottery, once `event_start` has passed (applied once
    /// per event; see [`crate::operator`]).
    #[serde(default)]
    pub lottery: Option<Lottery>,
    /// Random mode: admit `admit` entries uniformly, from this seed.
    #[serde(default)]
    pub random_seed: Option<u64>,
}
