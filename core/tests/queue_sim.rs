//! Deterministic simulation: 100,000 citizens across 8 shards, driven by the
//! admission controller exactly as the Coordinator drives it (one tick per
//! second: summaries -> tick -> grants). Random arrivals, heartbeats at the
//! suggested poll interval, 10% abandonment, early session releases.
//!
//! Asserts: nobody silent past `abandon_after + granularity` is admitted
//! and every abandoner is eventually dropped; the active cap is never
//! exceeded; within a tick, admissions across shards are FIFO by arrival;
//! over each minute of sustained demand the admission count is within 1% of
//! `new_users_per_minute`; the median absolute ETA error is under 15%.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use waitroom_core::coordinator::{AdmissionConfig, AdmissionController};
use waitroom_core::queue::{JoinOutcome, ShardQueue, Status};

const USERS: usize = 100_000;
const SHARDS: usize = 8;
const ARRIVAL_WINDOW_MS: u64 = 10 * 60_000;
const T0: u64 = 1_700_000_000_000;

/// splitmix64: tiny, deterministic, good enough for a simulation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive(usize),
    Heartbeat(usize),
    Release(usize),
}

struct User {
    id: u64,
    shard: usize,
    arrived: u64,
    /// When the citizen closes the tab (10% of them), if they do.
    gives_up_at: Option<u64>,
    last_heartbeat: u64,
    admitted_at: Option<u64>,
    dropped: bool,
    /// (time of the first heartbeat, predicted ETA in ms)
    prediction: Option<(u64, u64)>,
}

