//! Edge-to-origin authentication: a header that proves a request to the
//! origin was forwarded by the edge, for this method, path, body and moment.
//!
//! ```text
//! x-waitroom-edge-auth: v2,t=<timestamp_ms>,s=<base64url HMAC-SHA256>
//! ```
//!
//! The MAC covers `METHOD \n PATH_AND_QUERY \n TICKET \n TIMESTAMP_MS \n
//! hex(sha256(body))`, each exactly as sent (the method is not
//! case-folded). `TICKET` is the `x-waitroom-ticket` header the edge
//! forwards (empty for the few routes without one): whoever replays a
//! forwarded request within the skew cannot swap in another admission.
//! (v1 did not cover it; v1 headers are refused.) The key is a shared secret of the edge and the origin
//! (see [`crate::secret::decode_secret`]), distinct from the ticket keys.
//!
//! This does not stop a replay within [`MAX_SKEW_MS`]; the admission ticket
//! and the origin's single-use ids do that. It stops anyone who is not the
//! edge from talking to the origin at all.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const EDGE_AUTH_HEADER: &str = "x-waitroom-edge-auth";
/// Largest accepted difference, either way, between the header's timestamp
/// and the origin's clock.
pub const MAX_SKEW_MS: u64 = 60_000;
/// Longest header accepted: "v2,t=" + 20 digits + ",s=" + 43 characters,
/// with room to spare. Bounds the work done on garbage.
const MAX_HEADER_LEN: usize = 128;
const MAC_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EdgeAuthError {
    /// Not `v1,t=<digits>,s=<43 base64url chars>`.
    #[error("edge auth header is malformed")]
    Malformed,
    /// Authentic, but the timestamp is more than [`MAX_SKEW_MS`] away from
    /// now (clock skew, or a replay).
    #[error("edge auth header is stale")]
    Stale,
    /// The MAC does not match this key, method, path, timestamp and body.
    #[error("edge auth MAC does not match")]
    BadMac,
}

