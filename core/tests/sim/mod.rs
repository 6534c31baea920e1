//! The launch-day simulation, shared by `tests/queue_sim.rs` and the
//! `order` benchmark: citizens over shards, driven by the admission
//! controller exactly as the Coordinator drives it: one tick per second,
//! each shard's grant asking its next summary, which the shard answers right
//! after applying the grant and the next tick uses (`Params::one_call`; the
//! other schedule, summaries -> tick -> grants at the same instant, is
//! kept for comparison). Front-loaded arrivals, heartbeats at the
//! suggested poll interval, 10% abandonment, early session releases.
//!
//! An oracle keeps the admission order independently: when a citizen gets
//! a rank, it gets the next global index (ranks are handed out tick by tick,
//! shards in index order, arrivals in order), and a Fenwick tree over those
//! indices counts who is still waiting. Every answer of a heartbeat is
//! checked against it: the position shown is exactly the live count ahead
//! plus the other shards' departures the shard's view has not received yet
//! (the only lag allowed: since their last summary, or with one call per
//! tick since the summary before it, taken one tick earlier), it never
//! rises, and admissions follow the order.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use waitroom_core::coordinator::{AdmissionConfig, AdmissionController, ShardSummary};
use waitroom_core::fenwick::Fenwick;
use waitroom_core::queue::{JoinOutcome, ShardQueue, Status};

pub const T0: u64 = 1_700_000_000_000;

/// What one run looks like.
pub struct Params {
    pub users: usize,
    pub shards: usize,
    /// Arrivals over this window, front-loaded (density falls linearly).
    pub arrival_window_ms: u64,
    pub config: AdmissionConfig,
    /// Simulated time.
    pub duration_ms: u64,
    /// The Coordinator's schedule: summaries taken right after each grant
    /// and used at the next tick (one call per shard per tick, as deployed),
    /// or asked at the tick itself.
    pub one_call: bool,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub polls: u64,
    /// Polls whose position was exact at the tick boundary, i.e. equal to
    /// the oracle's count plus the allowed lag.
    pub exact: u64,
    /// Polls answered while counting (no rank yet).
    pub counting: u64,
    /// Polls showing a higher position than the citizen's previous one.
    pub rises: u64,
    /// Polls showing fewer people ahead than really are.
    pub below_true: u64,
    /// Shown minus true count ahead, per poll (the lag), as a histogram:
    /// `lag[k]` polls were k too high (the last bucket: k or more).
    pub lag: Vec<u64>,
    /// Admissions out of the order.
    pub fifo_violations: u64,
    /// Worst deviation of a sustained minute's admissions from the rate.
    pub worst_minute_error: f64,
    pub sustained_minutes: u64,
    pub eta_median_error: f64,
    pub eta_p90_error: f64,
    /// Coordinator tick cost (controller only), microseconds, sorted.
    pub tick_us: Vec<u64>,
    /// Bytes of JSON per tick between coordinator and shards, sorted.
    pub tick_bytes: Vec<u64>,
    pub admitted: u64,
    pub max_active: u64,
}

const LAG_BUCKETS: usize = 4_096;

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
    /// (time of the first heartbeat with a position, predicted ETA in ms)
    prediction: Option<(u64, u64)>,
    /// Index in the admission order, once ranked (the oracle's).
    g: Option<usize>,
    /// The last position shown.
    shown: Option<u64>,
}

/// The oracle (see the module docs).
struct Oracle {
    /// 1 = ranked and still waiting.
    live: Fenwick,
    /// Ranked entries gone that the shards' views may not show yet, all
    /// shards.
    recent: Fenwick,
    /// The same, per shard.
    recent_by_shard: Vec<Fenwick>,
    /// (shard, g) of those gone since the last summaries.
    recent_list: Vec<(usize, usize)>,
    /// (shard, g) of those the last summaries reported, until the grants
    /// built from them are applied.
    reported_list: Vec<(usize, usize)>,
    next_g: usize,
    /// Per shard, users joined and not yet ranked, in arrival order.
    unranked: Vec<VecDeque<usize>>,
}

