//! The queue routes: `POST /queue/join`, `GET /queue/status` (the
//! heartbeat) and `POST /queue/leave`. [`place`] walks the placement steps
//! of `waitroom_core::placement` for every route that needs a standing
//! (pages too); the answers are the contract's `QueueView`.

use waitroom_core::client_binding;
use waitroom_core::entry;
use waitroom_core::operator::{BypassKind, Message};
use waitroom_core::page::Lang;
use waitroom_core::placement::{self, Placement, QueueView, Route, Step};
use waitroom_core::protocol::shard::{AdmitNow, Heartbeat, Join, JoinReply, Leave};
use waitroom_core::ticket::{self, AdmissionClaims, Claims, WaitingClaims};
use worker::*;

use super::visitor::{OldKey, Visitor};
use crate::config::{EdgeConfig, WAITING_TICKET_TTL_MS};
use crate::http;
use crate::protocol;
use crate::rand;
use crate::ratelimit::{self, Client};

/// A standing, the cookie to set (if any), and whether it is a new place.
pub struct Placed {
    pub placement: Placement,
    /// `Set-Cookie` values: a new ticket, and with a new place its
    /// browser secret ([`waitroom_core::client_binding`]).
    pub set_cookies: Vec<String>,
    pub created: bool,
    /// The operator's live message, as the shard holding the place has it.
    pub message: Option<Message>,
}

impl Placed {
    fn answer(placement: Placement) -> Placed {
        Placed {
            placement,
            set_cookies: Vec::new(),
            created: false,
            message: None,
        }
    }

    /// The message's text for a page in `lang`.
    pub fn message_text(&self, lang: Lang) -> Option<&str> {
        self.message.as_ref().and_then(|m| m.text(lang))
    }
}

/// A queue answer: the contract's view, with the operator's message.
#[derive(serde::Serialize)]
struct Answer<'a> {
    #[serde(flatten)]
    view: QueueView,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// `POST /queue/join`: the existing place if the ticket still holds one,
/// else a new one.
pub async fn join(
    req: &Request,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    client: &Client,
) -> Result<Response> {
    let placed = place(req, Route::Join, env, cfg, who, now, client).await?;
    match placed.placement {
        Placement::RateLimited => ratelimit::too_many(req),
        Placement::Refused {
            reason,
            reopen_at_ms,
        } => crate::operator::refused_response(req, reason, reopen_at_ms, now),
        _ => queue_json(req, if placed.created { 201 } else { 200 }, &placed),
    }
}

/// `GET /queue/status`: the heartbeat. It never creates a place.
pub async fn status(
    req: &Request,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    client: &Client,
) -> Result<Response> {
    let placed = place(req, Route::Status, env, cfg, who, now, client).await?;
    if placed.placement == Placement::RateLimited {
        return ratelimit::too_many(req);
    }
    queue_json(req, 200, &placed)
}

/// `POST /queue/leave`: the place is given up and the cookie cleared.
pub async fn leave(env: &Env, who: Visitor) -> Result<Response> {
    if let Visitor::Waiting(w, ..) = &who {
        protocol::shard_call(
            env,
            w.shard,
            Leave {
                id: entry::entry_id(&w.ticket_id),
            },
        )
        .await?;
    }
    let resp = http::secure(Response::empty()?.with_status(204));
    resp.headers()
        .append("Set-Cookie", &http::clear_ticket_cookie())?;
    Ok(resp)
}

fn queue_json(req: &Request, status: u16, placed: &Placed) -> Result<Response> {
    let view = placed
        .placement
        .view()
        .ok_or_else(|| Error::RustError(format!("no queue view for {:?}", placed.placement)))?;
    let answer = Answer {
        view,
        message: placed.message_text(crate::pages::lang_of(req)),
    };
    let resp = http::json(status, &answer)?;
    for c in &placed.set_cookies {
        resp.headers().append("Set-Cookie", c)?;
    }
    Ok(resp)
}

/// Where `who` stands for `route`: answered at once, by a heartbeat, or by
/// a new place (see `waitroom_core::placement`), or a session at once
/// where a new place would be made for a request a bypass rule matches.
pub async fn place(
    req: &Request,
    route: Route,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    client: &Client,
) -> Result<Placed> {
    let placed = match (placement::first_step(route, who.holder()), who) {
        (Step::Answer(p), _) => return Ok(Placed::answer(p)),
        (Step::Join, _) => return join_new(req, env, cfg, now, client).await,
        (Step::Heartbeat, Visitor::Waiting(w, old_key, secret)) => {
            if !ratelimit::allow_poll(env, &w.ticket_id, client).await {
                return Ok(Placed::answer(Placement::RateLimited));
            }
            heartbeat(env, cfg, w, old_key, &secret, now).await?
        }
        (Step::Heartbeat, _) => {
            return Err(Error::RustError(
                "placement: a heartbeat without a waiting ticket".into(),
            ))
        }
    };
    match placement::after_heartbeat(route, placed.placement) {
        Step::Join => join_new(req, env, cfg, now, client).await,
        _ => Ok(placed),
    }
}

