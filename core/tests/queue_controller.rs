//! Unit tests of the admission protocol: duplicate ticks, config
//! validation, restore-from-rows equivalence, the active cap, FIFO across
//! shards, exact global positions.

use waitroom_core::coordinator::{
    AdmissionConfig, AdmissionController, ShardSummary, TickExtras, TickPlan,
};
use waitroom_core::operator::{Message, OperatorConfig};
use waitroom_core::queue::{EntryRow, ShardMeta, ShardQueue, Status};

const T0: u64 = 1_700_000_000_000;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        new_users_per_minute: 600, // 10 per second
        total_active_users: 1_000,
        session_minutes: 10,
        abandon_after_seconds: 60,
        paused: false,
        max_away_minutes: 0,
    }
}

/// [`config`], paused: nobody is admitted.
fn paused() -> AdmissionConfig {
    AdmissionConfig {
        paused: true,
        ..config()
    }
}

fn shards(n: usize) -> Vec<ShardQueue> {
    (0..n)
        .map(|_| ShardQueue::new(config().shard_config()))
        .collect()
}

fn summaries(
    ctl: &AdmissionController,
    shards: &mut [ShardQueue],
    tick_id: u64,
    now: u64,
) -> Vec<ShardSummary> {
    shards
        .iter_mut()
        .enumerate()
        .map(|(i, s)| s.summary(&ctl.summary_request(i as u32, tick_id), now).0)
        .collect()
}

/// A summary without the parts that depend on what the coordinator was
/// told before (a restored shard reports in full and has no view yet) or
/// that live in memory only (the report's facts of the last second).
fn counts(s: &ShardSummary) -> ShardSummary {
    ShardSummary {
        ranked: Default::default(),
        view_tick: None,
        facts: Default::default(),
        ..s.clone()
    }
}

/// Runs one tick and applies the grants; returns admitted ids per shard.
fn tick(
    ctl: &mut AdmissionController,
    shards: &mut [ShardQueue],
    tick_id: u64,
    now: u64,
    config: &AdmissionConfig,
) -> Vec<Vec<u64>> {
    let s = summaries(ctl, shards, tick_id, now);
    let plan = ctl.tick(tick_id, now, &s, config);
    plan.grants
        .iter()
        .zip(shards.iter_mut())
        .map(|(g, q)| q.apply_grant(g, now).changes.admitted)
        .collect()
}

#[test]
fn duplicate_tick_admits_nobody() {
    let mut q = shards(2);
    for i in 0..100u64 {
        q[(i % 2) as usize].join(i, T0 + i);
    }
    let mut ctl = AdmissionController::new();
    let now = T0 + 1_000;
    let s = summaries(&ctl, &mut q, 1, now);
    let plan = ctl.tick(1, now, &s, &config());
    assert_eq!(plan.budget, 10);
    // The alarm fires again: same tick id, same plan, shards ignore it.
    let s2 = summaries(&ctl, &mut q, 1, now);
    let replay = ctl.tick(1, now + 5, &s2, &config());
    assert_eq!(plan, replay);
    let mut admitted = 0;
    for (g, shard) in plan.grants.iter().zip(q.iter_mut()) {
        admitted += shard.apply_grant(g, now).changes.admitted.len();
    }
    assert_eq!(admitted, 10);
    for (g, shard) in replay.grants.iter().zip(q.iter_mut()) {
        let outcome = shard.apply_grant(g, now);
        assert!(outcome.duplicate);
        assert!(outcome.changes.is_empty());
    }
    // An older tick delivered late is a duplicate too.
    let older = waitroom_core::coordinator::Grant {
        tick_id: 0,
        ..plan.grants[0].clone()
    };
    assert!(q[0].apply_grant(&older, now).duplicate);
    // The controller state survives serde (the Coordinator persists it).
    let json = serde_json::to_string(&ctl).unwrap();
    let mut back: AdmissionController = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ctl);
    assert_eq!(back.tick(1, now, &s, &config()), plan);
}

#[test]
fn config_validation_is_field_level() {
    assert!(config().validate().is_ok());
    let cases = [
        (
            AdmissionConfig {
                new_users_per_minute: 0,
                ..config()
            },
            "new_users_per_minute",
        ),
        (
            AdmissionConfig {
                total_active_users: 0,
                ..config()
            },
            "total_active_users",
        ),
        (
            AdmissionConfig {
                session_minutes: 0,
                ..config()
            },
            "session_minutes",
        ),
        (
            AdmissionConfig {
                session_minutes: 100_000,
                ..config()
            },
            "session_minutes",
        ),
        (
            AdmissionConfig {
                abandon_after_seconds: 3,
                ..config()
            },
            "abandon_after_seconds",
        ),
    ];
    for (cfg, field) in cases {
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.field, field);
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["field"], field);
        assert!(!err.message.is_empty());
    }
    // Poll interval stays well under abandon_after at the smallest setting.
    let tight = AdmissionConfig {
        abandon_after_seconds: 15,
        ..config()
    }
    .shard_config();
    assert!(tight.last_seen_granularity_ms * 2 < tight.abandon_after_ms);
}

