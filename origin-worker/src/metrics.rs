//! Counters, rendered in the Prometheus text format on `GET /metrics` (its
//! own listener, `ORIGIN_METRICS_ADDR`). The one figure from Redis, the
//! stream length, is a cached gauge refreshed by the server, so a scrape
//! (or a flood of them) costs Redis nothing.
//! Plain atomics: a handful of counters do not need a metrics framework.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Metrics {
    pub jobs_created: AtomicU64,
    pub jobs_ready: AtomicU64,
    pub jobs_rejected: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_reclaimed: AtomicU64,
    pub rejected_not_found: AtomicU64,
    pub rejected_mismatch: AtomicU64,
    pub rejected_no_doses: AtomicU64,
    pub rejected_attempt_limit: AtomicU64,
    pub pdf_downloads: AtomicU64,
    pub registry_calls: AtomicU64,
    pub registry_errors: AtomicU64,
    pub registry_429: AtomicU64,
    pub circuit_open: AtomicU64,
    pub auth_refused: AtomicU64,
    pub in_flight: AtomicU64,
    /// The stream's length at the last refresh; `u64::MAX` before the first.
    pub stream_entries: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let z = || AtomicU64::new(0);
        Metrics {
            jobs_created: z(),
            jobs_ready: z(),
            jobs_rejected: z(),
            jobs_failed: z(),
            jobs_reclaimed: z(),
            rejected_not_found: z(),
            rejected_mismatch: z(),
            rejected_no_doses: z(),
            rejected_attempt_limit: z(),
            pdf_downloads: z(),
            registry_calls: z(),
            registry_errors: z(),
            registry_429: z(),
            circuit_open: z(),
            auth_refused: z(),
            in_flight: z(),
            stream_entries: AtomicU64::new(u64::MAX),
        }
    }
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let stream_len = Some(self.stream_entries.load(Relaxed)).filter(|&n| n != u64::MAX);
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, v: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        };
        let c = |a: &AtomicU64| a.load(Relaxed);
        line(
            "waitroom_origin_jobs_created_total",
            "counter",
            "Passport jobs accepted.",
            c(&self.jobs_created),
        );
        line(
            "waitroom_origin_jobs_ready_total",
            "counter",
            "Passports issued by this process.",
            c(&self.jobs_ready),
        );
        line(
            "waitroom_origin_jobs_rejected_total",
            "counter",
            "Jobs the registry did not confirm.",
            c(&self.jobs_rejected),
        );
        // The citizen reads one message for all of these (src/worker.rs).
        for (name, help, v) in [
            (
                "waitroom_origin_rejected_not_found_total",
                "Rejections: the registry has no record of the national id.",
                &self.rejected_not_found,
            ),
            (
                "waitroom_origin_rejected_mismatch_total",
                "Rejections: the details do not match the registry's record.",
                &self.rejected_mismatch,
            ),
            (
                "waitroom_origin_rejected_no_doses_total",
                "Rejections: the registry holds no dose for the person.",
                &self.rejected_no_doses,
            ),
            (
                "waitroom_origin_rejected_attempt_limit_total",
                "Rejections without a registry call: too many attempts for the national id.",
                &self.rejected_attempt_limit,
            ),
        ] {
            line(name, "counter", help, c(v));
        }
        line(
            "waitroom_origin_jobs_failed_total",
            "counter",
            "Jobs that failed.",
            c(&self.jobs_failed),
        );
        line(
            "waitroom_origin_jobs_reclaimed_total",
            "counter",
            "Jobs taken over from a dead worker.",
            c(&self.jobs_reclaimed),
        );
        line(
            "waitroom_origin_pdf_downloads_total",
            "counter",
            "PDFs downloaded.",
            c(&self.pdf_downloads),
        );
        line(
            "waitroom_origin_registry_calls_total",
            "counter",
            "Registry calls made.",
            c(&self.registry_calls),
        );
        line(
            "waitroom_origin_registry_errors_total",
            "counter",
            "Registry calls that failed (timeouts, 5xx).",
            c(&self.registry_errors),
        );
        line(
            "waitroom_origin_registry_429_total",
            "counter",
            "Registry answers 429 (should stay 0).",
            c(&self.registry_429),
        );
        line(
            "waitroom_origin_registry_circuit_open",
            "gauge",
            "1 while the registry circuit breaker is open.",
            c(&self.circuit_open),
        );
        line(
            "waitroom_origin_auth_refused_total",
            "counter",
            "Requests refused with 401/403.",
            c(&self.auth_refused),
        );
        line(
            "waitroom_origin_jobs_in_flight",
            "gauge",
            "Jobs being worked on by this process.",
            c(&self.in_flight),
        );
        if let Some(n) = stream_len {
            line(
                "waitroom_origin_stream_entries",
                "gauge",
                "Entries in the job stream (queued or in flight).",
                n,
            );
        }
        out
    }
}
