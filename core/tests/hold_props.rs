//! Property tests of the hold rule (issue 19), through a shard driven by the
//! admission controller as the Coordinator drives it. Each citizen polls
//! every second, except that some go away for a while after being shown a
//! hold; the same room is also run with everyone staying (the twins).
//!
//! - nobody is admitted while away (silent past the grace);
//! - back by their hold (plus `abandon_after`), a citizen is admitted no
//!   later than their twin who stayed, or at the first tick after coming
//!   back if their turn came while they were away;
//! - back later than that, the place is lost and never admitted;
//! - a hold shown never moves earlier.

use std::collections::HashMap;

use proptest::prelude::*;
use waitroom_core::coordinator::{AdmissionConfig, AdmissionController};
use waitroom_core::queue::{ShardQueue, Status};

const T0: u64 = 1_700_000_000_000;
const TICK_MS: u64 = 1_000;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        // One every 10 s: safe rate 0.2/s, presence within 24 places.
        new_users_per_minute: 6,
        total_active_users: 1_000,
        session_minutes: 60,
        abandon_after_seconds: 15,
        paused: false,
        max_away_minutes: 2,
    }
}

#[derive(Debug, Clone, Copy)]
struct Away {
    /// Tick (after being shown a hold) at which the citizen stops polling.
    from_tick: u64,
    /// How long they stay away, in ticks.
    ticks: u64,
}

#[derive(Debug, Default, Clone)]
struct Outcome {
    admitted_at: Option<u64>,
    lost: bool,
    /// Time the citizen came back (first poll after being away).
    back_at: Option<u64>,
    hold_when_left: Option<u64>,
    /// Whether they were polling (present) at each admission.
    silent_when_admitted: Option<u64>,
}

/// Runs `n` citizens (joined one per tick while paused, so the order is
/// known), the room then opening; citizen i is away per `away[i]`.
fn run(n: usize, away: &[Option<Away>], ticks: u64) -> Vec<Outcome> {
    run_paced(n, away, ticks, None)
}

/// [`run`], with the operator multiplying the pace by `faster.1` at tick
/// `faster.0` after the opening (beyond any hold's margin).
fn run_paced(
    n: usize,
    away: &[Option<Away>],
    ticks: u64,
    faster: Option<(u64, u32)>,
) -> Vec<Outcome> {
    let cfg = config();
    let mut ctl = AdmissionController::new();
    let mut q = ShardQueue::new(cfg.shard_config());
    let mut out = vec![Outcome::default(); n];
    let mut last_poll = vec![0u64; n];
    let mut holds: HashMap<usize, u64> = HashMap::new();
    let paused = AdmissionConfig {
        paused: true,
        ..cfg
    };
    let mut now = T0;
    let mut tick = 0u64;
    let step = |ctl: &mut AdmissionController,
                q: &mut ShardQueue,
                now: u64,
                tick: u64,
                c: &AdmissionConfig| {
        let s = q.summary(&ctl.summary_request(0, tick), now).0;
        let plan = ctl.tick(tick, now, &[s], c);
        q.apply_grant(&plan.grants[0], now).changes.admitted
    };
    for i in 0..n {
        now += TICK_MS;
        tick += 1;
        q.join(i as u64 + 1, now);
        last_poll[i] = now;
        step(&mut ctl, &mut q, now, tick, &paused);
        for (j, lp) in last_poll.iter_mut().enumerate().take(i + 1) {
            q.heartbeat(j as u64 + 1, now);
            *lp = now;
        }
    }
    let open_tick = tick;
    for _ in 0..ticks {
        now += TICK_MS;
        tick += 1;
        // Polls first, then the tick.
        for i in 0..n {
            if out[i].admitted_at.is_some() || out[i].lost {
                continue;
            }
            let rel = tick - open_tick;
            let is_away = match (away[i], holds.get(&i)) {
                (Some(a), Some(_)) => rel >= a.from_tick && rel < a.from_tick + a.ticks,
                _ => false,
            };
            if is_away {
                if out[i].hold_when_left.is_none() {
                    out[i].hold_when_left = holds.get(&i).copied();
                }
                continue;
            }
            if out[i].hold_when_left.is_some() && out[i].back_at.is_none() {
                out[i].back_at = Some(now);
            }
            match q.heartbeat(i as u64 + 1, now) {
                Status::Waiting(w) => {
                    if let Some(h) = w.hold_until_ms {
                        let before = holds.insert(i, h);
                        assert!(
                            before.is_none_or(|b| h >= b),
                            "hold moved earlier: {before:?} -> {h}"
                        );
                    }
                    last_poll[i] = now;
                }
                Status::Admitted { .. } => {}
                Status::Abandoned | Status::NotFound => out[i].lost = true,
            }
        }
        let pace = match faster {
            Some((t, factor)) if tick - open_tick >= t => AdmissionConfig {
                new_users_per_minute: factor * cfg.new_users_per_minute,
                ..cfg
            },
            _ => cfg,
        };
        for id in step(&mut ctl, &mut q, now, tick, &pace) {
            let i = id as usize - 1;
            out[i].admitted_at = Some(now);
            out[i].silent_when_admitted = Some(now - last_poll[i]);
        }
    }
    out
}

