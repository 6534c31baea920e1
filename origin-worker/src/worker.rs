//! The job pool: takes passport jobs from the Redis stream and sees each
//! through to exactly one result.
//!
//! # Delivery and idempotency
//!
//! The stream gives at-least-once delivery: an entry stays pending until a
//! worker acknowledges it, and an entry whose worker died (no heartbeat for
//! `JOB_CLAIM_TIMEOUT_MS`) is taken over with `XAUTOCLAIM`. A job may
//! therefore be *worked on* twice (a registry call repeated, a PDF rendered
//! twice) but it is *committed* once: [`Store::finish`] is a compare-and-set
//! on the job's status, so the first result wins and every later one is
//! dropped. The citizen sees one passport.
//!
//! While a worker holds a job it re-claims the entry every third of the claim
//! timeout (a heartbeat), so a job that is merely slow — waiting for a
//! registry that is down — is not taken over.
//!
//! # What the registry's answer means
//!
//! Rejected, failed, wait or render: `waitroom_core::registry_verdict`
//! decides; this module only acts on it. Every rejection reads the same to
//! the citizen ([`REJECTED`]): which one it was (no record, details that do
//! not match, no dose, too many attempts) would tell whoever holds a
//! national id whether it exists and whose it is, so the detail goes only
//! to the log and the metrics.
//!
//! # Attempts per national id
//!
//! Before asking the registry, a job counts one attempt for its national id
//! ([`Store::count_attempt`]: a counter named by a keyed hash of the id,
//! living `NATIONAL_ID_WINDOW_SECONDS` from its first attempt). Past
//! `NATIONAL_ID_MAX_ATTEMPTS` the job is rejected without a registry call,
//! in the same words as any rejection, so guessing the name and date of
//! birth that go with a national id stops after a few tries.
//!
//! # Shutdown
//!
//! On shutdown the dispatcher stops taking entries. A job waiting for the
//! registry is handed back (left pending, unacknowledged: another process
//! reclaims it); a job past the registry call finishes, within the grace
//! period.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use tokio::{
    sync::{watch, Semaphore},
    task::JoinSet,
};

use waitroom_core::registry_verdict::{verdict, JobEnd, RegistryAnswer, Verdict};

use crate::{
    crypto::{self, Tag},
    metrics::Metrics,
    registry::{RegistryClient, RegistryError, VerifyRequest, VerifyResponse},
    render::Renderer,
    store::{Status, Store},
    validate::PassportRequest,
};

/// What the citizen reads for every rejection, whatever the cause.
pub const REJECTED: &str = "the vaccination registry could not confirm these details";

/// Why a job was rejected: for the operator's log and metrics only.
#[derive(Debug, Clone, Copy)]
enum Rejection {
    NotFound,
    Mismatch,
    NoDoses,
    AttemptLimit,
}

impl Rejection {
    fn of(reason: &str) -> Rejection {
        use waitroom_core::registry_verdict::{MISMATCH, NOT_FOUND};
        match reason {
            NOT_FOUND => Rejection::NotFound,
            MISMATCH => Rejection::Mismatch,
            _ => Rejection::NoDoses,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::Mismatch => "mismatch",
            Rejection::NoDoses => "no_doses",
            Rejection::AttemptLimit => "attempt_limit",
        }
    }

    fn counter(self, m: &Metrics) -> &std::sync::atomic::AtomicU64 {
        match self {
            Rejection::NotFound => &m.rejected_not_found,
            Rejection::Mismatch => &m.rejected_mismatch,
            Rejection::NoDoses => &m.rejected_no_doses,
            Rejection::AttemptLimit => &m.rejected_attempt_limit,
        }
    }
}

/// How long an idle dispatcher sleeps before polling the stream again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Longest pause between two registry attempts while it is unavailable.
const MAX_REGISTRY_WAIT: Duration = Duration::from_secs(2);

/// Everything a job needs.
pub struct Deps {
    pub store: Store,
    pub registry: RegistryClient,
    pub renderer: Arc<Renderer>,
    pub metrics: Arc<Metrics>,
    pub job_keys: crypto::JobKeys,
    pub result_ttl: Duration,
    pub claim_timeout: Duration,
    pub max_wait: Duration,
    /// Registry verifications per national id and window.
    pub max_attempts: u64,
    pub attempt_window: Duration,
    pub concurrency: usize,
    /// This process's name in the consumer group.
    pub consumer: String,
    /// Renders at a time: rendering is CPU-bound, and jobs waiting for it
    /// must not starve the tasks that pace registry calls.
    pub render_slots: Arc<Semaphore>,
}

