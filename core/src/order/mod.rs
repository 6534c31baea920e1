//! The one admission order across every shard, and what the shards and the
//! Coordinator exchange to show every citizen their exact place in it.
//!
//! # The order
//! Every waiting entry, in any shard, has an [`OrderKey`]
//! `(rank, shard, seq)`, compared in that order:
//! - `rank` is given by the Coordinator: the entries a shard reports as new
//!   in the summary of tick `t` all get [`tick_rank`]`(t)` (their *batch*:
//!   the arrivals of about one second, everywhere). The pre-queue lottery
//!   spreads the pre-queued over [`lottery_rank`]s instead.
//! - within a rank, shards in index order; within a shard, arrival order.
//!
//! FIFO admission follows this order exactly (outside `random` mode and
//! while a shard does not answer: see [`OrderBook::cuts`]).
//!
//! # Exact, never rising positions
//! `position = 1 + mine + others`: `mine` the live entries of my shard
//! ahead of me (exact, O(log n)), `others` the other shards' entries ahead
//! of me as of the last tick (the [`OthersView`] the grants keep up to
//! date).
//! - An entry has no position until its rank is known ("counting the people
//!   ahead of you", at most about one tick after joining).
//! - Nobody is ever ranked ahead of an entry that has a rank: a rank is
//!   given once, at a tick, to entries that joined before it, and every
//!   later tick's rank is larger. So the count ahead only ever loses people
//!   (admitted, left, dropped); the other shards' part lags by at most one
//!   tick, which only makes the number too high.
//! - Ranks are the Coordinator's decision, never a shard's: a shard whose
//!   summary is lost keeps its new entries unranked and reports them again,
//!   and a seal whose grant is lost is sent again ([`Seal`]). A restarted
//!   Coordinator asks every shard for a full report; entries whose seal it
//!   forgot get a later rank, which again only moves people backwards.
//!
//! # Messages per tick
//! Shards report what changed since the summary the Coordinator last
//! received ([`RankReport::Delta`]), or everything when that is not the one
//! it has ([`RankReport::Full`]). Grants carry the tick's changes of the
//! other shards summed per rank ([`ViewUpdate::Delta`]), or a full view to a
//! shard that missed a grant or restarted (one triple per rank). A summary
//! is O(its changes); a grant O(ranks changed anywhere); neither grows with
//! the number waiting.
//!
//! # Files
//! - `view.rs`: [`OthersView`], a shard's picture of the other shards.
//! - `book.rs`: [`OrderBook`], the Coordinator's counts per (rank, shard).

use serde::{Deserialize, Serialize};

mod book;
mod view;

pub use book::{Cut, OrderBook};
pub use view::OthersView;

/// Bits of a rank below the tick id: room for the lottery's sub-ranks.
pub const RANK_SHIFT: u32 = 16;

/// The rank of the entries sealed at tick `tick_id` (tick ids start at 1,
/// so 0 is never a rank: rows store 0 for "no rank yet").
pub const fn tick_rank(tick_id: u64) -> u64 {
    tick_id << RANK_SHIFT
}

/// The rank of a pre-queued entry after the lottery applied at
/// `lottery_tick`: its lottery key scaled into the ranks just below
/// [`tick_rank`]`(lottery_tick)`, above every earlier tick's rank. 2^15
/// sub-ranks: entries sharing one are ordered by shard then by key, which
/// biases no one by more than the few entries of a sub-rank.
pub fn lottery_rank(lottery_tick: u64, key: u64) -> u64 {
    tick_rank(lottery_tick.max(1) - 1) + 1 + (key >> (64 - (RANK_SHIFT - 1)))
}

/// An entry's place in the one admission order (smaller = earlier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    pub rank: u64,
    pub shard: u32,
    pub seq: u64,
}

/// Coordinator → shard: the shard's entries with `seq <= through_seq` that
/// have no rank yet get `rank`. Idempotent; sent again until the shard's
/// summary shows it applied (`sealed_through_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub rank: u64,
    pub through_seq: u64,
}

/// Shard → Coordinator: the shard's ranked waiting entries, counted by rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "cells", rename_all = "snake_case")]
pub enum RankReport {
    /// `(rank, change)` since the summary the Coordinator said it received.
    Delta(Vec<(u64, i64)>),
    /// `(rank, count)` of every rank with live entries.
    Full(Vec<(u64, u64)>),
}

impl Default for RankReport {
    fn default() -> Self {
        RankReport::Delta(Vec::new())
    }
}

/// Coordinator → shard: the other shards' waiting entries by rank, summed
/// over shards: `(rank, all other shards, those of them with a smaller
/// index)`, which is all a shard needs for "ahead of me" at that rank. One
/// triple per rank, however many shards: O(ranks changed) per grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ViewUpdate {
    /// Changes since the view of tick `from_tick`.
    Delta {
        from_tick: u64,
        ranks: Vec<(u64, i64, i64)>,
    },
    /// Every rank with entries in another shard.
    Full { ranks: Vec<(u64, u64, u64)> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lottery_ranks_sit_between_the_previous_tick_and_the_lottery_tick() {
        for key in [0, 1, u64::MAX / 2, u64::MAX] {
            let r = lottery_rank(10, key);
            assert!(r > tick_rank(9) && r < tick_rank(10), "{key}: {r}");
        }
        assert!(lottery_rank(10, 1 << 63) > lottery_rank(10, 1 << 62));
        assert!(lottery_rank(1, 0) > 0);
    }

    #[test]
    fn keys_order_by_rank_then_shard_then_seq() {
        let k = |rank, shard, seq| OrderKey { rank, shard, seq };
        assert!(k(1, 9, 9) < k(2, 0, 0));
        assert!(k(2, 0, 9) < k(2, 1, 0));
        assert!(k(2, 1, 0) < k(2, 1, 1));
    }

    #[test]
    fn reports_and_views_have_a_stable_json_shape() {
        let r = serde_json::to_string(&RankReport::Delta(vec![(65536, -2)])).unwrap();
        assert_eq!(r, r#"{"kind":"delta","cells":[[65536,-2]]}"#);
        let v = serde_json::to_string(&ViewUpdate::Full {
            ranks: vec![(65536, 7, 3)],
        })
        .unwrap();
        assert_eq!(v, r#"{"kind":"full","ranks":[[65536,7,3]]}"#);
    }
}
