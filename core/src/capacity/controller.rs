//! The closed loop: how many citizens a minute the room admits so that the
//! registry stays busy at its limit with a small, bounded backlog.
//!
//! Each tick, from the freshest verified [`CapacityReport`]:
//!
//! 1. `μ`, the registry's service rate: what the origin sends at, the limit
//!    in force less [`REGISTRY_HEADROOM`](super::REGISTRY_HEADROOM); when
//!    the registry is failing or throttling (errors or `429`s in the
//!    interval) and jobs pile up, what it really completed.
//! 2. The job inflow wanted: `S = μ + (μ·TARGET_BACKLOG_S − backlog) /
//!    CORRECTION_S`, at least 0. The first term keeps the registry busy at
//!    what the origin sends (the rate follows a changed limit at once); the
//!    second holds the backlog near [`TARGET_BACKLOG_S`] seconds of registry
//!    work, corrected gently (over [`CORRECTION_S`]) so the delay between
//!    an admission and its submission does not make the loop ring.
//! 3. Admissions: `S / show_rate`, where the show rate (submissions per
//!    admission) is learned from the report's `submitted_total` against the
//!    room's admissions, over windows of steady admissions only (while the
//!    rate moves, submissions lag admissions and the ratio would lie).
//! 4. Never above the operator's `new_users_per_minute` (the ceiling), never
//!    below the floor, and 0 while the registry is unreachable.
//!
//! No fresh report (older than [`REPORT_STALE_MS`], or none yet): the
//! operator's rate, as with `pacing: "fixed"` ([`PacingReason::OriginSilent`];
//! the edge logs a warning).

use serde::{Deserialize, Serialize};

use super::{sendable_per_s, CapacityReport};
use crate::operator::Pacing;

/// Backlog aimed at, in seconds of registry work: enough that the registry
/// never idles between submissions, small enough that a 4x cut of its limit
/// still leaves well under 30 s of work queued.
pub const TARGET_BACKLOG_S: f64 = 4.0;
/// Time over which a backlog error is corrected. Longer than the usual
/// admission-to-submission delay, so the loop does not overshoot.
pub const CORRECTION_S: f64 = 30.0;
/// A report older than this is not used.
pub const REPORT_STALE_MS: u64 = 10_000;
/// Window of one no-show sample.
const SHOW_WINDOW_MS: u64 = 30_000;
/// Fewest admissions in a window for its no-show sample to count.
const SHOW_MIN_ADMISSIONS: u64 = 20;
/// Two windows' admissions within this ratio count as steady.
const SHOW_STEADY: f64 = 0.25;
/// Weight of a new no-show sample.
const SHOW_WEIGHT: f64 = 0.7;
/// Lowest show rate believed: at most 4 admissions per expected submission,
/// whatever the samples say.
const MIN_SHOW_RATE: f64 = 0.25;

/// Why the rate is what it is (the dashboard shows it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacingReason {
    /// `pacing: "fixed"`: the operator's rate.
    #[default]
    Fixed,
    /// No fresh capacity report from the origin: the operator's rate.
    OriginSilent,
    /// The registry does not answer (or its limit is 0): nobody is admitted.
    RegistryUnreachable,
    /// Following the registry's limit.
    RegistryPace,
    /// The registry fails or throttles: following what it really completes.
    RegistryDegraded,
    /// More queued jobs than wanted: admitting below the registry's pace.
    DrainingBacklog,
    /// The loop wants more than the operator's `new_users_per_minute`.
    Ceiling,
    /// The loop wants less than the operator's floor.
    Floor,
    /// The operator paused admissions: nobody is admitted, whatever the
    /// origin could serve (shown by [`PacingController::stats`] only; the
    /// loop keeps its rate for when the room resumes, and ETAs use it).
    Paused,
}

/// One tick's rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PacingDecision {
    /// Admissions per minute this tick (what the pacing budget accrues).
    pub rate_per_min: u32,
    pub reason: PacingReason,
}

/// What `/admin/stats` shows of the loop (flattened into the stats JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PacingStats {
    pub pacing: Pacing,
    pub effective_rate_per_min: u32,
    pub pacing_reason: PacingReason,
    /// Jobs queued at the origin, from the last report.
    pub origin_backlog: Option<u64>,
    pub registry_limit_per_s: Option<f64>,
    pub registry_completed_per_s: Option<f64>,
    pub registry_reachable: Option<bool>,
    /// Submissions per admission, as learned.
    pub show_rate: f64,
}

