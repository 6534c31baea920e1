//! The pre-queue lottery (see the [`super`] docs for why keys and
//! effective arrivals give a uniform order across shards).

use serde::{Deserialize, Serialize};

use super::{splitmix64, OperatorConfig};

/// Pre-queue window assumed when `prequeue_start` is not set.
pub const DEFAULT_LOTTERY_WINDOW_MS: u64 = 60 * 60 * 1000;

impl OperatorConfig {
    /// The lottery shards must apply once `event_start` has passed.
    pub fn lottery(&self, seed: u64) -> Option<Lottery> {
        let event_start_ms = self.event_start?;
        let window_ms = match self.prequeue_start {
            Some(p) => (event_start_ms - p.min(event_start_ms)).max(60_000),
            None => DEFAULT_LOTTERY_WINDOW_MS,
        };
        Some(Lottery {
            seed,
            event_start_ms,
            window_ms: window_ms.min(event_start_ms),
        })
    }
}

/// The pre-queue shuffle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lottery {
    /// Drawn once by the Coordinator per event.
    pub seed: u64,
    /// Entries that arrived before this are shuffled.
    pub event_start_ms: u64,
    /// Effective arrivals spread over `[event_start - window, event_start)`.
    pub window_ms: u64,
}

impl Lottery {
    /// The entry's lottery key: uniform over u64 for a random seed.
    pub fn key(&self, id: u64) -> u64 {
        splitmix64(self.seed ^ splitmix64(id.wrapping_add(0x9E37_79B9_7F4A_7C15)))
    }

    /// The entry's arrival time after the shuffle: its key scaled into the
    /// window (order-preserving).
    pub fn effective_arrival_ms(&self, id: u64) -> u64 {
        let offset = (u128::from(self.key(id)) * u128::from(self.window_ms)) >> 64;
        self.event_start_ms - self.window_ms + offset as u64
    }
}
