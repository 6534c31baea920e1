//! Closed-loop pacing: the origin's capacity report and the rule that turns
//! it into the room's admission rate.
//!
//! The origin answers `GET /capacity` (edge-to-origin authenticated, for the
//! Coordinator only) with a [`CapacityReport`], and signs the answer with the
//! same edge-to-origin key ([`sign_report`] / [`verify_report`]): a figure
//! that makes the room admit thousands must come from the origin, and from
//! this very request, not from a replay.
//!
//! # Layout
//! - this file: [`CapacityReport`] (the wire type) and its signature.
//! - `controller.rs`: [`PacingController`], the closed loop (pure, no clock:
//!   `now_ms` is a parameter), and the [`PacingReason`] the dashboard shows.

use serde::{Deserialize, Serialize};

use crate::edge_auth::{self, EdgeAuthError};

mod controller;

pub use controller::{
    PacingController, PacingDecision, PacingReason, PacingStats, CORRECTION_S, REPORT_STALE_MS,
    TARGET_BACKLOG_S,
};

/// The share of the registry's announced limit the origin leaves unused.
///
/// A registry enforces its limit where calls *arrive*; the origin can only
/// space them where they *leave*. Between the two lie the origin's wake-up,
/// Redis's answer and the network, a few milliseconds that differ from call
/// to call. A registry with a burst of one (a limit of one call a second, or
/// a sliding window of `quota;w=1` at any quota) refuses a call that arrives
/// any earlier, relative to the one before, than its slot. Spaced exactly
/// at the limit, a launch run against a 1/s registry heard 211 `429`s, and
/// the pacing loop, seeing them, kept cutting the rate. Sending at 98 % of
/// the limit gives each second 20 ms for that jitter
/// (`origin-worker/tests/capacity.rs` runs two processes against a 1/s
/// registry and expects no `429`).
pub const REGISTRY_HEADROOM: f64 = 0.02;

/// Calls per second the origin sends to a registry announcing `limit_per_s`.
pub fn sendable_per_s(limit_per_s: f64) -> f64 {
    limit_per_s * (1.0 - REGISTRY_HEADROOM)
}

/// The origin's signature of a capacity answer (request header of the same
/// name as the edge's, with another domain: see [`verify_report`]).
pub const ORIGIN_AUTH_HEADER: &str = "x-waitroom-origin-auth";
/// The route, as signed.
pub const CAPACITY_PATH: &str = "/capacity";
/// The "method" of a response signature. It contains a space, which no HTTP
/// method can, so a signed report never verifies as a signed request.
const REPORT_DOMAIN: &str = "capacity report";

/// What the origin can serve, as measured by the origin (all its processes
/// together: the figures live in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    /// Jobs accepted and not finished: waiting for the registry or at it.
    pub backlog: u64,
    /// Registry calls answered per second over the last `interval_ms`.
    pub completed_per_s: f64,
    /// The window of `completed_per_s`, `errors` and `rate_limited`.
    pub interval_ms: u64,
    /// The registry's rate limit in force (calls per second).
    pub limit_per_s: f64,
    /// Registry calls that failed (timeouts, refused connections, 5xx)
    /// over the interval.
    pub errors: u64,
    /// Registry answers `429` over the interval (should stay 0).
    pub rate_limited: u64,
    /// Whether the registry answered its last call.
    pub reachable: bool,
    /// Passport jobs ever accepted (a running total; the Coordinator
    /// compares its differences with admissions to learn the no-show rate).
    pub submitted_total: u64,
}

/// The path a capacity request is made to and signed for: the edge's
/// timestamp in the query binds the origin's signed answer to this request.
pub fn capacity_path(request_ms: u64) -> String {
    format!("{CAPACITY_PATH}?t={request_ms}")
}

/// The origin's signature header for `body`, the answer to the request
/// made at `request_ms` (from its path), signed at `now_ms`.
pub fn sign_report(key: &[u8], request_ms: u64, now_ms: u64, body: &[u8]) -> String {
    edge_auth::sign_request(
        key,
        REPORT_DOMAIN,
        &capacity_path(request_ms),
        "",
        now_ms,
        body,
    )
}

/// Checks the origin's signature of `body`, the answer to the edge's
/// request made at `request_ms`, and decodes it.
pub fn verify_report(
    key: &[u8],
    header: &str,
    request_ms: u64,
    now_ms: u64,
    body: &[u8],
) -> Result<CapacityReport, ReportError> {
    edge_auth::verify_request(
        key,
        header,
        REPORT_DOMAIN,
        &capacity_path(request_ms),
        "",
        now_ms,
        body,
    )
    .map_err(ReportError::Signature)?;
    let report: CapacityReport =
        serde_json::from_slice(body).map_err(|e| ReportError::Body(e.to_string()))?;
    let finite = [report.completed_per_s, report.limit_per_s]
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0);
    if !finite {
        return Err(ReportError::Body("negative or non-finite rate".into()));
    }
    Ok(report)
}

/// Why a capacity answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("capacity report signature: {0}")]
    Signature(EdgeAuthError),
    #[error("capacity report body: {0}")]
    Body(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"edge-origin test key, 32+ bytes long";
    const T: u64 = 1_700_000_000_000;

    fn report() -> CapacityReport {
        CapacityReport {
            backlog: 12,
            completed_per_s: 19.5,
            interval_ms: 10_000,
            limit_per_s: 20.0,
            errors: 0,
            rate_limited: 0,
            reachable: true,
            submitted_total: 400,
        }
    }

    #[test]
    fn a_signed_report_verifies_for_its_request_only() {
        let body = serde_json::to_vec(&report()).unwrap();
        let sig = sign_report(KEY, T, T + 5, &body);
        assert_eq!(verify_report(KEY, &sig, T, T + 10, &body), Ok(report()));
        // Another request's answer (a replay), another key, another body.
        assert_eq!(
            verify_report(KEY, &sig, T + 1, T + 10, &body),
            Err(ReportError::Signature(EdgeAuthError::BadMac))
        );
        assert_eq!(
            verify_report(b"another key, also 32 bytes long..", &sig, T, T + 10, &body),
            Err(ReportError::Signature(EdgeAuthError::BadMac))
        );
        let mut forged = report();
        forged.limit_per_s = 10_000.0;
        let forged = serde_json::to_vec(&forged).unwrap();
        assert_eq!(
            verify_report(KEY, &sig, T, T + 10, &forged),
            Err(ReportError::Signature(EdgeAuthError::BadMac))
        );
    }

    #[test]
    fn a_report_signature_is_not_a_request_signature() {
        let body = serde_json::to_vec(&report()).unwrap();
        let sig = sign_report(KEY, T, T, &body);
        for method in ["GET", "POST", "capacity"] {
            assert_eq!(
                edge_auth::verify_request(KEY, &sig, method, &capacity_path(T), "", T, &body),
                Err(EdgeAuthError::BadMac)
            );
        }
    }

    #[test]
    fn nonsense_figures_are_refused_even_when_signed() {
        let body = br#"{"backlog":1,"completed_per_s":-1.0,"interval_ms":1,"limit_per_s":5.0,
            "errors":0,"rate_limited":0,"reachable":true,"submitted_total":0}"#;
        let sig = sign_report(KEY, T, T, body);
        assert!(matches!(
            verify_report(KEY, &sig, T, T, body),
            Err(ReportError::Body(_))
        ));
        let sig = sign_report(KEY, T, T, b"{}");
        assert!(matches!(
            verify_report(KEY, &sig, T, T, b"{}"),
            Err(ReportError::Body(_))
        ));
    }
}
