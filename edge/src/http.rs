//! Response helpers shared by every route: JSON errors in the contract's
//! shape, security headers, and the `__Host-waitroom` cookie.

use serde::Serialize;
use worker::{Headers, Request, Response, Result};

/// The ticket cookie. `__Host-` forces Secure, Path=/ and no Domain.
pub const TICKET_COOKIE: &str = "__Host-waitroom";
/// The language cookie (not a secret: just the citizen's choice).
pub const LANG_COOKIE: &str = "waitroom-lang";

/// Content-Security-Policy for every page: nothing but our own files.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// `{"error": code, "message": message}` with `status`.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// A JSON response that is never cached (queue state is personal and live).
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    let resp = Response::from_json(body)?.with_status(status);
    Ok(secure(resp))
}

/// An HTML page, never cached (it carries a live position or a form).
pub fn html(status: u16, body: String) -> Result<Response> {
    let resp = Response::from_html(body)?.with_status(status);
    Ok(secure(resp))
}

/// Adds the security headers every response of ours carries.
pub fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let _ = h.set("Content-Security-Policy", CSP);
    let _ = h.set("X-Content-Type-Options", "nosniff");
    let _ = h.set("Referrer-Policy", "no-referrer");
    let _ = h.set("X-Frame-Options", "DENY");
    if !h.has("Cache-Control").unwrap_or(false) {
        let _ = h.set("Cache-Control", "no-store");
    }
    resp
}

/// `Set-Cookie` for a ticket that is valid until `expires_ms`.
pub fn ticket_cookie(ticket: &str, now_ms: u64, expires_ms: u64) -> String {
    let max_age = expires_ms.saturating_sub(now_ms) / 1000;
    format!("{TICKET_COOKIE}={ticket}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// `Set-Cookie` that deletes the ticket.
pub fn clear_ticket_cookie() -> String {
    format!("{TICKET_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// The request's `Cookie` header, empty when it has none.
pub fn cookie_header(req: &Request) -> String {
    req.headers()
        .get("Cookie")
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The value of cookie `name` in a `Cookie` header; a cookie sent twice
/// counts as absent (see [`waitroom_core::cookie`] for why).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    waitroom_core::cookie::cookie(header, name)
}

/// Whether the client asked for JSON (a mobile app, or our own page's fetch).
pub fn wants_json(headers: &Headers) -> bool {
    headers
        .get("Accept")
        .ok()
        .flatten()
        .is_some_and(|a| a.contains("application/json"))
}

/// Headers of a fetched response (origin, static assets) are immutable in
/// the Workers runtime: copy them into a response of our own so we can add
/// ours and drop internal ones.
pub fn mutable_copy(resp: Response) -> Result<Response> {
    let status = resp.status_code();
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.append(&k, &v)?;
    }
    let (_, body) = resp.into_parts();
    Ok(Response::from_body(body)?
        .with_status(status)
        .with_headers(headers))
}
