//! The client of the third-party vaccination registry, and its wire types
//! (`registry-sim`, the stand-in, keeps its own copy: see the test below).
//!
//! - Every call first takes a slot from the shared [`RegistryPacer`], so the
//!   registry never sees more than its limit from all processes together.
//! - Timeouts: [`crate::config::Config::registry_timeout`] per call, 1 s to
//!   connect.
//! - Retries: up to [`MAX_ATTEMPTS`] on timeouts, connection errors, `5xx`
//!   and `429`, with exponential backoff and full jitter.
//! - Circuit breaker: after [`OPEN_AFTER_FAILURES`] failed calls in a row the
//!   circuit opens for [`OPEN_FOR`]; calls then fail at once with
//!   [`RegistryError::Unavailable`] without touching the network (and without
//!   using rate-limit slots). After that, calls go through again; one success
//!   closes it, one more failure re-opens it.
//!
//! - Capacity: every call's outcome is recorded for `GET /capacity`, and
//!   the limit the registry announces (`ratelimit-policy`) becomes the
//!   pacer's ([`crate::capacity`]).
//!
//! Callers (the worker) treat `Unavailable` as "wait and try again": a job
//! is never lost because the registry is down.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    capacity::{CallOutcome, Capacity},
    metrics::Metrics,
    ratelimit::RegistryPacer,
    validate::PassportRequest,
};

pub const MAX_ATTEMPTS: u32 = 3;
pub const OPEN_AFTER_FAILURES: u32 = 5;
pub const OPEN_FOR: Duration = Duration::from_secs(2);
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// `POST /verify` body.
#[derive(Clone, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: String,
    pub national_id: String,
}

impl From<&PassportRequest> for VerifyRequest {
    fn from(r: &PassportRequest) -> Self {
        VerifyRequest {
            given_name: r.given_name.clone(),
            family_name: r.family_name.clone(),
            date_of_birth: r.date_of_birth.clone(),
            national_id: r.national_id.clone(),
        }
    }
}

/// One vaccination event as the registry codes it (the passport module's
/// type; `passport::valuesets` re-codes it from the active EU value sets
/// before anything is signed).
pub use crate::passport::VaccinationRecord as DoseRecord;

