//! Who is asking: the cookie's ticket, verified, and bound to this browser
//! (`waitroom_core::client_binding`). Anything that does not verify
//! (tampered, expired, another room, unknown key, a ticket in the query
//! string, a ticket without its browser secret) is [`Visitor::Nobody`]: a
//! fresh place at the back, never an error.

use waitroom_core::client_binding;
use waitroom_core::placement::Holder;
use waitroom_core::ticket::{self, AdmissionClaims, Claims, WaitingClaims};
use worker::Request;

use crate::config::EdgeConfig;
use crate::http::{self, CLIENT_COOKIE, TICKET_COOKIE};

/// Whether a ticket was signed by a key other than the ring's newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldKey(pub bool);

pub enum Visitor {
    Nobody,
    /// The claims; whether an older key of the ring signed them (the next
    /// heartbeat re-signs the ticket with the newest, so a rotation keeps
    /// every place: README "Rotating keys"); the browser secret the ticket
    /// is bound to (its admission's session derives from it).
    Waiting(WaitingClaims, OldKey, String),
    /// The claims and the raw ticket (forwarded to the origin as it came).
    Admitted(AdmissionClaims, String),
}

impl Visitor {
    /// What the placement rules need to know about this visitor.
    pub fn holder(&self) -> Holder {
        match self {
            Visitor::Nobody => Holder::Nobody,
            Visitor::Waiting(..) => Holder::Waiting,
            Visitor::Admitted(..) => Holder::Admitted,
        }
    }
}

pub fn identify(req: &Request, cfg: &EdgeConfig, now: u64) -> Visitor {
    let cookies = http::cookie_header(req);
    let Some(raw) = http::cookie(&cookies, TICKET_COOKIE) else {
        return Visitor::Nobody;
    };
    let Ok(untrusted) = ticket::UntrustedTicket::parse(raw) else {
        return Visitor::Nobody;
    };
    let Ok(t) = untrusted.verify(&cfg.keys, now, &cfg.room) else {
        return Visitor::Nobody;
    };
    // A ticket without the browser secret it is bound to is a copy.
    let secret = http::cookie(&cookies, CLIENT_COOKIE);
    if !client_binding::matches(secret, t.claims().client()) {
        return Visitor::Nobody;
    }
    let secret = secret.unwrap_or_default().to_string();
    match t.claims().clone() {
        Claims::Waiting(w) => {
            Visitor::Waiting(w, OldKey(t.kid() != cfg.keys.signing_kid()), secret)
        }
        Claims::Admission(a) => Visitor::Admitted(a, raw.to_string()),
    }
}
