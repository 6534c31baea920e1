//! Forwarding admitted requests to the origin, with the admission ticket and
//! the edge-to-origin authentication header (an HMAC over method, path,
//! ticket, timestamp and body digest that only the edge and the origin can
//! make).

use futures_util::StreamExt;
use waitroom_core::body_limit::{self, Verdict};
use waitroom_core::edge_auth::{self, EDGE_AUTH_HEADER};
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response, Result};

use crate::config::EdgeConfig;
use crate::http::{self, CLIENT_COOKIE, TICKET_COOKIE};

/// The admission ticket, for the origin to verify itself.
pub const TICKET_HEADER: &str = "x-waitroom-ticket";
/// The origin's "this citizen is done" signal: the edge frees the active slot.
pub const RELEASE_HEADER: &str = "x-waitroom-release";
/// The origin's "drop this admission now" signal (fraud, abuse).
pub const REVOKE_HEADER: &str = "x-waitroom-revoke";

/// Largest body the edge forwards (the origin's own limit is 16 KiB; anything
/// bigger is refused here without bothering it).
pub const MAX_BODY: usize = 16 * 1024;

/// The body of `req` if it is at most `limit` bytes, `None` if it is larger
/// (answer 413). A declared `Content-Length` over the limit is refused
/// before a byte is read; a body without one is read chunk by chunk and
/// refused as soon as it passes the limit, so at most `limit` plus one
/// chunk is ever held (`Request::bytes` would buffer it all first).
pub async fn read_capped(req: &mut Request, limit: usize) -> Result<Option<Vec<u8>>> {
    let limit = limit as u64;
    let declared = body_limit::declared_length(req.headers().get("Content-Length")?.as_deref());
    if body_limit::verdict(declared, 0, limit) == Verdict::TooLarge {
        return Ok(None);
    }
    // `Request::stream` fails on a request without a body.
    if req.inner().body().is_none() {
        return Ok(Some(Vec::new()));
    }
    let mut stream = req.stream()?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let received = (body.len() + chunk.len()) as u64;
        if body_limit::verdict(declared, received, limit) == Verdict::TooLarge {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Request headers passed through to the origin; everything else is dropped.
const PASSED_HEADERS: &[&str] = &["content-type", "accept", "accept-language"];

/// Forwards `req` to the origin. `ticket` is the verified admission ticket
/// (raw), or `None` for the few open origin routes (`/.well-known/dcc/keys`).
pub async fn to_origin(
    mut req: Request,
    cfg: &EdgeConfig,
    ticket: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let url = req.url()?;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let method = req.method();
    let body = match method {
        Method::Get | Method::Head => Vec::new(),
        _ => match read_capped(&mut req, MAX_BODY).await? {
            Some(body) => body,
            None => {
                return http::error(
                    413,
                    "payload_too_large",
                    "The request body is larger than 16 KiB.",
                )
            }
        },
    };
    let headers = Headers::new();
    for name in PASSED_HEADERS {
        if let Some(v) = req.headers().get(name)? {
            headers.set(name, &v)?;
        }
    }
    // The client's other cookies (the per-passport key), never our ticket
    // or the browser secret it is bound to.
    if let Some(cookies) = req.headers().get("Cookie")? {
        let ours = [format!("{TICKET_COOKIE}="), format!("{CLIENT_COOKIE}=")];
        let rest: Vec<&str> = cookies
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty() && !ours.iter().any(|p| c.starts_with(p.as_str())))
            .collect();
        if !rest.is_empty() {
            headers.set("Cookie", &rest.join("; "))?;
        }
    }
    if let Some(t) = ticket {
        headers.set(TICKET_HEADER, t)?;
    }
    let auth = edge_auth::sign_request(
        &cfg.edge_origin_key,
        method.as_ref(),
        &path_and_query,
        ticket.unwrap_or(""),
        now_ms,
        &body,
    );
    headers.set(EDGE_AUTH_HEADER, &auth)?;

    let mut init = RequestInit::new();
    // Never follow the origin's redirects: the request carries the ticket,
    // the key cookie and personal data, and a redirect could send them
    // anywhere (attack 7). The origin has no reason to redirect.
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !body.is_empty() {
        init.with_body(Some(
            worker::js_sys::Uint8Array::from(body.as_slice()).into(),
        ));
    }
    let target = format!("{}{}", cfg.origin_url.trim_end_matches('/'), path_and_query);
    let upstream = Request::new_with_init(&target, &init)?;
    match Fetch::Request(upstream).send().await {
        Ok(resp) if (300..400).contains(&resp.status_code()) => {
            worker::console_error!(
                "origin answered a redirect ({}); refused, not followed",
                resp.status_code()
            );
            http::error(
                502,
                "origin_redirect",
                "The service answered unexpectedly. Please try again later.",
            )
        }
        Ok(resp) => Ok(http::secure(http::mutable_copy(resp)?)),
        Err(e) => {
            worker::console_error!("origin unreachable: {e}");
            let resp = http::error(
                503,
                "origin_unavailable",
                "The service is busy. Please try again in a moment.",
            )?;
            let _ = resp.headers().set("Retry-After", "5");
            Ok(resp)
        }
    }
}
