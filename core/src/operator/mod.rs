//! Operator features: queue modes, scheduled opening with a fair lottery,
//! "queue full", bypass paths and revocations. Pure rules; the edge only
//! stores them and asks.
//!
//! # Scheduled opening and the lottery
//! With `event_start` set, arrivals before it are *pre-queued* (from
//! `prequeue_start` on; before that the room is closed). Nobody is admitted
//! during the pre-queue. At `event_start` every pre-queued citizen, in every
//! shard, is put into one uniformly random order, then FIFO continues for
//! everyone arriving later.
//!
//! A global Fisher–Yates shuffle would need the per-citizen list in one
//! place, which the Coordinator never holds. The equivalent that splits over
//! shards: each pre-queued entry gets a lottery key `key(seed, id)` (a
//! 64-bit mix of the Coordinator's seed and the entry id), and its arrival
//! time is replaced by an *effective arrival* inside
//! `[event_start - window, event_start)` in key order
//! ([`Lottery::effective_arrival_ms`]). Sorting by independent uniform keys
//! is a uniform random permutation; since the Coordinator already admits
//! oldest-arrival-first across shards, the global order is the key order.
//! Everyone who arrives after `event_start` has a later arrival time, so
//! they stay behind the pre-queue, FIFO. The shuffle is deterministic for a
//! given seed (the keys are), and a shard applies it once per event
//! ([`crate::queue::ShardMeta::lottery_done`]); running it again would
//! reproduce the same order anyway. Two entries can only tie when their keys
//! map to the same millisecond (a window of an hour and 300,000 entries
//! leaves a few thousand adjacent pairs tied, each off by at most one place).
//!
//! # Modes
//! - `fifo`: oldest arrival first at the configured pace.
//! - `random`: each admission is a uniformly random waiting citizen: the
//!   Coordinator splits the budget over shards by sampling without
//!   replacement in proportion to their waiting counts
//!   ([`split_random`]), each shard then picks uniformly among its own.
//! - `passthrough`: everyone waiting is admitted on the next tick, without
//!   pacing or the active cap.
//! - `reject`: new arrivals get the closed page (`503` + `Retry-After` for
//!   JSON clients); those already in line keep their place and are admitted
//!   as in `fifo` (pause too to stop that).

//!
//! # Layout
//! - [`config`]: [`OperatorConfig`] (mode, schedule, max wait), its JSON
//!   form and its validation.
//! - [`patch`]: `PUT /admin/config`: a JSON patch merged into the current
//!   configuration, refused field by field.
//! - [`door`]: the schedule's [`Phase`] and what a new arrival gets ([`Door`]).
//! - [`lottery`]: the pre-queue shuffle.
//! - [`random`]: seeded randomness (lottery keys, random mode, budget split).
//! - [`bypass`]: paths that are never queued.
//! - [`revocation`]: revoked admissions.

pub mod bypass;
pub mod config;
pub mod door;
pub mod lottery;
pub mod patch;
pub mod random;
pub mod revocation;

pub use bypass::{
    classify_bypass, parse_prefixes, path_has_prefix, Bypass, DEFAULT_BYPASS_FORWARD,
    DEFAULT_BYPASS_PATHS,
};
pub use config::{OperatorConfig, QueueMode, MAX_WAIT_MINUTES_LIMIT};
// Where they lived before `date` served the whole crate.
pub use crate::date::{format_rfc3339, parse_rfc3339};
pub use door::{Door, Phase, Refusal};
pub use lottery::{Lottery, DEFAULT_LOTTERY_WINDOW_MS};
pub use patch::{apply_patch, config_json};
pub use random::{fisher_yates, split_random, splitmix64, tick_seed, SeededRng};
pub use revocation::RevocationList;
