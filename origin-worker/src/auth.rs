//! Who may talk to the origin: the edge (HMAC header over the request), on
//! behalf of an admitted citizen (admission ticket). Both are checked here,
//! in that order, before any body is parsed or anything is stored.

use axum::http::HeaderMap;
use waitroom_core::{
    edge_auth::{verify_request, EdgeAuthError, EDGE_AUTH_HEADER},
    ticket::{verify_admission, AdmissionClaims, KeyRing},
};

use crate::error::AppError;

/// The admission ticket, forwarded by the edge from its cookie.
pub const TICKET_HEADER: &str = "x-waitroom-ticket";
/// Set to `1` when the citizen is done (PDF downloaded, or the request ended
/// rejected/failed): the edge frees the active-session slot.
pub const RELEASE_HEADER: &str = "x-waitroom-release";
/// Reserved: set to `1` to ask the edge to revoke the session (abuse). Not
/// emitted yet.
pub const REVOKE_HEADER: &str = "x-waitroom-revoke";

/// The cheap part of edge authentication, done before the body is read: a
/// request without the header is refused without reading its body.
pub fn require_edge_header(headers: &HeaderMap) -> Result<(), AppError> {
    if headers.contains_key(EDGE_AUTH_HEADER) {
        Ok(())
    } else {
        Err(AppError::Unauthenticated("missing edge auth header"))
    }
}

/// Verifies the edge's MAC over method, path and query, the ticket header
/// (empty if none), timestamp and body, under any of `keys` (a rotation:
/// the edge signs with its newest).
/// Returns the key that verified (an answer signed back uses the same).
pub fn check_edge<'k>(
    keys: &'k [Vec<u8>],
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    now_ms: u64,
    body: &[u8],
) -> Result<&'k [u8], AppError> {
    let header = headers
        .get(EDGE_AUTH_HEADER)
        .ok_or(AppError::Unauthenticated("missing edge auth header"))?
        .to_str()
        .map_err(|_| AppError::Unauthenticated("edge auth header is not ASCII"))?;
    // A ticket header that is not text cannot be what the edge signed.
    let ticket = match headers.get(TICKET_HEADER) {
        Some(t) => t
            .to_str()
            .map_err(|_| AppError::Unauthenticated("edge auth bad mac"))?,
        None => "",
    };
    let mut result = Err(EdgeAuthError::BadMac);
    for key in keys {
        result = verify_request(key, header, method, path_and_query, ticket, now_ms, body)
            .map(|()| key.as_slice());
        // Only a bad MAC depends on the key; malformed or authentic-but-stale is final.
        if result != Err(EdgeAuthError::BadMac) {
            break;
        }
    }
    result.map_err(|e| {
        AppError::Unauthenticated(match e {
            EdgeAuthError::Malformed => "edge auth malformed",
            EdgeAuthError::Stale => "edge auth stale",
            EdgeAuthError::BadMac => "edge auth bad mac",
        })
    })
}

/// Verifies the admission ticket: a waiting ticket, another room, an expired
/// or forged ticket are all `403`.
pub fn check_admission(
    ring: &KeyRing,
    headers: &HeaderMap,
    now_ms: u64,
    room: &str,
) -> Result<AdmissionClaims, AppError> {
    let raw = headers
        .get(TICKET_HEADER)
        .ok_or(AppError::Forbidden("missing ticket"))?
        .to_str()
        .map_err(|_| AppError::Forbidden("ticket is not ASCII"))?;
    verify_admission(ring, raw, now_ms, room).map_err(|e| AppError::Forbidden(e.code_static()))
}

trait CodeStatic {
    fn code_static(self) -> &'static str;
}

impl CodeStatic for waitroom_core::ticket::TicketError {
    fn code_static(self) -> &'static str {
        self.code()
    }
}

/// The value of cookie `name` in the request's `Cookie` header(s); a
/// cookie sent twice counts as absent (see [`waitroom_core::cookie`] for why).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    waitroom_core::cookie::cookie_in(
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        name,
    )
}