/// Plans tick `t` of a room open at [`config`] with `message` in force,
/// from every shard's summary.
fn plan_with_message(
    ctl: &mut AdmissionController,
    q: &mut [ShardQueue],
    t: u64,
    message: Option<&Message>,
) -> TickPlan {
    let now = T0 + t * 1_000;
    let s: Vec<Option<ShardSummary>> = summaries(ctl, q, t, now).into_iter().map(Some).collect();
    let extras = TickExtras {
        message,
        ..TickExtras::default()
    };
    ctl.tick_shards(t, now, &s, &config(), &OperatorConfig::default(), extras)
}

#[test]
fn settings_go_only_to_shards_that_do_not_hold_them() {
    let mut q = shards(3);
    let mut ctl = AdmissionController::new();
    let sent = |plan: &TickPlan| -> Vec<bool> {
        plan.grants.iter().map(|g| g.settings.is_some()).collect()
    };
    let apply = |plan: &TickPlan, q: &mut [ShardQueue], to: &[usize]| {
        for &i in to {
            assert!(!q[i].apply_grant(&plan.grants[i], T0).duplicate);
        }
    };
    // New shards already hold the room's settings: nothing to send.
    let plan = plan_with_message(&mut ctl, &mut q, 1, None);
    assert_eq!(sent(&plan), [false; 3]);
    apply(&plan, &mut q, &[0, 1, 2]);

    // A live message: every shard is sent the settings. Shard 1's grant
    // is lost.
    let doors = Message([("en".to_string(), "Doors at nine".to_string())].into());
    let plan = plan_with_message(&mut ctl, &mut q, 2, Some(&doors));
    assert_eq!(sent(&plan), [true; 3]);
    assert_eq!(
        plan.grants[0].settings.as_ref().unwrap().message.as_ref(),
        Some(&doors)
    );
    let outcome = q[0].apply_grant(&plan.grants[0], T0);
    assert!(outcome.save_meta, "a change of settings is written");
    apply(&plan, &mut q, &[2]);
    assert_eq!(q[1].message(), None);

    // Only the shard that missed them is sent them again.
    let plan = plan_with_message(&mut ctl, &mut q, 3, Some(&doors));
    assert_eq!(sent(&plan), [false, true, false]);
    apply(&plan, &mut q, &[0, 1, 2]);
    assert!(q.iter().all(|s| s.message() == Some(&doors)));

    // A shard restarted from its meta still holds them.
    q[2] = ShardQueue::restore(q[2].meta().clone(), [], T0).unwrap();
    let plan = plan_with_message(&mut ctl, &mut q, 4, Some(&doors));
    assert_eq!(sent(&plan), [false; 3]);
    apply(&plan, &mut q, &[0, 1, 2]);

    // The message withdrawn: sent to all again, and then no more.
    let plan = plan_with_message(&mut ctl, &mut q, 5, None);
    assert_eq!(sent(&plan), [true; 3]);
    apply(&plan, &mut q, &[0, 1, 2]);
    assert!(q.iter().all(|s| s.message().is_none()));
    let plan = plan_with_message(&mut ctl, &mut q, 6, None);
    assert_eq!(sent(&plan), [false; 3]);
}

#[test]
fn a_grant_that_changes_nothing_is_not_written_and_replays_harmlessly() {
    // Shard 0 has people, shard 1 nobody.
    let mut q = shards(2);
    for i in 0..30u64 {
        q[0].join(i, T0 + i);
    }
    let mut ctl = AdmissionController::new();
    let mut now = T0 + 1_000;
    let mut outcomes = Vec::new();
    for t in 1..=3 {
        now += 1_000;
        let s = summaries(&ctl, &mut q, t, now);
        let plan = ctl.tick(t, now, &s, &config());
        let o: Vec<_> = plan
            .grants
            .iter()
            .zip(q.iter_mut())
            .map(|(g, q)| (g.clone(), q.apply_grant(g, now)))
            .collect();
        outcomes.push(o);
    }
    // Admitting is written; the empty shard's grants change nothing.
    for o in &outcomes {
        assert!(o[0].0.admit > 0 && o[0].1.save_meta);
        assert!(o[1].0.admit == 0 && !o[1].1.save_meta, "{:?}", o[1]);
    }
    // The empty shard restarts from what it last wrote (never: a fresh
    // meta); the last grant comes again: it is applied, and changes nothing.
    let written = ShardQueue::new(config().shard_config()).meta().clone();
    let mut restored = ShardQueue::restore(written, [], now).unwrap();
    let replay = restored.apply_grant(&outcomes[2][1].0, now);
    assert!(!replay.duplicate && replay.changes.is_empty() && !replay.save_meta);
    let mut ctl2 = ctl.clone();
    let a = q[1].summary(&ctl.summary_request(1, 4), now).0;
    let b = restored.summary(&ctl2.summary_request(1, 4), now).0;
    assert_eq!(
        ShardSummary {
            last_applied_tick: None,
            ..counts(&a)
        },
        ShardSummary {
            last_applied_tick: None,
            ..counts(&b)
        }
    );
    // A change of settings is written even when nobody is admitted.
    now += 1_000;
    let s = summaries(&ctl2, &mut q, 4, now);
    let longer = AdmissionConfig {
        session_minutes: 20,
        ..config()
    };
    let plan = ctl2.tick(4, now, &s, &longer);
    assert_eq!(plan.grants[1].admit, 0);
    assert!(q[1].apply_grant(&plan.grants[1], now).save_meta);
}

