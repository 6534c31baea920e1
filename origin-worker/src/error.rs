//! The one error type of the HTTP layer, mapped to a response in one place.
//!
//! Clients get a stable machine code and a short human message; the detail
//! (which check failed, what Redis said) goes to the log only, and never
//! contains personal data.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// Seconds a client is asked to wait after a `503`.
pub const RETRY_AFTER_SECONDS: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not forwarded by the edge (missing, malformed, stale or bad MAC).
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// No valid admission ticket.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Unknown id, another session's job, an expired result, a wrong key.
    #[error("not found")]
    NotFound,
    /// The admission was already used for a passport request.
    #[error("admission already used")]
    AlreadyUsed,
    /// The PDF is not rendered yet (or the request ended without one).
    #[error("not ready")]
    NotReady,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("malformed json")]
    MalformedJson,
    #[error("invalid field {field}")]
    InvalidField {
        field: &'static str,
        message: &'static str,
    },
    /// The request (its body included) did not complete within the deadline.
    #[error("request timeout")]
    RequestTimeout,
    /// More requests in flight than `ORIGIN_MAX_IN_FLIGHT`: shed, retry later.
    #[error("overloaded")]
    Overloaded,
    /// A dependency (Redis) is unavailable: retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::AlreadyUsed | AppError::NotReady => StatusCode::CONFLICT,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::MalformedJson => StatusCode::BAD_REQUEST,
            AppError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Overloaded | AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::AlreadyUsed => "already_used",
            AppError::NotReady => "not_ready",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::MalformedJson => "malformed_json",
            AppError::InvalidField { .. } => "invalid_field",
            AppError::RequestTimeout => "request_timeout",
            AppError::Overloaded => "overloaded",
            AppError::Unavailable(_) => "unavailable",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "request did not come through the waiting room",
            AppError::Forbidden(_) => "a valid admission is required",
            AppError::NotFound => "no such passport request",
            AppError::AlreadyUsed => "this admission was already used for a passport request",
            AppError::NotReady => "the passport is not ready",
            AppError::UnsupportedMediaType => "send application/json",
            AppError::PayloadTooLarge => "request body is larger than 16 KiB",
            AppError::MalformedJson => "request body is not valid JSON",
            AppError::InvalidField { message, .. } => message,
            AppError::RequestTimeout => "the request was not completed in time",
            AppError::Overloaded => "too many requests in progress, retry shortly",
            AppError::Unavailable(_) => "temporarily unavailable, retry shortly",
        }
    }
}

impl From<redis::RedisError> for AppError {
    fn from(e: redis::RedisError) -> Self {
        AppError::Unavailable(format!("redis: {}", e.kind_str()))
    }
}

trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for redis::RedisError {
    /// The error category only: Redis error text can echo arguments.
    fn kind_str(&self) -> String {
        format!("{:?}", self.kind())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let body = match &self {
            AppError::InvalidField { field, message } => {
                json!({"error": self.code(), "field": field, "message": message})
            }
            _ => json!({"error": self.code(), "message": self.message()}),
        };
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The unread rest of the body makes the connection unusable anyway.
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl From<waitroom_core::passport_request::RequestError> for AppError {
    fn from(e: waitroom_core::passport_request::RequestError) -> Self {
        use waitroom_core::passport_request::RequestError;
        match e {
            RequestError::MalformedJson => AppError::MalformedJson,
            RequestError::InvalidField { field, message } => {
                AppError::InvalidField { field, message }
            }
        }
    }
}
