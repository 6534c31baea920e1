//! Response helpers shared by every route: JSON errors in the contract's
//! shape, security headers, and the `__Host-waitroom` cookie.

use serde::Serialize;
use worker::{Headers, Request, Response, Result};

/// The ticket cookie. `__Host-` forces Secure, Path=/ and no Domain.
pub const TICKET_COOKIE: &str = "__Host-waitroom";
/// The browser secret's cookie.
pub use waitroom_core::client_binding::CLIENT_COOKIE;
/// The language cookie (not a secret: just the citizen's choice).
pub const LANG_COOKIE: &str = "waitroom-lang";

/// Content-Security-Policy for every page: nothing but our own files.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// `Strict-Transport-Security`: a year, subdomains too (browsers ignore it
/// over plain http, so the local stack is unaffected). Not `preload`: that
/// is a commitment for the operator's whole domain, theirs to make.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";
/// `Permissions-Policy`: none of the powerful features; the pages need none
/// (the opt-in "you are admitted" notification is not policy-controlled).
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), \
display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), \
payment=(), publickey-credentials-get=(), usb=(), xr-spatial-tracking=()";

/// `{"error": code, "message": message}` with `status`.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// `405` with the methods `path` does allow (`Allow`, as RFC 9110 requires).
pub fn method_not_allowed(allow: &str) -> Result<Response> {
    let resp = error(
        405,
        "method_not_allowed",
        "This method is not allowed here.",
    )?;
    resp.headers().set("Allow", allow)?;
    Ok(resp)
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
    let _ = h.set("Strict-Transport-Security", HSTS);
    // No other window keeps a handle on ours, no other site embeds our
    // responses (the PDF, the JSON) as a resource.
    let _ = h.set("Cross-Origin-Opener-Policy", "same-origin");
    let _ = h.set("Cross-Origin-Resource-Policy", "same-origin");
    let _ = h.set("Permissions-Policy", PERMISSIONS_POLICY);
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

/// `Set-Cookie` for the browser secret a new place is bound to
/// ([`waitroom_core::client_binding`]): as long-lived as the waiting ticket.
pub fn client_cookie(secret: &str, now_ms: u64, expires_ms: u64) -> String {
    let max_age = expires_ms.saturating_sub(now_ms) / 1000;
    format!("{CLIENT_COOKIE}={secret}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// `Set-Cookie` that deletes the ticket. (The browser secret stays: it is
/// worthless without a ticket, and the next place gets a new one.)
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

/// Whether a state-changing request may be served: same origin by the
/// browser's own account, or no browser at all
/// ([`waitroom_core::request_site::may_change_state`]).
pub fn same_origin_or_no_browser(req: &Request) -> Result<bool> {
    let h = req.headers();
    let own = req.url()?.origin().ascii_serialization();
    Ok(waitroom_core::request_site::may_change_state(
        h.get("Sec-Fetch-Site")?.as_deref(),
        h.get("Origin")?.as_deref(),
        &own,
    ))
}

/// Whether this page load may create a place: a top-level navigation
/// ([`waitroom_core::request_site::may_create_place`]).
pub fn is_navigation(headers: &Headers) -> bool {
    waitroom_core::request_site::may_create_place(
        headers.get("Sec-Fetch-Mode").ok().flatten().as_deref(),
        headers.get("Sec-Fetch-Dest").ok().flatten().as_deref(),
    )
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
