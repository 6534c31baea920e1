//! Who is asking: the cookie's ticket, verified. Anything that does not
//! verify (tampered, expired, another room, unknown key, a ticket in the
//! query string) is [`Visitor::Nobody`]: a fresh place at the back, never an
//! error.

use waitroom_core::placement::Holder;
use waitroom_core::ticket::{self, AdmissionClaims, Claims, WaitingClaims};
use worker::Request;

use crate::config::EdgeConfig;
use crate::http::{self, TICKET_COOKIE};

pub enum Visitor {
    Nobody,
    Waiting(WaitingClaims),
    /// The claims and the raw ticket (forwarded to the origin as it came).
    Admitted(AdmissionClaims, String),
}

impl Visitor {
    /// What the placement rules need to know about this visitor.
    pub fn holder(&self) -> Holder {
        match self {
            Visitor::Nobody => Holder::Nobody,
            Visitor::Waiting(_) => Holder::Waiting,
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
    match untrusted.verify(&cfg.keys, now, &cfg.room) {
        Ok(t) => match t.claims().clone() {
            Claims::Waiting(w) => Visitor::Waiting(w),
            Claims::Admission(a) => Visitor::Admitted(a, raw.to_string()),
        },
        Err(_) => Visitor::Nobody,
    }
}