impl Oracle {
    fn gone(&mut self, shard: usize, g: usize) {
        self.live.add(g, -1);
        self.recent.add(g, 1);
        self.recent_by_shard[shard].add(g, 1);
        self.recent_list.push((shard, g));
    }

    fn summaries_taken(&mut self) {
        self.reported_list.append(&mut self.recent_list);
    }

    /// Grants built from the last summaries taken are applied: the views
    /// show what those summaries reported.
    fn views_updated(&mut self) {
        for (shard, g) in self.reported_list.drain(..) {
            self.recent.add(g, -1);
            self.recent_by_shard[shard].add(g, -1);
        }
    }

    /// What the position shown must be: the live count ahead, plus what the
    /// other shards lost that the views do not show yet.
    fn expected(&self, shard: usize, g: usize) -> (u64, u64) {
        let truth = self.live.prefix(g) + 1;
        let lag = self.recent.prefix(g) - self.recent_by_shard[shard].prefix(g);
        (truth, lag)
    }
}

/// Runs the simulation and checks every answer against the oracle.
pub fn run(p: &Params) -> Report {
    let config = p.config;
    config.validate().unwrap();
    let shard_config = config.shard_config();
    let tolerance_ms = shard_config.expiry_grace_ms();
    let mut report = Report {
        lag: vec![0; LAG_BUCKETS],
        ..Report::default()
    };

    let mut rng = Rng(0x5EED);
    let mut shards: Vec<ShardQueue> = (0..p.shards)
        .map(|_| ShardQueue::new(shard_config))
        .collect();
    let mut users: Vec<User> = Vec::with_capacity(p.users);
    let mut events: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    let mut id_to_user = HashMap::with_capacity(p.users);
    for u in 0..p.users {
        let id = rng.next() >> 12;
        // Front-loaded: the density of arrivals falls linearly to zero.
        let x = rng.below(1 << 30) as f64 / (1u64 << 30) as f64;
        let arrived = T0 + ((1.0 - (1.0 - x).sqrt()) * p.arrival_window_ms as f64) as u64;
        let gives_up_at = (rng.below(10) == 0).then(|| arrived + rng.below(10 * 60_000));
        users.push(User {
            id,
            shard: (id % p.shards as u64) as usize,
            arrived,
            gives_up_at,
            last_heartbeat: arrived,
            admitted_at: None,
            dropped: false,
            prediction: None,
            g: None,
            shown: None,
        });
        id_to_user.insert(id, u);
        events.push(Reverse((arrived, Event::Arrive(u))));
    }
    let mut oracle = Oracle {
        live: Fenwick::new(p.users),
        recent: Fenwick::new(p.users),
        recent_by_shard: (0..p.shards).map(|_| Fenwick::new(p.users)).collect(),
        recent_list: Vec::new(),
        reported_list: Vec::new(),
        next_g: 0,
        unranked: vec![VecDeque::new(); p.shards],
    };

    let mut controller = AdmissionController::new();
    let mut admissions_per_tick: Vec<(u64, u64, bool)> = Vec::new();
    let mut tick_id = 0u64;
    let mut pending = None;
    let mut now = T0;
    let end = T0 + p.duration_ms;
    let mut max_g_admitted: Option<usize> = None;
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
                    oracle.unranked[user.shard].push_back(u);
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
                            report.polls += 1;
                            match (w.global_position, user.g) {
                                (Some(shown), Some(g)) => {
                                    let (truth, lag) = oracle.expected(user.shard, g);
                                    if shown == truth + lag {
                                        report.exact += 1;
                                    }
                                    if shown < truth {
                                        report.below_true += 1;
                                    }
                                    let over = shown.saturating_sub(truth) as usize;
                                    report.lag[over.min(LAG_BUCKETS - 1)] += 1;
                                    if user.shown.is_some_and(|last| shown > last) {
                                        report.rises += 1;
                                    }
                                    user.shown = Some(shown);
                                    if user.prediction.is_none() {
                                        user.prediction = Some((t, w.eta_seconds * 1_000));
                                    }
                                }
                                (Some(_), None) => panic!("a position before the oracle ranked it"),
                                (None, _) => report.counting += 1,
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
                        Status::Abandoned => {
                            panic!("a citizen who kept polling lost their place")
                        }
                        Status::NotFound => panic!("a citizen who kept polling lost their place"),
                    }
                }
                Event::Release(u) => {
                    shards[users[u].shard].release(users[u].id);
                }
            }
        }

        // The coordinator's tick: the summaries the last grants brought,
        // else asked now.
        tick_id += 1;
        let mut bytes = 0u64;
        let summaries = match pending.take() {
            Some(s) => s,
            None => take_summaries(
                &controller,
                &mut shards,
                tick_id,
                now,
                &mut users,
                &id_to_user,
                &mut oracle,
                &mut bytes,
            ),
        };
        let demand: u64 = summaries.iter().map(|s| s.waiting).sum();
        let t = Instant::now();
        let plan = controller.tick(tick_id, now, &summaries, &config);
        report.tick_us.push(t.elapsed().as_micros() as u64);

        let mut admitted_now = Vec::new();
        oracle.views_updated();
        for (i, grant) in plan.grants.iter().enumerate() {
            bytes += serde_json::to_string(grant).unwrap().len() as u64;
            let outcome = shards[i].apply_grant(grant, now);
            assert!(!outcome.duplicate);
            assert!(shards[i].apply_grant(grant, now).duplicate);
            for &id in &outcome.changes.abandoned {
                let u = id_to_user[&id];
                let user = &mut users[u];
                assert!(user.gives_up_at.is_some(), "a polling citizen was dropped");
                user.dropped = true;
                if let Some(g) = user.g {
                    oracle.gone(i, g);
                }
            }
            for &id in &outcome.changes.admitted {
                let u = id_to_user[&id];
                let user = &mut users[u];
                let silent = now - user.last_heartbeat;
                assert!(
                    silent <= tolerance_ms,
                    "admitted after {silent} ms of silence"
                );
                assert!(!user.dropped);
                user.admitted_at = Some(now);
                admitted_now.push(u);
            }
        }
        // The oracle ranks this tick's new entries: shards in index order,
        // each in arrival order.
        for (s, shard) in shards.iter().enumerate() {
            while let Some(&u) = oracle.unranked[s].front() {
                let user = &users[u];
                let ranked =
                    user.admitted_at.is_some() || shard.row(user.id).is_some_and(|r| r.rank != 0);
                let gone = user.dropped || shard.row(user.id).is_none();
                if !ranked && !gone {
                    break;
                }
                oracle.unranked[s].pop_front();
                if ranked {
                    let g = oracle.next_g;
                    oracle.next_g += 1;
                    users[u].g = Some(g);
                    oracle.live.add(g, 1);
                }
            }
        }
        for &u in &admitted_now {
            let g = users[u].g.expect("admitted before being ranked");
            oracle.gone(users[u].shard, g);
            max_g_admitted = Some(max_g_admitted.map_or(g, |m: usize| m.max(g)));
        }
        // The grants' replies: the next tick's summaries, taken now.
        if p.one_call {
            pending = Some(take_summaries(
                &controller,
                &mut shards,
                tick_id + 1,
                now,
                &mut users,
                &id_to_user,
                &mut oracle,
                &mut bytes,
            ));
        }
        report.tick_bytes.push(bytes);
        // FIFO in the order: nobody still waiting is ahead of anyone admitted.
        if let (Some(max_g), Some(first_live)) = (max_g_admitted, oracle.live.find_kth(0)) {
            if !admitted_now.is_empty() && first_live < max_g {
                report.fifo_violations += 1;
            }
        }
        let active: u64 = shards.iter_mut().map(|s| s.active_sessions(now)).sum();
        assert!(
            active <= u64::from(config.total_active_users),
            "{active} active"
        );
        report.max_active = report.max_active.max(active);
        report.admitted += admitted_now.len() as u64;
        let room = u64::from(config.total_active_users) > active + 200;
        let sustained = demand > 2 * u64::from(config.new_users_per_minute) / 60 + 200 && room;
        admissions_per_tick.push((now, admitted_now.len() as u64, sustained));
    }

    // Every citizen either got in or gave up.
    for user in &users {
        if user.gives_up_at.is_none() {
            assert!(user.admitted_at.is_some(), "a patient citizen never got in");
        } else if user.admitted_at.is_none() {
            assert!(
                shards[user.shard].position(user.id).is_none(),
                "abandoner still queued"
            );
        }
    }

    let target = f64::from(config.new_users_per_minute);
    for window in admissions_per_tick.windows(60) {
        if window.iter().all(|&(_, _, sustained)| sustained) {
            let n: u64 = window.iter().map(|&(_, a, _)| a).sum();
            report.worst_minute_error = report
                .worst_minute_error
                .max((n as f64 - target).abs() / target);
            report.sustained_minutes += 1;
        }
    }
    let mut errors: Vec<f64> = users
        .iter()
        .filter_map(|u| {
            let (t, predicted) = u.prediction?;
            let actual = u.admitted_at? - t;
            (actual >= 5_000).then(|| (predicted as f64 - actual as f64).abs() / actual as f64)
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    report.eta_median_error = errors[errors.len() / 2];
    report.eta_p90_error = errors[errors.len() * 9 / 10];
    report.tick_us.sort_unstable();
    report.tick_bytes.sort_unstable();
    report
}

/// Every shard's summary for tick `tick_id`; the silent it drops are gone
/// for the oracle (their shard's view shows it at once, the others' once
/// grants built from these summaries are applied).
#[allow(clippy::too_many_arguments)]
fn take_summaries(
    controller: &AdmissionController,
    shards: &mut [ShardQueue],
    tick_id: u64,
    now: u64,
    users: &mut [User],
    id_to_user: &HashMap<u64, usize>,
    oracle: &mut Oracle,
    bytes: &mut u64,
) -> Vec<ShardSummary> {
    let mut summaries = Vec::with_capacity(shards.len());
    for (i, shard) in shards.iter_mut().enumerate() {
        let req = controller.summary_request(i as u32, tick_id);
        let (summary, changes) = shard.summary(&req, now);
        assert!(changes.admitted.is_empty());
        for &id in &changes.abandoned {
            let user = &mut users[id_to_user[&id]];
            assert!(user.gives_up_at.is_some(), "a polling citizen was dropped");
            user.dropped = true;
            if let Some(g) = user.g {
                oracle.gone(i, g);
            }
        }
        *bytes += serde_json::to_string(&req).unwrap().len() as u64;
        *bytes += serde_json::to_string(&summary).unwrap().len() as u64;
        summaries.push(summary);
    }
    oracle.summaries_taken();
    summaries
}

/// The lag (shown − true) below which `q` of the polls fall.
pub fn lag_quantile(r: &Report, q: f64) -> usize {
    let total: u64 = r.lag.iter().sum();
    let mut seen = 0;
    for (k, &n) in r.lag.iter().enumerate() {
        seen += n;
        if seen as f64 >= q * total as f64 {
            return k;
        }
    }
    r.lag.len()
}

/// The launch day of issue 17: 300,000 citizens over 32 shards, arriving
/// front-loaded over 5 minutes, 18,000 admitted a minute.
pub fn launch_day() -> Params {
    Params {
        users: 300_000,
        shards: 32,
        arrival_window_ms: 5 * 60_000,
        config: AdmissionConfig {
            new_users_per_minute: 18_000,
            total_active_users: 60_000,
            session_minutes: 2,
            abandon_after_seconds: 60,
            paused: false,
            max_away_minutes: 0,
        },
        duration_ms: 25 * 60_000,
        one_call: true,
    }
}