impl PacingStats {
    /// The registry's completions over its limit, from the last report (the
    /// launch report's `registry_utilisation`).
    pub fn registry_utilisation(&self) -> Option<f64> {
        match (self.registry_completed_per_s, self.registry_limit_per_s) {
            (Some(done), Some(limit)) if limit > 0.0 => Some(done / limit),
            _ => None,
        }
    }
}

/// The loop's state, persisted by the Coordinator between ticks (serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacingController {
    /// The last verified report and when the Coordinator received it.
    report: Option<(u64, CapacityReport)>,
    show_rate: f64,
    /// Start of the current no-show window: (ms, admitted, submitted).
    window: Option<(u64, u64, u64)>,
    /// Admissions of the previous window (for "steady").
    previous_admissions: Option<u64>,
    last: PacingDecision,
    #[serde(default)]
    pacing: Pacing,
}

impl Default for PacingController {
    fn default() -> Self {
        Self {
            report: None,
            show_rate: 1.0,
            window: None,
            previous_admissions: None,
            last: PacingDecision::default(),
            pacing: Pacing::default(),
        }
    }
}

impl PacingController {
    pub fn new() -> Self {
        Self::default()
    }

    /// A verified report, received at `received_ms`.
    pub fn observe(&mut self, received_ms: u64, report: CapacityReport) {
        self.report = Some((received_ms, report));
    }

    /// The last decision.
    pub fn last(&self) -> PacingDecision {
        self.last
    }

    /// The learned submissions per admission.
    pub fn show_rate(&self) -> f64 {
        self.show_rate
    }

    /// The report, if it is fresh at `now_ms`.
    fn fresh(&self, now_ms: u64) -> Option<&CapacityReport> {
        self.report
            .as_ref()
            .filter(|(at, _)| now_ms.saturating_sub(*at) <= REPORT_STALE_MS)
            .map(|(_, r)| r)
    }

    /// What the dashboard shows; while `paused`, the rate is 0 and the
    /// reason says why, not the rate the loop would admit at.
    pub fn stats(&self, paused: bool) -> PacingStats {
        let report = self.report.map(|(_, r)| r);
        let (effective_rate_per_min, pacing_reason) = if paused {
            (0, PacingReason::Paused)
        } else {
            (self.last.rate_per_min, self.last.reason)
        };
        PacingStats {
            pacing: self.pacing,
            effective_rate_per_min,
            pacing_reason,
            origin_backlog: report.map(|r| r.backlog),
            registry_limit_per_s: report.map(|r| r.limit_per_s),
            registry_completed_per_s: report.map(|r| r.completed_per_s),
            registry_reachable: report.map(|r| r.reachable),
            show_rate: self.show_rate,
        }
    }

    /// This tick's admission rate. `admitted_total`: everyone the room has
    /// admitted (the shards' running total); `ceiling_per_min`: the
    /// operator's `new_users_per_minute`.
    pub fn decide(
        &mut self,
        now_ms: u64,
        pacing: Pacing,
        ceiling_per_min: u32,
        floor_per_min: u32,
        admitted_total: u64,
    ) -> PacingDecision {
        self.pacing = pacing;
        let fixed = |reason| PacingDecision {
            rate_per_min: ceiling_per_min,
            reason,
        };
        let decision = match (pacing, self.fresh(now_ms).copied()) {
            (Pacing::Fixed, _) => fixed(PacingReason::Fixed),
            (Pacing::Origin, None) => fixed(PacingReason::OriginSilent),
            (Pacing::Origin, Some(report)) => {
                self.learn_show_rate(now_ms, admitted_total, report.submitted_total);
                self.closed_loop(&report, ceiling_per_min, floor_per_min)
            }
        };
        self.last = decision;
        decision
    }

