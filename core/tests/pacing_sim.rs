//! Closed-loop pacing against a simulated origin: a registry whose limit
//! changes (and which goes down), citizens who submit a while after their
//! admission (some never), one Coordinator tick a second, each tick using the
//! report the origin made the tick before (`waitroom_core::capacity`).
//!
//! Asserts the targets: registry utilisation ≥ 95 %, backlog ≤ 30 s
//! of registry work, never above the ceiling, no oscillation under a
//! constant registry, a pause while the registry is down and a resumption
//! within a few ticks, and no-shows made up for by the loop.

use std::collections::VecDeque;

use proptest::prelude::*;
use waitroom_core::capacity::{
    sendable_per_s, CapacityReport, PacingController, PacingReason, CORRECTION_S, TARGET_BACKLOG_S,
};
use waitroom_core::operator::Pacing;

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Citizens {
    /// Submissions per admission.
    show: f64,
    /// Seconds from admission to submission, uniform in this range.
    delay_s: (u64, u64),
}

/// Per second of the run.
#[derive(Debug, Clone, Copy)]
struct Second {
    limit: Option<f64>,
    rate_per_min: u32,
    reason: PacingReason,
    backlog: u64,
    served: u64,
}

const CEILING: u32 = 100_000;
/// Completions are reported over this many seconds, as the origin does.
const INTERVAL_S: usize = 10;

/// The origin, as it starts.
struct Origin {
    /// Jobs already queued.
    backlog: u64,
    /// What the registry really serves, as a share of its announced limit
    /// (below 1: slower than its limit, without any error).
    efficiency: f64,
}

const FRESH: Origin = Origin {
    backlog: 0,
    efficiency: 1.0,
};

fn run(
    seconds: u64,
    schedule: &dyn Fn(u64) -> Option<f64>,
    citizens: &Citizens,
    seed: u64,
) -> Vec<Second> {
    run_origin(seconds, schedule, citizens, &FRESH, seed)
}

fn run_origin(
    seconds: u64,
    schedule: &dyn Fn(u64) -> Option<f64>,
    citizens: &Citizens,
    origin: &Origin,
    seed: u64,
) -> Vec<Second> {
    let mut rng = Rng(seed);
    let mut c = PacingController::new();
    // Submissions due at second t (index t).
    let mut due: Vec<u64> = vec![0; seconds as usize + citizens.delay_s.1 as usize + 2];
    let (mut backlog, mut carry, mut serve_carry) = (origin.backlog, 0.0f64, 0.0f64);
    // The limit in force, known to the origin even while the registry is down.
    let mut last_limit = schedule(0).unwrap_or(0.0);
    let (mut admitted, mut submitted) = (0u64, 0u64);
    let mut served_window: VecDeque<u64> = VecDeque::new();
    let mut errors_window: VecDeque<u64> = VecDeque::new();
    // The origin answers from the first tick on (an idle origin: nothing queued).
    let mut report = Some(CapacityReport {
        backlog,
        completed_per_s: 0.0,
        interval_ms: INTERVAL_S as u64 * 1_000,
        limit_per_s: schedule(0).unwrap_or(0.0),
        errors: 0,
        rate_limited: 0,
        reachable: schedule(0).is_some(),
        submitted_total: 0,
    });
    let mut out = Vec::new();
    for t in 0..seconds {
        let now = t * 1_000;
        if let Some(r) = report {
            c.observe(now, r);
        }
        let d = c.decide(now, Pacing::Origin, CEILING, 0, admitted);
        assert!(d.rate_per_min <= CEILING);
        // The budget: the rate accrued in a fractional carry (unlimited demand).
        carry += f64::from(d.rate_per_min) / 60.0;
        let admit = carry.floor() as u64;
        carry -= admit as f64;
        admitted += admit;
        for _ in 0..admit {
            if rng.unit() < citizens.show {
                let (lo, hi) = citizens.delay_s;
                let delay = lo + rng.next() % (hi - lo + 1);
                due[(t + delay.max(1)) as usize] += 1;
            }
        }
        let arriving = due[t as usize];
        submitted += arriving;
        backlog += arriving;
        let limit = schedule(t);
        let served = match limit {
            Some(rate) => {
                last_limit = rate;
                // The origin's pacer sends at the limit less its headroom.
                serve_carry += sendable_per_s(rate) * origin.efficiency;
                let n = (serve_carry.floor() as u64).min(backlog);
                serve_carry -= serve_carry.floor();
                n
            }
            None => 0,
        };
        backlog -= served;
        served_window.push_back(served);
        errors_window.push_back(u64::from(limit.is_none() && backlog > 0));
        if served_window.len() > INTERVAL_S {
            served_window.pop_front();
            errors_window.pop_front();
        }
        report = Some(CapacityReport {
            backlog,
            completed_per_s: served_window.iter().sum::<u64>() as f64 / INTERVAL_S as f64,
            interval_ms: INTERVAL_S as u64 * 1_000,
            limit_per_s: last_limit,
            errors: errors_window.iter().sum(),
            rate_limited: 0,
            reachable: limit.is_some(),
            submitted_total: submitted,
        });
        out.push(Second {
            limit,
            rate_per_min: d.rate_per_min,
            reason: d.reason,
            backlog,
            served,
        });
    }
    out
}

