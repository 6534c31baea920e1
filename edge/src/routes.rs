//! The public Worker: who is this visitor (verified cookie ticket, or none),
//! and what they may see. Only admitted visitors ever reach the origin.

use serde::Serialize;
use waitroom_core::queue::{JoinOutcome, Status};
use waitroom_core::ticket::{self, AdmissionClaims, Claims, WaitingClaims};
use worker::*;

use crate::config::{EdgeConfig, WAITING_TICKET_TTL_MS};
use crate::forward::{self, RELEASE_HEADER, REVOKE_HEADER};
use crate::http::{self, TICKET_COOKIE};
use crate::pages::{self, WaitingView};
use crate::protocol::{self, IdRequest, JoinReply};
use crate::ratelimit::{self, Client};
use crate::{admin, rand};
use waitroom_core::operator::{Bypass, Door};

/// Who is asking, after the cookie's ticket was verified. Anything that does
/// not verify (tampered, expired, another room, unknown key, a ticket in the
/// query string) is `Nobody`: a fresh place at the back, never an error.
enum Visitor {
    Nobody,
    Waiting(WaitingClaims),
    Admitted(AdmissionClaims, String),
}

/// The contract's queue answer.
#[derive(Serialize)]
struct QueueView {
    state: &'static str,
    position: u64,
    queue_length: u64,
    eta_seconds: u64,
    poll_after_ms: u64,
}

impl QueueView {
    fn admitted() -> Self {
        QueueView {
            state: "admitted",
            position: 0,
            queue_length: 0,
            eta_seconds: 0,
            poll_after_ms: 0,
        }
    }
    /// This client address has taken too many new places: `429`, no place.
    fn rate_limited() -> Self {
        QueueView {
            state: RATE_LIMITED,
            position: 0,
            queue_length: 0,
            eta_seconds: 0,
            poll_after_ms: 0,
        }
    }
    fn expired() -> Self {
        QueueView {
            state: "expired",
            position: 0,
            queue_length: 0,
            eta_seconds: 0,
            poll_after_ms: 0,
        }
    }
}

/// The internal state of a join refused by the per-address limit.
const RATE_LIMITED: &str = "rate_limited";

/// A queue answer, the cookie to set (if any), and whether it is a new place.
struct Placed {
    view: QueueView,
    set_cookie: Option<String>,
    created: bool,
}

pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// The queue entry id of a ticket: its first 52 bits (SQLite and JS numbers
/// hold them exactly).
pub fn entry_id(ticket_id: &str) -> u64 {
    u64::from_str_radix(ticket_id.get(..13).unwrap_or("0"), 16).unwrap_or(0)
}

/// The shard of a new ticket: the next 32 bits of its id, modulo the shard count.
fn shard_of(ticket_id: &str, shards: u32) -> u32 {
    let bits = u32::from_str_radix(ticket_id.get(13..21).unwrap_or("0"), 16).unwrap_or(0);
    bits % shards.max(1)
}

fn visitor(req: &Request, cfg: &EdgeConfig, now: u64) -> Visitor {
    let cookies = req
        .headers()
        .get("Cookie")
        .ok()
        .flatten()
        .unwrap_or_default();
    let Some(raw) = http::cookie(&cookies, TICKET_COOKIE) else {
        return Visitor::Nobody;
    };
    let Ok(untrusted) = ticket::UntrustedTicket::parse(raw) else {
        return Visitor::Nobody;
    };
    match untrusted.verify(&cfg.keys, now, &cfg.room) {
        Ok(t) => match t.claims().clone() {
            Claims::Waiting(w) => Visitor::Waiting(w),
            Claims::Admission(a) => Visitor::Admitted(a, raw.to_string()),
        },
        Err(_) => Visitor::Nobody,
    }
}

