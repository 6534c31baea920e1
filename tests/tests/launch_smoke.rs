//! The launch load generator's smoke run (issue 9): a few hundred citizens
//! against the real stack on port block 91. Nothing about speed is asserted,
//! only that the run completes and the room keeps its promises.

use std::time::Duration;

use waitroom_e2e::launch::{self, Options, RegistryChange, StackPlace};
use xtask::stack::Ports;
use xtask::tools::EdgeBuild;

#[test]
fn a_small_stampede_completes_fairly() {
    // The launch runs what ships: the deploy build.
    waitroom_e2e::ensure_built(EdgeBuild::Deploy);
    let opts = Options {
        citizens: 300,
        shards: 4,
        abandon: 0.2,
        registry_rate: 10,
        abandon_after_seconds: 15,
        burst: Duration::from_secs(5),
        time_limit: Duration::from_secs(240),
        progress_bar: false,
        out_dir: Some(xtask::target_dir().join("e2e/launch-smoke/out")),
        // The registry halves its limit mid-run (issue 20's scenario, small).
        registry_changes: RegistryChange::parse_list("8:5").unwrap(),
        ..Options::default()
    };
    let place = StackPlace {
        ports: Ports::block(91),
        state_dir: xtask::target_dir().join("e2e/launch-smoke/state"),
        bin_dir: xtask::target_dir().join("debug"),
    };
    let report = launch::run_with_stack(&opts, &place).expect("the launch run completes");
    println!("{}", report.table());
    assert!(report.admission.admitted_total > 0, "nobody was admitted");
    assert!(report.outcomes.pdf_downloaded > 0, "no PDF was downloaded");
    assert_eq!(
        report.registry.rate_limited_429, 0,
        "the registry answered 429"
    );
    assert_eq!(
        report.abandonment.admitted_after_abandoning, 0,
        "an abandoned citizen was admitted after the grace period"
    );
    assert_eq!(
        report.fairness.max_overtaken_same_shard, 0,
        "a shard broke FIFO"
    );
    // The change was applied and sampled, and the room followed it.
    let limits: Vec<f64> = report
        .series
        .iter()
        .map(|p| p.registry_limit_per_s)
        .collect();
    assert!(
        limits.contains(&10.0) && limits.contains(&5.0),
        "{limits:?}"
    );
    assert!(
        report.series.iter().any(|p| p.registry_limit_per_s == 5.0
            && p.effective_rate_per_s > 0.0
            && p.effective_rate_per_s <= 6.0),
        "the effective rate never followed the cut to 5/s"
    );
    assert_eq!(report.outcomes.session_expired_while_queued, 0);
    assert!(
        report.registry.longest_backlog_seconds <= 30.0,
        "{:?}",
        report.registry
    );
}

/// Issue 19 at launch scale, small: citizens who leave the page once told
/// they may, and come back within their hold or (on purpose) after it.
/// Holds exist only beyond two minutes of admissions at twice the rate, so
/// the registry runs at 1/s and the run takes about seven minutes.
#[test]
fn citizens_who_leave_the_page_keep_their_place_and_the_late_lose_it() {
    waitroom_e2e::ensure_built(EdgeBuild::Deploy);
    let opts = Options {
        citizens: 400,
        shards: 4,
        abandon: 0.0,
        away: 0.5,
        registry_rate: 1,
        abandon_after_seconds: 15,
        burst: Duration::from_secs(5),
        time_limit: Duration::from_secs(700),
        progress_bar: false,
        out_name: "launch-phones".into(),
        out_dir: Some(xtask::target_dir().join("e2e/launch-phones/out")),
        ..Options::default()
    };
    let place = StackPlace {
        ports: Ports::block(61),
        state_dir: xtask::target_dir().join("e2e/launch-phones/state"),
        bin_dir: xtask::target_dir().join("debug"),
    };
    let report = launch::run_with_stack(&opts, &place).expect("the launch run completes");
    println!("{}", report.table());
    let p = &report.phones;
    assert!(
        p.away_on_time > 0 && p.away_late > 0,
        "nobody was away long enough to prove anything: {p:?}"
    );
    assert_eq!(p.admitted_while_away, 0, "admitted while away: {p:?}");
    assert_eq!(p.on_time_lost_place, 0, "back in time, place lost: {p:?}");
    assert_eq!(p.late_admitted, 0, "back late, admitted: {p:?}");
    assert_eq!(report.outcomes.lost_place_late, p.away_late, "{p:?}");
    assert_eq!(
        report.fairness.max_overtaken_same_shard, 0,
        "a shard broke FIFO"
    );
}
