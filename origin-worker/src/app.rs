//! HTTP routes. `fn app(state) -> Router` so tests can drive it without a
//! socket. Handlers only orchestrate: checks live in [`crate::auth`] and
//! [`crate::validate`], state in [`crate::store`].
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `POST /api/passports` | edge + admission | `202 {"id","status":"queued"}` + key cookie |
//! | `GET /api/passports/{id}` | edge + admission, same session | `{"id","status","reason"}` |
//! | `GET /api/passports/{id}/pdf` | edge + admission, same session, key cookie | `application/pdf` |
//! | `GET /capacity?t=<ms>` | edge | the signed [`CapacityReport`] (`x-waitroom-origin-auth`) |
//! | `GET /healthz`, `GET /.well-known/dcc/keys` | open | |
//!
//! `GET /metrics` is on its own listener ([`metrics_app`], `ORIGIN_METRICS_ADDR`).
//!
//! Every route runs under the same guards: a deadline for the whole
//! request, body read included (`408 request_timeout`), and a process-wide
//! limit on requests in flight (`503 overloaded` + `Retry-After`). The
//! connection deadlines (headers, idle) are the server's, in [`crate::conn`].
//!
//! One admission, one passport request: a second `POST` with the same
//! admission is `409 already_used`. The first request's id is *not* returned
//! again, because its key went to the first response only and is not kept.

use std::sync::Arc;

use axum::{
    body::{to_bytes, Body},
    error_handling::HandleErrorLayer,
    extract::{OriginalUri, Path, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::json;
use tower::{
    limit::GlobalConcurrencyLimitLayer, load_shed::LoadShedLayer, timeout::TimeoutLayer, BoxError,
    ServiceBuilder,
};
use waitroom_core::capacity::{sign_report, CapacityReport, ORIGIN_AUTH_HEADER};
use waitroom_core::ticket::AdmissionClaims;

use crate::{
    auth::{self, RELEASE_HEADER},
    capacity::Capacity,
    config::Config,
    crypto::{self, Tag},
    error::AppError,
    metrics::Metrics,
    render::Renderer,
    store::{NewJob, Status, Store},
    validate,
};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The key cookie's name is this plus the passport id.
pub const KEY_COOKIE_PREFIX: &str = "__Secure-waitroom-pk-";
/// Length of a passport id: 16 random bytes, base64url.
const ID_LEN: usize = 22;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub capacity: Capacity,
    pub metrics: Arc<Metrics>,
    pub renderer: Arc<Renderer>,
}

pub fn app(state: AppState) -> Router {
    // Over the limit a request is shed at once (`load_shed`), not queued as
    // a bare `ConcurrencyLimit` would: a queued request still holds its
    // connection and memory, which is what a flood wants, while `503` +
    // `Retry-After` lets the edge and honest clients back off. One
    // semaphore, because `Router::layer` applies the layer to each route.
    let slots = Arc::new(tokio::sync::Semaphore::new(state.config.max_in_flight));
    let guards = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(guard_error))
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(slots))
        .layer(TimeoutLayer::new(state.config.request_timeout));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/.well-known/dcc/keys", get(dcc_keys))
        .route("/capacity", get(capacity))
        .route("/api/passports", post(create))
        .route("/api/passports/{id}", get(status))
        .route("/api/passports/{id}/pdf", get(pdf))
        .fallback(|| async { AppError::NotFound })
        .layer(guards)
        .with_state(state)
}

/// Maps a guard's refusal to the project's JSON errors.
async fn guard_error(e: BoxError) -> AppError {
    if e.is::<tower::timeout::error::Elapsed>() {
        AppError::RequestTimeout
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        AppError::Overloaded
    } else {
        AppError::Unavailable(format!("request guard: {e}"))
    }
}

/// The metrics listener's routes: `GET /metrics` only, no Redis command
/// per hit (the figures from Redis are cached, see [`crate::server`]).
pub fn metrics_app(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render(),
                )
            }),
        )
        .fallback(|| async { AppError::NotFound })
        .with_state(metrics)
}

async fn dcc_keys(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.renderer.public_keys())
}

/// `GET /capacity?t=<request ms>`: for the edge only (edge auth over the
/// path and its timestamp), answered with the figures signed for that very
/// request ([`sign_report`]).
async fn capacity(
    State(s): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let now = crate::now_ms();
    let pq = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let key = auth::check_edge(&s.config.edge_origin_keys, &headers, "GET", pq, now, b"")
        .inspect_err(|_| Metrics::inc(&s.metrics.auth_refused))?;
    // Authentic from here on: the MAC covered the query.
    let request_ms = uri
        .0
        .query()
        .and_then(|q| q.strip_prefix("t="))
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(AppError::InvalidField {
            field: "t",
            message: "the request's timestamp (t=<epoch ms>) is required",
        })?;
    let report: CapacityReport = s.capacity.report(&s.store, now).await?;
    let body = serde_json::to_vec(&report).expect("a report serializes");
    let signature = sign_report(key, request_ms, now, &body);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::HeaderName::from_static(ORIGIN_AUTH_HEADER),
                HeaderValue::from_str(&signature).expect("the signature is ASCII"),
            ),
        ],
        body,
    )
        .into_response())
}