#[test]
fn restore_from_rows_behaves_identically() {
    let mut live = shards(1).remove(0);
    let mut ctl = AdmissionController::new();
    let mut now = T0;
    for i in 0..500u64 {
        live.join(i * 7919, now);
        now += 37;
        if i % 3 == 0 {
            live.heartbeat((i / 2) * 7919, now);
        }
        if i % 11 == 0 {
            live.leave((i / 3) * 7919);
        }
    }
    // A few ticks so there are admitted rows and a last applied tick.
    for t in 1..=3 {
        now += 1_000;
        let s = vec![live.summary(&ctl.summary_request(0, t), now).0];
        let plan = ctl.tick(t, now, &s, &config());
        live.apply_grant(&plan.grants[0], now);
    }
    live.release(0); // an early release
    let rows: Vec<EntryRow> = (0..500u64).filter_map(|i| live.row(i * 7919)).collect();
    let meta: ShardMeta =
        serde_json::from_str(&serde_json::to_string(&live.meta()).unwrap()).unwrap();
    let mut restored = ShardQueue::restore(meta, rows.iter().rev().copied(), now).unwrap();

    assert_eq!(restored.waiting_len(), live.waiting_len());
    for i in 0..500u64 {
        let id = i * 7919;
        assert_eq!(restored.position(id), live.position(id));
        assert_eq!(restored.row(id), live.row(id));
        assert_eq!(restored.is_admitted(id, now), live.is_admitted(id, now));
    }
    // Same future: a duplicate of the last tick is refused by both, and
    // the next ticks admit the same ids and expire the same ids.
    let last = ctl.last_plan().unwrap().clone();
    assert!(restored.apply_grant(&last.grants[0], now).duplicate);
    let mut ctl2 = ctl.clone();
    for t in 4..200 {
        now += 1_000;
        let a = live.summary(&ctl.summary_request(0, t), now).0;
        let b = restored.summary(&ctl2.summary_request(0, t), now).0;
        assert_eq!(counts(&a), counts(&b));
        let pa = ctl.tick(t, now, &[a], &config());
        let pb = ctl2.tick(t, now, &[b], &config());
        assert_eq!(
            live.apply_grant(&pa.grants[0], now),
            restored.apply_grant(&pb.grants[0], now)
        );
    }
    assert_eq!(live.meta(), restored.meta());
}

#[test]
fn active_cap_is_never_exceeded() {
    let cfg = AdmissionConfig {
        new_users_per_minute: 60_000,
        total_active_users: 50,
        session_minutes: 1,
        ..config()
    };
    let mut q = shards(3);
    for i in 0..3_000u64 {
        q[(i % 3) as usize].join(i, T0);
    }
    let mut ctl = AdmissionController::new();
    let mut total = 0;
    for t in 1..=180u64 {
        let now = T0 + t * 1_000;
        // Keep everyone polling so nobody is dropped.
        if t % 20 == 0 {
            for i in 0..3_000u64 {
                q[(i % 3) as usize].heartbeat(i, now);
            }
        }
        let admitted = tick(&mut ctl, &mut q, t, now, &cfg);
        total += admitted.iter().map(Vec::len).sum::<usize>();
        let active: u64 = q.iter_mut().map(|s| s.active_sessions(now)).sum();
        assert!(active <= 50, "tick {t}: {active} active");
    }
    // Sessions last a minute: 50 at once, three generations in 3 minutes.
    assert!((100..=150).contains(&total), "{total}");
}

