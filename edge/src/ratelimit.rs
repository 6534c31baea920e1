//! Bot flood protection, answered before any Durable Object is called:
//!
//! - how many *new places* one client address may take ([`BINDING`]): a
//!   join without a live ticket, or a page load that makes one;
//! - how many requests that reach a Durable Object one *ticket* may make
//!   ([`TICKET_BINDING`]) and one *address* ([`ADDRESS_BINDING`], generous
//!   for carrier NATs): a bot replaying one ticket gets `429`s while its
//!   shard keeps serving everyone else;
//! - failed operator logins per address ([`ADMIN_BINDING`]).
//!
//! An honest page polls at `poll_after_ms` (at least a second apart) and is
//! never limited; when it is told `429` it waits `Retry-After`.
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

use std::cell::RefCell;
use std::collections::HashMap;

use waitroom_core::client_key::client_key;
use worker::{Env, Headers, Request, Response, Result};

use crate::http;

/// Requests that reach a Durable Object (heartbeats, pages and API calls of
/// a citizen with a ticket), per ticket (wrangler.toml `TICKET_LIMITER`:
/// 100 per 10 s). An honest page polls at most once a second, a few tabs
/// and the result page's polling a few times that; a bot replaying one
/// ticket is cut off here, before it costs its shard anything.
pub const TICKET_BINDING: &str = "TICKET_LIMITER";
/// The same requests per client address (`ADDRESS_LIMITER`: 3,000 per
/// 10 s). Generous on purpose: a mobile carrier's NAT puts thousands of
/// phones behind one IPv4 address, each polling every few seconds; what it
/// stops is one host cycling through many tickets.
pub const ADDRESS_BINDING: &str = "ADDRESS_LIMITER";

/// The rate limiting binding's name in wrangler.toml.
pub const BINDING: &str = "JOIN_LIMITER";
/// The binding's period (wrangler.toml `simple.period`): after a refusal a
/// client is asked to come back when the window has certainly moved on.
pub const RETRY_AFTER_SECONDS: u32 = 10;
/// Failed operator logins per client address (wrangler.toml
/// `ADMIN_FAILURE_LIMITER`: 10 per 60 s).
pub const ADMIN_BINDING: &str = "ADMIN_FAILURE_LIMITER";
/// How long an address that failed too often is refused every operator
/// request, the right token included (so throttling slows guessing
/// instead of only answering it differently): the binding's period.
pub const ADMIN_BLOCK_MS: u64 = 60_000;
/// Most addresses remembered as blocked per isolate. A flood of addresses
/// cannot grow the isolate's memory; past this, the entry closest to
/// expiry is forgotten (the binding still counts it).
const ADMIN_BLOCKED_MAX: usize = 4096;

thread_local! {
    /// Blocked client key -> until when (ms). The counting itself is the
    /// binding's; this only remembers its verdict, so that a request can
    /// be refused before its token is compared.
    static ADMIN_BLOCKED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

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

/// Whether a request of ticket `ticket_id` from `client` may reach a
/// Durable Object now: both the ticket's and the address's budgets.
pub async fn allow_poll(env: &Env, ticket_id: &str, client: &Client) -> bool {
    allow(env, TICKET_BINDING, ticket_id.to_string()).await
        && allow(env, ADDRESS_BINDING, client.0.clone()).await
}

/// Whether `client` may take one more new place now. A missing or failing
/// binding lets the request through (logged): the waiting room must keep
/// working without it, and the queue itself stays correct either way.
pub async fn allow_new_place(env: &Env, client: &Client) -> bool {
    allow(env, BINDING, client.0.clone()).await
}

/// Whether `client` may ask a public page that costs a Durable Object call
/// (`/fairness`): the address's budget, as for polls.
pub async fn allow_public(env: &Env, client: &Client) -> bool {
    allow(env, ADDRESS_BINDING, client.0.clone()).await
}

/// One count against `binding` for `key`. A missing or failing binding
/// lets the request through (logged).
async fn allow(env: &Env, binding: &str, key: String) -> bool {
    let limiter = match env.rate_limiter(binding) {
        Ok(l) => l,
        Err(e) => {
            worker::console_error!("rate limiter {binding} unavailable: {e}");
            return true;
        }
    };
    match limiter.limit(key).await {
        Ok(outcome) => outcome.success,
        Err(e) => {
            worker::console_error!("rate limiter {binding} failed: {e}");
            true
        }
    }
}

/// Seconds until `client` may try the operator API again, if it is
/// blocked for failing too often.
pub fn admin_blocked(client: &Client, now_ms: u64) -> Option<u64> {
    ADMIN_BLOCKED.with(|b| {
        let mut b = b.borrow_mut();
        match b.get(&client.0) {
            Some(&until) if until > now_ms => Some((until - now_ms).div_ceil(1000)),
            Some(_) => {
                b.remove(&client.0);
                None
            }
            None => None,
        }
    })
}

/// Counts one failed operator login of `client`; past the binding's limit
/// the address is blocked for [`ADMIN_BLOCK_MS`]. Returns whether it is
/// now blocked. Without the binding failures are not throttled (logged):
/// the token's length still makes guessing hopeless.
pub async fn admin_failed(env: &Env, client: &Client, now_ms: u64) -> bool {
    if allow(env, ADMIN_BINDING, client.0.clone()).await {
        return false;
    }
    worker::console_warn!("operator API: too many failed logins from {}", client.0);
    ADMIN_BLOCKED.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() >= ADMIN_BLOCKED_MAX {
            b.retain(|_, until| *until > now_ms);
        }
        if b.len() >= ADMIN_BLOCKED_MAX {
            if let Some(k) = b.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) {
                b.remove(&k);
            }
        }
        b.insert(client.0.clone(), now_ms + ADMIN_BLOCK_MS);
    });
    true
}

/// The refusal: `429` with `Retry-After`, as JSON for apps and our own
/// page's fetch, or as a short plain page for a browser.
pub fn too_many(req: &Request) -> Result<Response> {
    let resp = if http::wants_json(req.headers()) {
        http::error(
            429,
            "rate_limited",
            "Too many requests from your network or with this ticket. Please try again in a moment.",
        )?
    } else {
        http::html(
            429,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Please wait a moment</title></head><body>\
<h1>Please wait a moment</h1>\
<p>Too many requests came from your network just now. \
This page will work again in a few seconds.</p></body></html>"
                .to_string(),
        )?
    };
    resp.headers()
        .set("Retry-After", &RETRY_AFTER_SECONDS.to_string())?;
    Ok(resp)
}
