//! Bot flood protection: how many *new places* one client address may take.
//!
//! Only the creation of a queue entry is counted (a join without a live
//! ticket, or a page load that makes one): heartbeats and pages of citizens
//! already waiting are never limited, so a whole office behind one address
//! keeps polling freely and nobody's position moves.
//!
//! The counting is the Workers Rate Limiting binding (`[[ratelimits]]` in
//! wrangler.toml, `JOIN_LIMITER`): per-location counters kept by the
//! platform, so the Worker and the `QueueShard`s hold no per-address state
//! and memory stays bounded however many addresses a flood uses (Miniflare
//! simulates it with a fixed window it clears every period). A refused join
//! costs no Durable Object call and creates no row.
//!
//! The address is `CF-Connecting-IP`, which Cloudflare sets and a client
//! cannot forge in production. Which key it counts under is
//! [`waitroom_core::client_key`]: IPv4 by address, IPv6 by its /64 (one
//! subscriber's whole allocation); a missing or unreadable address shares
//! one bucket: stricter, never looser.

use waitroom_core::client_key::client_key;
use worker::{Env, Headers, Request, Response, Result};

use crate::http;

/// The rate limiting binding's name in wrangler.toml.
pub const BINDING: &str = "JOIN_LIMITER";
/// The binding's period (wrangler.toml `simple.period`): after a refusal a
/// client is asked to come back when the window has certainly moved on.
pub const RETRY_AFTER_SECONDS: u32 = 10;
/// The rate limit's key of a request's client address.
pub struct Client(String);

impl Client {
    pub fn of(req: &Request) -> Client {
        Client::from_headers(req.headers())
    }

    fn from_headers(headers: &Headers) -> Client {
        let addr = headers.get("CF-Connecting-IP").ok().flatten();
        Client(client_key(addr.as_deref()))
    }
}

/// Whether `client` may take one more new place now. A missing or failing
/// binding lets the request through (logged): the waiting room must keep
/// working without it, and the queue itself stays correct either way.
pub async fn allow_new_place(env: &Env, client: &Client) -> bool {
    let limiter = match env.rate_limiter(BINDING) {
        Ok(l) => l,
        Err(e) => {
            worker::console_error!("rate limiter {BINDING} unavailable: {e}");
            return true;
        }
    };
    match limiter.limit(client.0.clone()).await {
        Ok(outcome) => outcome.success,
        Err(e) => {
            worker::console_error!("rate limiter {BINDING} failed: {e}");
            true
        }
    }
}

/// The refusal: `429` with `Retry-After`, as JSON for apps and our own
/// page's fetch, or as a short plain page for a browser.
pub fn too_many(req: &Request) -> Result<Response> {
    let resp = if http::wants_json(req.headers()) {
        http::error(
            429,
            "rate_limited",
            "Too many new places from your network. Please try again in a moment.",
        )?
    } else {
        http::html(
            429,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Please wait a moment</title></head><body>\
<h1>Please wait a moment</h1>\
<p>Too many people joined from your network just now. \
This page will work again in a few seconds.</p></body></html>"
                .to_string(),
        )?
    };
    resp.headers()
        .set("Retry-After", &RETRY_AFTER_SECONDS.to_string())?;
    Ok(resp)
}