/// Whether the test-only routes (`/__test/…`) are on: never in a deploy
/// (`WAITROOM_TEST_ROUTES=1` is set only by the test harness and the bench).
fn test_routes(env: &Env) -> bool {
    crate::config::var(env, "WAITROOM_TEST_ROUTES").as_deref() == Some("1")
}

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    let method = req.method();
    // The bare route: no configuration, no storage (the benchmark's baseline).
    if path == "/healthz" {
        return http::json(200, &serde_json::json!({ "ok": true }));
    }
    if path.starts_with("/assets/") && matches!(method, Method::Get | Method::Head) {
        return static_asset(req, &env).await;
    }
    if path == "/__test/ticket-vectors" && test_routes(&env) {
        return ticket_vectors(req).await;
    }
    if path == "/__test/shard-ping" && test_routes(&env) {
        // The benchmark's second baseline: one Durable Object round trip
        // that does no queue work (what any heartbeat costs at least).
        let reply: serde_json::Value = protocol::get(&protocol::shard(&env, 0)?, "/ping").await?;
        return http::json(200, &reply);
    }
    if path == "/__test/replay-tick" && test_routes(&env) {
        // An alarm delivered twice: the Coordinator resends its last grants.
        let reply: serde_json::Value = protocol::call(
            &protocol::coordinator(&env)?,
            "/replay",
            &serde_json::json!({}),
        )
        .await?;
        return http::json(200, &reply);
    }
    let cfg = match EdgeConfig::get(&env) {
        Ok(c) => c,
        Err(e) => {
            console_error!("configuration error: {e}");
            return http::error(500, "misconfigured", "The waiting room is not configured.");
        }
    };
    let now = now_ms();
    // Operator bypass paths (BYPASS_PATHS): never queued. Only those in
    // BYPASS_FORWARD (the verifiers' public keys) reach the origin without a
    // ticket; the rest are served from public/ or 404.
    match crate::operator::bypass(&cfg, &path) {
        Bypass::Origin if matches!(method, Method::Get | Method::Head) => {
            return forward::to_origin(req, &cfg, None, now).await;
        }
        Bypass::Origin | Bypass::Edge => {
            if !matches!(method, Method::Get | Method::Head) {
                return http::error(
                    405,
                    "method_not_allowed",
                    "This method is not allowed here.",
                );
            }
            return crate::operator::serve_bypass(req, &env).await;
        }
        Bypass::No => {}
    }
    if path == "/admin" && method == Method::Get {
        return crate::operator::admin_page();
    }
    if path == "/admin" || path.starts_with("/admin/") {
        return admin::handle(req, &env, &cfg).await;
    }
    let who = visitor(&req, &cfg, now);
    let client = Client::of(&req);
    match (method, path.as_str()) {
        (Method::Post, "/queue/join") => {
            let placed = place(&env, &cfg, who, now, &client).await?;
            if placed.view.state == RATE_LIMITED {
                return ratelimit::too_many(&req);
            }
            if let Some(reason) = crate::operator::refusal_of(placed.view.state) {
                return crate::operator::refused_response(
                    &req,
                    reason,
                    reopen_at(&placed.view),
                    now,
                );
            }
            let status = if placed.created { 201 } else { 200 };
            queue_json(status, &placed)
        }
        (Method::Get, "/queue/status") => {
            let placed = match who {
                Visitor::Nobody => Placed {
                    view: QueueView::expired(),
                    set_cookie: None,
                    created: false,
                },
                other => heartbeat(&env, &cfg, other, now).await?,
            };
            queue_json(200, &placed)
        }
        (Method::Post, "/queue/leave") => leave(&env, who).await,
        // Test-only: what the origin's `x-waitroom-revoke` does, on demand.
        (Method::Post, "/__test/revoke") if test_routes(&env) => match who {
            Visitor::Admitted(claims, _) => {
                crate::operator::revoke(&env, &claims).await?;
                crate::operator::revoked_response()
            }
            _ => http::error(409, "not_admitted", "Only an admission can be revoked."),
        },
        (_, p) if p == "/api/passports" || p.starts_with("/api/passports/") => {
            api(req, &env, &cfg, who, now).await
        }
        (Method::Get | Method::Head, p) => page(&req, &env, &cfg, who, now, p, &client).await,
        _ => http::error(
            405,
            "method_not_allowed",
            "This method is not allowed here.",
        ),
    }
}

async fn static_asset(req: Request, env: &Env) -> Result<Response> {
    let mut resp = http::mutable_copy(env.assets("ASSETS")?.fetch_request(req).await?)?;
    // Versioned by deploy, tiny, and identical for everyone.
    resp.headers_mut()
        .set("Cache-Control", "public, max-age=300")?;
    Ok(http::secure(resp))
}

fn queue_json(status: u16, placed: &Placed) -> Result<Response> {
    let resp = http::json(status, &placed.view)?;
    if let Some(c) = &placed.set_cookie {
        resp.headers().append("Set-Cookie", c)?;
    }
    Ok(resp)
}

/// `/queue/join`: the existing place if the ticket still holds one, else a new one.
async fn place(
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    client: &Client,
) -> Result<Placed> {
    match who {
        Visitor::Admitted(..) => Ok(Placed {
            view: QueueView::admitted(),
            set_cookie: None,
            created: false,
        }),
        Visitor::Waiting(w) => {
            let placed = heartbeat(env, cfg, Visitor::Waiting(w), now).await?;
            if placed.view.state == "expired" {
                join_new(env, cfg, now, client).await
            } else {
                Ok(placed)
            }
        }
        Visitor::Nobody => join_new(env, cfg, now, client).await,
    }
}

