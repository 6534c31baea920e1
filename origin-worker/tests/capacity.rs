//! `GET /capacity`: the figures the edge's Coordinator paces admissions by,
//! for the edge only, signed for the request that asked, against real
//! Redis, registry-sim and origin-worker processes. Ports 21300–21302,
//! 21400–21403 and 21500–21502.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use waitroom_core::capacity::{capacity_path, verify_report, CapacityReport, ORIGIN_AUTH_HEADER};
use waitroom_core::edge_auth::{sign_request, EDGE_AUTH_HEADER};

const REDIS: u16 = 21300;
const SIM: u16 = 21301;
const ORIGIN: u16 = 21302;

/// Asks for the report as the edge does and checks the origin's signature.
async fn report(http: &reqwest::Client, key: &[u8]) -> CapacityReport {
    let t = now_ms();
    let path = capacity_path(t);
    let resp = http
        .get(format!("http://127.0.0.1:{ORIGIN}{path}"))
        .header(
            EDGE_AUTH_HEADER,
            sign_request(key, "GET", &path, "", t, b""),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sig = resp.headers()[ORIGIN_AUTH_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.bytes().await.unwrap();
    verify_report(key, &sig, t, now_ms(), &body).expect("a signed report for this request")
}

async fn control(http: &reqwest::Client, body: serde_json::Value) {
    let r = http
        .put(format!("http://127.0.0.1:{SIM}/control"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn eventually_report(
    http: &reqwest::Client,
    key: &[u8],
    what: &str,
    ok: impl Fn(&CapacityReport) -> bool,
) -> CapacityReport {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = report(http, key).await;
        if ok(&r) {
            return r;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn only_the_edge_gets_the_figures_and_they_follow_the_registry() {
    let logs = log_dir(21300);
    let secrets = Secrets::new();
    let _redis = spawn_redis(REDIS);
    let _sim = spawn_sim(SIM, &[("REGISTRY_SIM_RATE_PER_SEC", "40")], &logs);
    let _origin = spawn_origin(ORIGIN, REDIS, SIM, &secrets, &[], &logs);
    let http = reqwest::Client::new();
    let key = &secrets.edge_key;

    // Not the edge: no figures.
    let t = now_ms();
    let path = capacity_path(t);
    let url = format!("http://127.0.0.1:{ORIGIN}{path}");
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let forged = sign_request(&[7u8; 32], "GET", &path, "", t, b"");
    let r = http
        .get(&url)
        .header(EDGE_AUTH_HEADER, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Signed for another timestamp than the one in the query.
    let other = sign_request(key, "GET", &capacity_path(t + 1), "", t, b"");
    let r = http
        .get(&url)
        .header(EDGE_AUTH_HEADER, other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The edge's request without its timestamp: refused, naming it.
    let bare = sign_request(key, "GET", "/capacity", "", t, b"");
    let r = http
        .get(format!("http://127.0.0.1:{ORIGIN}/capacity"))
        .header(EDGE_AUTH_HEADER, bare)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["field"], "t");

    // Idle: nothing queued, the configured limit (spawn_origin: 50/s).
    let idle = report(&http, key).await;
    assert_eq!((idle.backlog, idle.errors, idle.rate_limited), (0, 0, 0));
    assert!(idle.reachable);
    assert_eq!(idle.limit_per_s, 50.0);
    let submitted_before = idle.submitted_total;

    // Jobs: counted as submitted, completed, and the registry's announced
    // limit (40/s) replaces the configured one.
    let edge = Edge::new(ORIGIN, key);
    let citizens = sim_sample(SIM, 6).await;
    let mut jobs = Vec::new();
    for (i, c) in citizens.iter().enumerate().take(4) {
        let ticket = secrets.admission(&format!("s{i}"));
        let (id, _) = edge.submit(c, &ticket).await;
        jobs.push((id, ticket));
    }
    for (id, ticket) in &jobs {
        edge.wait_done(id, ticket, Duration::from_secs(20)).await;
    }
    let r = eventually_report(&http, key, "4 completions counted", |r| {
        r.completed_per_s * r.interval_ms as f64 / 1000.0 >= 4.0
    })
    .await;
    assert_eq!(r.submitted_total, submitted_before + 4);
    assert_eq!(r.limit_per_s, 40.0);
    assert_eq!(r.backlog, 0);

    // The registry cuts its limit: the next call learns it.
    control(&http, json!({"rate_per_sec": 4})).await;
    let ticket = secrets.admission("s4");
    let (id, _) = edge.submit(&citizens[4], &ticket).await;
    edge.wait_done(&id, &ticket, Duration::from_secs(20)).await;
    assert_eq!(report(&http, key).await.limit_per_s, 4.0);

    // Down: the waiting job is the backlog, the registry unreachable.
    control(&http, json!({"down": true})).await;
    let ticket = secrets.admission("s5");
    let (id, _) = edge.submit(&citizens[5], &ticket).await;
    let down = eventually_report(&http, key, "unreachable, errors counted", |r| {
        !r.reachable && r.errors > 0
    })
    .await;
    assert_eq!(down.backlog, 1);
    // The mark is temporary: with no job left to retry, the room must not
    // stay paused for good.
    let mut con = redis_con(REDIS).await;
    let ttl: i64 = redis::cmd("TTL")
        .arg("wr:capacity:{c}:last")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        (1..=origin_worker::capacity::UNREACHABLE_FOR_S as i64).contains(&ttl),
        "ttl {ttl}"
    );
    // Back: the job finishes, reachable again, nothing queued.
    control(&http, json!({"down": false})).await;
    edge.wait_done(&id, &ticket, Duration::from_secs(30)).await;
    let up = eventually_report(&http, key, "reachable", |r| r.reachable && r.backlog == 0).await;
    assert_eq!(
        up.rate_limited, 0,
        "the pacer followed the announced limit: {up:?}"
    );
}

/// A registry allowing one call a second has no burst to absorb jitter: a
/// call that reaches it a millisecond earlier, relative to the one before,
/// than its slot says is refused. Two origin processes share the limit
/// (one bucket in Redis) and every call still reaches it in time.
#[tokio::test]
async fn at_one_call_a_second_two_processes_never_hear_429() {
    const REDIS: u16 = 21400;
    const SIM: u16 = 21401;
    const ORIGINS: [u16; 2] = [21402, 21403];
    const JOBS: usize = 12;
    let logs = log_dir(21400);
    let secrets = Secrets::new();
    let _redis = spawn_redis(REDIS);
    let _sim = spawn_sim(SIM, &[("REGISTRY_SIM_RATE_PER_SEC", "1")], &logs);
    let one = [("REGISTRY_RATE_PER_SEC", "1"), ("WORKER_CONCURRENCY", "4")];
    let _origins: Vec<Proc> = ORIGINS
        .iter()
        .map(|port| spawn_origin(*port, REDIS, SIM, &secrets, &one, &logs))
        .collect();

    let citizens = sim_sample(SIM, JOBS).await;
    let mut jobs = Vec::new();
    for (i, c) in citizens.iter().enumerate() {
        let edge = Edge::new(ORIGINS[i % 2], &secrets.edge_key);
        let ticket = secrets.admission(&format!("one-a-second-{i}"));
        let (id, _) = edge.submit(c, &ticket).await;
        jobs.push((edge, id, ticket));
    }
    for (edge, id, ticket) in &jobs {
        edge.wait_done(id, ticket, Duration::from_secs(60)).await;
    }
    let stats = sim_stats(SIM).await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    assert_eq!(stats["requests"], JOBS as u64, "{stats}");
}

/// The registry cuts its limit (from 20 to 5 calls a second) while the
/// origin is idle, so the origin learns of it only from the answer to its
/// next call. A burst of jobs then finds every worker reserving a slot at
/// once, all spaced for the old limit before that answer arrives: those
/// slots must not be used at the old pace (the registry's bucket holds 5).
#[tokio::test]
async fn a_cut_learned_mid_burst_respaces_the_slots_already_reserved() {
    const REDIS: u16 = 21500;
    const SIM: u16 = 21501;
    const ORIGIN: u16 = 21502;
    const JOBS: usize = 16;
    let logs = log_dir(21500);
    let secrets = Secrets::new();
    let _redis = spawn_redis(REDIS);
    let _sim = spawn_sim(SIM, &[("REGISTRY_SIM_RATE_PER_SEC", "20")], &logs);
    let env = [
        ("REGISTRY_RATE_PER_SEC", "20"),
        ("WORKER_CONCURRENCY", "16"),
    ];
    let _origin = spawn_origin(ORIGIN, REDIS, SIM, &secrets, &env, &logs);
    let citizens = sim_sample(SIM, JOBS).await;
    // The cut, enforced at once: the idle origin has not heard of it.
    let r = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{SIM}/control"))
        .json(&json!({"rate_per_sec": 5, "notice_ms": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // All the jobs at once, each from its own task.
    let edge = Edge::new(ORIGIN, &secrets.edge_key);
    let mut burst = tokio::task::JoinSet::new();
    for (i, c) in citizens.into_iter().enumerate() {
        let (edge, ticket) = (edge.clone(), secrets.admission(&format!("mid-burst-{i}")));
        burst.spawn(async move {
            let (id, _) = edge.submit(&c, &ticket).await;
            (id, ticket)
        });
    }
    for (id, ticket) in burst.join_all().await {
        edge.wait_done(&id, &ticket, Duration::from_secs(60)).await;
    }
    let stats = sim_stats(SIM).await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    assert_eq!(stats["requests"], JOBS as u64, "{stats}");
}
