//! Operator features: queue modes, scheduled opening with a fair (and
//! provably fair) lottery, scheduled events, the live message, "queue
//! full", bypass paths and rules, revocations and the launch report. Pure
//! rules; the edge only stores them and asks.
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
//! 64-bit mix of the lottery's seed and the entry id; the seed is committed
//! to before anyone joins: [`fairness`]), and its arrival
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
//! - [`config`]: [`OperatorConfig`] (mode, schedule, max wait, pacing), its JSON
//!   form and its validation; [`OperatorExtras`] beside it (message, events,
//!   bypass rules: the settings that are text or lists).
//! - [`patch`]: `PUT /admin/config`: a JSON patch merged into the current
//!   configuration, refused field by field.
//! - [`message`]: the live message to everyone waiting.
//! - [`events`]: scheduled events overriding the room's settings while they
//!   run, and the settings in force at an instant ([`effective`]).
//! - [`door`]: the schedule's [`Phase`] and what a new arrival gets ([`Door`]).
//! - [`lottery`]: the pre-queue shuffle.
//! - [`fairness`]: the lottery seed's commitment, its reveal, and the order
//!   anyone can recompute from it.
//! - [`random`]: seeded randomness (lottery keys, random mode, budget split).
//! - [`bypass`]: paths that are never queued, and the operator's rules by
//!   address range, header and country.
//! - [`revocation`]: revoked admissions.
//! - [`report`]: the launch report, per event and minute (bounded records,
//!   quantile histograms, JSON and CSV).

pub mod bypass;
pub mod config;
pub mod door;
pub mod events;
pub mod fairness;
pub mod lottery;
pub mod message;
pub mod patch;
pub mod random;
pub mod report;
pub mod revocation;

pub use bypass::{
    classify_bypass, parse_prefixes, path_has_prefix, Bypass, BypassKind, BypassMatch, BypassRules,
    HeaderRule, RequestFacts, DEFAULT_BYPASS_FORWARD, DEFAULT_BYPASS_PATHS,
};
pub use config::{
    OperatorConfig, OperatorExtras, Pacing, QueueMode, MAX_PACING_FLOOR_PER_MINUTE,
    MAX_WAIT_MINUTES_LIMIT,
};
// Where they lived before `date` served the whole crate.
pub use crate::date::{format_rfc3339, parse_rfc3339};
pub use door::{Door, Phase, Refusal};
pub use events::{
    effective, event_at, next_change_ms, validate_events, Effective, Event, MAX_EVENTS,
};
pub use fairness::{
    admission_order, draws_needed, verify, Commitment, FairnessDraw, FairnessSeed, LotteryEntry,
    PublicFairness,
};
pub use lottery::{Lottery, DEFAULT_LOTTERY_WINDOW_MS};
pub use message::{Message, MAX_MESSAGE_CHARS};
pub use patch::{
    apply_patch, apply_settings_patch, config_json, settings_json, settings_log_json, Settings,
};
pub use random::{fisher_yates, split_random, splitmix64, tick_seed, SeededRng};
pub use report::{
    build_report, record_tick, report_csv, Histogram, MinuteRecord, Report, ReportRow, ShardFacts,
    TickFacts, REPORT_RETENTION_MS,
};
pub use revocation::RevocationList;