/// Served / what the registry could have served, over `range` (seconds),
/// counting only seconds it was up.
fn utilisation(run: &[Second], range: std::ops::Range<usize>) -> f64 {
    let (served, capacity) = run[range].iter().fold((0.0, 0.0), |(s, c), x| {
        (s + x.served as f64, c + x.limit.unwrap_or(0.0))
    });
    served / capacity
}

/// The longest backlog over `range`, in seconds of registry work at its
/// limit at that moment (ignoring seconds the registry is down).
fn longest_backlog_s(run: &[Second], range: std::ops::Range<usize>) -> f64 {
    run[range]
        .iter()
        .filter_map(|x| x.limit.map(|l| x.backlog as f64 / l))
        .fold(0.0, f64::max)
}

/// Mean and relative standard deviation of the rate over `range`.
fn rate_spread(run: &[Second], range: std::ops::Range<usize>) -> (f64, f64) {
    let rates: Vec<f64> = run[range]
        .iter()
        .map(|x| f64::from(x.rate_per_min))
        .collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64;
    (mean, var.sqrt() / mean)
}

const PROMPT: Citizens = Citizens {
    show: 1.0,
    delay_s: (1, 5),
};

#[test]
fn constant_registry_busy_bounded_and_smooth() {
    let r = run(900, &|_| Some(20.0), &PROMPT, 1);
    let u = utilisation(&r, 120..900);
    assert!(u >= 0.95, "utilisation {u}");
    let b = longest_backlog_s(&r, 0..900);
    assert!(b <= 30.0, "longest backlog {b} s");
    // No oscillation: the last ten minutes hold one rate, give or take noise,
    // and each minute's mean is within 3 % of the registry's pace.
    let (mean, spread) = rate_spread(&r, 300..900);
    assert!(spread < 0.05, "rate spread {spread} around {mean}/min");
    for minute in 5..15 {
        let (m, _) = rate_spread(&r, minute * 60..(minute + 1) * 60);
        assert!((m - 1_200.0).abs() < 36.0, "minute {minute}: {m}/min");
    }
}

#[test]
fn follows_a_cut_an_outage_and_a_recovery() {
    // 20/s, then 5/s from 5 min, down for 20 s at 10 min, 20/s again.
    let schedule = |t: u64| match t {
        0..300 => Some(20.0),
        300..600 => Some(5.0),
        600..620 => None,
        _ => Some(20.0),
    };
    let r = run(900, &schedule, &PROMPT, 2);
    // The cut: within 10 s the room admits at most the new pace (plus the
    // little it adds while the backlog is below its target).
    let most = 5.0 * 60.0 * (1.0 + TARGET_BACKLOG_S / CORRECTION_S);
    assert!(
        r[310..600]
            .iter()
            .all(|x| f64::from(x.rate_per_min) <= most.ceil()),
        "{:?}",
        &r[300..312]
    );
    // Backlog bounded through the cut (in seconds of the *new* limit's work).
    let b = longest_backlog_s(&r, 0..900);
    assert!(b <= 30.0, "longest backlog {b} s");
    // The outage: nobody admitted from the first report of it (one tick) on.
    for x in &r[601..620] {
        assert_eq!(x.rate_per_min, 0, "{x:?}");
        assert_eq!(x.reason, PacingReason::RegistryUnreachable);
    }
    // Back: admitting again within 3 ticks, at the full pace within 10 s.
    assert!(
        r[620..623].iter().any(|x| x.rate_per_min > 0),
        "{:?}",
        &r[618..625]
    );
    assert!(
        r[630..900].iter().all(|x| x.rate_per_min >= 1_000),
        "{:?}",
        &r[620..640]
    );
    // Busy throughout (outside the outage, after the start-up).
    let u = utilisation(&r, 60..600);
    assert!(u >= 0.95, "utilisation before the outage {u}");
    let u = utilisation(&r, 620..900);
    assert!(u >= 0.95, "utilisation after the outage {u}");
}

