//! Issue 18, attack 7: slow clients cannot hold the origin's connections.
//! A request whose body never arrives is answered `408` and closed within
//! `ORIGIN_REQUEST_TIMEOUT_MS`; a connection whose headers never end is
//! closed within `ORIGIN_HEADER_TIMEOUT_MS`; an honest request is served
//! while they hang. Real redis, registry-sim and origin on ports 23000–23009.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const BLOCK: u16 = 23000;
/// The deadlines the origin under test is started with.
const DEADLINE: Duration = Duration::from_secs(2);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(4);
/// Bounds the whole wait, so a broken origin fails the test rather than hangs it.
const OVERALL: Duration = Duration::from_secs(60);

struct Stack {
    _redis: Proc,
    _sim: Proc,
    _origin: Proc,
}

fn stack() -> Stack {
    let logs = log_dir(BLOCK);
    let secrets = Secrets::new();
    let redis = spawn_redis(BLOCK);
    let sim = spawn_sim(BLOCK + 1, &[], &logs);
    let ms = DEADLINE.as_millis().to_string();
    let origin = spawn_origin(
        BLOCK + 2,
        BLOCK,
        BLOCK + 1,
        &secrets,
        &[
            ("ORIGIN_HEADER_TIMEOUT_MS", &ms),
            ("ORIGIN_REQUEST_TIMEOUT_MS", &ms),
        ],
        &logs,
    );
    Stack {
        _redis: redis,
        _sim: sim,
        _origin: origin,
    }
}

/// Opens `n` connections and writes `prefix` on each, then nothing more.
async fn hang(n: usize, prefix: &'static [u8]) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = TcpStream::connect(("127.0.0.1", BLOCK + 2)).await.unwrap();
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

async fn healthz_is_served() {
    let t = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", BLOCK + 2))
        .timeout(DEADLINE)
        .send()
        .await
        .expect("an honest request is answered while slow clients hang");
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < DEADLINE, "healthz took {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_and_slow_headers_are_closed_within_the_deadline() {
    let _s = stack();

    // (a) Headers with a forged edge MAC promise 1000 bytes of body; none come.
    let start = Instant::now();
    let bodies = hang(
        200,
        b"POST /api/passports HTTP/1.1\r\nHost: origin\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\
          x-waitroom-edge-auth: v1.0.forged\r\n\r\n{\"a\":",
    )
    .await;
    // (c) Headers that never end.
    let heads = hang(
        50,
        b"POST /api/passports HTTP/1.1\r\nHost: origin\r\nX-Slow: ",
    )
    .await;

    // (b) Meanwhile an honest client is served.
    healthz_is_served().await;

    for (what, res) in [
        ("slow body", closed(bodies, start).await),
        ("slow headers", closed(heads, start).await),
    ] {
        let late: Vec<_> = res
            .iter()
            .map(|(_, t)| *t)
            .filter(|t| *t > DEADLINE + SLACK)
            .collect();
        assert!(
            late.is_empty(),
            "{what}: {} of {} closed later than {:?}: {late:?}",
            late.len(),
            res.len(),
            DEADLINE + SLACK
        );
        if what == "slow body" {
            // A reset may beat the answer to the client; whatever did arrive
            // is the JSON 408, and at least one arrived.
            let answers: Vec<_> = res
                .iter()
                .map(|(got, _)| String::from_utf8_lossy(got))
                .filter(|t| !t.is_empty())
                .collect();
            assert!(!answers.is_empty(), "{what}: no connection got a 408");
            for text in answers {
                assert!(text.starts_with("HTTP/1.1 408"), "{what}: {text}");
                assert!(text.contains(r#""error":"request_timeout""#), "{text}");
            }
        }
    }

    // Still serving afterwards.
    healthz_is_served().await;
}
