//! Closed-loop pacing end to end (issue 20): with `pacing: "origin"` the
//! room admits what the registry can serve. The registry runs at 20/s, drops
//! to 5/s, goes down for 20 s, comes back at 20/s; each time the effective
//! admission rate follows within 10 s, no admitted citizen's session runs
//! out while their job is queued (sessions are 2 minutes here, every job is
//! seen `ready` through the edge), and the registry never answers 429.
//! Port block 40.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use waitroom_e2e::*;

/// Citizens in line: more than the whole run admits.
const CITIZENS: usize = 1_500;
/// Bot threads sharing them.
const THREADS: usize = 12;
/// Citizens this close to the front poll every second (an admission is
/// noticed, and the form sent, within about a second); the others every 15 s.
const FRONT: u64 = 120;
/// How long each change may take to show in the admission rate.
const FOLLOW_WITHIN: Duration = Duration::from_secs(10);

enum Bot {
    Waiting { next: Instant },
    Submitted { id: String, next: Instant },
    Ready,
}

/// What the bots saw, for the final checks.
#[derive(Default)]
struct Seen {
    submitted: u64,
    ready: u64,
    /// Jobs whose status the edge refused (an expired admission) or that
    /// did not end `ready`, with what was answered.
    failures: Vec<String>,
}

fn step(c: &mut Citizen<'_>, bot: &mut Bot, body: &Value, seen: &Mutex<Seen>) {
    let now = Instant::now();
    match bot {
        Bot::Waiting { next } if *next <= now => {
            let (code, v) = into_json(c.get("/queue/status"));
            if code != 200 {
                // A busy moment of the local stack: ask again shortly.
                *next = now + Duration::from_secs(1);
                return;
            }
            match v["state"].as_str() {
                Some("admitted") => {
                    let (code, answer) = c.post_json("/api/passports", body);
                    if code == 429 {
                        // As above: come back when told.
                        *bot = Bot::Waiting {
                            next: now + Duration::from_secs(2),
                        };
                    } else if code == 202 {
                        seen.lock().unwrap().submitted += 1;
                        *bot = Bot::Submitted {
                            id: answer["id"].as_str().unwrap_or_default().to_owned(),
                            next: now + Duration::from_millis(500),
                        };
                    } else {
                        seen.lock()
                            .unwrap()
                            .failures
                            .push(format!("submit {code}: {answer}"));
                        *bot = Bot::Ready;
                    }
                }
                Some("waiting") => {
                    let ahead = v["position"].as_u64().unwrap_or(u64::MAX);
                    let wait = if ahead <= FRONT { 1 } else { 15 };
                    *next = now + Duration::from_secs(wait);
                }
                _ => panic!("a waiting citizen lost their place: {v}"),
            }
        }
        Bot::Submitted { id, next } if *next <= now => {
            let (code, v) = into_json(c.get(&format!("/api/passports/{id}")));
            match (code, v["status"].as_str()) {
                (200, Some("ready")) => {
                    seen.lock().unwrap().ready += 1;
                    *bot = Bot::Ready;
                }
                (200, Some("queued" | "validating" | "rendering")) => {
                    *next = now + Duration::from_millis(500);
                }
                // Hundreds of bots share this machine's one address: past
                // its budget the edge says when to come back, as it would
                // to a real client.
                (429, _) => {
                    *next = now + Duration::from_secs(2);
                }
                _ => {
                    seen.lock()
                        .unwrap()
                        .failures
                        .push(format!("job {id}: {code} {v}"));
                    *bot = Bot::Ready;
                }
            }
        }
        _ => {}
    }
}

fn control(s: &TestStack, body: Value) {
    let url = format!("{}/control", s.stack.opts.registry_url());
    let r = s
        .http
        .put(url)
        .json(&body)
        .send()
        .expect("registry control");
    assert_eq!(r.status(), 200, "control {body}");
}

/// Waits until the Coordinator's figures satisfy `ok`; returns how long it took.
fn follows(s: &TestStack, what: &str, ok: impl Fn(&Value) -> bool) -> Duration {
    let from = Instant::now();
    eventually(what, FOLLOW_WITHIN + Duration::from_secs(20), || {
        ok(&s.stats()).then_some(())
    });
    from.elapsed()
}

/// Admissions per second the ETAs assume: waiting / ETA of a new arrival.
fn implied_rate(stats: &Value) -> f64 {
    let waiting = stats["waiting"].as_f64().unwrap_or(0.0);
    let eta = stats["eta_new_arrival_seconds"].as_f64().unwrap_or(0.0);
    if eta > 0.0 {
        waiting / eta
    } else {
        f64::INFINITY
    }
}

