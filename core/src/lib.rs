//! # waitroom-core
//!
//! The rules of the waiting room, with no I/O and no clock: every function
//! that depends on time takes `now_ms` (milliseconds since the Unix epoch).
//! The same code runs inside the Cloudflare Worker (wasm32) and the native
//! origin, so what is tested here natively is what runs at the edge.
//!
//! ## Layout
//! - [`ticket`]: signed waiting and admission tickets, the key ring.
//! - [`admin_token`]: the operator's bearer token, compared in constant time.
//! - [`client_binding`]: the browser secret a ticket is bound to (a copied
//!   ticket alone is no ticket).
//! - [`client_key`]: which key a client address counts under in the
//!   per-address limits (IPv6 by its /64).
//! - [`edge_auth`]: the HMAC header that proves a request came through the edge.
//! - [`request_site`]: which requests may change state or create a place
//!   (same-origin, top-level navigation), from the browser's fetch metadata.
//! - [`origin_url`]: `https://` to the origin (plain http only to loopback).
//! - [`body_limit`]: when the edge refuses a request body (declared length, bytes so far).
//! - [`config`]: the operator's admission settings (`AdmissionConfig`) and
//!   the timing rules shards derive from them (`ShardConfig`).
//! - [`wire`]: what a shard and the coordinator exchange each tick
//!   (`ShardSummary` up, `Grant` down).
//! - [`order`]: the one admission order across all shards (ranks given at
//!   ticks), the Coordinator's book of it and each shard's view of the
//!   others: why positions are exact and never rise.
//! - [`queue`]: one QueueShard's state machine, one file per concept:
//!   `order` (join, leave, the O(log n) structure), `heartbeat` (coarseness,
//!   abandonment), `admission` (grants, sessions), `positions`, `ranks`
//!   (seals, reports, the view), `schedule` (door, pre-queue lottery),
//!   `summary`, `rows` (what the edge persists, restore).
//! - [`coordinator`]: the admission controller: `pacing` (the budget),
//!   `stats` (`/admin/stats`, history), `stored` (reading back stored
//!   values); which shards admit comes from [`order::OrderBook`].
//! - [`capacity`]: closed-loop pacing: the origin's signed capacity report
//!   and the controller that turns it into the admission rate.
//! - [`eta`]: smoothed admission rate, wait estimates, polling cadence.
//! - [`fenwick`]: the order-statistic tree behind exact positions.
//! - [`hold`]: until when a citizen far from the front may be away.
//! - [`operator`]: queue modes, scheduled opening and its lottery, queue full,
//!   bypass paths, revocations, the operator configuration and its patching.
//! - [`page`]: renders the citizen pages of `public/` (templates, strings, language).
//! - [`passport_request`]: the passport request body, validated field by field.
//! - [`date`]: RFC 3339 instants and calendar dates (the `time` crate).
//! - [`cookie`]: reading one cookie from a `Cookie` header (edge and origin).
//! - [`registry_verdict`]: what the vaccination registry's answer means for a passport job.
//! - [`secret`]: decoding secrets from configuration (base64url, >= 32 bytes).
//! - [`protocol`]: the typed messages between the edge's Worker and its Durable Objects.
//! - [`placement`]: a visitor's standing (join / heartbeat state machine) and the queue JSON.
//! - [`entry`]: a ticket id's queue entry id and shard.
//! - [`timing`]: when the Durable Objects tick, wake and write (alarm, wake-up, write-behind).
//!
//! Dependencies point one way: `config` and `eta` at the bottom, `operator`
//! on `config`, `order` and `wire` on those, `queue` and `coordinator` on
//! `wire` and `order` but never on each other.

pub mod admin_token;
pub mod body_limit;
pub mod capacity;
pub mod client_binding;
pub mod client_key;
pub mod config;
pub mod cookie;
pub mod coordinator;
pub mod date;
pub mod edge_auth;
pub mod entry;
pub mod eta;
pub mod fenwick;
pub mod hold;
pub mod operator;
pub mod order;
pub mod origin_url;
pub mod page;
pub mod passport_request;
pub mod placement;
pub mod protocol;
pub mod queue;
pub mod registry_verdict;
pub mod request_site;
pub mod secret;
pub mod ticket;
pub mod timing;
pub mod wire;

pub use secret::{decode_secret, SecretError};
