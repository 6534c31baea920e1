//! Wait-time estimate and polling cadence.
//!
//! The coordinator measures how fast the head of the global queue actually
//! moves (admissions per second while people are waiting, smoothed by an
//! exponentially weighted moving average) and ships the result to every
//! shard inside its [`crate::coordinator::Grant`] as an [`EtaInfo`]. A shard
//! then answers a heartbeat with `position / rate` without asking anyone.
//!
//! Before anything has been measured the configured pacing rate
//! (`new_users_per_minute / 60`) stands in, so the first visitors get a
//! sensible number rather than "unknown".

use serde::{Deserialize, Serialize};

/// Time constant of the moving average: long enough to ride out the
/// tick-to-tick jitter of integer admissions, short enough to follow an
/// operator changing the rate within a minute.
pub const RATE_TIME_CONSTANT_MS: f64 = 20_000.0;

/// Shortest suggested polling interval.
pub const MIN_POLL_MS: u64 = 5_000;
/// Longest suggested polling interval (300,000 waiting citizens polling
/// every 20 s is the 15,000 requests/s the shards are sized for).
pub const MAX_POLL_MS: u64 = 20_000;

/// Smoothed admission rate, fed once per coordinator tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateEstimator {
    /// Admissions per second; `None` until the first observation.
    rate_per_s: Option<f64>,
}

impl RateEstimator {
    /// A fresh estimator with no observations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `admitted` people were admitted over the last
    /// `elapsed_ms`. Only call this while the queue was *not* drained (the
    /// budget, not the demand, limited admissions): an empty queue says
    /// nothing about how fast a queue would move.
    pub fn observe(&mut self, admitted: u64, elapsed_ms: u64) {
        if elapsed_ms == 0 {
            return;
        }
        let sample = admitted as f64 * 1000.0 / elapsed_ms as f64;
        self.rate_per_s = Some(match self.rate_per_s {
            None => sample,
            Some(prev) => {
                let alpha = 1.0 - (-(elapsed_ms as f64) / RATE_TIME_CONSTANT_MS).exp();
                prev + alpha * (sample - prev)
            }
        });
    }

    /// The measured rate, if any.
    pub fn measured_per_s(&self) -> Option<f64> {
        self.rate_per_s
    }

    /// The rate to predict with: the measured one, or the configured pacing
    /// rate before any measurement (or if the measurement is zero, e.g. the
    /// room was paused: an ETA of "forever" helps nobody).
    ///
    /// Never above a configured pace (the operator's, or the closed loop's
    /// this tick): admissions cannot outrun it, so a faster measurement is
    /// from before the pace was lowered, and the measurement only moves
    /// while a backlog is admitted (never while paused). Without this, a cut
    /// pace showed ETAs and holds of the old pace until the next backlog.
    /// A pace of 0 (the registry down) keeps the measurement: the ETA
    /// assumes admissions resume.
    pub fn rate_per_s(&self, configured_per_minute: u32) -> f64 {
        let configured = f64::from(configured_per_minute) / 60.0;
        match self.rate_per_s {
            Some(r) if r > 1e-6 && configured > 0.0 => r.min(configured),
            Some(r) if r > 1e-6 => r,
            _ => configured,
        }
    }
}

/// What a shard needs to turn a position into an ETA.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EtaInfo {
    /// Admissions per second the queue head is expected to move at.
    pub rate_per_s: f64,
    /// Whether admission is paused (the ETA is then only indicative).
    pub paused: bool,
    /// The fastest the room may admit under the settings in force: the
    /// operator's `new_users_per_minute`, which closed-loop pacing may go
    /// up to at any tick, per second. A hold is computed against it, so a
    /// rate that rises after the hold was shown cannot bring the citizen's
    /// turn before it ([`crate::hold`]). 0: not known.
    #[serde(default)]
    pub max_rate_per_s: f64,
}

impl Default for EtaInfo {
    fn default() -> Self {
        Self {
            rate_per_s: 1.0,
            paused: false,
            max_rate_per_s: 0.0,
        }
    }
}

impl EtaInfo {
    /// Seconds until `position` (1 = next) is admitted.
    pub fn eta_seconds(&self, position: u64) -> u64 {
        eta_seconds(position, self.rate_per_s)
    }
}

/// Seconds until `position` (1 = next) is admitted at `rate_per_s`.
///
/// Rounded up, at least 1 s for anyone still waiting; a non-positive rate
/// is treated as one admission per minute rather than infinity.
pub fn eta_seconds(position: u64, rate_per_s: f64) -> u64 {
    if position == 0 {
        return 0;
    }
    let rate = if rate_per_s.is_finite() && rate_per_s > 0.0 {
        rate_per_s
    } else {
        1.0 / 60.0
    };
    let secs = (position as f64 / rate).ceil();
    (secs as u64).max(1)
}

/// When the waiting page should poll next, in milliseconds.
///
/// Close to the front the page polls often (an admission is imminent and
/// the citizen should not wait for the poll); far back it polls rarely to
/// spare the shard. Always at most a third of `abandon_after_ms`, so one
/// lost poll never costs anyone their place.
pub fn poll_after_ms(eta_seconds: u64, abandon_after_ms: u64) -> u64 {
    let wanted = match eta_seconds {
        0..=30 => MIN_POLL_MS,
        31..=120 => 10_000,
        _ => MAX_POLL_MS,
    };
    let ceiling = (abandon_after_ms / 3).max(1_000);
    wanted.min(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_on_configured_rate() {
        let est = RateEstimator::new();
        assert_eq!(est.rate_per_s(600), 10.0);
        assert_eq!(eta_seconds(100, est.rate_per_s(600)), 10);
    }

    #[test]
    fn converges_to_steady_rate() {
        let mut est = RateEstimator::new();
        est.observe(0, 1000);
        for _ in 0..300 {
            est.observe(50, 1000);
        }
        let r = est.rate_per_s(6_000);
        assert!((r - 50.0).abs() < 0.5, "{r}");
    }

    #[test]
    fn a_lowered_pace_caps_an_older_faster_measurement() {
        let mut est = RateEstimator::new();
        for _ in 0..300 {
            est.observe(10, 1000);
        }
        // Measured 10/s; the operator (or the loop) now paces 1 a minute.
        assert_eq!(est.rate_per_s(1), 1.0 / 60.0);
        // A faster pace does not make the measurement faster.
        assert!((est.rate_per_s(6_000) - 10.0).abs() < 0.01);
        // Paced at 0 (registry down): the ETA still assumes the old rate.
        assert!((est.rate_per_s(0) - 10.0).abs() < 0.01);
    }

    #[test]
    fn poll_is_well_under_abandon() {
        for eta in [0, 10, 60, 600, 100_000] {
            for abandon in [15_000, 30_000, 60_000, 600_000] {
                let p = poll_after_ms(eta, abandon);
                assert!(p * 2 < abandon, "{eta} {abandon} {p}");
                assert!(p >= 1_000);
            }
        }
        assert_eq!(eta_seconds(0, 5.0), 0);
        assert_eq!(eta_seconds(1, 0.0), 60);
    }
}
