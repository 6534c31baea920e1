//! What the security and fault suites (issue 10) need beyond a citizen:
//! admitting citizens quickly, signing what only the edge may sign (with
//! the stack's own secrets), reading cookies, counting stored jobs.

use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use serde_json::json;
use waitroom_core::edge_auth::{sign_request, EDGE_AUTH_HEADER};
use waitroom_core::ticket::{self, AdmissionClaims, Claims, KeyRing};

use crate::{eventually, now_ms, Citizen, TestStack};

/// Joins each citizen, lets the Coordinator admit them all (10 a second),
/// and pauses admissions again.
pub fn admit_all(s: &TestStack, people: &mut [Citizen<'_>]) {
    for p in people.iter_mut() {
        if p.ticket().is_none() {
            assert_eq!(p.join().0, 201);
        }
    }
    let (code, body) = s.configure(json!({"paused": false, "new_users_per_minute": 600}));
    assert_eq!(code, 200, "{body}");
    eventually("everyone admitted", Duration::from_secs(30), || {
        people
            .iter_mut()
            .all(|p| p.status()["state"] == "admitted")
            .then_some(())
    });
    let (code, _) = s.configure(json!({"paused": true}));
    assert_eq!(code, 200);
}

/// The stack's ticket key ring.
pub fn ring(s: &TestStack) -> KeyRing {
    KeyRing::parse(&s.secrets().ticket_keys).unwrap()
}

/// An admission ticket signed with `ring` for room `room`, valid for 10 minutes.
pub fn admission(ring: &KeyRing, room: &str, ticket_id: &str) -> String {
    let now = now_ms();
    ticket::sign(
        ring,
        &Claims::Admission(AdmissionClaims {
            ticket_id: ticket_id.into(),
            room: room.into(),
            shard: 0,
            session_id: ticket_id.into(),
            not_before_ms: now - 1_000,
            expires_ms: now + 600_000,
            client: String::new(),
        }),
    )
}

/// A 32-hex-digit ticket id, distinct per `n`.
pub fn ticket_id(n: u64) -> String {
    format!("{:032x}", 0xfeed_0000_0000_0000_u64 + n)
}

/// Adds the admission ticket (if any) and the edge-to-origin
/// authentication header over it, as the edge would, at `ts`.
pub fn edge_signed(
    s: &TestStack,
    req: RequestBuilder,
    method: &str,
    path: &str,
    ticket: Option<&str>,
    ts: u64,
    body: &[u8],
) -> RequestBuilder {
    let key = waitroom_core::decode_secret(&s.secrets().edge_origin_key).unwrap();
    let auth = sign_request(&key, method, path, ticket.unwrap_or(""), ts, body);
    let req = req.header(EDGE_AUTH_HEADER, auth);
    match ticket {
        Some(t) => req.header("x-waitroom-ticket", t),
        None => req,
    }
}

/// `Max-Age` of a Set-Cookie line, if any.
pub fn max_age(set_cookie: &str) -> Option<u64> {
    set_cookie
        .split(';')
        .filter_map(|a| a.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("max-age"))
        .and_then(|(_, v)| v.parse().ok())
}

/// The number of passport jobs the origin stored.
pub fn job_count(s: &TestStack) -> usize {
    s.redis(&["--scan", "--pattern", "wr:job:*"])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}