#[test]
fn hundred_thousand_users_eight_shards() {
    let config = AdmissionConfig {
        new_users_per_minute: 6_000,
        total_active_users: 5_000,
        session_minutes: 2,
        abandon_after_seconds: 60,
        paused: false,
    };
    config.validate().unwrap();
    let shard_config = config.shard_config();
    let tolerance_ms = shard_config.expiry_grace_ms();

    let mut rng = Rng(0x5EED);
    let mut shards: Vec<ShardQueue> = (0..SHARDS).map(|_| ShardQueue::new(shard_config)).collect();
    let mut users: Vec<User> = Vec::with_capacity(USERS);
    let mut events: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    let mut id_to_user = std::collections::HashMap::with_capacity(USERS);
    for u in 0..USERS {
        let id = rng.next();
        let arrived = T0 + rng.below(ARRIVAL_WINDOW_MS);
        let gives_up_at = (rng.below(10) == 0).then(|| arrived + rng.below(10 * 60_000));
        users.push(User {
            id,
            shard: (id % SHARDS as u64) as usize,
            arrived,
            gives_up_at,
            last_heartbeat: arrived,
            admitted_at: None,
            dropped: false,
            prediction: None,
        });
        id_to_user.insert(id, u);
        events.push(Reverse((arrived, Event::Arrive(u))));
    }

    let mut controller = AdmissionController::new();
    let mut admissions_per_tick: Vec<(u64, u64, bool)> = Vec::new(); // (tick time, admitted, sustained)
    let mut tick_id = 0u64;
    let mut now = T0;
    let end = T0 + 40 * 60_000;
    let mut max_active = 0u64;
    while now < end {
        now += 1_000;
        // Citizens act until the tick.
        while let Some(&Reverse((t, ev))) = events.peek() {
            if t > now {
                break;
            }
            events.pop();
            match ev {
                Event::Arrive(u) => {
                    let user = &users[u];
                    let outcome = shards[user.shard].join(user.id, t);
                    assert!(matches!(outcome, JoinOutcome::Joined { .. }));
                    events.push(Reverse((t + 1_000 + rng.below(2_000), Event::Heartbeat(u))));
                }
                Event::Heartbeat(u) => {
                    let user = &mut users[u];
                    if user.gives_up_at.is_some_and(|g| g <= t) {
                        continue; // tab closed: silence from now on
                    }
                    match shards[user.shard].heartbeat(user.id, t) {
                        Status::Waiting(w) => {
                            user.last_heartbeat = t;
                            if user.prediction.is_none() {
                                user.prediction = Some((t, w.eta_seconds * 1_000));
                            }
                            assert!(w.poll_after_ms * 2 < shard_config.abandon_after_ms);
                            let jitter = rng.below(1_000);
                            events
                                .push(Reverse((t + w.poll_after_ms + jitter, Event::Heartbeat(u))));
                        }
                        Status::Admitted { .. } => {
                            // The citizen proceeds; 90% finish early and
                            // release their slot, 10% just let it expire.
                            if rng.below(10) != 0 {
                                let done = t + 10_000 + rng.below(30_000);
                                events.push(Reverse((done, Event::Release(u))));
                            }
                        }
                        Status::Abandoned | Status::NotFound => {
                            panic!("a citizen who kept polling lost their place")
                        }
                    }
                }
                Event::Release(u) => {
                    shards[users[u].shard].release(users[u].id);
                }
            }
        }

        // The coordinator's tick.
        tick_id += 1;
        let mut summaries = Vec::with_capacity(SHARDS);
        for (i, shard) in shards.iter_mut().enumerate() {
            let (summary, changes) = shard.summary(i as u32, now);
            assert!(changes.admitted.is_empty());
            for &id in &changes.abandoned {
                let user = &mut users[id_to_user[&id]];
                assert!(user.gives_up_at.is_some(), "a polling citizen was dropped");
                user.dropped = true;
            }
            summaries.push(summary);
        }
        let demand: u64 = summaries.iter().map(|s| s.waiting).sum();
        let plan = controller.tick(tick_id, now, &summaries, &config);
        // Delivered twice: the duplicate must change nothing.
        let again = controller.tick(tick_id, now, &summaries, &config);
        assert_eq!(plan, again);

        let mut admitted_arrivals: Vec<u64> = Vec::new();
        let mut admitted_now = 0;
        for (i, grant) in plan.grants.iter().enumerate() {
            let outcome = shards[i].apply_grant(grant, now);
            assert!(!outcome.duplicate);
            assert!(shards[i].apply_grant(grant, now).duplicate);
            for &id in &outcome.changes.abandoned {
                let user = &mut users[id_to_user[&id]];
                assert!(user.gives_up_at.is_some(), "a polling citizen was dropped");
                user.dropped = true;
            }
            for &id in &outcome.changes.admitted {
                let user = &mut users[id_to_user[&id]];
                let silent = now - user.last_heartbeat;
                assert!(
                    silent <= tolerance_ms,
                    "admitted after {silent} ms of silence"
                );
                assert!(!user.dropped);
                user.admitted_at = Some(now);
                admitted_arrivals.push(user.arrived);
                admitted_now += 1;
            }
        }
        // Heartbeats dropped overdue entries too: account for them.
        // Active cap.
        let active: u64 = shards.iter_mut().map(|s| s.active_sessions(now)).sum();
        assert!(
            active <= u64::from(config.total_active_users),
            "{active} active"
        );
        max_active = max_active.max(active);
        // FIFO across shards: nobody still waiting arrived before someone
        // admitted in this tick.
        if let Some(&latest_admitted) = admitted_arrivals.iter().max() {
            let oldest_waiting = shards.iter().filter_map(|s| s.oldest_arrival_ms()).min();
            if let Some(oldest) = oldest_waiting {
                assert!(
                    oldest >= latest_admitted,
                    "tick {tick_id}: waiting since {oldest} but admitted {latest_admitted}"
                );
            }
        }
        let room = u64::from(config.total_active_users) > active + 200;
        admissions_per_tick.push((now, admitted_now, demand > 200 && room));
    }

    // Every citizen either got in or gave up.
    for user in &users {
        match user.gives_up_at {
            None => assert!(user.admitted_at.is_some(), "a patient citizen never got in"),
            Some(g) => {
                if user.admitted_at.is_none() {
                    assert!(
                        shards[user.shard].position(user.id).is_none(),
                        "abandoner still queued"
                    );
                    let _ = g;
                }
            }
        }
    }

    // Rate: every full minute of sustained demand admits 6000 +- 1%.
    let target = f64::from(config.new_users_per_minute);
    let mut minutes_checked = 0;
    for window in admissions_per_tick.windows(60) {
        if window.iter().all(|&(_, _, sustained)| sustained) {
            let n: u64 = window.iter().map(|&(_, a, _)| a).sum();
            assert!(
                (n as f64 - target).abs() <= target * 0.01,
                "{n} admissions in a minute starting at {}",
                window[0].0 - T0
            );
            minutes_checked += 1;
        }
    }
    assert!(
        minutes_checked > 300,
        "only {minutes_checked} sustained minutes"
    );

    // ETA: median absolute relative error of the first prediction.
    let mut errors: Vec<f64> = users
        .iter()
        .filter_map(|u| {
            let (t, predicted) = u.prediction?;
            let actual = u.admitted_at? - t;
            (actual >= 5_000).then(|| (predicted as f64 - actual as f64).abs() / actual as f64)
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    let p90 = errors[errors.len() * 9 / 10];
    eprintln!(
        "sim: {} ETA samples, median error {:.1}%, p90 {:.1}%, max active {max_active}, sustained minutes {minutes_checked}",
        errors.len(),
        median * 100.0,
        p90 * 100.0
    );
    assert!(median < 0.15, "median ETA error {median}");
}