/// [`follows`] with a bound of `within` (asserted).
fn follows_within(
    s: &TestStack,
    what: &str,
    within: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Duration {
    let from = Instant::now();
    eventually(what, within, || ok(&s.stats()).then_some(()));
    from.elapsed()
}

fn rate(stats: &Value) -> u64 {
    stats["effective_rate_per_min"].as_u64().unwrap_or(0)
}

#[test]
fn admissions_follow_the_registry_through_a_cut_and_an_outage() {
    let s = setup("pacing_origin", 48)
        .edge_var("SESSION_MINUTES", "2")
        .edge_var("TOTAL_ACTIVE_USERS", "100000")
        .edge_var("NEW_USERS_PER_MINUTE", "3000")
        .origin_env("REGISTRY_RATE_PER_SEC", "20")
        .origin_env("WORKER_CONCURRENCY", "16")
        .registry_env("REGISTRY_SIM_RATE_PER_SEC", "20")
        .registry_env("REGISTRY_SIM_LATENCY_MS", "5-20")
        .start();
    let sample = s.sample_citizens(1_000);
    let bodies: Vec<Value> = sample.iter().map(passport_body).collect();

    // Everyone joins while admissions are paused (distinct addresses: the
    // per-address join limit is not under test).
    let joined = AtomicU64::new(0);
    let mut people: Vec<Vec<(Citizen<'_>, Bot, usize)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (s, joined, n) = (&s, &joined, bodies.len());
                scope.spawn(move || {
                    (t..CITIZENS)
                        .step_by(THREADS)
                        .map(|i| {
                            let mut c = s.citizen();
                            let addr = format!("10.20.{}.{}", i / 250, i % 250 + 1);
                            let (code, body) = c.join_from(&addr);
                            assert_eq!(code, 201, "join: {body}");
                            joined.fetch_add(1, Ordering::Relaxed);
                            let next = Instant::now();
                            (c, Bot::Waiting { next }, i % n)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(joined.load(Ordering::Relaxed), CITIZENS as u64);

    // Paused: the dashboard says so, not the rate the loop would admit at.
    let before = s.stats();
    assert_eq!(before["pacing_reason"], "paused", "{before}");
    assert_eq!(rate(&before), 0, "{before}");

    let (code, body) = s.configure(json!({"pacing": "origin", "paused": false}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["pacing"], "origin");

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());
    let mut timings = Vec::new();
    std::thread::scope(|scope| {
        for mine in people.iter_mut() {
            let (stop, seen, bodies) = (&stop, &seen, &bodies);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (c, bot, b) in mine.iter_mut() {
                        step(c, bot, &bodies[*b], seen);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                // Finish the jobs already sent.
                let end = Instant::now() + Duration::from_secs(90);
                while Instant::now() < end
                    && mine
                        .iter()
                        .any(|(_, b, _)| matches!(b, Bot::Submitted { .. }))
                {
                    for (c, bot, b) in mine.iter_mut() {
                        if matches!(bot, Bot::Submitted { .. }) {
                            step(c, bot, &bodies[*b], seen);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }

        // However the scenario below ends (a failed assertion too), the bots
        // stop, or the scope would wait for them forever.
        let _stop = StopOnDrop(&stop);

        // 20/s: the room settles at the registry's pace.
        let t = follows(&s, "admitting at the registry's 20/s", |v| {
            (1_000..=1_500).contains(&rate(v))
                && v["pacing_reason"] == "registry_pace"
                && v["admitted_total"].as_u64() > Some(0)
        });
        timings.push(("start at 20/s", t));
        let tick = s.tick_id();
        s.ticks_after(tick, 10);
        let held = s.stats();
        assert!((1_000..=1_500).contains(&rate(&held)), "{held}");

        // Cut to 5/s: the rate follows (5/s, plus at most a sixth while
        // the backlog is under its target).
        control(&s, json!({"rate_per_sec": 5}));
        let t = follows(&s, "following the cut to 5/s", |v| {
            rate(v) <= 360 && v["registry_limit_per_s"] == 5.0
        });
        timings.push(("cut to 5/s", t));
        // An ETA is a promise: a quarter of the pace, so within a minute the
        // queue is predicted to move at least twice as slowly (the implied
        // rate, waiting / ETA of a new arrival, halves).
        let before = implied_rate(&held);
        let t = follows_within(&s, "ETAs at least doubled", Duration::from_secs(60), |v| {
            implied_rate(v) <= before / 2.0
        });
        eprintln!("ETAs doubled {:.1} s after the cut", t.as_secs_f64());
        let tick = s.tick_id();
        s.ticks_after(tick, 5);
        let held = s.stats();
        assert!(rate(&held) <= 360, "{held}");

        // Down: admissions stop.
        control(&s, json!({"down": true}));
        let down_at = Instant::now();
        let t = follows(&s, "pausing while the registry is down", |v| {
            rate(v) == 0 && v["pacing_reason"] == "registry_unreachable"
        });
        timings.push(("registry down", t));
        let stopped_at = s.stats()["admitted_total"].as_u64().unwrap();
        let tick = s.tick_id();
        s.ticks_after(tick, 3);
        let still = s.stats()["admitted_total"].as_u64().unwrap();
        assert_eq!(
            still, stopped_at,
            "nobody admitted while the registry is down"
        );
        let rest = Duration::from_secs(20).saturating_sub(down_at.elapsed());
        std::thread::sleep(rest);

        // Back at 20/s: admissions resume at its pace.
        control(&s, json!({"down": false, "rate_per_sec": 20}));
        let t = follows(&s, "resuming at 20/s", |v| rate(v) >= 1_000);
        timings.push(("registry back at 20/s", t));
        let tick = s.tick_id();
        s.ticks_after(tick, 10);
        assert!(s.stats()["admitted_total"].as_u64().unwrap() > still);

        let (code, _) = s.configure(json!({"paused": true}));
        assert_eq!(code, 200);
        stop.store(true, Ordering::Relaxed);
    });

    for (what, t) in &timings {
        eprintln!("{what}: followed in {:.1} s", t.as_secs_f64());
        assert!(*t <= FOLLOW_WITHIN, "{what}: took {t:?}");
    }
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.submitted > 300,
        "only {} jobs were sent",
        seen.submitted
    );
    assert!(
        seen.failures.is_empty(),
        "jobs not seen ready through the edge (sessions ran out?): {:?}",
        &seen.failures[..seen.failures.len().min(5)]
    );
    assert_eq!(
        seen.ready, seen.submitted,
        "every job ready before its session ended"
    );
    let stats: Value = s
        .http
        .get(format!("{}/stats", s.stack.opts.registry_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        stats["rate_limited"], 0,
        "no 429 from the registry: {stats}"
    );
}