async fn join_new(env: &Env, cfg: &EdgeConfig, now: u64, client: &Client) -> Result<Placed> {
    // Counted here, where a row would be created: heartbeats are never limited.
    if !ratelimit::allow_new_place(env, client).await {
        return Ok(Placed {
            view: QueueView::rate_limited(),
            set_cookie: None,
            created: false,
        });
    }
    let ticket_id = rand::ticket_id();
    let shard = shard_of(&ticket_id, cfg.shards);
    let raw: serde_json::Value = protocol::call(
        &protocol::shard(env, shard)?,
        "/join",
        &IdRequest {
            id: entry_id(&ticket_id),
        },
    )
    .await?;
    if let Some(Door::Refused {
        reason,
        reopen_at_ms,
    }) = crate::operator::refused(&raw)
    {
        // Closed, not open yet or full: no place. The view carries the
        // reopening time (epoch ms, 0 = unknown) in `poll_after_ms`.
        return Ok(Placed {
            view: QueueView {
                state: crate::operator::refusal_state(reason),
                position: 0,
                queue_length: 0,
                eta_seconds: 0,
                poll_after_ms: reopen_at_ms.unwrap_or(0),
            },
            set_cookie: None,
            created: false,
        });
    }
    let prequeue_until = raw["prequeue_until"].as_u64();
    let reply: JoinReply =
        serde_json::from_value(raw).map_err(|e| Error::RustError(e.to_string()))?;
    let seq = match reply.outcome {
        JoinOutcome::Joined { seq } | JoinOutcome::AlreadyWaiting { seq } => seq,
        // A 52-bit collision with a live session: astronomically unlikely; refuse politely.
        JoinOutcome::AlreadyAdmitted { .. } => {
            return Err(Error::RustError("ticket id collision".into()))
        }
    };
    let claims = WaitingClaims {
        ticket_id,
        room: cfg.room.clone(),
        shard,
        seq,
        arrived_ms: now,
        issued_ms: now,
        expires_ms: now + WAITING_TICKET_TTL_MS,
    };
    let cookie = http::ticket_cookie(
        &ticket::sign(&cfg.keys, &Claims::Waiting(claims)),
        now,
        now + WAITING_TICKET_TTL_MS,
    );
    let view = prequeue_view(view_of(&reply.status), prequeue_until, now);
    Ok(Placed {
        view,
        set_cookie: Some(cookie),
        created: true,
    })
}

/// The reopening time of a refused join (see `join_new`).
fn reopen_at(view: &QueueView) -> Option<u64> {
    (view.poll_after_ms > 0).then_some(view.poll_after_ms)
}

/// In pre-queue there is no position yet (the lottery decides it at
/// `event_start`): state `prequeue`, `eta_seconds` until the event.
fn prequeue_view(view: QueueView, prequeue_until: Option<u64>, now: u64) -> QueueView {
    match prequeue_until {
        Some(t) if view.state == "waiting" => QueueView {
            state: crate::operator::PREQUEUE,
            position: 0,
            eta_seconds: t.saturating_sub(now).div_ceil(1000),
            ..view
        },
        _ => view,
    }
}

fn view_of(status: &Status) -> QueueView {
    match status {
        Status::Waiting(w) => QueueView {
            state: "waiting",
            position: w.global_position,
            queue_length: w.global_waiting.max(w.global_position),
            eta_seconds: w.eta_seconds,
            poll_after_ms: w.poll_after_ms,
        },
        Status::Admitted { .. } => QueueView::admitted(),
        Status::Abandoned | Status::NotFound => QueueView::expired(),
    }
}

/// `/queue/status`: the heartbeat. On admission the cookie becomes an admission ticket.
async fn heartbeat(env: &Env, cfg: &EdgeConfig, who: Visitor, now: u64) -> Result<Placed> {
    let w = match who {
        Visitor::Waiting(w) => w,
        Visitor::Admitted(..) => {
            return Ok(Placed {
                view: QueueView::admitted(),
                set_cookie: None,
                created: false,
            })
        }
        Visitor::Nobody => {
            return Ok(Placed {
                view: QueueView::expired(),
                set_cookie: None,
                created: false,
            })
        }
    };
    let raw: serde_json::Value = protocol::get(
        &protocol::shard(env, w.shard)?,
        &format!("/status/{}", entry_id(&w.ticket_id)),
    )
    .await?;
    let prequeue_until = raw["prequeue_until"].as_u64();
    let status: Status =
        serde_json::from_value(raw).map_err(|e| Error::RustError(e.to_string()))?;
    let mut set_cookie = None;
    if let Status::Admitted { session_expires_ms } = status {
        let claims = AdmissionClaims {
            // The browser's session is its ticket id: unguessable, and stable
            // if the admission cookie has to be issued again.
            session_id: w.ticket_id.clone(),
            ticket_id: w.ticket_id,
            room: cfg.room.clone(),
            shard: w.shard,
            not_before_ms: now,
            expires_ms: session_expires_ms,
        };
        let raw = ticket::sign(&cfg.keys, &Claims::Admission(claims));
        set_cookie = Some(http::ticket_cookie(&raw, now, session_expires_ms));
    }
    Ok(Placed {
        view: prequeue_view(view_of(&status), prequeue_until, now),
        set_cookie,
        created: false,
    })
}

