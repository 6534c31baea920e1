//! Issue 18, attack 7: slow and greedy clients cannot hold the origin.
//! A request whose body never arrives is answered `408` and closed within
//! `ORIGIN_REQUEST_TIMEOUT_MS`; a connection whose headers never end is
//! closed within `ORIGIN_HEADER_TIMEOUT_MS` of its first byte; more requests
//! than `ORIGIN_MAX_IN_FLIGHT` are shed with `503` + `Retry-After`; an idle
//! keep-alive connection survives the header deadline (only the longer idle
//! deadline closes it). Real redis, registry-sim and origin, ports 21300–21329.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The header and request deadlines the origin under test is started with.
const DEADLINE: Duration = Duration::from_secs(2);
/// Its idle deadline: well past the header deadline.
const IDLE: Duration = Duration::from_secs(8);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(4);
/// Bounds every wait, so a broken origin fails the test rather than hangs it.
const OVERALL: Duration = Duration::from_secs(60);

struct Stack {
    _redis: Proc,
    _sim: Proc,
    _origin: Proc,
    port: u16,
}

fn stack(block: u16, env: &[(&str, &str)]) -> Stack {
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let redis = spawn_redis(block);
    let sim = spawn_sim(block + 1, &[], &logs);
    let ms = DEADLINE.as_millis().to_string();
    let idle = IDLE.as_millis().to_string();
    let mut all = vec![
        ("ORIGIN_HEADER_TIMEOUT_MS", ms.as_str()),
        ("ORIGIN_REQUEST_TIMEOUT_MS", ms.as_str()),
        ("ORIGIN_IDLE_TIMEOUT_MS", idle.as_str()),
    ];
    all.extend_from_slice(env);
    let origin = spawn_origin(block + 2, block, block + 1, &secrets, &all, &logs);
    Stack {
        _redis: redis,
        _sim: sim,
        _origin: origin,
        port: block + 2,
    }
}

/// Headers with a forged edge MAC that promise 1000 bytes of body; a few come.
const SLOW_BODY: &[u8] = b"POST /api/passports HTTP/1.1\r\nHost: origin\r\n\
    Content-Type: application/json\r\nContent-Length: 1000\r\n\
    x-waitroom-edge-auth: v1.0.forged\r\n\r\n{\"a\":";
/// Headers that never end.
const SLOW_HEAD: &[u8] = b"POST /api/passports HTTP/1.1\r\nHost: origin\r\nX-Slow: ";
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\n";

/// Opens `n` connections and writes `prefix` on each, then nothing more.
async fn hang(port: u16, n: usize, prefix: &'static [u8]) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(prefix).await.unwrap();
        conns.push(c);
    }
    conns
}

/// Waits, on every connection, for the origin to close it; each one's
/// answer (all bytes read) and when the close came, since `start`.
async fn closed(conns: Vec<TcpStream>, start: Instant) -> Vec<(Vec<u8>, Duration)> {
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                // read_to_end returns on EOF; a reset counts as closed too.
                let _ = c.read_to_end(&mut got).await;
                (got, start.elapsed())
            })
        })
        .collect();
    let all = async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    };
    tokio::time::timeout(OVERALL, all)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the origin still holds slow connections after {OVERALL:?} (deadline {DEADLINE:?})"
            )
        })
}

fn assert_all_within(what: &str, res: &[(Vec<u8>, Duration)], limit: Duration) {
    let late: Vec<_> = res.iter().map(|(_, t)| *t).filter(|t| *t > limit).collect();
    assert!(
        late.is_empty(),
        "{what}: {} of {} closed later than {limit:?}: {late:?}",
        late.len(),
        res.len()
    );
}

async fn healthz_is_served(port: u16) {
    let t = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(DEADLINE)
        .send()
        .await
        .expect("an honest request is answered while slow clients hang");
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < DEADLINE, "healthz took {:?}", t.elapsed());
}

/// Reads one HTTP/1.1 response with a `content-length` body from `c`;
/// `None` if the connection is closed first.
async fn read_response(c: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&got[..end + 4 + len]).into_owned());
            }
        }
        let n = tokio::time::timeout(OVERALL, c.read(&mut buf))
            .await
            .expect("an answer or a close in time")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_and_slow_headers_are_closed_within_the_deadline() {
    let s = stack(21300, &[]);
    let start = Instant::now();
    let bodies = hang(s.port, 1000, SLOW_BODY).await;
    let heads = hang(s.port, 100, SLOW_HEAD).await;
    let opened = start.elapsed();

    // Meanwhile an honest client is served.
    healthz_is_served(s.port).await;

    let bodies = closed(bodies, start).await;
    let heads = closed(heads, start).await;
    let limit = opened + DEADLINE + SLACK;
    assert_all_within("slow body", &bodies, limit);
    assert_all_within("slow headers", &heads, limit);
    // A reset may beat the answer to the client; whatever did arrive is
    // the JSON 408, and at least one arrived.
    let answers: Vec<_> = bodies
        .iter()
        .map(|(got, _)| String::from_utf8_lossy(got))
        .filter(|t| !t.is_empty())
        .collect();
    assert!(!answers.is_empty(), "no slow body got a 408");
    for text in answers {
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains(r#""error":"request_timeout""#), "{text}");
    }
    assert!(
        heads.iter().all(|(got, _)| got.is_empty()),
        "a slow head got an answer"
    );

    // Still serving afterwards.
    healthz_is_served(s.port).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_deadline() {
    let s = stack(21310, &[]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    c.write_all(HEALTHZ).await.unwrap();
    let first = read_response(&mut c).await.expect("the first answer");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    // A pooled connection, idle for longer than the header deadline, then
    // reused: a normal answer, not a closed connection.
    tokio::time::sleep(DEADLINE + Duration::from_millis(1500)).await;
    c.write_all(HEALTHZ).await.unwrap();
    let second = read_response(&mut c)
        .await
        .expect("the idle connection is still open after the header deadline");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");

    // The same through a real client's pool (reqwest keeps connections
    // for 90 s): no error on reuse.
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/healthz", s.port);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    tokio::time::sleep(DEADLINE + Duration::from_millis(1500)).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    // Past the idle deadline the server closes it, whether or not a
    // request was ever sent on it.
    let mut never_used = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(OVERALL, c.read(&mut buf))
        .await
        .expect("the idle connection is closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let n = tokio::time::timeout(OVERALL, never_used.read(&mut buf))
        .await
        .expect("an unused connection is closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t.elapsed() <= IDLE + SLACK,
        "idle connections closed after {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn beyond_the_in_flight_limit_requests_are_shed_with_503() {
    const LIMIT: usize = 20;
    let s = stack(21320, &[("ORIGIN_MAX_IN_FLIGHT", "20")]);
    let start = Instant::now();
    let hogs = hang(s.port, LIMIT, SLOW_BODY).await;
    // Each hog's headers are in: it holds a slot until its 408.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", s.port))
        .send()
        .await
        .unwrap();
    assert!(t.elapsed() < DEADLINE, "shed at once, not queued");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "overloaded", "{v}");

    // Once the hogs hit their deadline, the slots are free again.
    let res = closed(hogs, start).await;
    assert_all_within("hog", &res, DEADLINE + SLACK);
    healthz_is_served(s.port).await;
}
