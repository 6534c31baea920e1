//! HTTP routes. `fn app(state) -> Router` so tests can drive it without a
//! socket. Handlers only orchestrate: checks live in [`crate::auth`] and
//! [`crate::validate`], state in [`crate::store`].
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `POST /api/passports` | edge + admission | `202 {"id","status":"queued"}` + key cookie |
//! | `GET /api/passports/{id}` | edge + admission, same session | `{"id","status","reason"}` |
//! | `GET /api/passports/{id}/pdf` | edge + admission, same session, key cookie | `application/pdf` |
//! | `GET /healthz`, `GET /metrics`, `GET /.well-known/dcc/keys` | open | |
//!
//! One admission, one passport request: a second `POST` with the same
//! admission is `409 already_used`. The first request's id is *not* returned
//! again, because its key went to the first response only and is not kept.

use std::sync::Arc;

use axum::{
    body::{to_bytes, Body},
    extract::{OriginalUri, Path, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::json;
use waitroom_core::ticket::AdmissionClaims;

use crate::{
    auth::{self, RELEASE_HEADER},
    config::Config,
    crypto,
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
    pub metrics: Arc<Metrics>,
    pub renderer: Arc<Renderer>,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/.well-known/dcc/keys", get(dcc_keys))
        .route("/api/passports", post(create))
        .route("/api/passports/{id}", get(status))
        .route("/api/passports/{id}/pdf", get(pdf))
        .fallback(|| async { AppError::NotFound })
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let len = s.store.stream_len().await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(len),
    )
}

async fn dcc_keys(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.renderer.public_keys())
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
        &s.config.edge_origin_key,
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
    let sealed = crypto::seal_job(&s.config.job_seal_key, &id, &plain);
    s.store
        .create_job(
            &claims.ticket_id,
            claims.expires_ms,
            now,
            NewJob {
                id: &id,
                session_tag: &crypto::session_tag(&claims.session_id),
                public_key: &public,
                sealed_payload: &sealed,
                created_ms: now,
            },
        )
        .await?;
    Metrics::inc(&s.metrics.jobs_created);
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
    if job.session != crypto::session_tag(&claims.session_id) {
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
