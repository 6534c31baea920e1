//! Deterministic launch-day simulations (see `sim/mod.rs` for the driver
//! and its oracle of the admission order).
//!
//! Asserts: every position shown is exact at the tick boundary (the live
//! count ahead in the order, plus the other shards' departures its view
//! does not show yet: see `sim/mod.rs`), never below the true count, never rising; admissions
//! follow the order; nobody silent past `abandon_after + granularity` is
//! admitted and every patient citizen gets in; the active cap holds; every
//! minute of sustained demand admits within 1% of `new_users_per_minute`;
//! the median ETA error is under 15%.

mod sim;

use sim::{lag_quantile, Params, Report};
use waitroom_core::coordinator::AdmissionConfig;

fn check(r: &Report, min_sustained_minutes: u64) {
    eprintln!(
        "sim: {} polls ({} counting), exact {:.3}%, lag p50/p99 {:?}, rises {}, below true {}, \
         fifo violations {}, worst minute {:.2}%, {} sustained minutes, ETA median {:.1}% p90 {:.1}%, \
         tick p50 {} us p99 {} us, bytes/tick p50 {} p99 {}",
        r.polls,
        r.counting,
        r.exact as f64 * 100.0 / (r.polls - r.counting).max(1) as f64,
        (lag_quantile(r, 0.5), lag_quantile(r, 0.99)),
        r.rises,
        r.below_true,
        r.fifo_violations,
        r.worst_minute_error * 100.0,
        r.sustained_minutes,
        r.eta_median_error * 100.0,
        r.eta_p90_error * 100.0,
        r.tick_us[r.tick_us.len() / 2],
        r.tick_us[r.tick_us.len() * 99 / 100],
        r.tick_bytes[r.tick_bytes.len() / 2],
        r.tick_bytes[r.tick_bytes.len() * 99 / 100],
    );
    assert_eq!(
        r.exact,
        r.polls - r.counting,
        "every position exact at the tick boundary"
    );
    assert_eq!(r.rises, 0, "a position went up");
    assert_eq!(r.below_true, 0, "fewer ahead than really are");
    assert_eq!(r.fifo_violations, 0, "admitted out of order");
    assert!(
        r.worst_minute_error <= 0.01,
        "rate off by {}",
        r.worst_minute_error
    );
    assert!(
        r.sustained_minutes >= min_sustained_minutes,
        "{} sustained minutes",
        r.sustained_minutes
    );
    assert!(
        r.eta_median_error < 0.15,
        "median ETA error {}",
        r.eta_median_error
    );
}

#[test]
fn three_hundred_thousand_citizens_thirty_two_shards_front_loaded() {
    let r = sim::run(&sim::launch_day());
    check(&r, 10);
}

#[test]
fn hundred_thousand_citizens_eight_shards_slow_registry() {
    let r = sim::run(&Params {
        users: 100_000,
        shards: 8,
        arrival_window_ms: 10 * 60_000,
        config: AdmissionConfig {
            new_users_per_minute: 6_000,
            total_active_users: 5_000,
            session_minutes: 2,
            abandon_after_seconds: 60,
            paused: false,
            max_away_minutes: 0,
        },
        duration_ms: 40 * 60_000,
        // The Coordinator's other path: every shard asked at the tick (its
        // first tick, or shards whose grant call failed).
        one_call: false,
    });
    check(&r, 10);
}