fn mac_for(
    key: &[u8],
    method: &str,
    path_and_query: &str,
    ticket: &str,
    timestamp_ms: u64,
    body: &[u8],
) -> HmacSha256 {
    let body_hash = Sha256::digest(body);
    let mut hex = [0u8; 64];
    for (i, b) in body_hash.iter().enumerate() {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        hex[2 * i] = DIGITS[usize::from(b >> 4)];
        hex[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(path_and_query.as_bytes());
    mac.update(b"\n");
    mac.update(ticket.as_bytes());
    mac.update(b"\n");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(&hex);
    mac
}

/// The header value for a request the edge forwards at `timestamp_ms`.
pub fn sign_request(
    key: &[u8],
    method: &str,
    path_and_query: &str,
    ticket: &str,
    timestamp_ms: u64,
    body: &[u8],
) -> String {
    let tag = mac_for(key, method, path_and_query, ticket, timestamp_ms, body)
        .finalize()
        .into_bytes();
    format!("v2,t={timestamp_ms},s={}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks a header made by [`sign_request`].
///
/// The MAC is checked (in constant time) before the timestamp, so that
/// [`EdgeAuthError::Stale`] always means "the edge sent this, but not
/// now": clock skew or a replay, never a forgery.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    key: &[u8],
    header: &str,
    method: &str,
    path_and_query: &str,
    ticket: &str,
    now_ms: u64,
    body: &[u8],
) -> Result<(), EdgeAuthError> {
    let (timestamp_ms, tag) = parse_header(header)?;
    mac_for(key, method, path_and_query, ticket, timestamp_ms, body)
        .verify_slice(&tag)
        .map_err(|_| EdgeAuthError::BadMac)?;
    if now_ms.abs_diff(timestamp_ms) > MAX_SKEW_MS {
        return Err(EdgeAuthError::Stale);
    }
    Ok(())
}

fn parse_header(header: &str) -> Result<(u64, [u8; MAC_LEN]), EdgeAuthError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(EdgeAuthError::Malformed);
    }
    let rest = header
        .strip_prefix("v2,t=")
        .ok_or(EdgeAuthError::Malformed)?;
    let (t, s) = rest.split_once(",s=").ok_or(EdgeAuthError::Malformed)?;
    // Digits only: `u64::from_str` would also take a leading '+', and the
    // MAC covers the canonical decimal form.
    if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EdgeAuthError::Malformed);
    }
    let timestamp_ms: u64 = t.parse().map_err(|_| EdgeAuthError::Malformed)?;
    let mut tag = [0u8; MAC_LEN];
    let len = URL_SAFE_NO_PAD
        .decode_slice(s, &mut tag)
        .map_err(|_| EdgeAuthError::Malformed)?;
    if len != MAC_LEN {
        return Err(EdgeAuthError::Malformed);
    }
    Ok((timestamp_ms, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"edge-auth test key, 32+ bytes long!!";
    const NOW: u64 = 1_700_000_000_000;
    const TICKET: &str = "v1.k1.payload.mac";

    /// Checks `header` for the request [`header`] signs, at `now`, with
    /// `body` as received.
    fn check(header: &str, now: u64, body: &[u8]) -> Result<(), EdgeAuthError> {
        verify_request(KEY, header, "POST", "/api/submit?x=1", TICKET, now, body)
    }

    fn header() -> String {
        sign_request(KEY, "POST", "/api/submit?x=1", TICKET, NOW, b"{\"a\":1}")
    }

    #[test]
    fn good_request_verifies() {
        let h = header();
        assert!(h.starts_with("v2,t=1700000000000,s="));
        assert_eq!(check(&h, NOW, b"{\"a\":1}"), Ok(()));
    }

    #[test]
    fn skew_up_to_the_limit_is_accepted_either_way() {
        let h = header();
        for now in [NOW - MAX_SKEW_MS, NOW + MAX_SKEW_MS] {
            assert_eq!(check(&h, now, b"{\"a\":1}"), Ok(()));
        }
    }

    #[test]
    fn stale_either_way() {
        let h = header();
        for now in [NOW - MAX_SKEW_MS - 1, NOW + MAX_SKEW_MS + 1, 0, u64::MAX] {
            assert_eq!(check(&h, now, b"{\"a\":1}"), Err(EdgeAuthError::Stale));
        }
    }

    #[test]
    fn body_changed() {
        assert_eq!(
            check(&header(), NOW, b"{\"a\":2}"),
            Err(EdgeAuthError::BadMac)
        );
        assert_eq!(check(&header(), NOW, b""), Err(EdgeAuthError::BadMac));
    }

    #[test]
    fn path_query_method_ticket_or_key_changed() {
        let h = header();
        let body = b"{\"a\":1}";
        let other_key = &b"another key, also 32 bytes long.."[..];
        for (key, method, path, ticket) in [
            (KEY, "POST", "/api/submit?x=2", TICKET),
            (KEY, "POST", "/api/submit", TICKET),
            (KEY, "PUT", "/api/submit?x=1", TICKET),
            (KEY, "post", "/api/submit?x=1", TICKET),
            (KEY, "POST", "/api/submit?x=1", "v1.k1.another.admission"),
            (KEY, "POST", "/api/submit?x=1", ""),
            (other_key, "POST", "/api/submit?x=1", TICKET),
        ] {
            assert_eq!(
                verify_request(key, &h, method, path, ticket, NOW, body),
                Err(EdgeAuthError::BadMac),
                "{method} {path} {ticket}"
            );
        }
    }

    #[test]
    fn timestamp_changed_is_bad_mac() {
        let h = header().replace("t=1700000000000", "t=1700000000001");
        assert_eq!(check(&h, NOW, b"{\"a\":1}"), Err(EdgeAuthError::BadMac));
    }

    #[test]
    fn malformed_headers() {
        let h = header();
        let s = h.split_once(",s=").unwrap().1.to_owned();
        let cases = [
            String::new(),
            "v2".to_owned(),
            "v1,t=1700000000000,s=".to_owned() + &s,
            "v2,t=,s=".to_owned() + &s,
            "v2,t=+1700000000000,s=".to_owned() + &s,
            "v2,t=-1,s=".to_owned() + &s,
            "v2,t=99999999999999999999,s=".to_owned() + &s,
            "v2,t=1700000000000".to_owned(),
            "v2,t=1700000000000,s=".to_owned(),
            "v2,t=1700000000000,s=".to_owned() + &s[..42],
            "v2,t=1700000000000,s=".to_owned() + &s + "AA",
            "v2,t=1700000000000,s=".to_owned() + &s + "=",
            h.replace('s', "S").replace(",S=", ",s=") + "!",
            "v2,t=1700000000000,s=".to_owned() + &"A".repeat(200),
            h.to_uppercase(),
        ];
        for bad in cases {
            assert_eq!(
                check(&bad, NOW, b"{\"a\":1}"),
                Err(EdgeAuthError::Malformed),
                "{bad:?}"
            );
        }
    }
}
