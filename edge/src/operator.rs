//! Operator features at the edge (issue 11), glue over
//! `waitroom_core::operator`: bypass paths, the closed / "come back later"
//! answer for refused arrivals, the pre-queue countdown page, revocations,
//! and the `/admin` dashboard page.

use waitroom_core::operator::{self, format_rfc3339, Bypass, Door, Refusal};
use waitroom_core::page::Lang;
use waitroom_core::ticket::AdmissionClaims;
use worker::*;

use crate::config::EdgeConfig;
use crate::http;
use crate::pages;
use crate::protocol;
use waitroom_core::entry;
use waitroom_core::protocol::shard::{Check, Revoke};

/// The dashboard (no inline script or style: the CSP forbids both).
const ADMIN_PAGE: &str = include_str!("../../public/admin.html");

/// How `path` bypasses the queue, from the `BYPASS_PATHS` and
/// `BYPASS_FORWARD` vars (comma-separated prefixes).
pub fn bypass(cfg: &EdgeConfig, path: &str) -> Bypass {
    operator::classify_bypass(path, &cfg.bypass_paths, &cfg.bypass_forward)
}

/// A bypass path the edge answers itself: a file of `public/` (never the
/// origin, never a queue place).
pub async fn serve_bypass(req: Request, env: &Env) -> Result<Response> {
    let resp = env.assets("ASSETS")?.fetch_request(req).await?;
    let status = resp.status_code();
    if status == 404 || (300..400).contains(&status) {
        return http::error(404, "not_found", "Nothing here.");
    }
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.append(&k, &v)?;
    }
    let (_, body) = resp.into_parts();
    Ok(http::secure(
        Response::from_body(body)?
            .with_status(status)
            .with_headers(headers),
    ))
}

/// The `error` code of a refused arrival's JSON answer.
pub fn refusal_code(reason: Refusal) -> &'static str {
    match reason {
        Refusal::Closed => "closed",
        Refusal::Full => "full",
        Refusal::NotOpen => "not_open",
    }
}

/// `HH:MM UTC` today, or the full date when further away.
fn when(reopen_at_ms: Option<u64>, now_ms: u64, lang: Lang) -> String {
    match reopen_at_ms {
        Some(t) => {
            let s = format_rfc3339(t - t % 60_000);
            if t.saturating_sub(now_ms) < 20 * 3_600_000 {
                format!("{} UTC", &s[11..16])
            } else {
                format!("{} {} UTC", &s[..10], &s[11..16])
            }
        }
        None => pages::strings(lang)
            .get("c.unknown_time")
            .unwrap_or("")
            .to_owned(),
    }
}

/// The answer to a refused arrival: the closed page (HTML) or
/// `503 {"error": "closed"|"full"|"not_open", …}` with `Retry-After`.
pub fn refused_response(
    req: &Request,
    reason: Refusal,
    reopen_at_ms: Option<u64>,
    now_ms: u64,
) -> Result<Response> {
    let lang = pages::lang_of(req);
    let retry = Door::retry_after_seconds(reopen_at_ms, now_ms);
    let resp = if http::wants_json(req.headers()) || req.path().starts_with("/queue/") {
        let strings = pages::strings(lang);
        http::json(
            503,
            &serde_json::json!({
                "error": refusal_code(reason),
                "message": strings.get(reason.string_key()).unwrap_or(""),
                "reopen_at": reopen_at_ms.map(format_rfc3339),
                "retry_after_seconds": retry,
            }),
        )?
    } else {
        let strings = pages::strings(lang);
        let reason_text = strings.get(reason.string_key()).unwrap_or("").to_owned();
        pages::respond(
            req,
            503,
            pages::closed(lang, &reason_text, &when(reopen_at_ms, now_ms, lang)),
            &[],
        )?
    };
    resp.headers().set("Retry-After", &retry.to_string())?;
    Ok(resp)
}

/// Whether this admission was revoked (one O(1) call to its shard).
pub async fn is_revoked(env: &Env, claims: &AdmissionClaims) -> Result<bool> {
    let id = entry::entry_id(&claims.ticket_id);
    let reply = protocol::shard_call(env, claims.shard, Check { id }).await?;
    Ok(reply.revoked)
}

/// Drops an admission now: frees its slot and refuses its ticket until it
/// expires.
pub async fn revoke(env: &Env, claims: &AdmissionClaims) -> Result<()> {
    let revoke = Revoke {
        id: entry::entry_id(&claims.ticket_id),
        until_ms: claims.expires_ms,
    };
    protocol::shard_call(env, claims.shard, revoke).await?;
    Ok(())
}

/// `403 {"error":"revoked"}` and the cookie cleared.
pub fn revoked_response() -> Result<Response> {
    let resp = http::error(
        403,
        "revoked",
        "This session was ended by the service. Please join the line again.",
    )?;
    resp.headers()
        .append("Set-Cookie", &http::clear_ticket_cookie())?;
    Ok(resp)
}

/// `GET /admin`: the dashboard page (public; its data calls need the token).
pub fn admin_page() -> Result<Response> {
    http::html(200, ADMIN_PAGE.to_owned())
}
