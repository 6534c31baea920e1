//! Test harness: real redis-server, registry-sim and origin-worker processes
//! on 127.0.0.1, ports 21000–21999 (each test its own block; an origin's
//! metrics listener 1000 above its port), killed by pid
//! on drop, even when the test panics.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use origin_worker::passport::DccSigner;
use waitroom_core::{
    edge_auth::{sign_request, EDGE_AUTH_HEADER},
    ticket::{sign, AdmissionClaims, Claims, KeyRing, WaitingClaims},
};

pub const ROOM: &str = "passport";
pub const SEED: u64 = 7;

pub fn now_ms() -> u64 {
    origin_worker::now_ms()
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Option<Child>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to `grace` for a clean exit.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn log_dir(block: u16) -> PathBuf {
    let d = std::env::temp_dir().join(format!("waitroom-origin-test-{block}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_tcp(port: u16, what: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {port}");
}

pub fn spawn_redis(port: u16) -> Proc {
    spawn_redis_with(port, &[])
}

/// `spawn_redis` with more `redis-server` arguments (e.g. `--requirepass`).
pub fn spawn_redis_with(port: u16, args: &[&str]) -> Proc {
    let child = Command::new("/usr/bin/redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let p = Proc {
        name: "redis".into(),
        child: Some(child),
    };
    wait_tcp(port, "redis-server");
    p
}

/// Runs `redis-cli -h 127.0.0.1 -p <port> <args>`; its stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Redis Cluster of one primary per port (no replicas) on 127.0.0.1,
/// node `i` with its cluster bus on `bus_ports[i]`, its node table and log in
/// `logs`. Returns once every node reports `cluster_state:ok`.
pub fn spawn_redis_cluster(ports: &[u16], bus_ports: &[u16], logs: &std::path::Path) -> Vec<Proc> {
    assert_eq!(ports.len(), bus_ports.len());
    let mut nodes = Vec::new();
    for (&port, &bus) in ports.iter().zip(bus_ports) {
        let log = std::fs::File::create(logs.join(format!("redis-{port}.log"))).unwrap();
        let conf = logs.join(format!("redis-cluster-{port}.conf"));
        let child = Command::new("/usr/bin/redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(&conf)
            .args(["--cluster-port", &bus.to_string()])
            .arg("--dir")
            .arg(logs)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("redis-server starts");
        nodes.push(Proc {
            name: format!("redis-cluster-{port}"),
            child: Some(child),
        });
    }
    for &port in ports {
        wait_tcp(port, "redis-server (cluster node)");
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("/usr/bin/redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    std::fs::write(logs.join("redis-cluster-create.log"), &out.stdout).unwrap();
    assert!(
        out.status.success(),
        "redis-cli --cluster create failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let end = Instant::now() + Duration::from_secs(20);
    for &port in ports {
        loop {
            let info = redis_cli(port, &["cluster", "info"]);
            if info.lines().any(|l| l.trim() == "cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < end, "cluster node {port} not ok: {info}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    nodes
}

/// registry-sim is its own package, so cargo gives these tests no
/// `CARGO_BIN_EXE_registry-sim`: build it (a no-op when fresh) into the
/// directory and profile of origin-worker's binary, once per test process.
/// The build is the workspace's test build (`cargo xtask test`'s, and the
/// e2e harness's): a narrower one would give waitroom-core other features
/// and relink the binaries under the feet of tests running in parallel.
fn registry_sim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile_dir = Path::new(env!("CARGO_BIN_EXE_origin-worker"))
            .parent()
            .expect("a binary lives in a directory");
        let target_dir = profile_dir
            .parent()
            .expect("the profile directory is in the target directory");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "test",
                "--no-run",
                "--quiet",
                "--workspace",
                "--exclude",
                "waitroom-edge",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building registry-sim failed");
        profile_dir.join("registry-sim")
    })
    .clone()
}

pub fn spawn_sim(port: u16, env: &[(&str, &str)], logs: &std::path::Path) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("sim-{port}.log")))
        .unwrap();
    let mut cmd = Command::new(registry_sim_bin());
    cmd.env("REGISTRY_SIM_ADDR", format!("127.0.0.1:{port}"))
        .env("REGISTRY_SIM_SEED", SEED.to_string())
        .env("REGISTRY_SIM_LATENCY_MS", "5-20")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let p = Proc {
        name: "registry-sim".into(),
        child: Some(cmd.spawn().expect("registry-sim starts")),
    };
    wait_tcp(port, "registry-sim");
    p
}

/// The secrets of one test stack.
pub struct Secrets {
    pub ticket_keys: String,
    pub ring: KeyRing,
    pub edge_key: Vec<u8>,
    pub edge_key_b64: String,
    pub dcc_key: String,
    /// `JOB_SEAL_KEY`, and the ring the origin builds from it (to compute
    /// the keyed names it gives things in Redis).
    pub job_seal_key_b64: String,
    pub job_keys: origin_worker::crypto::JobKeys,
}

impl Secrets {
    pub fn new() -> Secrets {
        let k1 = URL_SAFE_NO_PAD.encode(origin_worker::crypto::random_bytes::<32>());
        let k0 = URL_SAFE_NO_PAD.encode(origin_worker::crypto::random_bytes::<32>());
        let ticket_keys = format!("k1:{k1},k0:{k0}");
        let edge_key = origin_worker::crypto::random_bytes::<32>().to_vec();
        let seal = origin_worker::crypto::random_bytes::<32>();
        Secrets {
            job_seal_key_b64: URL_SAFE_NO_PAD.encode(seal),
            job_keys: origin_worker::crypto::JobKeys::new(&[seal]).unwrap(),
            ring: KeyRing::parse(&ticket_keys).unwrap(),
            ticket_keys,
            edge_key_b64: URL_SAFE_NO_PAD.encode(&edge_key),
            edge_key,
            dcc_key: DccSigner::generate().to_pkcs8_base64(),
        }
    }

    pub fn admission(&self, session: &str) -> String {
        self.admission_for(session, ROOM, now_ms() + 15 * 60_000)
    }

    pub fn admission_for(&self, session: &str, room: &str, expires_ms: u64) -> String {
        let id = URL_SAFE_NO_PAD.encode(origin_worker::crypto::random_bytes::<12>());
        self.admission_with_id(&id, session, room, expires_ms)
    }

    /// An admission with this ticket id.
    pub fn admission_with_id(
        &self,
        id: &str,
        session: &str,
        room: &str,
        expires_ms: u64,
    ) -> String {
        let id = id.to_owned();
        sign(
            &self.ring,
            &Claims::Admission(AdmissionClaims {
                ticket_id: id,
                room: room.into(),
                shard: 0,
                session_id: session.into(),
                not_before_ms: now_ms().saturating_sub(1000),
                expires_ms,
                client: String::new(),
            }),
        )
    }

    pub fn waiting(&self) -> String {
        let now = now_ms();
        sign(
            &self.ring,
            &Claims::Waiting(WaitingClaims {
                ticket_id: "w1".into(),
                room: ROOM.into(),
                shard: 0,
                seq: 1,
                arrived_ms: now,
                issued_ms: now,
                expires_ms: now + 60_000,
                client: String::new(),
            }),
        )
    }
}

pub fn spawn_origin(
    port: u16,
    redis_port: u16,
    sim_port: u16,
    secrets: &Secrets,
    env: &[(&str, &str)],
    logs: &std::path::Path,
) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("origin-{port}.log")))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_origin-worker"));
    cmd.env_clear()
        .env("ORIGIN_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "ORIGIN_METRICS_ADDR",
            format!("127.0.0.1:{}", metrics_port(port)),
        )
        .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("REGISTRY_URL", format!("http://127.0.0.1:{sim_port}"))
        .env("ROOM_ID", ROOM)
        .env("TICKET_KEYS", &secrets.ticket_keys)
        .env("EDGE_ORIGIN_KEY", &secrets.edge_key_b64)
        .env("DCC_SIGNING_KEY", &secrets.dcc_key)
        .env("JOB_SEAL_KEY", &secrets.job_seal_key_b64)
        .env("REGISTRY_RATE_PER_SEC", "50")
        .env("JOB_CLAIM_TIMEOUT_MS", "3000")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let p = Proc {
        name: "origin-worker".into(),
        child: Some(cmd.spawn().expect("origin-worker starts")),
    };
    wait_tcp(port, "origin-worker");
    p
}

