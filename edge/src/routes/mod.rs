//! The public Worker: who is this visitor, and what they may see. Only
//! admitted visitors ever reach the origin.
//!
//! ## Layout
//! - [`visitor`]: who is asking (the cookie's ticket, verified).
//! - [`queue`]: `POST /queue/join`, `GET /queue/status` (the heartbeat),
//!   `POST /queue/leave`, and the placement steps the pages share.
//! - [`api`]: `/api/passports…`, forwarded for admitted visitors only.
//! - [`fairness`]: `GET /fairness` and `/fairness/entries`, the lottery's
//!   public proof.
//! - [`page`]: any other page: the form for the admitted, the waiting page
//!   (or pre-queue countdown, or closed page) for everyone else.
//! - `test_support`: `/__test/*`, compiled only with the `test-routes` feature.

pub mod api;
pub mod fairness;
pub mod page;
pub mod queue;
#[cfg(feature = "test-routes")]
mod test_support;
pub mod visitor;

use waitroom_core::operator::Bypass;
use worker::*;

use crate::admin;
use crate::clock::now_ms;
use crate::config::EdgeConfig;
use crate::forward;
use crate::http;
use crate::ratelimit::Client;

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    let method = req.method();
    // The bare route: no configuration, no storage (the benchmark's baseline).
    if path == "/healthz" {
        return http::json(200, &serde_json::json!({ "ok": true }));
    }
    if path.starts_with("/assets/") && matches!(method, Method::Get | Method::Head) {
        return static_asset(req, &env).await;
    }
    #[cfg(feature = "test-routes")]
    if path.starts_with(test_support::PREFIX) {
        return test_support::handle(req, &env).await;
    }
    let cfg = match EdgeConfig::get(&env) {
        Ok(c) => c,
        Err(e) => {
            console_error!("configuration error: {e}");
            return http::error(500, "misconfigured", "The waiting room is not configured.");
        }
    };
    let now = now_ms();
    // Another site making a citizen's browser leave, join or submit.
    if !matches!(method, Method::Get | Method::Head) && !http::same_origin_or_no_browser(&req)? {
        return http::error(
            403,
            "cross_site",
            "This request came from another site and was refused.",
        );
    }
    // Operator bypass paths (BYPASS_PATHS): never queued. Only those in
    // BYPASS_FORWARD (the verifiers' public keys) reach the origin without a
    // ticket; the rest are served from public/ or 404.
    match crate::operator::bypass(&cfg, &path) {
        Bypass::Origin if matches!(method, Method::Get | Method::Head) => {
            return forward::to_origin(req, &cfg, None, now).await;
        }
        Bypass::Origin | Bypass::Edge => {
            if !matches!(method, Method::Get | Method::Head) {
                return http::method_not_allowed("GET, HEAD");
            }
            return crate::operator::serve_bypass(req, &env).await;
        }
        Bypass::No => {}
    }
    if path == "/admin" && method == Method::Get {
        return crate::operator::admin_page();
    }
    let client = Client::of(&req);
    if path == "/admin" || path.starts_with("/admin/") {
        return admin::handle(req, &env, &cfg, &client, now).await;
    }
    let who = visitor::identify(&req, &cfg, now);
    match (method, path.as_str()) {
        (Method::Post, "/queue/join") => queue::join(&req, &env, &cfg, who, now, &client).await,
        (Method::Get, "/queue/status") => queue::status(&req, &env, &cfg, who, now, &client).await,
        (Method::Post, "/queue/leave") => queue::leave(&env, who).await,
        (Method::Get, "/fairness" | "/fairness/entries") => {
            fairness::serve(&req, &env, &path, &client).await
        }
        (_, p) if p == "/api/passports" || p.starts_with("/api/passports/") => {
            api::forward(req, &env, &cfg, who, now, &client).await
        }
        (Method::Get | Method::Head, p) => {
            page::serve(&req, &env, &cfg, who, now, p, &client).await
        }
        (_, p) => http::method_not_allowed(match p {
            "/queue/join" | "/queue/leave" => "POST",
            "/queue/status" | "/fairness" | "/fairness/entries" => "GET",
            _ => "GET, HEAD",
        }),
    }
}

async fn static_asset(req: Request, env: &Env) -> Result<Response> {
    let mut resp = http::mutable_copy(env.assets("ASSETS")?.fetch_request(req).await?)?;
    // Versioned by deploy, tiny, and identical for everyone.
    resp.headers_mut()
        .set("Cache-Control", "public, max-age=300")?;
    Ok(http::secure(resp))
}
