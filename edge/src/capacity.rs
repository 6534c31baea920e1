//! Closed-loop pacing in the Coordinator: each tick, before the admission
//! controller runs, ask the origin what it can serve (`GET /capacity`,
//! edge-to-origin authenticated, its answer signed for this very request:
//! `waitroom_core::capacity`), run the pure `PacingController`, and hand the
//! controller an `AdmissionConfig` whose `new_users_per_minute` is the
//! effective rate, so the budget and the ETAs follow it. The loop's state is
//! kept in the Coordinator's storage under `pacing` (JSON text).
//!
//! A failed or unverifiable report is logged once, when the rate falls back
//! to the operator's (`origin_silent`), not every tick.

use std::time::Duration;

use futures_util::future::{select, Either};
use waitroom_core::capacity::{
    capacity_path, verify_report, CapacityReport, PacingController, PacingReason, PacingStats,
    ORIGIN_AUTH_HEADER,
};
use waitroom_core::coordinator::{AdmissionConfig, ShardSummary, Stored};
use waitroom_core::edge_auth::{self, EDGE_AUTH_HEADER};
use waitroom_core::operator::{OperatorConfig, Pacing};
use worker::{
    console_log, console_warn, AbortController, Delay, Env, Error, Fetch, Headers, Method, Request,
    RequestInit, RequestRedirect, Result, State,
};

use crate::config::EdgeConfig;

const KEY_PACING: &str = "pacing";
/// Longest a tick waits for the origin's report.
const FETCH_TIMEOUT: Duration = Duration::from_millis(500);

async fn load(state: &State) -> Result<PacingController> {
    Ok(
        match Stored::decode(state.storage().get(KEY_PACING).await?) {
            Stored::Found(c) => c,
            Stored::Absent | Stored::Unreadable => PacingController::new(),
        },
    )
}

/// The origin's capacity report for a tick at `now_ms`, if pacing asks for
/// one: `None` under fixed pacing, else the verified report or why there is
/// none. The Coordinator asks while the shards make their summaries, so the
/// round trip to the origin does not lengthen the tick.
pub async fn ask_origin(
    env: &Env,
    operator: &OperatorConfig,
    now_ms: u64,
) -> Option<std::result::Result<CapacityReport, String>> {
    if operator.pacing != Pacing::Origin {
        return None;
    }
    Some(fetch_report(env, now_ms).await.map_err(|e| e.to_string()))
}

/// `config` for this tick, with the effective admission rate given the
/// origin's `answer` ([`ask_origin`]), and what the loop now shows (not
/// paused: the tick admits).
pub async fn paced_config(
    state: &State,
    config: &AdmissionConfig,
    operator: &OperatorConfig,
    answer: Option<std::result::Result<CapacityReport, String>>,
    summaries: &[ShardSummary],
    now_ms: u64,
) -> Result<(AdmissionConfig, PacingStats)> {
    let mut pacing = load(state).await?;
    let before = pacing.last();
    let mut failure = None;
    match answer {
        Some(Ok(report)) => pacing.observe(now_ms, report),
        Some(Err(e)) => failure = Some(e),
        None => {}
    }
    let admitted_total = summaries.iter().map(|s| s.admitted_total).sum();
    let decision = pacing.decide(
        now_ms,
        operator.pacing,
        config.new_users_per_minute,
        operator.pacing_floor_per_minute,
        admitted_total,
    );
    if decision.reason != before.reason {
        if decision.reason == PacingReason::OriginSilent {
            console_warn!(
                "pacing: no capacity report from the origin ({}), admitting at the fixed rate",
                failure.as_deref().unwrap_or("stale")
            );
        }
        console_log!(
            "{}",
            serde_json::json!({
                "event": "pacing_changed",
                "reason": decision.reason,
                "rate_per_min": decision.rate_per_min,
            })
        );
    }
    let text = serde_json::to_string(&pacing).map_err(|e| Error::RustError(e.to_string()))?;
    state.storage().put(KEY_PACING, text).await?;
    let paced = AdmissionConfig {
        new_users_per_minute: decision.rate_per_min,
        ..*config
    };
    Ok((paced, pacing.stats(false)))
}

/// What `/admin/stats` shows of the loop.
pub async fn stats(state: &State, paused: bool) -> Result<PacingStats> {
    Ok(load(state).await?.stats(paused))
}

/// `GET /capacity?t=<now>` from the origin, its signature checked.
async fn fetch_report(env: &Env, now_ms: u64) -> Result<CapacityReport> {
    let cfg = EdgeConfig::get(env)?;
    let path = capacity_path(now_ms);
    let headers = Headers::new();
    let auth = edge_auth::sign_request(&cfg.edge_origin_key, "GET", &path, "", now_ms, b"");
    headers.set(EDGE_AUTH_HEADER, &auth)?;
    let mut init = RequestInit::new();
    // A redirect is an answer (not 200, so refused), never followed.
    init.with_method(Method::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    let url = format!("{}{path}", cfg.origin_url.trim_end_matches('/'));
    let request = Request::new_with_init(&url, &init)?;
    let abort = AbortController::default();
    let signal = abort.signal();
    let fetch = Fetch::Request(request);
    let sent = std::pin::pin!(fetch.send_with_signal(&signal));
    let timeout = std::pin::pin!(Delay::from(FETCH_TIMEOUT));
    let mut resp = match select(sent, timeout).await {
        Either::Left((resp, _)) => resp?,
        Either::Right(_) => {
            abort.abort();
            return Err(Error::RustError("timed out".into()));
        }
    };
    if resp.status_code() != 200 {
        return Err(Error::RustError(format!("status {}", resp.status_code())));
    }
    let signature = resp
        .headers()
        .get(ORIGIN_AUTH_HEADER)?
        .ok_or_else(|| Error::RustError("unsigned answer".into()))?;
    let body = resp.bytes().await?;
    let received = crate::clock::now_ms();
    verify_report(&cfg.edge_origin_key, &signature, now_ms, received, &body)
        .map_err(|e| Error::RustError(e.to_string()))
}