async fn leave(env: &Env, who: Visitor) -> Result<Response> {
    if let Visitor::Waiting(w) = &who {
        let _: serde_json::Value = protocol::call(
            &protocol::shard(env, w.shard)?,
            "/leave",
            &IdRequest {
                id: entry_id(&w.ticket_id),
            },
        )
        .await?;
    }
    let resp = http::secure(Response::empty()?.with_status(204));
    resp.headers()
        .append("Set-Cookie", &http::clear_ticket_cookie())?;
    Ok(resp)
}

/// `/api/passports…`: forwarded only for admitted visitors whose session is live.
async fn api(
    req: Request,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
) -> Result<Response> {
    let Visitor::Admitted(claims, raw) = who else {
        return http::error(
            403,
            "not_admitted",
            "Your turn has not come yet: please wait in the line.",
        );
    };
    // A revoked admission is refused at once, though its ticket still verifies.
    if crate::operator::is_revoked(env, &claims).await? {
        return crate::operator::revoked_response();
    }
    let shard = protocol::shard(env, claims.shard)?;
    let id = IdRequest {
        id: entry_id(&claims.ticket_id),
    };
    let mut resp = forward::to_origin(req, cfg, Some(&raw), now).await?;
    let release = resp.headers().has(RELEASE_HEADER)?;
    let revoke = resp.headers().has(REVOKE_HEADER)?;
    if revoke {
        // Fraud or abuse: free the slot and refuse this ticket from now on.
        crate::operator::revoke(env, &claims).await?;
    } else if release {
        // The citizen is done: free the active slot now.
        let _: serde_json::Value = protocol::call(&shard, "/release", &id).await?;
    }
    if release || revoke {
        resp.headers_mut().delete(RELEASE_HEADER)?;
        resp.headers_mut().delete(REVOKE_HEADER)?;
    }
    if revoke {
        resp.headers_mut()
            .append("Set-Cookie", &http::clear_ticket_cookie())?;
    }
    Ok(resp)
}

/// Any page: the form or result page for the admitted, the waiting page for everyone else.
async fn page(
    req: &Request,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    path: &str,
    client: &Client,
) -> Result<Response> {
    let lang = pages::lang_of(req);
    if let Visitor::Admitted(..) = who {
        if let Some(id) = path.strip_prefix("/passport/") {
            // Passport ids are base64url (the origin's): letters, digits, '-' and '_'.
            let valid = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                return pages::respond(req, 200, pages::result(lang, id), None);
            }
            return pages::respond(req, 404, pages::form(lang), None);
        }
        return pages::respond(req, 200, pages::form(lang), None);
    }
    let placed = match who {
        Visitor::Waiting(w) => {
            let p = heartbeat(env, cfg, Visitor::Waiting(w), now).await?;
            if p.view.state == "expired" {
                join_new(env, cfg, now, client).await?
            } else {
                p
            }
        }
        _ => join_new(env, cfg, now, client).await?,
    };
    if placed.view.state == RATE_LIMITED {
        return ratelimit::too_many(req);
    }
    if placed.view.state == "admitted" {
        // Admitted on this very load: the new cookie is set, show the form.
        return pages::respond(req, 200, pages::form(lang), placed.set_cookie);
    }
    if let Some(reason) = crate::operator::refusal_of(placed.view.state) {
        return crate::operator::refused_response(req, reason, reopen_at(&placed.view), now);
    }
    if placed.view.state == crate::operator::PREQUEUE {
        let opens = now + placed.view.eta_seconds * 1000;
        let body = pages::prequeue(lang, opens, placed.view.poll_after_ms, now);
        return pages::respond(req, 200, body, placed.set_cookie);
    }
    let view = WaitingView {
        position: placed.view.position,
        queue_length: placed.view.queue_length,
        eta_seconds: placed.view.eta_seconds,
        poll_after_ms: placed.view.poll_after_ms,
        now_ms: now,
    };
    pages::respond(req, 200, pages::waiting(lang, &view), placed.set_cookie)
}

/// Test-only (enabled by the `WAITROOM_TEST_ROUTES=1` var, never in
/// wrangler.toml): checks a golden ticket-vectors file with the very code
/// that runs here, inside workerd, so wasm and native provably agree.
async fn ticket_vectors(mut req: Request) -> Result<Response> {
    let body = req.text().await?;
    match ticket::vectors::check(&body) {
        Ok(passed) => http::json(200, &serde_json::json!({ "passed": passed })),
        Err(failures) => http::json(200, &serde_json::json!({ "failures": failures })),
    }
}