enum Outcome {
    /// Finished (or nothing to do): acknowledge the entry.
    Done,
    /// Shutting down: leave the entry pending for another worker.
    HandBack,
}

/// Runs the pool until `shutdown` turns true, then waits up to `grace` for
/// in-flight jobs.
pub async fn run(deps: Arc<Deps>, mut shutdown: watch::Receiver<bool>, grace: Duration) {
    let slots = Arc::new(Semaphore::new(deps.concurrency));
    let mut tasks = JoinSet::new();
    let claim_every = deps.claim_timeout / 2;
    let mut next_claim = Instant::now();
    tracing::info!(consumer = %deps.consumer, concurrency = deps.concurrency, "worker pool started");
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.changed() => break,
        };
        if *shutdown.borrow() {
            break;
        }
        let mut found = None;
        if Instant::now() >= next_claim {
            match deps
                .store
                .autoclaim(&deps.consumer, deps.claim_timeout, 1)
                .await
            {
                Ok(mut v) if !v.is_empty() => {
                    Metrics::inc(&deps.metrics.jobs_reclaimed);
                    found = v.pop();
                }
                Ok(_) => next_claim = Instant::now() + claim_every,
                Err(e) => tracing::warn!(error = ?e.kind(), "xautoclaim failed"),
            }
        }
        if found.is_none() {
            match deps.store.read_new(&deps.consumer, 1).await {
                Ok(mut v) => found = v.pop(),
                Err(e) => tracing::warn!(error = ?e.kind(), "xreadgroup failed"),
            }
        }
        match found {
            Some((entry, job)) => {
                let deps = deps.clone();
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    process(&deps, &entry, &job, shutdown).await;
                });
            }
            None => {
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
    tracing::info!(in_flight = tasks.len(), "worker pool stopping");
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    tracing::info!("worker pool stopped");
}

async fn process(deps: &Deps, entry: &str, job_id: &str, shutdown: watch::Receiver<bool>) {
    deps.metrics.in_flight.fetch_add(1, Relaxed);
    let heartbeat = {
        let store = deps.store.clone();
        let (consumer, entry) = (deps.consumer.clone(), entry.to_owned());
        let every = deps.claim_timeout / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = store.touch(&consumer, &entry).await {
                    tracing::warn!(error = ?e.kind(), "job heartbeat failed");
                }
            }
        })
    };
    let result = handle(deps, job_id, shutdown).await;
    heartbeat.abort();
    match result {
        Ok(Outcome::Done) => {
            if let Err(e) = deps.store.ack(entry).await {
                tracing::warn!(job = job_id, error = ?e.kind(), "ack failed; the job will be re-delivered and found finished");
            }
        }
        Ok(Outcome::HandBack) => tracing::info!(job = job_id, "job handed back"),
        Err(e) => {
            tracing::warn!(job = job_id, error = ?e.kind(), "job interrupted by a redis error; it will be retried")
        }
    }
    deps.metrics.in_flight.fetch_sub(1, Relaxed);
}

async fn finish(
    deps: &Deps,
    id: &str,
    status: Status,
    reason: &str,
) -> Result<Outcome, redis::RedisError> {
    if deps
        .store
        .finish(id, status, reason, None, deps.result_ttl)
        .await?
    {
        let counter = match status {
            Status::Rejected => &deps.metrics.jobs_rejected,
            _ => &deps.metrics.jobs_failed,
        };
        Metrics::inc(counter);
        tracing::info!(job = id, status = status.as_str(), reason, "job ended");
    }
    Ok(Outcome::Done)
}

/// Ends a job rejected: [`REJECTED`] to the citizen, `why` to the operator.
async fn reject(deps: &Deps, id: &str, why: Rejection) -> Result<Outcome, redis::RedisError> {
    if deps
        .store
        .finish(id, Status::Rejected, REJECTED, None, deps.result_ttl)
        .await?
    {
        Metrics::inc(&deps.metrics.jobs_rejected);
        Metrics::inc(why.counter(&deps.metrics));
        tracing::info!(
            job = id,
            status = "rejected",
            why = why.as_str(),
            "job ended"
        );
    }
    Ok(Outcome::Done)
}

