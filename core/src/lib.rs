//! # waitroom-core
//!
//! The rules of the waiting room, with no I/O and no clock: every function
//! that depends on time takes `now_ms` (milliseconds since the Unix epoch).
//! The same code runs inside the Cloudflare Worker (wasm32) and the native
//! origin, so what is tested here natively is what runs at the edge.
//!
//! ## Layout
//! - [`ticket`]: signed waiting and admission tickets, the key ring.
//! - [`edge_auth`]: the HMAC header that proves a request came through the edge.
//! - [`queue`]: one QueueShard's state machine: arrival order, heartbeats,
//!   abandonment, admission, exact positions; what the edge persists.
//! - [`coordinator`]: the admission controller (pacing, active cap, FIFO
//!   across shards, global positions, `/admin/stats`).
//! - [`eta`]: smoothed admission rate, wait estimates, polling cadence.
//! - [`fenwick`]: the order-statistic tree behind exact positions.
//! - [`operator`]: queue modes, scheduled opening and its lottery, queue full,
//!   bypass paths, revocations.
//! - [`page`]: renders the citizen pages of `public/` (templates, strings, language).
//! - [`passport_request`]: the passport request body, validated field by field.
//! - [`registry_verdict`]: what the vaccination registry's answer means for a passport job.
//! - [`secret`]: decoding secrets from configuration (base64url, >= 32 bytes).

pub mod coordinator;
pub mod edge_auth;
pub mod eta;
pub mod fenwick;
pub mod operator;
pub mod page;
pub mod passport_request;
pub mod queue;
pub mod registry_verdict;
pub mod secret;
pub mod ticket;

pub use secret::{decode_secret, SecretError};