#[test]
fn no_shows_are_made_up_for_by_the_loop() {
    let half = Citizens {
        show: 0.5,
        delay_s: (2, 10),
    };
    let r = run(900, &|_| Some(10.0), &half, 3);
    let u = utilisation(&r, 180..900);
    assert!(u >= 0.95, "utilisation {u}");
    assert!(longest_backlog_s(&r, 0..900) <= 30.0);
    // About twice the registry's pace is admitted.
    let (mean, _) = rate_spread(&r, 600..900);
    assert!((1_100.0..1_300.0).contains(&mean), "{mean}/min");
}

#[test]
fn a_backlog_left_from_before_is_drained() {
    // A minute of registry work queued at the start.
    let origin = Origin {
        backlog: 1_200,
        efficiency: 1.0,
    };
    let r = run_origin(600, &|_| Some(20.0), &PROMPT, &origin, 4);
    assert!(r[..30].iter().all(|x| x.rate_per_min < 1_200));
    let b = longest_backlog_s(&r, 120..600);
    assert!(b <= 30.0, "backlog {b} s two minutes in");
    let b = longest_backlog_s(&r, 300..600);
    assert!(
        b <= 2.0 * TARGET_BACKLOG_S + 2.0,
        "backlog {b} s five minutes in"
    );
    assert!(utilisation(&r, 0..600) >= 0.95);
}

#[test]
fn a_registry_slower_than_its_limit_keeps_a_bounded_backlog() {
    // It announces 20/s but serves 15/s, without an error.
    let origin = Origin {
        backlog: 0,
        efficiency: 0.75,
    };
    let r = run_origin(900, &|_| Some(20.0), &PROMPT, &origin, 5);
    let worst = r
        .iter()
        .map(|x| x.backlog as f64 / 15.0)
        .fold(0.0, f64::max);
    assert!(worst <= 30.0, "longest backlog {worst} s of real work");
    let served: u64 = r[120..].iter().map(|x| x.served).sum();
    let could = 15.0 * (900 - 120) as f64;
    assert!(served as f64 >= 0.95 * could, "{served} of {could}");
}

#[test]
fn never_above_the_ceiling() {
    let mut c = PacingController::new();
    c.observe(
        0,
        CapacityReport {
            backlog: 0,
            completed_per_s: 0.0,
            interval_ms: 10_000,
            limit_per_s: 1_000.0,
            errors: 0,
            rate_limited: 0,
            reachable: true,
            submitted_total: 0,
        },
    );
    let d = c.decide(0, Pacing::Origin, 120, 0, 0);
    assert_eq!(d.rate_per_min, 120);
    assert_eq!(d.reason, PacingReason::Ceiling);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any constant registry, any show rate, admission-to-submission delays
    /// up to 20 s: busy and bounded once started.
    #[test]
    fn busy_and_bounded_for_any_constant_registry(
        rate in 2.0f64..100.0,
        show in 0.4f64..=1.0,
        delay_max in 1u64..20,
        seed in any::<u64>(),
    ) {
        let citizens = Citizens { show, delay_s: (0, delay_max) };
        let r = run(900, &|_| Some(rate), &citizens, seed);
        let u = utilisation(&r, 300..900);
        prop_assert!(u >= 0.95, "utilisation {}", u);
        let b = longest_backlog_s(&r, 0..900);
        prop_assert!(b <= 30.0, "longest backlog {} s", b);
    }
}