/// `POST /verify` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VerifyResponse {
    Vaccinated { doses: Vec<DoseRecord> },
    NotFound,
    Mismatch,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Down, timing out, or the circuit is open: try again later.
    #[error("registry unavailable: {0}")]
    Unavailable(&'static str),
    /// The registry refused the request itself (4xx other than 429) or sent
    /// something unreadable: retrying will not help.
    #[error("registry refused the request: {0}")]
    Permanent(String),
    #[error("rate limiter unavailable")]
    Pacer(#[from] redis::RedisError),
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    url: String,
    pacer: RegistryPacer,
    breaker: Arc<Mutex<Breaker>>,
    metrics: Arc<Metrics>,
    capacity: Capacity,
}

impl RegistryClient {
    pub fn new(
        base_url: &str,
        timeout: Duration,
        pacer: RegistryPacer,
        metrics: Arc<Metrics>,
        capacity: Capacity,
    ) -> RegistryClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("a reqwest client with static settings builds");
        RegistryClient {
            http,
            url: format!("{base_url}/verify"),
            pacer,
            breaker: Arc::new(Mutex::new(Breaker::default())),
            metrics,
            capacity,
        }
    }

    /// Learns the announced limit from an answer and records the outcome.
    async fn observe(&self, resp: Option<&reqwest::Response>, outcome: CallOutcome) {
        if let Some(policy) = resp
            .and_then(|r| r.headers().get("ratelimit-policy"))
            .and_then(|v| v.to_str().ok())
        {
            if let Some(rate) = self.capacity.limit.learn(policy) {
                tracing::info!(rate, "registry announced a new rate limit");
            }
        }
        if let Err(e) = self.capacity.record(outcome, crate::now_ms()).await {
            tracing::warn!(error = ?e.kind(), "capacity figures not recorded");
        }
    }

    /// True while the circuit is open.
    pub fn is_open(&self) -> bool {
        let b = self.breaker.lock().expect("breaker lock");
        b.open_until.is_some_and(|t| Instant::now() < t)
    }

    fn record(&self, ok: bool) {
        let mut b = self.breaker.lock().expect("breaker lock");
        if ok {
            b.failures = 0;
            b.open_until = None;
        } else {
            b.failures += 1;
            if b.failures >= OPEN_AFTER_FAILURES {
                if b.open_until.is_none_or(|t| Instant::now() >= t) {
                    tracing::warn!(failures = b.failures, "registry circuit opened");
                }
                b.open_until = Some(Instant::now() + OPEN_FOR);
            }
        }
        let open = u64::from(b.open_until.is_some_and(|t| Instant::now() < t));
        self.metrics
            .circuit_open
            .store(open, std::sync::atomic::Ordering::Relaxed);
    }

    pub async fn verify(&self, req: &VerifyRequest) -> Result<VerifyResponse, RegistryError> {
        let mut last = "no attempt";
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(jittered_backoff(attempt)).await;
            }
            if self.is_open() {
                return Err(RegistryError::Unavailable("circuit open"));
            }
            self.pacer.acquire().await?;
            Metrics::inc(&self.metrics.registry_calls);
            let sent = self.http.post(&self.url).json(req).send().await;
            let outcome = match &sent {
                Ok(r) if r.status().as_u16() == 429 => CallOutcome::RateLimited,
                Ok(r) if r.status().is_server_error() => CallOutcome::Failed,
                Ok(_) => CallOutcome::Answered,
                Err(_) => CallOutcome::Failed,
            };
            self.observe(sent.as_ref().ok(), outcome).await;
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    let parsed = resp.json::<VerifyResponse>().await;
                    self.record(parsed.is_ok());
                    return parsed.map_err(|_| {
                        RegistryError::Permanent("unreadable registry answer".into())
                    });
                }
                Ok(resp) if resp.status().as_u16() == 429 => {
                    Metrics::inc(&self.metrics.registry_429);
                    tracing::warn!("registry answered 429");
                    last = "rate limited";
                }
                Ok(resp) if resp.status().is_server_error() => {
                    Metrics::inc(&self.metrics.registry_errors);
                    self.record(false);
                    last = "server error";
                }
                Ok(resp) => {
                    self.record(true);
                    return Err(RegistryError::Permanent(format!(
                        "status {}",
                        resp.status().as_u16()
                    )));
                }
                Err(e) => {
                    Metrics::inc(&self.metrics.registry_errors);
                    self.record(false);
                    last = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connection refused"
                    } else {
                        "transport error"
                    };
                }
            }
        }
        Err(RegistryError::Unavailable(last))
    }
}

/// Full jitter: uniform in `[0, base * 2^attempt]`.
pub fn jittered_backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_BASE * 2u32.pow(attempt.min(6));
    let r = u64::from_le_bytes(crate::crypto::random_bytes::<8>());
    Duration::from_micros(r % (cap.as_micros() as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stand-in registry and this client each define the wire types:
    /// what one writes, the other reads, with nothing lost.
    #[test]
    fn registry_sim_and_the_client_agree_on_the_wire() {
        for i in 0..20 {
            let citizen = registry_sim::sample_citizen(42, i);
            let ours: VerifyRequest = serde_json::from_value(citizen).unwrap();
            let theirs: registry_sim::VerifyRequest =
                serde_json::from_value(serde_json::to_value(&ours).unwrap()).unwrap();
            let mut answers = vec![registry_sim::lookup(42, &theirs)];
            let mut other = theirs.clone();
            other.date_of_birth = "1901-01-01".into();
            answers.push(registry_sim::lookup(42, &other));
            other.national_id = "ZZZZZZ".into();
            answers.push(registry_sim::lookup(42, &other));
            for answer in answers {
                let wire = serde_json::to_value(&answer).unwrap();
                let read: VerifyResponse = serde_json::from_value(wire.clone()).unwrap();
                assert_eq!(serde_json::to_value(&read).unwrap(), wire);
            }
        }
    }
}
