//! # origin-worker
//!
//! The protected application behind the waiting room. It trusts nobody: every
//! `/api` request must prove it came through the edge *and* carry a valid
//! admission ticket, both checked here with `waitroom-core`.
//!
//! # Layout
//!
//! A request's path through the crate, top to bottom:
//!
//! - [`config`]: [`config::Config`], read once from the environment at
//!   start-up and passed down. Secrets are required; everything else has a
//!   dev default.
//! - [`server`]: wires it together: Redis connection, worker pool, HTTP
//!   listener, graceful shutdown (`server::run(config, listener, shutdown)`).
//! - [`conn`]: the HTTP/1.1 server loop: per-connection header and idle
//!   deadlines that spare pooled idle connections.
//! - [`app`]: `fn app(state) -> Router`, the HTTP routes and handlers. Tests
//!   can drive it with `tower::ServiceExt::oneshot`.
//! - [`auth`]: edge-to-origin authentication, then the admission ticket.
//! - [`validate`]: the passport request body → [`validate::PassportRequest`].
//! - [`error`]: the one [`error::AppError`] and its one `IntoResponse`.
//! - [`crypto`]: sealing the queued personal data and the finished PDF; the
//!   threat model ("what does a Redis dump reveal?") is documented there.
//! - [`store`]: everything in Redis: job stream + consumer group, job hashes,
//!   single-use admissions, results with a TTL.
//! - [`ratelimit`]: the registry token bucket shared by all processes (one
//!   Lua script).
//! - [`registry`]: the registry HTTP client: timeouts, jittered retries,
//!   circuit breaker, and the wire types (the stand-in registry, the
//!   `registry-sim` crate, has its own copy; a test checks they agree).
//! - [`capacity`]: what the origin can serve (`GET /capacity` for the edge's
//!   Coordinator): registry outcomes per second in Redis, the limit in force.
//! - [`worker`]: the job pool: claim, verify with the registry, render,
//!   encrypt, commit exactly once, reclaim jobs of dead workers.
//! - [`render`]: the boundary to the passport module (PDF + EU DCC).
//! - [`passport`]: the passport PDF and its signed EU Digital COVID
//!   Certificate (CWT/COSE/ES256, Base45, QR), the `verify` command.
//! - [`metrics`]: counters in Prometheus text format.
//! - [`cli`]: the `origin-worker` command line (binaries stay a few lines).

pub mod app;
pub mod auth;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod conn;
pub mod crypto;
pub mod error;
pub mod metrics;
pub mod passport;
pub mod ratelimit;
pub mod registry;
pub mod render;
pub mod server;
pub mod store;
pub mod validate;
pub mod worker;

/// Milliseconds since the Unix epoch. The only clock read of the crate's
/// request path: everything below takes `now_ms` as a parameter.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
