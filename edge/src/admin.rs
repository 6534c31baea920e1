//! Operators' API: `/admin/stats` and `/admin/config`, behind
//! `Authorization: Bearer <ADMIN_TOKEN>` compared in constant time.

use subtle::ConstantTimeEq;
use worker::*;

use crate::config::EdgeConfig;
use crate::http;
use crate::protocol;

/// Largest configuration patch accepted.
const MAX_CONFIG_BODY: usize = 4 * 1024;

/// Whether `given` is the operator token, in time independent of where the
/// first difference is (`subtle`). A token of another length is refused
/// (its length is all that leaks), and so is everything when the configured
/// token is empty: an unset-looking secret must not open the admin API.
pub fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    !expected.is_empty() && bool::from(given.ct_eq(expected))
}

fn authorized(req: &Request, cfg: &EdgeConfig) -> bool {
    let header = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    match header.strip_prefix("Bearer ") {
        Some(token) => token_matches(token.trim().as_bytes(), cfg.admin_token.as_bytes()),
        None => false,
    }
}

pub async fn handle(mut req: Request, env: &Env, cfg: &EdgeConfig) -> Result<Response> {
    if !authorized(&req, cfg) {
        let resp = http::error(401, "unauthorized", "A valid operator token is required.")?;
        resp.headers().set("WWW-Authenticate", "Bearer")?;
        return Ok(resp);
    }
    let coordinator = protocol::coordinator(env)?;
    match (req.method(), req.path().as_str()) {
        (Method::Get, "/admin/stats") => {
            let stats: serde_json::Value =
                protocol::call(&coordinator, "/stats", &serde_json::json!({})).await?;
            http::json(200, &stats)
        }
        (Method::Put, "/admin/config") => {
            let is_json = req
                .headers()
                .get("Content-Type")?
                .is_some_and(|c| c.starts_with("application/json"));
            if !is_json {
                return http::error(
                    415,
                    "unsupported_media_type",
                    "Send the configuration as application/json.",
                );
            }
            let body = req.bytes().await?;
            if body.len() > MAX_CONFIG_BODY {
                return http::error(
                    413,
                    "payload_too_large",
                    "The configuration patch is too large.",
                );
            }
            let patch: serde_json::Map<String, serde_json::Value> =
                match serde_json::from_slice(&body) {
                    Ok(p) => p,
                    Err(_) => {
                        return http::error(400, "malformed_json", "The body is not a JSON object.")
                    }
                };
            forward_config(&coordinator, patch).await
        }
        _ => http::error(404, "not_found", "No such operator route."),
    }
}

async fn forward_config(
    coordinator: &Stub,
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(
        serde_json::to_string(&patch)
            .map_err(|e| Error::RustError(e.to_string()))?
            .into(),
    ));
    let mut resp = coordinator
        .fetch_with_request(Request::new_with_init("https://do/config", &init)?)
        .await?;
    let status = resp.status_code();
    let body: serde_json::Value = resp.json().await?;
    http::json(status, &body)
}