/// The metrics listener of the origin on `port` (ports 22000–22999).
pub fn metrics_port(port: u16) -> u16 {
    port + 1000
}

/// Talks to an origin the way the edge does.
#[derive(Clone)]
pub struct Edge {
    pub http: reqwest::Client,
    pub base: String,
    /// The origin's metrics listener.
    pub metrics_base: String,
    pub key: Vec<u8>,
}

pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub ticket: Option<&'a str>,
    pub cookie: Option<&'a str>,
    /// `None`: no edge auth header at all.
    pub edge_ts: Option<u64>,
}

impl<'a> Req<'a> {
    pub fn get(path: &'a str, ticket: &'a str) -> Req<'a> {
        Req {
            method: "GET",
            path,
            body: b"",
            content_type: None,
            ticket: Some(ticket),
            cookie: None,
            edge_ts: Some(now_ms()),
        }
    }

    pub fn post_json(body: &'a [u8], ticket: &'a str) -> Req<'a> {
        Req {
            method: "POST",
            path: "/api/passports",
            body,
            content_type: Some("application/json"),
            ticket: Some(ticket),
            cookie: None,
            edge_ts: Some(now_ms()),
        }
    }
}

/// The value of the unlabelled Prometheus sample `name` in a `/metrics`
/// text; `None` when no line has exactly that name (a renamed metric
/// fails the test instead of passing for zero).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

