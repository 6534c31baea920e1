//! The pre-queue lottery and the random mode through the real shards and
//! controller: uniform (chi-square over many seeds), deterministic for a
//! seed, applied once, FIFO afterwards.

use waitroom_core::coordinator::{AdmissionConfig, AdmissionController};
use waitroom_core::operator::{fisher_yates, OperatorConfig, QueueMode};
use waitroom_core::queue::ShardQueue;

const P: u64 = 1_800_000_000_000;
/// A short pre-queue keeps everyone alive without heartbeats (abandon: 60 s).
const E: u64 = P + 20_000;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        new_users_per_minute: 60, // one per 1 s tick
        ..AdmissionConfig::default()
    }
}

fn scheduled() -> OperatorConfig {
    OperatorConfig {
        prequeue_start: Some(P),
        event_start: Some(E),
        ..OperatorConfig::default()
    }
}

/// Runs ticks at `now` (1 s apart) and returns the ids admitted, in order.
fn run(
    ctl: &mut AdmissionController,
    q: &mut [ShardQueue],
    op: &OperatorConfig,
    tick: &mut u64,
    now: &mut u64,
    ticks: usize,
) -> Vec<u64> {
    let mut admitted = Vec::new();
    for _ in 0..ticks {
        *tick += 1;
        *now += 1_000;
        let summaries: Vec<_> = q
            .iter_mut()
            .enumerate()
            .map(|(i, s)| s.summary(&ctl.summary_request(i as u32, *tick), *now).0)
            .collect();
        let plan = ctl.tick_room(*tick, *now, &summaries, &config(), op);
        for (s, g) in q.iter_mut().zip(&plan.grants) {
            // Keep citizens alive: heartbeat everyone still waiting.
            admitted.extend(s.apply_grant(g, *now).changes.admitted);
        }
    }
    admitted
}

/// Four citizens pre-queue across two shards (in a fixed arrival order),
/// the event starts, and they are admitted one a second. Returns the
/// admission order of ids 1..=4 and then of two post-event arrivals.
fn lottery_order(seed: u64) -> Vec<u64> {
    let mut q = vec![
        ShardQueue::new(config().shard_config()),
        ShardQueue::new(config().shard_config()),
    ];
    let mut ctl = AdmissionController::new();
    ctl.ensure_seed(seed);
    let op = scheduled();
    let (mut tick, mut now) = (0, P);
    run(&mut ctl, &mut q, &op, &mut tick, &mut now, 1);
    for id in 1..=4u64 {
        q[(id % 2) as usize].join(id, now + id * 10);
    }
    // Pre-queue: nobody admitted, however long.
    assert!(run(&mut ctl, &mut q, &op, &mut tick, &mut now, 3).is_empty());
    now = E - 1_000;
    let mut order = run(&mut ctl, &mut q, &op, &mut tick, &mut now, 1);
    assert!(order.is_empty(), "the lottery tick admits nobody");
    // Latecomers after event_start, a tick apart: FIFO behind the pre-queue
    // (within one tick the order is by shard, so they come a tick apart).
    q[1].join(5, now);
    order.extend(run(&mut ctl, &mut q, &op, &mut tick, &mut now, 1));
    q[0].join(6, now + 1);
    order.extend(run(&mut ctl, &mut q, &op, &mut tick, &mut now, 8));
    order
}

fn rank(perm: &[u64]) -> usize {
    // Lehmer code of a permutation of 1..=4 → 0..24.
    let mut r = 0;
    for i in 0..perm.len() {
        let smaller = perm[i + 1..].iter().filter(|&&x| x < perm[i]).count();
        r = r * (perm.len() - i) + smaller;
    }
    r
}

fn chi_square(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    let e = n as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum()
}

#[test]
fn lottery_is_uniform_over_all_orders_then_fifo() {
    const SEEDS: u64 = 6_000;
    let mut counts = [0u64; 24];
    for seed in 0..SEEDS {
        let order = lottery_order(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11);
        assert_eq!(order.len(), 6, "{order:?}");
        assert_eq!(&order[4..], &[5, 6], "post-event arrivals stay FIFO behind");
        counts[rank(&order[..4])] += 1;
    }
    // 23 degrees of freedom: p = 0.001 at 49.7.
    let x2 = chi_square(&counts);
    assert!(x2 < 49.7, "chi-square {x2:.1} over {counts:?}");
}

