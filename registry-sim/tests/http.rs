//! registry-sim's HTTP behaviour, against the real binary on 127.0.0.1
//! ports 22000–22009 (run under the e2e lock like every test that binds
//! ports). origin-worker and the end-to-end suite depend on exactly this.
//!
//! Having an integration test also makes cargo build the `registry-sim`
//! binary in `cargo test --no-run --workspace`, xtask's one debug build.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(port: u16, env: &[(&str, &str)]) -> Sim {
    start_with(&format!("127.0.0.1:{port}"), port, env)
}

fn start_on(addr: &str, port: u16) -> Sim {
    start_with(addr, port, &[])
}

fn start_with(addr: &str, port: u16, env: &[(&str, &str)]) -> Sim {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry-sim"));
    cmd.env("REGISTRY_SIM_ADDR", addr)
        .env("REGISTRY_SIM_SEED", "42")
        .env("REGISTRY_SIM_LATENCY_MS", "0")
        .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let sim = Sim(cmd.spawn().expect("registry-sim starts"));
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < end,
            "registry-sim did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sim
}

/// `PUT /control`: (status, body).
async fn control(port: u16, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/control"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The `ratelimit-policy` header of a `POST /verify` answer, and its status.
async fn policy(port: u16, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/verify"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let p = r.headers()["ratelimit-policy"].to_str().unwrap().to_owned();
    (r.status().as_u16(), p)
}

async fn post(port: u16, body: &str) -> (u16, Option<String>, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/verify"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.json().await.unwrap())
}

async fn get(port: u16, path: &str) -> Value {
    reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn answers_counts_and_samples() {
    let port = 22000;
    let _sim = start(port, &[("REGISTRY_SIM_RATE_PER_SEC", "1000")]);
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let sample = get(port, "/citizens/sample?n=3").await;
    assert_eq!(sample.as_array().unwrap().len(), 3);
    assert_eq!(
        get(port, "/citizens/sample")
            .await
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let all = get(port, "/citizens/sample?n=5000").await;
    assert_eq!(all.as_array().unwrap().len(), registry_sim::MAX_SAMPLE);
    assert_eq!(sample[0], registry_sim::sample_citizen(42, 0));

    // A fixed person (the lib's unit tests pin their answer to the byte).
    let person = json!({
        "given_name": "Ana", "family_name": "López", "date_of_birth": "1980-02-29",
        "national_id": registry_sim::national_id_for(42, "Ana", "López", "1980-02-29"),
    });
    let req: registry_sim::VerifyRequest = serde_json::from_value(person.clone()).unwrap();
    let (status, _, answer) = post(port, &person.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::to_value(registry_sim::lookup(42, &req)).unwrap()
    );
    assert_eq!(answer["status"], "vaccinated");

    let mut other = person.clone();
    other["date_of_birth"] = json!("1980-03-01");
    let (status, _, answer) = post(port, &other.to_string()).await;
    assert_eq!((status, answer), (200, json!({"status": "mismatch"})));
    other["national_id"] = json!("ZZZZZZ");
    let (status, _, answer) = post(port, &other.to_string()).await;
    assert_eq!((status, answer), (200, json!({"status": "not_found"})));
    let (status, _, answer) = post(port, "{\"given_name\":").await;
    assert_eq!((status, answer), (400, json!({"error": "bad_request"})));

    let stats = get(port, "/stats").await;
    assert_eq!(
        stats,
        json!({
            "requests": 4, "vaccinated": 1, "not_found": 1, "mismatch": 1, "answered": 3,
            "rate_limited": 0, "failures": 0, "bad_requests": 1, "rate_per_sec": 1000.0,
            "down_refused": 0, "down": false,
        })
    );
}

#[tokio::test]
async fn past_the_rate_429_with_retry_after_and_injected_failures_503() {
    let port = 22001;
    let _sim = start(port, &[("REGISTRY_SIM_RATE_PER_SEC", "2")]);
    let body = registry_sim::sample_citizen(42, 1).to_string();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(post(port, &body).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    // A burst of one second's worth (2), then nothing left.
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(answers[2].1.as_deref(), Some("1"));
    assert_eq!(answers[2].2, json!({"error": "rate_limited"}));
    let stats = get(port, "/stats").await;
    assert_eq!(
        (stats["requests"].as_u64(), stats["rate_limited"].as_u64()),
        (Some(4), Some(2))
    );

    let port = 22002;
    let _failing = start(
        port,
        &[
            ("REGISTRY_SIM_RATE_PER_SEC", "100"),
            ("REGISTRY_SIM_FAILURE_RATE", "1"),
        ],
    );
    let (status, _, answer) = post(port, &body).await;
    assert_eq!((status, answer), (503, json!({"error": "unavailable"})));
    assert_eq!(get(port, "/stats").await["failures"], 1);
}

#[test]
fn refuses_bad_configuration() {
    for (k, v) in [
        ("REGISTRY_SIM_LATENCY_MS", "80-20"),
        ("REGISTRY_SIM_RATE_PER_SEC", "fast"),
        ("REGISTRY_SIM_SEED", "x"),
        ("REGISTRY_SIM_ADDR", "nowhere"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_registry-sim"))
            .env(k, v)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{k}={v}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(k), "{k}={v}");
    }
}

#[tokio::test]
async fn control_changes_the_limit_and_takes_it_down() {
    let port = 22003;
    let _sim = start(port, &[("REGISTRY_SIM_RATE_PER_SEC", "100")]);
    let body = registry_sim::sample_citizen(42, 2).to_string();
    assert_eq!(policy(port, &body).await, (200, "100;w=1".to_owned()));

    // Lowered with notice: announced at once, enforced later.
    let (code, state) = control(port, json!({"rate_per_sec": 2, "notice_ms": 700})).await;
    assert_eq!(
        (code, state),
        (200, json!({"rate_per_sec": 2.0, "down": false}))
    );
    for _ in 0..5 {
        assert_eq!(policy(port, &body).await, (200, "2;w=1".to_owned()));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(policy(port, &body).await.0);
    }
    assert_eq!(
        statuses,
        [200, 200, 429, 429],
        "a burst of the new limit, then 429"
    );

    // Down: 503 at once, no token used, counted.
    assert_eq!(control(port, json!({"down": true})).await.0, 200);
    let (status, _, answer) = post(port, &body).await;
    assert_eq!((status, answer), (503, json!({"error": "unavailable"})));
    let stats = get(port, "/stats").await;
    assert_eq!(
        (stats["down"].clone(), stats["down_refused"].clone()),
        (json!(true), json!(1))
    );

    // Up and raised: at once, and a fractional rate announced over 10 s.
    let (_, state) = control(port, json!({"down": false, "rate_per_sec": 2.5})).await;
    assert_eq!(state, json!({"rate_per_sec": 2.5, "down": false}));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(policy(port, &body).await, (200, "25;w=10".to_owned()));
    // Lowered without notice: enforced at once.
    control(port, json!({"rate_per_sec": 1000})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    control(port, json!({"rate_per_sec": 1, "notice_ms": 0})).await;
    let first = policy(port, &body).await.0;
    let second = policy(port, &body).await.0;
    assert_eq!((first, second), (200, 429));
}

#[tokio::test]
async fn control_refuses_bad_values_and_changes_nothing() {
    let port = 22004;
    let _sim = start(port, &[("REGISTRY_SIM_RATE_PER_SEC", "7")]);
    for (body, field) in [
        (json!({"rate_per_sec": 0}), "rate_per_sec"),
        (json!({"rate_per_sec": -3}), "rate_per_sec"),
        (json!({"rate_per_sec": "fast"}), "rate_per_sec"),
        (json!({"rate_per_sec": 2_000_000}), "rate_per_sec"),
        (json!({"down": "yes"}), "down"),
        (json!({"notice_ms": -1}), "notice_ms"),
        (json!({"rate_per_sec": 5, "limit": 5}), "limit"),
    ] {
        let (code, answer) = control(port, body.clone()).await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(answer["field"], field, "{body}");
    }
    let r = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/control"))
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let stats = get(port, "/stats").await;
    assert_eq!(
        (stats["rate_per_sec"].clone(), stats["down"].clone()),
        (json!(7.0), json!(false))
    );
}

/// This machine's address on a non-loopback interface, if it has one (the
/// route to a documentation address; no packet is sent).
fn outside_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn control_is_for_loopback_clients_only() {
    let Some(ip) = outside_address() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no non-loopback address to test from"
        );
        eprintln!("skipped: no non-loopback address");
        return;
    };
    let port = 22005;
    let _sim = start_on(&format!("0.0.0.0:{port}"), port);
    let r = reqwest::Client::new()
        .put(format!("http://{ip}:{port}/control"))
        .json(&json!({"down": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(get(port, "/stats").await["down"], false);
    // The same request from loopback is obeyed.
    assert_eq!(control(port, json!({"down": true})).await.0, 200);
}