async fn join_new(
    req: &Request,
    env: &Env,
    cfg: &EdgeConfig,
    now: u64,
    client: &Client,
) -> Result<Placed> {
    // Counted here, where a row would be created: heartbeats are never
    // limited. Bypassed requests too: a leaked header must not mint
    // sessions faster than anyone could join.
    if !ratelimit::allow_new_place(env, client).await {
        return Ok(Placed::answer(Placement::RateLimited));
    }
    let ticket_id = rand::ticket_id();
    let secret = client_binding::encode_secret(&rand::bytes());
    let shard = entry::shard_of(&ticket_id, cfg.shards);
    if let Some(kind) = crate::bypass::matched(req, env, now).await {
        return admit_now(env, cfg, now, ticket_id, &secret, shard, kind).await;
    }
    let reply = protocol::shard_call(
        env,
        shard,
        Join {
            id: entry::entry_id(&ticket_id),
        },
    )
    .await?;
    let (placement, seq) =
        Placement::of_join(&reply, now).map_err(|e| Error::RustError(e.to_string()))?;
    let Some(seq) = seq else {
        // Refused: no place, no cookie.
        return Ok(Placed::answer(placement));
    };
    let message = match reply {
        JoinReply::Placed { message, .. } => message,
        JoinReply::Refused { .. } => None,
    };
    let claims = WaitingClaims {
        ticket_id,
        room: cfg.room.clone(),
        shard,
        seq,
        arrived_ms: now,
        issued_ms: now,
        expires_ms: now + WAITING_TICKET_TTL_MS,
        client: client_binding::binding_of(&secret),
    };
    let cookie = http::ticket_cookie(
        &ticket::sign(&cfg.keys, &Claims::Waiting(claims)),
        now,
        now + WAITING_TICKET_TTL_MS,
    );
    Ok(Placed {
        placement,
        set_cookies: vec![
            cookie,
            http::client_cookie(&secret, now, now + WAITING_TICKET_TTL_MS),
        ],
        created: true,
        message,
    })
}

/// A session at once (a bypass rule matched): the admission ticket and the
/// browser secret it is bound to, as a heartbeat that admits would give.
async fn admit_now(
    env: &Env,
    cfg: &EdgeConfig,
    now: u64,
    ticket_id: String,
    secret: &str,
    shard: u32,
    kind: BypassKind,
) -> Result<Placed> {
    let id = entry::entry_id(&ticket_id);
    let reply = protocol::shard_call(env, shard, AdmitNow { id, kind }).await?;
    console_log!(
        "{}",
        serde_json::json!({ "event": "bypassed", "kind": kind.as_str(), "shard": shard })
    );
    let end = reply.session_expires_ms;
    let binding = client_binding::binding_of(secret);
    let claims = admission_claims(cfg, (ticket_id, shard), secret, binding, now, end);
    let raw = ticket::sign(&cfg.keys, &Claims::Admission(claims));
    Ok(Placed {
        placement: Placement::Admitted {
            session_expires_ms: Some(end),
        },
        set_cookies: vec![
            http::ticket_cookie(&raw, now, end),
            http::client_cookie(secret, now, end),
        ],
        created: true,
        message: reply.message,
    })
}

/// The admission of ticket `ticket_id` in `shard` until `expires_ms`, its
/// session derived from the browser's `secret`, bound by `client`.
fn admission_claims(
    cfg: &EdgeConfig,
    (ticket_id, shard): (String, u32),
    secret: &str,
    client: String,
    now: u64,
    expires_ms: u64,
) -> AdmissionClaims {
    AdmissionClaims {
        // Derived from the browser's secret: stable if the admission
        // cookie has to be issued again, and not readable from any ticket.
        session_id: client_binding::session_of(secret),
        ticket_id,
        room: cfg.room.clone(),
        shard,
        not_before_ms: now,
        expires_ms,
        client,
    }
}

/// One heartbeat of a waiting ticket. On admission the cookie becomes an
/// admission ticket; a ticket signed by an older key is re-signed with the
/// newest, so the old key can be retired without losing a place.
async fn heartbeat(
    env: &Env,
    cfg: &EdgeConfig,
    w: WaitingClaims,
    old_key: OldKey,
    secret: &str,
    now: u64,
) -> Result<Placed> {
    let reply = protocol::shard_call(
        env,
        w.shard,
        Heartbeat {
            id: entry::entry_id(&w.ticket_id),
        },
    )
    .await?;
    let placement = Placement::of_heartbeat(&reply, now);
    let mut set_cookies = Vec::new();
    if let Placement::Admitted {
        session_expires_ms: Some(session_expires_ms),
    } = placement
    {
        let client = w.client.clone();
        let claims = admission_claims(
            cfg,
            (w.ticket_id, w.shard),
            secret,
            client,
            now,
            session_expires_ms,
        );
        let raw = ticket::sign(&cfg.keys, &Claims::Admission(claims));
        set_cookies.push(http::ticket_cookie(&raw, now, session_expires_ms));
    } else if old_key.0
        && matches!(
            placement,
            Placement::Waiting { .. } | Placement::PreQueue { .. }
        )
    {
        let expires_ms = w.expires_ms;
        let raw = ticket::sign(&cfg.keys, &Claims::Waiting(w));
        set_cookies.push(http::ticket_cookie(&raw, now, expires_ms));
    }
    Ok(Placed {
        placement,
        set_cookies,
        created: false,
        message: reply.message,
    })
}