#[test]
fn lottery_is_deterministic_for_a_seed_and_varies_across_seeds() {
    assert_eq!(lottery_order(12345), lottery_order(12345));
    let distinct: std::collections::BTreeSet<Vec<u64>> = (0..50).map(lottery_order).collect();
    assert!(distinct.len() > 10);
}

#[test]
fn lottery_runs_once_even_if_ticks_repeat() {
    let mut q = ShardQueue::new(config().shard_config());
    let mut ctl = AdmissionController::new();
    ctl.ensure_seed(7);
    assert!(!ctl.ensure_seed(8), "the seed is drawn once");
    let op = scheduled();
    for id in 1..=50u64 {
        q.join(id, P + id);
    }
    let now = E + 10;
    let s = q.summary(&ctl.summary_request(0, 1), now).0;
    let plan = ctl.tick_room(1, now, &[s], &config(), &op);
    assert_eq!(plan.budget, 0);
    let first = q.apply_grant(&plan.grants[0], now);
    assert_eq!(first.reordered.len(), 50);
    let order: Vec<u64> = first.reordered.iter().map(|r| r.id).collect();
    assert_ne!(order, (1..=50).collect::<Vec<_>>(), "shuffled");
    let positions: Vec<u64> = order.iter().map(|&id| q.position(id).unwrap()).collect();
    assert_eq!(
        positions,
        (1..=50).collect::<Vec<_>>(),
        "positions follow the lottery"
    );
    // The same grant again is a duplicate; the same tick id replays the plan.
    assert!(q.apply_grant(&plan.grants[0], now).duplicate);
    assert_eq!(
        ctl.tick_room(
            1,
            now,
            &[q.summary(&ctl.summary_request(0, 1), now).0],
            &config(),
            &op
        ),
        plan
    );
    // Later grants carry the lottery too but do not reshuffle.
    let s = q.summary(&ctl.summary_request(0, 2), now + 1_000).0;
    let next = ctl.tick_room(2, now + 1_000, &[s], &config(), &op);
    assert!(next.grants[0].lottery.is_some());
    let out = q.apply_grant(&next.grants[0], now + 1_000);
    assert!(out.reordered.is_empty());
    assert_eq!(
        out.changes.admitted,
        vec![order[0]],
        "then FIFO in lottery order"
    );
    // The shard rebuilt from its rows keeps the lottery order.
    let rows: Vec<_> = (1..=50).filter_map(|id| q.row(id)).collect();
    let back = ShardQueue::restore(q.meta().clone(), rows, now + 1_000).unwrap();
    assert_eq!(back.position(order[1]), Some(1));
}

#[test]
fn random_mode_admits_uniformly_across_shards() {
    // 6 waiting over 3 shards (1, 2, 3); one admission per run.
    const RUNS: u64 = 6_000;
    let mut counts = [0u64; 6];
    let op = OperatorConfig {
        mode: QueueMode::Random,
        ..OperatorConfig::default()
    };
    for seed in 0..RUNS {
        let mut q: Vec<ShardQueue> = (0..3)
            .map(|_| ShardQueue::new(config().shard_config()))
            .collect();
        let mut ctl = AdmissionController::new();
        ctl.ensure_seed(seed * 7919);
        let mut id = 0;
        for (shard, n) in [(0usize, 1), (1, 2), (2, 3)] {
            for _ in 0..n {
                q[shard].join(id, P + id);
                id += 1;
            }
        }
        let (mut tick, mut now) = (0, P + 100);
        let admitted = run(&mut ctl, &mut q, &op, &mut tick, &mut now, 1);
        assert_eq!(admitted.len(), 1);
        counts[admitted[0] as usize] += 1;
    }
    // 5 degrees of freedom: p = 0.001 at 20.5.
    let x2 = chi_square(&counts);
    assert!(x2 < 20.5, "chi-square {x2:.1} over {counts:?}");
}

#[test]
fn passthrough_admits_everyone_at_once_and_pause_still_holds() {
    let mut q = ShardQueue::new(config().shard_config());
    for id in 0..500 {
        q.join(id, P + id);
    }
    let mut ctl = AdmissionController::new();
    let op = OperatorConfig {
        mode: QueueMode::Passthrough,
        ..OperatorConfig::default()
    };
    let paused = AdmissionConfig {
        paused: true,
        ..config()
    };
    let s = q.summary(&ctl.summary_request(0, 1), P + 1_000).0;
    assert_eq!(ctl.tick_room(1, P + 1_000, &[s], &paused, &op).budget, 0);
    let s = q.summary(&ctl.summary_request(0, 2), P + 2_000).0;
    let plan = ctl.tick_room(2, P + 2_000, &[s], &config(), &op);
    assert_eq!(plan.budget, 500);
    assert_eq!(
        q.apply_grant(&plan.grants[0], P + 2_000)
            .changes
            .admitted
            .len(),
        500
    );
}

