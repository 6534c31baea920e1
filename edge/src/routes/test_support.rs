//! Test-only routes, compiled only with the `test-routes` feature (the
//! end-to-end harness and the benchmarks build it; a deploy never does).

use waitroom_core::protocol::coordinator::{Costs, Replay};
use waitroom_core::protocol::shard::{Corrupt, Fill, Ping, Stall};
use waitroom_core::ticket;
use worker::*;

use super::visitor::{self, Visitor};
use crate::config::EdgeConfig;
use crate::http;
use crate::protocol;

pub const PREFIX: &str = "/__test/";

pub async fn handle(req: Request, env: &Env) -> Result<Response> {
    match (req.method(), req.path().as_str()) {
        (_, "/__test/ticket-vectors") => ticket_vectors(req).await,
        // The benchmark's second baseline: one Durable Object round trip
        // that does no queue work (what any heartbeat costs at least).
        (_, "/__test/shard-ping") => http::json(200, &protocol::shard_call(env, 0, Ping).await?),
        // An alarm delivered twice: the Coordinator resends its last grants.
        (_, "/__test/replay-tick") => {
            http::json(200, &protocol::coordinator_call(env, Replay).await?)
        }
        // The order benchmark: synthetic entries straight into one shard.
        (Method::Post, "/__test/fill") => {
            let (shard, n, first_id) = (
                query(&req, "shard")?,
                query(&req, "n")?,
                query(&req, "first")?,
            );
            let reply = protocol::shard_call(env, shard as u32, Fill { first_id, n }).await?;
            http::json(200, &reply)
        }
        // A shard that stops answering the Coordinator for `ms`.
        (Method::Post, "/__test/stall") => {
            let (shard, ms) = (query(&req, "shard")?, query(&req, "ms")?);
            http::json(
                200,
                &protocol::shard_call(env, shard as u32, Stall { ms }).await?,
            )
        }
        // A shard whose stored meta is unreadable (`on=1`), or repaired (`on=0`).
        (Method::Post, "/__test/corrupt") => {
            let (shard, on) = (query(&req, "shard")?, query(&req, "on")?);
            let reply = protocol::shard_call(env, shard as u32, Corrupt { on: on != 0 }).await?;
            http::json(200, &reply)
        }
        // What the last ticks cost, measured by the Coordinator.
        (_, "/__test/tick-costs") => {
            http::json(200, &protocol::coordinator_call(env, Costs).await?)
        }
        // What the origin's `x-waitroom-revoke` does, on demand.
        (Method::Post, "/__test/revoke") => {
            let cfg = EdgeConfig::get(env)?;
            match visitor::identify(&req, &cfg, crate::clock::now_ms()) {
                Visitor::Admitted(claims, _) => {
                    crate::operator::revoke(env, &claims).await?;
                    crate::operator::revoked_response()
                }
                _ => http::error(409, "not_admitted", "Only an admission can be revoked."),
            }
        }
        _ => http::error(404, "not_found", "No such test route."),
    }
}

/// A numeric query parameter (test routes only: a missing one is an error).
fn query(req: &Request, name: &str) -> Result<u64> {
    req.url()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| Error::RustError(format!("query parameter {name} missing or not a number")))
}

/// Checks a golden ticket-vectors file with the very code that runs here,
/// inside workerd, so wasm and native provably agree.
async fn ticket_vectors(mut req: Request) -> Result<Response> {
    let body = req.text().await?;
    match ticket::vectors::check(&body) {
        Ok(passed) => http::json(200, &serde_json::json!({ "passed": passed })),
        Err(failures) => http::json(200, &serde_json::json!({ "failures": failures })),
    }
}