#[test]
fn paused_admits_nobody_and_fifo_across_shards() {
    let mut q = shards(4);
    let mut ctl = AdmissionController::new();
    let paused = paused();
    // Shard 3's ten join first, then shard 2's, ... one tick apart: each
    // ten are one rank of the order, shard 3's the earliest.
    for t in 0..4u64 {
        let shard = 3 - t as usize;
        for i in t * 10..t * 10 + 10 {
            q[shard].join(i, T0 + i * 10);
        }
        tick(&mut ctl, &mut q, t + 1, T0 + (t + 1) * 1_000, &paused);
    }
    let now = T0 + 5_000;
    let admitted = tick(&mut ctl, &mut q, 5, now, &paused);
    assert!(admitted.iter().all(Vec::is_empty));
    // Exact positions: shard 0's first entry has 30 people ahead.
    match q[0].status(30, now) {
        Status::Waiting(w) => {
            assert_eq!(w.position, 1);
            assert_eq!(w.global_position, Some(31));
            assert_eq!(w.global_waiting, 40);
        }
        other => panic!("{other:?}"),
    }
    let admitted = tick(&mut ctl, &mut q, 6, now + 1_000, &config());
    // 10 per second: exactly shard 3's ten entries, the earliest.
    assert_eq!(admitted[3], (0..10).collect::<Vec<u64>>());
    assert!(admitted[..3].iter().all(Vec::is_empty));
    // The other shards learn of those admissions at the next tick.
    tick(&mut ctl, &mut q, 7, now + 2_000, &paused);
    match q[0].status(30, now + 2_000) {
        Status::Waiting(w) => assert_eq!(w.global_position, Some(21)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn within_one_tick_shards_go_in_index_order() {
    let mut q = shards(3);
    // Joined in the same second, shard 2 first by the clock.
    q[2].join(1, T0);
    q[1].join(2, T0 + 1);
    q[0].join(3, T0 + 2);
    let mut ctl = AdmissionController::new();
    tick(&mut ctl, &mut q, 1, T0 + 1_000, &paused());
    let pos = |q: &[ShardQueue], s: usize, id| match q[s].status(id, T0 + 1_000) {
        Status::Waiting(w) => w.global_position,
        other => panic!("{other:?}"),
    };
    assert_eq!(pos(&q, 0, 3), Some(1));
    assert_eq!(pos(&q, 1, 2), Some(2));
    assert_eq!(pos(&q, 2, 1), Some(3));
}

#[test]
fn a_new_arrival_is_counting_until_the_next_tick_ranks_it() {
    let mut q = shards(4);
    for i in 0..6u64 {
        q[1 + (i % 3) as usize].join(i, T0 + i);
    }
    let mut ctl = AdmissionController::new();
    let paused = paused();
    tick(&mut ctl, &mut q, 1, T0 + 1_000, &paused);
    q[0].join(100, T0 + 1_500);
    match q[0].status(100, T0 + 1_500) {
        Status::Waiting(w) => {
            assert_eq!(w.position, 1);
            assert_eq!(w.global_position, None, "counting");
            assert_eq!(w.global_waiting, 7);
            assert!(w.poll_after_ms <= 1_500);
        }
        other => panic!("{other:?}"),
    }
    tick(&mut ctl, &mut q, 2, T0 + 2_000, &paused);
    match q[0].status(100, T0 + 2_000) {
        Status::Waiting(w) => assert_eq!(w.global_position, Some(7)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn eta_before_any_admission_uses_configured_rate() {
    let mut q = shards(1);
    for i in 0..100u64 {
        q[0].join(i, T0);
    }
    let mut ctl = AdmissionController::new();
    let paused = paused();
    tick(&mut ctl, &mut q, 1, T0 + 1_000, &paused);
    match q[0].heartbeat(99, T0 + 1_000) {
        // Position 100 at the configured 10 per second.
        Status::Waiting(w) => assert_eq!(w.eta_seconds, 10),
        other => panic!("{other:?}"),
    }
}

/// A heartbeat that finds its entry past its drop time drops it and counts
/// it in the meta: that count is written (the edge writes whenever
/// `meta_unsaved` says so) and a restart keeps it.
#[test]
fn a_drop_seen_by_a_heartbeat_is_counted_in_what_is_written() {
    let mut q = ShardQueue::new(config().shard_config());
    q.join(7, T0);
    assert!(!q.meta_unsaved(), "a join changes no meta");
    let late = T0 + 3_600_000;
    assert_eq!(q.heartbeat(7, late), Status::Abandoned);
    assert!(q.meta_unsaved(), "the drop's count is not written yet");
    let written = q.meta().clone();
    q.meta_saved();
    assert!(!q.meta_unsaved());
    let back = ShardQueue::restore(written, [], late).unwrap();
    assert_eq!(back.meta().abandoned_total, 1);
    assert!(!back.meta_unsaved(), "what was restored is what is written");
}
