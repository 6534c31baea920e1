//! What the origin can serve, for the edge's Coordinator (`GET /capacity`,
//! `waitroom_core::capacity`): how many jobs wait, how fast the registry
//! answers, the limit in force, its errors and `429`s, whether it answers.
//!
//! The figures are shared by every origin process through Redis, so any one
//! of them answers for all:
//!
//! | key | holds | lifetime |
//! |---|---|---|
//! | `wr:capacity:{c}:<outcome>:<unix second>` | registry calls that ended so (`ok`, `err`, `429`) in that second | 2 min |
//! | `wr:capacity:{c}:last` | `ok` or `err`: the last call's outcome (reachability) | `err`: 15 s unless renewed |
//! | `wr:capacity:{c}:submitted` | jobs ever accepted (the Coordinator learns no-shows from it) | none |
//!
//! One hash tag, `{c}`, so on a Redis Cluster they live in one slot and one
//! `MGET` reads a whole interval.
//!
//! The limit in force ([`RegistryLimit`]) is `REGISTRY_RATE_PER_SEC` until
//! the registry announces its own (`ratelimit-policy: <quota>;w=<seconds>`
//! on its answers): from then on what it announces, so a registry that
//! lowers its limit is followed by the pacer at once.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Arc,
};

use waitroom_core::capacity::CapacityReport;

use crate::store::{RedisCon, Store};

/// Seconds the report's rates and counts cover.
pub const INTERVAL_S: u64 = 10;
/// Life of one second's counters.
const COUNTER_TTL_S: u64 = 120;
const PREFIX: &str = "wr:capacity:{c}:";
/// How long one failed call marks the registry unreachable. Jobs waiting
/// for it retry every few seconds (at most 2 s apart, plus the circuit
/// breaker's 2 s), renewing the mark while it stays down.
pub const UNREACHABLE_FOR_S: u64 = 15;

/// How one registry call ended, for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// It answered (any 2xx or 4xx other than 429).
    Answered,
    /// Timeout, refused connection, 5xx.
    Failed,
    /// `429`.
    RateLimited,
}

impl CallOutcome {
    fn key(self) -> &'static str {
        match self {
            CallOutcome::Answered => "ok",
            CallOutcome::Failed => "err",
            CallOutcome::RateLimited => "429",
        }
    }
}

/// The registry's rate limit in force, shared by the pacer and the report.
#[derive(Clone)]
pub struct RegistryLimit(Arc<AtomicU64>);

impl RegistryLimit {
    pub fn new(per_sec: f64) -> RegistryLimit {
        RegistryLimit(Arc::new(AtomicU64::new(per_sec.to_bits())))
    }

    pub fn per_sec(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    /// Adopts the limit a `ratelimit-policy` header announces; returns it
    /// when it changed. A header that does not parse changes nothing.
    pub fn learn(&self, policy: &str) -> Option<f64> {
        let rate = parse_policy(policy)?;
        let old = f64::from_bits(self.0.swap(rate.to_bits(), Relaxed));
        (old != rate).then_some(rate)
    }
}

/// `<quota>;w=<seconds>` (other parameters ignored) → calls per second.
pub fn parse_policy(policy: &str) -> Option<f64> {
    let mut parts = policy.split(';').map(str::trim);
    let quota: f64 = parts.next()?.parse().ok()?;
    let window = parts
        .find_map(|p| p.strip_prefix("w="))
        .map_or(Some(1.0), |w| w.parse::<f64>().ok())?;
    let rate = quota / window;
    (rate.is_finite() && rate > 0.0 && window > 0.0).then_some(rate)
}

fn counter(outcome: &str, second: u64) -> String {
    format!("{PREFIX}{outcome}:{second}")
}

/// Records registry outcomes and reads the figures back.
#[derive(Clone)]
pub struct Capacity {
    con: RedisCon,
    pub limit: RegistryLimit,
}

impl Capacity {
    pub fn new(con: RedisCon, limit: RegistryLimit) -> Capacity {
        Capacity { con, limit }
    }

    /// One registry call ended with `outcome` at `now_ms`.
    pub async fn record(&self, outcome: CallOutcome, now_ms: u64) -> Result<(), redis::RedisError> {
        let key = counter(outcome.key(), now_ms / 1000);
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1)
            .ignore()
            .expire(&key, COUNTER_TTL_S as i64)
            .ignore();
        match outcome {
            CallOutcome::Answered | CallOutcome::RateLimited => {
                pipe.set(format!("{PREFIX}last"), "ok").ignore();
            }
            CallOutcome::Failed => {
                // Forgotten unless a failing call renews it: with nothing
                // left to try, "unreachable" must not pause the room for
                // good; the next admissions' jobs are the next probe.
                pipe.set_ex(format!("{PREFIX}last"), "err", UNREACHABLE_FOR_S)
                    .ignore();
            }
        }
        pipe.query_async::<()>(&mut self.con.clone()).await
    }

    /// A passport job was accepted.
    pub async fn submitted(&self) -> Result<(), redis::RedisError> {
        redis::cmd("INCR")
            .arg(format!("{PREFIX}submitted"))
            .query_async::<()>(&mut self.con.clone())
            .await
    }

    /// The figures at `now_ms`: the last [`INTERVAL_S`] whole seconds.
    pub async fn report(
        &self,
        store: &Store,
        now_ms: u64,
    ) -> Result<CapacityReport, redis::RedisError> {
        let now_s = now_ms / 1000;
        let seconds: Vec<u64> = (now_s - INTERVAL_S..now_s).collect();
        let mut keys: Vec<String> = Vec::new();
        for outcome in ["ok", "err", "429"] {
            keys.extend(seconds.iter().map(|s| counter(outcome, *s)));
        }
        keys.push(format!("{PREFIX}last"));
        keys.push(format!("{PREFIX}submitted"));
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.con.clone())
            .await?;
        let n = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let per = seconds.len();
        let sum = |i: usize| values[i * per..(i + 1) * per].iter().map(n).sum::<u64>();
        let (ok, err, limited) = (sum(0), sum(1), sum(2));
        let last = values[3 * per].as_deref();
        Ok(CapacityReport {
            backlog: store.stream_len().await?,
            completed_per_s: ok as f64 / INTERVAL_S as f64,
            interval_ms: INTERVAL_S * 1000,
            limit_per_s: self.limit.per_sec(),
            errors: err,
            rate_limited: limited,
            // Nothing known yet (no call made): assume it answers.
            reachable: last != Some("err"),
            submitted_total: n(&values[3 * per + 1]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_to_calls_per_second() {
        assert_eq!(parse_policy("20;w=1"), Some(20.0));
        assert_eq!(parse_policy("25;w=10"), Some(2.5));
        assert_eq!(parse_policy("100"), Some(100.0));
        assert_eq!(parse_policy(" 60 ; w=60 ; burst=5"), Some(1.0));
        for bad in ["", "fast", "0;w=1", "5;w=0", "5;w=x", "-5;w=1", "inf;w=1"] {
            assert_eq!(parse_policy(bad), None, "{bad}");
        }
        let limit = RegistryLimit::new(10.0);
        assert_eq!(limit.learn("10;w=1"), None);
        assert_eq!(limit.learn("5;w=1"), Some(5.0));
        assert_eq!(limit.learn("nonsense"), None);
        assert_eq!(limit.per_sec(), 5.0);
    }
}
