//! `GET /fairness` and `GET /fairness/entries` (public, no ticket): every
//! pre-queue lottery's SHA-256 commitment from the moment the operator sets
//! the pre-queue, its seed and entry count once drawn, and the entries it
//! shuffled (pseudonymous: the first 13 hex digits of each ticket id and
//! its shard) in the line format `verify-lottery` reads
//! (`waitroom_core::operator::fairness`).

use waitroom_core::operator::fairness::entries_text;
use waitroom_core::protocol::{Fairness, FairnessEntries};
use worker::*;

use crate::http;
use crate::protocol;
use crate::ratelimit::{self, Client};

pub async fn serve(req: &Request, env: &Env, path: &str, client: &Client) -> Result<Response> {
    if !ratelimit::allow_public(env, client).await {
        return ratelimit::too_many(req);
    }
    if path == "/fairness" {
        let reply = protocol::coordinator_call(env, Fairness).await?;
        return http::json(200, &reply);
    }
    let url = req.url()?;
    let asked = url
        .query_pairs()
        .find(|(k, _)| k == "event_start_ms")
        .map(|(_, v)| v.into_owned());
    let Some(event_start_ms) = asked.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
        return http::error(
            400,
            "bad_event",
            "event_start_ms must be the event's start in epoch milliseconds (see GET /fairness).",
        );
    };
    let reply = protocol::coordinator_call(env, FairnessEntries { event_start_ms }).await?;
    match reply.entries {
        Some(entries) => {
            let resp = http::secure(Response::ok(entries_text(&entries))?);
            resp.headers()
                .set("Content-Type", "text/plain; charset=utf-8")?;
            Ok(resp)
        }
        None => http::error(
            404,
            "not_drawn",
            "No lottery for that event has been drawn yet.",
        ),
    }
}
