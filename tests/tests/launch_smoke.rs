//! The launch load generator's smoke run (issue 9): a few hundred citizens
//! against the real stack on port block 91. Nothing about speed is asserted,
//! only that the run completes and the room keeps its promises.

use std::time::Duration;

use waitroom_e2e::launch::{self, Options, StackPlace};
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
}
