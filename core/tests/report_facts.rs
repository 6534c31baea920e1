//! The launch report's facts as the shards send them with their summaries
//! (`waitroom_core::operator::ShardFacts`): whatever summaries the
//! coordinator misses, every join and admission is counted exactly once,
//! each admission with its time in queue and its ETA error.

use proptest::prelude::*;
use waitroom_core::coordinator::{AdmissionConfig, AdmissionController, ShardSummary, TickExtras};
use waitroom_core::operator::{OperatorConfig, ShardFacts};
use waitroom_core::queue::ShardQueue;

const T0: u64 = 1_700_000_000_000;
const SHARDS: usize = 3;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        new_users_per_minute: 300, // 5 a second
        total_active_users: 10_000,
        session_minutes: 10,
        abandon_after_seconds: 600,
        paused: false,
        max_away_minutes: 0,
    }
}

/// Drives `ticks` one-second ticks; `joins[t]` citizens join before tick
/// `t`; `lost[t][s]`: the coordinator never receives shard `s`'s summary
/// of tick `t` (the shard made it, the answer was lost). Returns the facts
/// the coordinator received, summed, and the joins and admissions made.
fn run(joins: &[u8], lost: &[[bool; SHARDS]]) -> (ShardFacts, u64, u64) {
    let cfg = config();
    let mut shards: Vec<ShardQueue> = (0..SHARDS)
        .map(|_| ShardQueue::new(cfg.shard_config()))
        .collect();
    let mut ctl = AdmissionController::new();
    let mut received = ShardFacts::default();
    let (mut joined, mut admitted) = (0u64, 0u64);
    let mut next_id = 0u64;
    for (t, (&n, lost)) in joins.iter().zip(lost).enumerate() {
        let now = T0 + t as u64 * 1_000;
        for _ in 0..n {
            shards[(next_id % SHARDS as u64) as usize].join(next_id, now);
            next_id += 1;
            joined += 1;
        }
        let tick_id = t as u64 + 1;
        let replies: Vec<Option<ShardSummary>> = shards
            .iter_mut()
            .enumerate()
            .map(|(i, q)| {
                let s = q.summary(&ctl.summary_request(i as u32, tick_id), now).0;
                (!lost[i]).then_some(s)
            })
            .collect();
        for s in replies.iter().flatten() {
            received.merge(&s.facts);
        }
        let plan = ctl.tick_shards(
            tick_id,
            now,
            &replies,
            &cfg,
            &OperatorConfig::default(),
            TickExtras::default(),
        );
        for g in &plan.grants {
            admitted += shards[g.shard as usize]
                .apply_grant(g, now)
                .changes
                .admitted
                .len() as u64;
        }
    }
    // Everything owed arrives with a last summary nobody misses.
    let tick_id = joins.len() as u64 + 1;
    let now = T0 + joins.len() as u64 * 1_000;
    for (i, q) in shards.iter_mut().enumerate() {
        let s = q.summary(&ctl.summary_request(i as u32, tick_id), now).0;
        received.merge(&s.facts);
    }
    (received, joined, admitted)
}

#[test]
fn every_summary_received_counts_each_fact_once() {
    let joins = [10, 10, 0, 0, 0, 0, 0, 0];
    let (facts, joined, admitted) = run(&joins, &[[false; SHARDS]; 8]);
    assert_eq!((facts.joined, joined), (20, 20));
    assert_eq!(facts.admitted, admitted);
    assert!(admitted >= 20, "5 a second for 7 s: {admitted}");
    assert_eq!(facts.queue_seconds.count(), admitted);
    // The first exact ETA of everyone came a tick after they joined.
    assert_eq!(facts.eta_error_seconds.count(), admitted);
    // Waits of 1..4 s at 5 a second; an ETA is never off by a minute.
    assert!(facts.queue_seconds.quantile(1.0).unwrap() <= 5);
    assert!(facts.eta_error_seconds.quantile(1.0).unwrap() <= 5);
    assert_eq!((facts.abandoned, facts.away, facts.back), (0, 0, 0));
}

proptest! {
    #[test]
    fn lost_summaries_are_sent_again_never_twice(
        joins in proptest::collection::vec(0u8..8, 1..30),
        lost in proptest::collection::vec(proptest::array::uniform3(proptest::bool::weighted(0.3)), 30),
    ) {
        let (facts, joined, admitted) = run(&joins, &lost[..joins.len()]);
        prop_assert_eq!(facts.joined, joined);
        prop_assert_eq!(facts.admitted, admitted);
        prop_assert_eq!(facts.queue_seconds.count(), admitted);
        prop_assert!(facts.eta_error_seconds.count() <= admitted);
    }
}

#[test]
fn a_bypassed_session_is_counted_by_kind_and_takes_an_active_slot() {
    use waitroom_core::operator::BypassKind;
    use waitroom_core::protocol::shard::Summary;
    use waitroom_core::queue::EntryState;
    let mut q = ShardQueue::new(config().shard_config());
    q.join(1, T0);
    let end = q.admit_now(7, BypassKind::Country, T0);
    assert_eq!(end, T0 + 10 * 60_000, "a whole session");
    assert!(q.is_admitted(7, T0 + 1));
    assert_eq!(q.row(7).map(|r| r.state), Some(EntryState::Admitted));
    assert_eq!(q.waiting_len(), 1, "the line is untouched");
    let ask = Summary {
        shard: 0,
        tick_id: 1,
        received_through: None,
        seals: Vec::new(),
    };
    let s = q.summary(&ask, T0 + 1).0;
    assert_eq!(s.facts.bypassed, [0, 0, 1]);
    assert_eq!(s.active_sessions, 1, "it counts against the active cap");
    assert_eq!(s.admitted_total, 0, "nobody was admitted from the line");
}