#[test]
fn fisher_yates_is_uniform_and_deterministic() {
    let mut counts = [0u64; 24];
    for seed in 0..12_000 {
        let mut v = [1u64, 2, 3, 4];
        fisher_yates(&mut v, seed);
        counts[rank(&v)] += 1;
    }
    assert!(chi_square(&counts) < 49.7, "{counts:?}");
    let (mut a, mut b) = ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]);
    fisher_yates(&mut a, 9);
    fisher_yates(&mut b, 9);
    assert_eq!(a, b);
}

#[test]
fn history_is_bounded_and_rates_per_minute() {
    let mut ctl = AdmissionController::new();
    let mut q = ShardQueue::new(config().shard_config());
    let op = OperatorConfig::default();
    let mut now = P;
    for tick in 1..=2_000u64 {
        now += 1_000;
        q.join(tick, now);
        let s = q.summary(&ctl.summary_request(0, tick), now).0;
        let plan = ctl.tick_room(tick, now, &[s], &config(), &op);
        q.apply_grant(&plan.grants[0], now);
    }
    let h = ctl.history();
    assert!(
        h.points.len() <= 90 && h.points.len() >= 89,
        "{}",
        h.points.len()
    );
    let stats = &ctl.last_plan().unwrap().stats;
    assert!(
        (stats.admitted_per_min - 60.0).abs() < 7.0,
        "{}",
        stats.admitted_per_min
    );
}

/// With a committed seed (`TickExtras::lottery_seed`) the shards shuffle by
/// it: the order anyone recomputes from the published seed and entries
/// (`fairness::admission_order`) is the shard's order. The grant tells the
/// shard which entries it drew, and carries the live message.
#[test]
fn a_committed_seed_drives_the_draw_and_the_published_order_is_the_admitted_one() {
    use waitroom_core::coordinator::TickExtras;
    use waitroom_core::operator::fairness::{admission_order, LotteryEntry};
    use waitroom_core::operator::{FairnessSeed, Message};

    let seed = FairnessSeed(*b"a committed seed of 32 bytes ok!");
    let message = Message([("en".to_string(), "Draw at 9".to_string())].into());
    let mut q = ShardQueue::new(config().shard_config());
    let mut ctl = AdmissionController::new();
    ctl.ensure_seed(7);
    let op = scheduled();
    for id in 1..=40u64 {
        q.join(id, P + id);
    }
    q.join(99, E + 1); // after event_start: not in the draw
    let now = E + 10;
    let s = q.summary(&ctl.summary_request(0, 1), now).0;
    let extras = TickExtras {
        message: Some(&message),
        lottery_seed: Some(seed.lottery_seed()),
        ..TickExtras::default()
    };
    let plan = ctl.tick_shards(1, now, &[Some(s)], &config(), &op, extras);
    assert_eq!(plan.grants[0].lottery.unwrap().seed, seed.lottery_seed());
    let out = q.apply_grant(&plan.grants[0], now);
    let mut drawn = out.drawn.clone();
    drawn.sort_unstable();
    assert_eq!(
        drawn,
        (1..=40).collect::<Vec<_>>(),
        "exactly the pre-queued"
    );
    assert_eq!(q.message(), Some(&message));

    let entries: Vec<LotteryEntry> = drawn
        .iter()
        .map(|&id| LotteryEntry { id, shard: 0 })
        .collect();
    let recomputed: Vec<u64> = admission_order(seed.lottery_seed(), &entries)
        .iter()
        .map(|e| e.id)
        .collect();
    let by_position: Vec<u64> = {
        let mut ids: Vec<u64> = (1..=40).collect();
        ids.sort_by_key(|&id| q.position(id).unwrap());
        ids
    };
    assert_eq!(recomputed, by_position);
    assert_eq!(q.position(99), Some(41), "the latecomer behind the draw");

    // A grant without a message clears it.
    let s = q.summary(&ctl.summary_request(0, 2), now + 1_000).0;
    let next = ctl.tick_room(2, now + 1_000, &[s], &config(), &op);
    assert!(
        q.apply_grant(&next.grants[0], now + 1_000).drawn.is_empty(),
        "drawn once"
    );
    assert_eq!(q.message(), None);
}