    fn closed_loop(&self, r: &CapacityReport, ceiling: u32, floor: u32) -> PacingDecision {
        if !r.reachable || r.limit_per_s <= 0.0 {
            return PacingDecision {
                rate_per_min: 0,
                reason: PacingReason::RegistryUnreachable,
            };
        }
        let target = |mu: f64| mu * TARGET_BACKLOG_S;
        let backlog = r.backlog as f64;
        let troubled = r.errors + r.rate_limited > 0;
        let sendable = sendable_per_s(r.limit_per_s);
        let (mu, mut reason) =
            if troubled && backlog > target(sendable) && r.completed_per_s < sendable {
                (r.completed_per_s, PacingReason::RegistryDegraded)
            } else {
                (sendable, PacingReason::RegistryPace)
            };
        let inflow = (mu + (target(mu) - backlog) / CORRECTION_S).max(0.0);
        if reason == PacingReason::RegistryPace && backlog > 2.0 * target(mu) && inflow < mu {
            reason = PacingReason::DrainingBacklog;
        }
        let wanted = inflow / self.show_rate * 60.0;
        let rounded = if wanted >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            wanted.round() as u32
        };
        if rounded > ceiling {
            PacingDecision {
                rate_per_min: ceiling,
                reason: PacingReason::Ceiling,
            }
        } else if rounded < floor {
            PacingDecision {
                rate_per_min: floor.min(ceiling),
                reason: PacingReason::Floor,
            }
        } else {
            PacingDecision {
                rate_per_min: rounded,
                reason,
            }
        }
    }

    /// One no-show sample per [`SHOW_WINDOW_MS`], kept only when the
    /// admissions of this window and the one before are close.
    fn learn_show_rate(&mut self, now_ms: u64, admitted: u64, submitted: u64) {
        let Some((start, adm0, sub0)) = self.window else {
            self.window = Some((now_ms, admitted, submitted));
            return;
        };
        if admitted < adm0 || submitted < sub0 {
            // A counter started again (a new origin store, a reset room).
            self.window = Some((now_ms, admitted, submitted));
            self.previous_admissions = None;
            return;
        }
        if now_ms.saturating_sub(start) < SHOW_WINDOW_MS {
            return;
        }
        let (admissions, submissions) = (admitted - adm0, submitted - sub0);
        let steady = self.previous_admissions.is_some_and(|prev| {
            let (a, p) = (admissions as f64, prev as f64);
            (a - p).abs() <= SHOW_STEADY * a.max(p)
        });
        if steady && admissions >= SHOW_MIN_ADMISSIONS {
            let sample = (submissions as f64 / admissions as f64).clamp(MIN_SHOW_RATE, 1.0);
            self.show_rate += SHOW_WEIGHT * (sample - self.show_rate);
        }
        self.previous_admissions = Some(admissions);
        self.window = Some((now_ms, admitted, submitted));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(backlog: u64, limit: f64) -> CapacityReport {
        CapacityReport {
            backlog,
            completed_per_s: limit,
            interval_ms: 10_000,
            limit_per_s: limit,
            errors: 0,
            rate_limited: 0,
            reachable: true,
            submitted_total: 0,
        }
    }

    fn decide(c: &mut PacingController, r: CapacityReport) -> PacingDecision {
        c.observe(1_000, r);
        c.decide(1_000, Pacing::Origin, 100_000, 0, 0)
    }

    #[test]
    fn utilisation_is_completions_over_the_limit_and_absent_without_a_limit() {
        let mut c = PacingController::new();
        assert_eq!(c.stats(false).registry_utilisation(), None);
        c.observe(
            1_000,
            CapacityReport {
                completed_per_s: 9.5,
                ..report(0, 10.0)
            },
        );
        assert_eq!(c.stats(false).registry_utilisation(), Some(0.95));
        c.observe(2_000, report(0, 0.0));
        assert_eq!(c.stats(false).registry_utilisation(), None);
    }

    #[test]
    fn at_the_target_backlog_the_rate_is_what_the_origin_sends() {
        let mut c = PacingController::new();
        // A limit of 50/s: the origin sends 49/s; 4 s of that work is 196.
        let d = decide(&mut c, report(196, 50.0));
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 49 * 60,
                reason: PacingReason::RegistryPace
            }
        );
        // Empty: a little faster, to build the backlog (49 + 196/30 a
        // second); past twice the target: slower (49 - 804/30).
        assert_eq!(decide(&mut c, report(0, 50.0)).rate_per_min, 3_332);
        let d = decide(&mut c, report(1_000, 50.0));
        assert_eq!(d.reason, PacingReason::DrainingBacklog);
        assert_eq!(d.rate_per_min, 1_332);
    }

    #[test]
    fn a_paused_room_shows_no_rate_and_says_why_but_keeps_the_loop() {
        let mut c = PacingController::new();
        let d = decide(&mut c, report(80, 20.0));
        let paused = c.stats(true);
        assert_eq!(paused.effective_rate_per_min, 0);
        assert_eq!(paused.pacing_reason, PacingReason::Paused);
        // The origin's figures stay visible, and resuming shows the loop's rate.
        assert_eq!(paused.origin_backlog, Some(80));
        let open = c.stats(false);
        assert_eq!(open.effective_rate_per_min, d.rate_per_min);
        assert_eq!(open.pacing_reason, PacingReason::RegistryPace);
    }

    #[test]
    fn ceiling_floor_and_fixed() {
        let mut c = PacingController::new();
        c.observe(0, report(0, 20.0));
        let d = c.decide(0, Pacing::Origin, 300, 0, 0);
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 300,
                reason: PacingReason::Ceiling
            }
        );
        c.observe(0, report(10_000, 20.0));
        let d = c.decide(0, Pacing::Origin, 300, 30, 0);
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 30,
                reason: PacingReason::Floor
            }
        );
        let d = c.decide(0, Pacing::Fixed, 300, 30, 0);
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 300,
                reason: PacingReason::Fixed
            }
        );
    }

    #[test]
    fn unreachable_pauses_even_above_the_floor_and_silence_falls_back() {
        let mut c = PacingController::new();
        let mut r = report(0, 20.0);
        r.reachable = false;
        c.observe(0, r);
        let d = c.decide(0, Pacing::Origin, 300, 30, 0);
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 0,
                reason: PacingReason::RegistryUnreachable
            }
        );
        // The same report, too old: the operator's rate.
        let d = c.decide(REPORT_STALE_MS + 1, Pacing::Origin, 300, 30, 0);
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 300,
                reason: PacingReason::OriginSilent
            }
        );
        let d = PacingController::new().decide(0, Pacing::Origin, 300, 30, 0);
        assert_eq!(d.reason, PacingReason::OriginSilent);
    }

    #[test]
    fn a_failing_registry_is_paced_by_what_it_completes() {
        let mut c = PacingController::new();
        let mut r = report(300, 20.0);
        r.completed_per_s = 8.0;
        r.errors = 12;
        let d = decide(&mut c, r);
        // μ = 8: target 32, inflow 8 + (32 - 300)/30 < 0 → 0.
        assert_eq!(
            d,
            PacingDecision {
                rate_per_min: 0,
                reason: PacingReason::RegistryDegraded
            }
        );
        r.backlog = 110;
        let d = decide(&mut c, r);
        assert_eq!(d.reason, PacingReason::RegistryDegraded);
        assert_eq!(d.rate_per_min, 324);
    }

    #[test]
    fn no_shows_are_learned_over_steady_windows_only() {
        let mut c = PacingController::new();
        // A limit of 12.5/s: the origin sends 12.25/s, 49 jobs are 4 s of it.
        let mut r = report(49, 12.5);
        let (mut t, mut admitted, mut submitted) = (0u64, 0u64, 0u64);
        for _ in 0..10 {
            r.submitted_total = submitted;
            c.observe(t, r);
            c.decide(t, Pacing::Origin, 100_000, 0, admitted);
            t += SHOW_WINDOW_MS;
            admitted += 600;
            submitted += 300;
        }
        assert!((c.show_rate() - 0.5).abs() < 0.01, "{}", c.show_rate());
        r.submitted_total = submitted;
        c.observe(t, r);
        // Half of them show up: twice the registry's pace is admitted.
        let rate = c
            .decide(t, Pacing::Origin, 100_000, 0, admitted)
            .rate_per_min;
        assert!((1_440..=1_470).contains(&rate), "{rate}");

        // Admissions doubling from one window to the next: no sample.
        let mut c = PacingController::new();
        let mut step = 100;
        let (mut t, mut admitted) = (0u64, 0u64);
        for _ in 0..6 {
            c.observe(t, r);
            c.decide(t, Pacing::Origin, 100_000, 0, admitted);
            t += SHOW_WINDOW_MS;
            admitted += step;
            step *= 2;
        }
        assert_eq!(c.show_rate(), 1.0);
    }
}
