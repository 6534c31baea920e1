//! Operators' API: `/admin/stats`, `/admin/config` and `/admin/report`, behind
//! `Authorization: Bearer <ADMIN_TOKEN>` compared in constant time
//! (`core::admin_token`). An address that fails too often is refused every
//! operator request for a minute, before its token is even compared
//! ([`ratelimit::admin_blocked`]).

use worker::*;

use waitroom_core::operator::{build_report, report_csv};
use waitroom_core::protocol::coordinator::{Stats, INVALID_STATUS};
use waitroom_core::protocol::{ConfigPatch, ConfigReply, ReportRecords};

use crate::config::EdgeConfig;
use crate::forward;
use crate::http;
use crate::protocol;
use crate::ratelimit::{self, Client};

/// Largest configuration patch accepted.
const MAX_CONFIG_BODY: usize = 4 * 1024;

fn authorized(req: &Request, cfg: &EdgeConfig) -> bool {
    let header = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    waitroom_core::admin_token::authorizes(&header, &cfg.admin_token)
}

pub async fn handle(
    mut req: Request,
    env: &Env,
    cfg: &EdgeConfig,
    client: &Client,
    now_ms: u64,
) -> Result<Response> {
    if let Some(retry_after) = ratelimit::admin_blocked(client, now_ms) {
        return too_many_failures(retry_after);
    }
    if !authorized(&req, cfg) {
        if ratelimit::admin_failed(env, client, now_ms).await {
            return too_many_failures(ratelimit::ADMIN_BLOCK_MS / 1000);
        }
        let resp = http::error(401, "unauthorized", "A valid operator token is required.")?;
        resp.headers().set("WWW-Authenticate", "Bearer")?;
        return Ok(resp);
    }
    match (req.method(), req.path().as_str()) {
        (Method::Get, "/admin/stats") => {
            http::json(200, &protocol::coordinator_call(env, Stats).await?)
        }
        (Method::Get, "/admin/report") => report(&req, env).await,
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
            let Some(body) = forward::read_capped(&mut req, MAX_CONFIG_BODY).await? else {
                return http::error(
                    413,
                    "payload_too_large",
                    "The configuration patch is too large.",
                );
            };
            let patch: serde_json::Map<String, serde_json::Value> =
                match serde_json::from_slice(&body) {
                    Ok(p) => p,
                    Err(_) => {
                        return http::error(400, "malformed_json", "The body is not a JSON object.")
                    }
                };
            match protocol::coordinator_call(env, ConfigPatch(patch)).await? {
                ConfigReply::Applied(config) => {
                    // This isolate applies new bypass rules at once.
                    crate::bypass::invalidate();
                    http::json(200, &config)
                }
                ConfigReply::Invalid(invalid) => http::json(INVALID_STATUS, &invalid),
            }
        }
        _ => http::error(404, "not_found", "No such operator route."),
    }
}

/// `GET /admin/report`: JSON (`Report`), or CSV with `?format=csv`.
async fn report(req: &Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let format = url
        .query_pairs()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned());
    let records = protocol::coordinator_call(env, ReportRecords)
        .await?
        .records;
    match format.as_deref() {
        None | Some("json") => http::json(200, &build_report(&records)),
        Some("csv") => {
            let resp = http::secure(Response::ok(report_csv(&records))?);
            let headers = resp.headers();
            headers.set("Content-Type", "text/csv; charset=utf-8")?;
            headers.set(
                "Content-Disposition",
                "attachment; filename=\"waitroom-report.csv\"",
            )?;
            headers.set("Cache-Control", "no-store")?;
            Ok(resp)
        }
        Some(_) => http::error(400, "bad_format", "format must be json or csv."),
    }
}

fn too_many_failures(retry_after_s: u64) -> Result<Response> {
    let resp = http::error(
        429,
        "too_many_failures",
        "Too many failed operator logins from your network. Try again later.",
    )?;
    resp.headers()
        .set("Retry-After", &retry_after_s.max(1).to_string())?;
    Ok(resp)
}
