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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry-sim"));
    cmd.env("REGISTRY_SIM_ADDR", format!("127.0.0.1:{port}"))
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