/// Edge auth over the (bounded) body, then the admission ticket.
async fn authorize(
    s: &AppState,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(AdmissionClaims, axum::body::Bytes), AppError> {
    let now = crate::now_ms();
    let refused = |e: AppError| {
        Metrics::inc(&s.metrics.auth_refused);
        e
    };
    auth::require_edge_header(headers).map_err(refused)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    let bytes = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let pq = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    auth::check_edge(
        &s.config.edge_origin_keys,
        headers,
        method.as_str(),
        pq,
        now,
        &bytes,
    )
    .map_err(refused)?;
    let claims = auth::check_admission(&s.config.ticket_keys, headers, now, &s.config.room_id)
        .map_err(refused)?;
    Ok((claims, bytes))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn create(
    State(s): State<AppState>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let (claims, body) = authorize(&s, &method, &uri, &headers, body).await?;
    if !is_json(&headers) {
        return Err(AppError::UnsupportedMediaType);
    }
    let now = crate::now_ms();
    let request = validate::parse_request(&body, validate::utc_date(now))?;

    let id = URL_SAFE_NO_PAD.encode(crypto::random_bytes::<16>());
    let (secret, public) = crypto::new_passport_key();
    let plain = serde_json::to_vec(&request).expect("a validated request serializes");
    let keys = &s.config.job_keys;
    let session = keys.tag(Tag::Session, &claims.session_id);
    let binding = crypto::JobBinding {
        job_id: &id,
        public_key: &public,
        session: &session,
    };
    let sealed = keys.seal(&binding, &plain);
    s.store
        .create_job(
            &keys.tags(Tag::Ticket, &claims.ticket_id),
            claims.expires_ms,
            now,
            NewJob {
                id: &id,
                session_tag: &session,
                public_key: &public,
                sealed_payload: &sealed,
                created_ms: now,
            },
        )
        .await?;
    Metrics::inc(&s.metrics.jobs_created);
    if let Err(e) = s.capacity.submitted().await {
        tracing::warn!(error = ?e.kind(), "submission not counted for the capacity figures");
    }
    tracing::info!(job = %id, "passport job queued");

    let cookie = format!(
        "{KEY_COOKIE_PREFIX}{id}={}; Path=/api/passports/{id}; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        URL_SAFE_NO_PAD.encode(secret),
        s.config.result_ttl.as_secs()
    );
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": Status::Queued.as_str()})),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn plausible_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The job `id` of an authorised request: it must exist and belong to the
/// admission's session (anything else is `404`, never "someone else's").
async fn own_job(
    s: &AppState,
    id: &str,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Body,
) -> Result<crate::store::JobView, AppError> {
    let (claims, _) = authorize(s, method, uri, headers, body).await?;
    if !plausible_id(id) {
        return Err(AppError::NotFound);
    }
    let job = s.store.job_view(id).await?.ok_or(AppError::NotFound)?;
    let own = s
        .config
        .job_keys
        .tags(Tag::Session, &claims.session_id)
        .contains(&job.session);
    if !own {
        return Err(AppError::NotFound);
    }
    Ok(job)
}

async fn status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let job = own_job(&s, &id, &method, &uri, &headers, body).await?;
    let mut resp = Json(json!({"id": id, "status": job.status.as_str(), "reason": job.reason}))
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if matches!(job.status, Status::Rejected | Status::Failed) {
        h.insert(RELEASE_HEADER, HeaderValue::from_static("1"));
    }
    Ok(resp)
}

async fn pdf(
    State(s): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let job = own_job(&s, &id, &method, &uri, &headers, body).await?;
    if job.status != Status::Ready {
        return Err(AppError::NotReady);
    }
    let key: [u8; 32] = auth::cookie(&headers, &format!("{KEY_COOKIE_PREFIX}{id}"))
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .and_then(|v| v.try_into().ok())
        .ok_or(AppError::NotFound)?;
    let sealed = s.store.job_pdf(&id).await?.ok_or(AppError::NotFound)?;
    let pdf = crypto::open_with(&key, &sealed).ok_or(AppError::NotFound)?;
    Metrics::inc(&s.metrics.pdf_downloads);
    tracing::info!(job = %id, "passport downloaded");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"covid-passport.pdf\""),
            ),
            (
                header::HeaderName::from_static(RELEASE_HEADER),
                HeaderValue::from_static("1"),
            ),
        ],
        pdf,
    )
        .into_response())
}