fn away_plan() -> impl Strategy<Value = Option<Away>> {
    prop_oneof![
        2 => Just(None),
        1 => (0..20u64, 1..200u64).prop_map(|(from_tick, ticks)| Some(Away { from_tick, ticks })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn holds_keep_places_for_those_back_in_time_and_nobody_away_is_admitted(
        away in proptest::collection::vec(away_plan(), 40)
    ) {
        let n = away.len();
        let ticks = 700;
        let cfg = config().shard_config();
        let stayed = run(n, &vec![None; n], ticks);
        let got = run(n, &away, ticks);
        for i in 0..n {
            let o = &got[i];
            if let Some(silent) = o.silent_when_admitted {
                prop_assert!(silent <= cfg.expiry_grace_ms(), "citizen {i} admitted after {silent} ms away");
            }
            let Some(hold) = o.hold_when_left else {
                // Never left: no later than their twin (others who left
                // or were lost can only move them up).
                prop_assert!(o.admitted_at.is_some() && o.admitted_at <= stayed[i].admitted_at, "citizen {} stayed", i);
                continue;
            };
            let back = o.back_at.unwrap_or(u64::MAX);
            if back <= hold + cfg.abandon_after_ms {
                prop_assert!(!o.lost, "citizen {i} came back in time and lost the place");
                let twin = stayed[i].admitted_at.expect("the twin got in");
                let at = o.admitted_at.expect("back in time, admitted");
                prop_assert!(at <= twin.max(back + TICK_MS), "citizen {i}: {at} vs twin {twin}, back {back}");
            } else if back > hold + cfg.expiry_grace_ms() + TICK_MS {
                prop_assert!(o.admitted_at.is_none() || o.admitted_at < Some(hold), "citizen {i} back too late yet admitted");
            }
        }
    }
}

#[test]
fn a_citizen_far_back_gets_a_hold_and_one_at_the_front_none() {
    let cfg = config();
    let mut ctl = AdmissionController::new();
    let mut q = ShardQueue::new(cfg.shard_config());
    for i in 1..=40u64 {
        q.join(i, T0);
    }
    let paused = AdmissionConfig {
        paused: true,
        ..cfg
    };
    let s = q.summary(&ctl.summary_request(0, 1), T0 + 1_000).0;
    let plan = ctl.tick(1, T0 + 1_000, &[s], &paused);
    q.apply_grant(&plan.grants[0], T0 + 1_000);
    let hold = |q: &mut ShardQueue, id| match q.heartbeat(id, T0 + 1_000) {
        Status::Waiting(w) => w.hold_until_ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(hold(&mut q, 20), None, "within 24 of the front: stay");
    // (40 - 24) places at 0.2 a second: 80 s.
    assert_eq!(hold(&mut q, 40), Some(T0 + 1_000 + 80_000));
}

#[test]
fn in_a_long_run_some_leave_and_come_back_and_some_are_late() {
    let mut away = vec![None; 40];
    away[39] = Some(Away {
        from_tick: 0,
        ticks: 30,
    }); // back within the hold
    away[38] = Some(Away {
        from_tick: 0,
        ticks: 500,
    }); // far too late
    let got = run(40, &away, 700);
    let stayed = run(40, &[None; 40], 700);
    let _ = run_paced;
    assert!(got[39].hold_when_left.is_some(), "the last had a hold");
    assert!(got[39].admitted_at.is_some(), "back in time: admitted");
    assert!(
        got[39].admitted_at <= stayed[39].admitted_at,
        "no later than staying"
    );
    assert!(got[38].lost, "back too late: the place is gone");
    assert_eq!(got[38].admitted_at, None);
    // The others' turns come no later than their twins'.
    for i in 0..38 {
        assert!(got[i].admitted_at <= stayed[i].admitted_at, "{i}");
    }
}

#[test]
fn whose_turn_comes_while_away_waits_at_the_front_and_goes_in_once_back() {
    // The 30th citizen leaves with a hold of about (30 - 24) / 0.2 = 30 s;
    // the pace then jumps sixtyfold, so their turn comes while they are
    // away, with present citizens behind them.
    let mut away = vec![None; 40];
    away[29] = Some(Away {
        from_tick: 0,
        ticks: 30,
    });
    // Away (silent past the 17.5 s grace) from about 18 s on; the pace
    // jumps then, and they are back at 30 s, within hold + abandon_after.
    let got = run_paced(40, &away, 300, Some((18, 60)));
    let o = &got[29];
    let hold = o.hold_when_left.expect("a hold");
    let back = o.back_at.expect("came back");
    assert!(back <= hold + 15_000, "back within the hold");
    let at = o.admitted_at.expect("admitted once back");
    assert!(at >= back, "not admitted while away ({at} < {back})");
    assert!(
        at <= back + TICK_MS,
        "admitted at the first tick after coming back"
    );
    // Those behind went in meanwhile: the turn went to those present.
    assert!(got[30..]
        .iter()
        .any(|o| o.admitted_at.is_some_and(|a| a < back)));
}

#[test]
fn the_browser_scenario_in_core_held_then_lost() {
    // The Chromium scenario's settings: 15 s abandon_after, holds of at most
    // a minute, one admission a minute, paused; the citizen is 12th.
    let cfg = AdmissionConfig {
        new_users_per_minute: 1,
        abandon_after_seconds: 15,
        max_away_minutes: 1,
        paused: true,
        ..config()
    };
    let mut ctl = AdmissionController::new();
    let mut q = ShardQueue::new(cfg.shard_config());
    let mut now = T0;
    for (t, id) in (1..=12u64).enumerate() {
        q.join(id, now);
        now += 1_000;
        let s = q.summary(&ctl.summary_request(0, t as u64 + 1), now).0;
        let plan = ctl.tick(t as u64 + 1, now, &[s], &cfg);
        q.apply_grant(&plan.grants[0], now);
    }
    let Status::Waiting(w) = q.heartbeat(12, now) else {
        panic!()
    };
    let hold = w.hold_until_ms.expect("the 12th has a hold");
    assert_eq!(hold, now + 60_000, "capped at a minute");
    // Away 30 s (past the 17.5 s grace): kept.
    let mut tick = 13;
    let mut tick_at = |q: &mut ShardQueue, now: u64| {
        let s = q.summary(&ctl.summary_request(0, tick), now).0;
        let plan = ctl.tick(tick, now, &[s], &cfg);
        q.apply_grant(&plan.grants[0], now);
        tick += 1;
    };
    for _ in 0..30 {
        now += 1_000;
        for id in 1..=11 {
            q.heartbeat(id, now);
        }
        tick_at(&mut q, now);
    }
    assert_eq!(q.away_len(), 1, "away within the hold");
    let Status::Waiting(w) = q.heartbeat(12, now) else {
        panic!("lost within the hold")
    };
    assert_eq!(w.hold_until_ms, Some(hold), "the hold did not move");
    // Away 90 s more: past hold + abandon_after, lost.
    for _ in 0..90 {
        now += 1_000;
        for id in 1..=11 {
            q.heartbeat(id, now);
        }
        tick_at(&mut q, now);
    }
    assert!(matches!(
        q.heartbeat(12, now),
        Status::NotFound | Status::Abandoned
    ));
    assert_eq!(q.meta().missed_total, 1);
}