/// For the tests that hand a job from one origin process to the next: a
/// claim times out after a second, and the shutdown grace is far longer
/// than any wait in them, so a process that sat out its grace with a job
/// (rather than hand it back) fails the test.
pub const HAND_BACK_ENV: [(&str, &str); 2] = [
    ("JOB_CLAIM_TIMEOUT_MS", "1000"),
    ("SHUTDOWN_GRACE_SECONDS", "60"),
];

impl Edge {
    /// Waits until the origin holds `n` jobs (`what`, for the failure).
    pub async fn wait_in_flight(&self, n: f64, within: Duration, what: &str) {
        let end = std::time::Instant::now() + within;
        while self.metric("waitroom_origin_jobs_in_flight").await < n {
            assert!(std::time::Instant::now() < end, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The origin's metric `name` now; panics (showing the page) if it is absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let page = self
            .http
            .get(format!("{}/metrics", self.metrics_base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric(&page, name).unwrap_or_else(|| panic!("no metric {name} in:\n{page}"))
    }

    pub fn new(port: u16, key: &[u8]) -> Edge {
        Edge {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            metrics_base: format!("http://127.0.0.1:{}", metrics_port(port)),
            key: key.to_vec(),
        }
    }

    pub async fn send(&self, r: Req<'_>) -> reqwest::Response {
        self.send_signed_body(r, None).await
    }

    /// `signed_body`: sign this body but send `r.body` (tampering).
    pub async fn send_signed_body(
        &self,
        r: Req<'_>,
        signed_body: Option<&[u8]>,
    ) -> reqwest::Response {
        let method: reqwest::Method = r.method.parse().unwrap();
        let mut b = self
            .http
            .request(method, format!("{}{}", self.base, r.path))
            .body(r.body.to_vec());
        if let Some(ts) = r.edge_ts {
            let h = sign_request(
                &self.key,
                r.method,
                r.path,
                r.ticket.unwrap_or(""),
                ts,
                signed_body.unwrap_or(r.body),
            );
            b = b.header(EDGE_AUTH_HEADER, h);
        }
        if let Some(ct) = r.content_type {
            b = b.header("content-type", ct);
        }
        if let Some(t) = r.ticket {
            b = b.header("x-waitroom-ticket", t);
        }
        if let Some(c) = r.cookie {
            b = b.header("cookie", c);
        }
        b.send().await.unwrap()
    }

    /// POSTs a request; returns (id, "name=value" of the key cookie).
    pub async fn submit(&self, citizen: &serde_json::Value, ticket: &str) -> (String, String) {
        let body = serde_json::to_vec(citizen).unwrap();
        let resp = self.send(Req::post_json(&body, ticket)).await;
        assert_eq!(resp.status(), 202, "submit");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .expect("key cookie")
            .to_str()
            .unwrap()
            .to_owned();
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["status"], "queued");
        let id = v["id"].as_str().unwrap().to_owned();
        let pair = cookie.split(';').next().unwrap().to_owned();
        (id, pair)
    }

    pub async fn status(&self, id: &str, ticket: &str) -> (u16, serde_json::Value) {
        let path = format!("/api/passports/{id}");
        let resp = self.send(Req::get(&path, ticket)).await;
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Polls until the job ends; returns its final status.
    pub async fn wait_done(&self, id: &str, ticket: &str, within: Duration) -> serde_json::Value {
        let end = Instant::now() + within;
        loop {
            let (code, v) = self.status(id, ticket).await;
            assert_eq!(code, 200, "status of {id}: {v}");
            if ["ready", "rejected", "failed"].contains(&v["status"].as_str().unwrap_or("")) {
                return v;
            }
            assert!(Instant::now() < end, "job {id} not done in time: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn pdf(&self, id: &str, ticket: &str, cookie: Option<&str>) -> reqwest::Response {
        let path = format!("/api/passports/{id}/pdf");
        let mut r = Req::get(&path, ticket);
        r.cookie = cookie;
        self.send(r).await
    }
}

pub async fn redis_con(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Every key of the job / admission kinds.
pub async fn job_keys(con: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut v: Vec<String> = redis::cmd("KEYS")
        .arg("wr:job:*")
        .query_async(con)
        .await
        .unwrap();
    let a: Vec<String> = redis::cmd("KEYS")
        .arg("wr:admission:*")
        .query_async(con)
        .await
        .unwrap();
    v.extend(a);
    v
}

pub async fn stream_len(con: &mut redis::aio::MultiplexedConnection) -> u64 {
    redis::cmd("XLEN")
        .arg("wr:jobs")
        .query_async(con)
        .await
        .unwrap()
}

pub async fn sim_sample(sim_port: u16, n: usize) -> Vec<serde_json::Value> {
    reqwest::get(format!("http://127.0.0.1:{sim_port}/citizens/sample?n={n}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn sim_stats(sim_port: u16) -> serde_json::Value {
    reqwest::get(format!("http://127.0.0.1:{sim_port}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A unique valid citizen for load tests (confirmed by the sim).
pub fn citizen(i: u64) -> serde_json::Value {
    registry_sim::sample_citizen(SEED, i)
}
