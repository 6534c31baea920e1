//! Any other `GET`: the form or result page for the admitted; for everyone
//! else a standing ([`super::queue::place`], creating a place if needed)
//! shown as the waiting page, the pre-queue countdown or the closed page.

use waitroom_core::placement::{Placement, Route};
use worker::*;

use super::queue;
use super::visitor::Visitor;
use crate::config::EdgeConfig;
use crate::pages::{self, WaitingView};
use crate::ratelimit::{self, Client};

pub async fn serve(
    req: &Request,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    path: &str,
    client: &Client,
) -> Result<Response> {
    let lang = pages::lang_of(req);
    if let Visitor::Admitted(..) = who {
        if let Some(id) = path.strip_prefix("/passport/") {
            // Passport ids are base64url (the origin's): letters, digits, '-' and '_'.
            let valid = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                return pages::respond(req, 200, pages::result(lang, id), None);
            }
            return pages::respond(req, 404, pages::form(lang), None);
        }
        return pages::respond(req, 200, pages::form(lang), None);
    }
    let placed = queue::place(Route::Page, env, cfg, who, now, client).await?;
    let view = match placed.placement {
        Placement::RateLimited => return ratelimit::too_many(req),
        // Admitted on this very load: the new cookie is set, show the form.
        Placement::Admitted { .. } => {
            return pages::respond(req, 200, pages::form(lang), placed.set_cookie)
        }
        Placement::Refused {
            reason,
            reopen_at_ms,
        } => return crate::operator::refused_response(req, reason, reopen_at_ms, now),
        Placement::PreQueue {
            eta_seconds,
            poll_after_ms,
            ..
        } => {
            let opens = now + eta_seconds * 1000;
            let body = pages::prequeue(lang, opens, poll_after_ms, now);
            return pages::respond(req, 200, body, placed.set_cookie);
        }
        Placement::Waiting {
            position,
            queue_length,
            eta_seconds,
            poll_after_ms,
        } => WaitingView {
            position,
            queue_length,
            eta_seconds,
            poll_after_ms,
            now_ms: now,
        },
        // A page replaces a lost place, so this does not happen; an empty
        // waiting page polls and finds out.
        Placement::Expired => WaitingView {
            position: 0,
            queue_length: 0,
            eta_seconds: 0,
            poll_after_ms: 0,
            now_ms: now,
        },
    };
    pages::respond(req, 200, pages::waiting(lang, &view), placed.set_cookie)
}