async fn handle(
    deps: &Deps,
    id: &str,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Outcome, redis::RedisError> {
    let Some(job) = deps.store.load_for_work(id).await? else {
        tracing::info!(job = id, "job vanished (expired); dropping its entry");
        return Ok(Outcome::Done);
    };
    if job.status.is_terminal() {
        return Ok(Outcome::Done);
    }
    let (Some(payload), Some(public_key), Some(session)) =
        (job.payload, job.public_key, job.session)
    else {
        return finish(deps, id, Status::Failed, "the request data is incomplete").await;
    };
    // Bound to this job's pk and session: if either was swapped in Redis
    // (to have someone else's passport sealed to another key), it fails here.
    let binding = crypto::JobBinding {
        job_id: id,
        public_key: &public_key,
        session: &session,
    };
    let Some(req) = deps
        .job_keys
        .open(&binding, &payload)
        .and_then(|plain| serde_json::from_slice::<PassportRequest>(&plain).ok())
    else {
        tracing::warn!(
            job = id,
            "sealed request does not open: tampered, or sealed with a key not in JOB_SEAL_KEY"
        );
        return finish(
            deps,
            id,
            Status::Failed,
            "the request data could not be read",
        )
        .await;
    };
    let attempt = deps
        .store
        .count_attempt(
            id,
            &deps.job_keys.tags(Tag::NationalId, &req.national_id),
            deps.attempt_window,
        )
        .await?;
    if attempt > deps.max_attempts {
        return reject(deps, id, Rejection::AttemptLimit).await;
    }
    deps.store.set_status(id, Status::Validating, "").await?;

    let verify = VerifyRequest::from(&req);
    let max_wait_ms = deps.max_wait.as_millis() as u64;
    let mut attempt = 0u32;
    let doses = loop {
        if *shutdown.borrow() {
            return Ok(Outcome::HandBack);
        }
        let r = tokio::select! {
            r = deps.registry.verify(&verify) => r,
            _ = shutdown.changed() => return Ok(Outcome::HandBack),
        };
        let (answer, unavailable) = match r {
            Ok(VerifyResponse::Vaccinated { doses }) => (RegistryAnswer::Vaccinated(doses), ""),
            Ok(VerifyResponse::NotFound) => (RegistryAnswer::NotFound, ""),
            Ok(VerifyResponse::Mismatch) => (RegistryAnswer::Mismatch, ""),
            Err(RegistryError::Pacer(e)) => return Err(e),
            Err(RegistryError::Permanent(why)) => {
                tracing::warn!(job = id, why, "registry refused the request");
                (RegistryAnswer::Refused, "")
            }
            Err(RegistryError::Unavailable(why)) => (RegistryAnswer::Unavailable, why),
        };
        match verdict(answer, job.created_ms, crate::now_ms(), max_wait_ms) {
            Verdict::Issue(doses) => break doses,
            Verdict::End {
                status: JobEnd::Rejected,
                reason,
            } => return reject(deps, id, Rejection::of(reason)).await,
            Verdict::End {
                status: JobEnd::Failed,
                reason,
            } => return finish(deps, id, Status::Failed, reason).await,
            Verdict::Wait { reason } => {
                if attempt == 0 {
                    tracing::info!(
                        job = id,
                        why = unavailable,
                        "registry unavailable; job waits"
                    );
                    deps.store
                        .set_status(id, Status::Validating, reason)
                        .await?;
                }
                attempt += 1;
                let pause = crate::registry::jittered_backoff(attempt).min(MAX_REGISTRY_WAIT);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return Ok(Outcome::HandBack),
                }
            }
        }
    };

    deps.store.set_status(id, Status::Rendering, "").await?;
    let _render_slot = deps
        .render_slots
        .acquire()
        .await
        .expect("semaphore never closed");
    let renderer = deps.renderer.clone();
    let rendered = tokio::task::spawn_blocking(move || renderer.render(&req, &doses)).await;
    let pdf = match rendered {
        Ok(Ok(pdf)) => pdf,
        Ok(Err(why)) => {
            tracing::warn!(job = id, why, "rendering failed");
            return finish(
                deps,
                id,
                Status::Failed,
                "the passport could not be produced",
            )
            .await;
        }
        Err(_) => {
            return finish(
                deps,
                id,
                Status::Failed,
                "the passport could not be produced",
            )
            .await
        }
    };
    let sealed = crypto::seal_to(&public_key, &pdf);
    if deps
        .store
        .finish(id, Status::Ready, "", Some(&sealed), deps.result_ttl)
        .await?
    {
        Metrics::inc(&deps.metrics.jobs_ready);
        tracing::info!(job = id, "passport issued");
    } else {
        tracing::info!(job = id, "job had already ended; result dropped");
    }
    Ok(Outcome::Done)
}
