//! Any other `GET`: the form or result page for the admitted; for everyone
//! else a standing ([`super::queue::place`]) shown as the waiting page, the
//! pre-queue countdown or the closed page. Only a navigation to `/` creates
//! a place ([`waitroom_core::request_site`]); another page without one
//! sends the browser to `/`.

use waitroom_core::placement::{Placement, Route};
use worker::*;

use super::queue;
use super::visitor::Visitor;
use crate::config::EdgeConfig;
use crate::http;
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
                return pages::respond(req, 200, pages::result(lang, id), &[]);
            }
            return pages::respond(req, 404, pages::form(lang), &[]);
        }
        return pages::respond(req, 200, pages::form(lang), &[]);
    }
    // Only the entry page, loaded as a page, makes a place: a cross-site
    // `<img src>` or a deep link shows a standing but never creates one.
    let route = if path == "/" && http::is_navigation(req.headers()) {
        Route::Page
    } else {
        Route::Status
    };
    let placed = queue::place(req, route, env, cfg, who, now, client).await?;
    let view = match placed.placement {
        Placement::RateLimited => return ratelimit::too_many(req),
        // Admitted on this very load: the new cookie is set, show the form.
        Placement::Admitted { .. } => {
            return pages::respond(req, 200, pages::form(lang), &placed.set_cookies)
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
            let body = pages::prequeue(lang, opens, poll_after_ms, now, placed.message_text(lang));
            return pages::respond(req, 200, body, &placed.set_cookies);
        }
        Placement::Waiting {
            position,
            queue_length,
            eta_seconds,
            poll_after_ms,
            hold_until_ms,
        } => WaitingView {
            // 0 while counting: the page says so and polls within a second.
            position: position.unwrap_or(0),
            queue_length,
            eta_seconds,
            poll_after_ms,
            now_ms: now,
            hold_until_ms,
            message: placed.message_text(lang).map(str::to_owned),
        },
        // No place, and this request may not make one: a navigation goes
        // to the entry page (which does), anything else is refused.
        Placement::Expired => return no_place_here(req),
    };
    pages::respond(req, 200, pages::waiting(lang, &view), &placed.set_cookies)
}

/// A page load with no place that may not create one: a navigation is
/// sent to `/` (303), a subresource or frame gets `403`.
fn no_place_here(req: &Request) -> Result<Response> {
    if http::is_navigation(req.headers()) {
        let resp = http::html(303, String::new())?;
        resp.headers().set("Location", "/")?;
        return Ok(resp);
    }
    http::error(
        403,
        "not_a_navigation",
        "A place in the queue is only made by opening the waiting room's page.",
    )
}
