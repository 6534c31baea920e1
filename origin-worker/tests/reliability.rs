//! Reliability against real processes: the shared registry rate limit with
//! three origin-worker processes, a worker killed with SIGKILL mid-job, and
//! the registry down for 10 seconds.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn three_workers_at_the_registry_limit_never_provoke_429() {
    const LIMIT: f64 = 20.0;
    const JOBS: u64 = 320;
    let block = 21200;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let sim_port = block + 1;
    let _sim = spawn_sim(
        sim_port,
        &[
            ("REGISTRY_SIM_RATE_PER_SEC", "20"),
            ("REGISTRY_SIM_LATENCY_MS", "20-80"),
        ],
        &logs,
    );
    // Many job slots: rendering (slow in debug builds) must not be what
    // limits the registry calls measured here.
    let env = [
        ("REGISTRY_RATE_PER_SEC", "20"),
        ("WORKER_CONCURRENCY", "64"),
    ];
    let origins: Vec<Proc> = (0..3)
        .map(|i| spawn_origin(block + 2 + i, block, sim_port, &secrets, &env, &logs))
        .collect();
    let edges: Vec<Edge> = (0..3)
        .map(|i| Edge::new(block + 2 + i, &secrets.edge_key))
        .collect();

    let mut tasks = Vec::new();
    for i in 0..JOBS {
        let edge = edges[(i % 3) as usize].clone();
        let ticket = secrets.admission(&format!("load-{i}"));
        tasks.push(tokio::spawn(async move {
            edge.submit(&citizen(1000 + i), &ticket).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = sim_stats(sim_port).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let b = sim_stats(sim_port).await;
    let secs = t0.elapsed().as_secs_f64();
    let answered = b["answered"].as_u64().unwrap() - a["answered"].as_u64().unwrap();
    let rate = answered as f64 / secs;
    assert_eq!(b["rate_limited"], 0, "registry-sim answered 429: {b}");
    assert!(
        rate >= 0.95 * LIMIT,
        "registry throughput {rate:.1}/s is below 95% of {LIMIT}/s ({b})"
    );
    assert!(rate <= LIMIT * 1.05, "over the limit: {rate:.1}/s");
    drop(origins);
}

#[tokio::test]
async fn a_worker_killed_mid_job_still_yields_each_passport_once() {
    const JOBS: usize = 12;
    let block = 21210;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let sim_port = block + 1;
    let _sim = spawn_sim(sim_port, &[("REGISTRY_SIM_LATENCY_MS", "200-400")], &logs);
    let env = [
        ("JOB_CLAIM_TIMEOUT_MS", "2000"),
        ("WORKER_CONCURRENCY", "2"),
    ];
    let mut origins: Vec<Proc> = (0..3)
        .map(|i| spawn_origin(block + 2 + i, block, sim_port, &secrets, &env, &logs))
        .collect();
    // Submit through the survivor, so submissions do not depend on the victim.
    let edge = Edge::new(block + 3, &secrets.edge_key);
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        let ticket = secrets.admission(&format!("kill-{i}"));
        let (id, cookie) = edge.submit(&citizen(2000 + i as u64), &ticket).await;
        jobs.push((id, cookie, ticket));
    }
    // Wait until the victim holds a job, then SIGKILL it.
    let victim = Edge::new(block + 2, &secrets.edge_key);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let in_flight = victim.metric("waitroom_origin_jobs_in_flight").await;
        if in_flight >= 1.0 {
            break;
        }
        assert!(Instant::now() < end, "the victim never took a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    origins[0].kill();

    for (id, cookie, ticket) in &jobs {
        let done = edge.wait_done(id, ticket, Duration::from_secs(180)).await;
        assert_eq!(done["status"], "ready", "{id}: {done}");
        let pdf = edge.pdf(id, ticket, Some(cookie)).await;
        assert_eq!(pdf.status(), 200);
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
    }
    let mut con = redis_con(block).await;
    for (id, _, _) in &jobs {
        let issued: u64 = redis::cmd("HGET")
            .arg(format!("wr:job:{{{id}}}"))
            .arg("issued")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(issued, 1, "job {id} committed {issued} times");
    }
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("wr:jobs")
        .arg("workers")
        .query_async(&mut con)
        .await
        .unwrap();
    let redis::Value::Array(p) = pending else {
        panic!("XPENDING: {pending:?}")
    };
    assert_eq!(p[0], redis::Value::Int(0), "entries still pending");
}

#[tokio::test]
async fn jobs_wait_while_the_registry_is_down_and_finish_after() {
    const JOBS: usize = 4;
    let block = 21220;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let sim_port = block + 1;
    let mut sim = spawn_sim(sim_port, &[], &logs);
    let _origin = spawn_origin(block + 2, block, sim_port, &secrets, &[], &logs);
    let edge = Edge::new(block + 2, &secrets.edge_key);
    sim.kill();

    let mut jobs = Vec::new();
    for i in 0..JOBS {
        let ticket = secrets.admission(&format!("down-{i}"));
        let (id, cookie) = edge.submit(&citizen(3000 + i as u64), &ticket).await;
        jobs.push((id, cookie, ticket));
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    for (id, _, ticket) in &jobs {
        let (code, v) = edge.status(id, ticket).await;
        assert_eq!(code, 200);
        assert_eq!(v["status"], "validating", "{v}");
        assert!(v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("waiting for the registry"));
    }
    let _sim = spawn_sim(sim_port, &[], &logs);
    for (id, cookie, ticket) in &jobs {
        let done = edge.wait_done(id, ticket, Duration::from_secs(90)).await;
        assert_eq!(done["status"], "ready", "{done}");
        assert_eq!(edge.pdf(id, ticket, Some(cookie)).await.status(), 200);
    }
}

#[tokio::test]
async fn sigterm_hands_back_a_waiting_job_to_another_process() {
    let block = 21230;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let sim_port = block + 1;
    let mut first = spawn_origin(block + 2, block, sim_port, &secrets, &HAND_BACK_ENV, &logs);
    let edge = Edge::new(block + 2, &secrets.edge_key);
    // No registry yet: the job waits inside the first process.
    let ticket = secrets.admission("term-1");
    let (id, cookie) = edge.submit(&citizen(4000), &ticket).await;
    edge.wait_in_flight(
        1.0,
        Duration::from_secs(10),
        "the first process never took the job",
    )
    .await;
    let status = first
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM at once, well within its grace");
    assert!(status.success(), "{status:?}");
    // The hand-back itself, not the claim timeout that would reclaim a job
    // from a process that died holding it: the first process said it gave
    // this job back (worker.rs, Outcome::HandBack).
    let log = std::fs::read_to_string(logs.join(format!("origin-{}.log", block + 2))).unwrap();
    let handed_back = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|e| e["fields"]["message"] == "job handed back" && e["fields"]["job"] == id);
    assert!(handed_back, "no hand-back of job {id} in the log:\n{log}");

    let _second = spawn_origin(block + 3, block, sim_port, &secrets, &HAND_BACK_ENV, &logs);
    let _sim = spawn_sim(sim_port, &[], &logs);
    let edge = Edge::new(block + 3, &secrets.edge_key);
    let done = edge.wait_done(&id, &ticket, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(edge.pdf(&id, &ticket, Some(&cookie)).await.status(), 200);
}
