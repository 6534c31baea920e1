//! `cargo xtask bench --only tick`: the Coordinator's tick measured inside
//! workerd (Miniflare), issue 17: 64 shards holding 1,000,000 waiting
//! entries in all (filled through the test build's `/__test/fill`), the
//! room open at its pace. The Coordinator records each tick's wall time
//! (first summary request to last grant answer: the clock moves with I/O
//! in workerd, and a tick is I/O) and the JSON bytes it exchanged; this
//! reads them from `/__test/tick-costs`. Right after every tenth tick it
//! also times one call that does nothing to every shard (`BENCH_TICK_FLOOR`):
//! here every shard runs on workerd's one thread, so that floor is what the
//! runtime alone costs a tick's 64 calls, measured in the same second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xtask::proc::{self, Service};
use xtask::secrets::Secrets;
use xtask::stack::{self, Ports};
use xtask::tools::EdgeBuild;
use xtask::{target_dir, tools, Result};

/// Its own port block (the throughput run uses 92).
const BLOCK: u16 = 93;
const SHARDS: u64 = 64;
/// Waiting per shard in the nearly empty phase.
const SMALL_PER_SHARD: u64 = 64;
/// The parts of a tick's time (`TickCost`).
const PARTS: [&str; 3] = ["summaries_ms", "between_ms", "grants_ms"];
/// The slowest ticks of a phase shown with their parts.
const SLOWEST_SHOWN: usize = 5;
/// Entries per fill request (one Durable Object call each).
const FILL_CHUNK: u64 = 5_000;

/// One HTTP request over a raw socket; the body of a 2xx, else an error.
fn request(port: u16, method: &str, path: &str) -> Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP head")?;
    if !head.starts_with("HTTP/1.1 2") {
        return Err(format!(
            "{method} {path}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(body.to_string())
}

/// One phase's ticks; the lists are sorted.
struct Phase {
    ms: Vec<u64>,
    /// JSON bytes exchanged per tick.
    bytes: Vec<u64>,
    /// Waiting entries at the phase's last tick.
    waiting: u64,
    /// Per part of [`PARTS`].
    parts: [Vec<u64>; 3],
    /// The floors measured (one tick in ten), and those ticks' ms above them.
    floor: Vec<u64>,
    above: Vec<u64>,
    /// The slowest ticks, slowest first: ms, then its [`PARTS`].
    slowest: Vec<[u64; 4]>,
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub fn run(quick: bool, out: &Path) -> Result<PathBuf> {
    let total: u64 = if quick { 100_000 } else { 1_000_000 };
    // A p99 needs a few hundred: of 60, it is the second slowest tick.
    let ticks_measured = if quick { 20 } else { 300 };
    let port = Ports::block(BLOCK).edge;
    tools::build_origin(false)?;
    tools::build_edge_if_stale(EdgeBuild::Test)?;
    let secrets = Secrets::generate(&target_dir().join("debug/origin-worker"))?;
    // Paused while filling; then open at the launch pace. Sessions hold
    // everyone admitted, so the cap never stops the measurement.
    let mut bindings = vec![
        ("PAUSED".to_string(), "true".to_string()),
        ("SHARDS".to_string(), SHARDS.to_string()),
        ("NEW_USERS_PER_MINUTE".to_string(), "600".to_string()),
        ("ABANDON_AFTER_SECONDS".to_string(), "3600".to_string()),
        // One tick in ten also measures the runtime's floor
        // (`TickCost::floor_ms`).
        ("BENCH_TICK_FLOOR".to_string(), "true".to_string()),
    ];
    for (k, v) in secrets.as_pairs() {
        bindings.push((k.to_string(), v.to_string()));
    }
    let dir = out.join("tick");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let log = dir.join("miniflare.log");
    let _ = std::fs::remove_file(&log);
    let mut cmd = stack::miniflare_command(EdgeBuild::Test, port, &bindings, None);
    let mut server = Service::spawn("miniflare", &mut cmd, &log)?;
    let result = (|| -> Result<(Phase, Phase, f64)> {
        proc::wait_until("miniflare", Duration::from_secs(60), || {
            server.has_exited() || proc::http_get_status(port, "/healthz") == Some(200)
        })?;
        let fill = |from: u64, to: u64| -> Result<()> {
            for shard in 0..SHARDS {
                let mut done = from;
                while done < to {
                    let n = FILL_CHUNK.min(to - done);
                    let first = (shard << 40) + done + 1;
                    request(
                        port,
                        "POST",
                        &format!("/__test/fill?shard={shard}&n={n}&first={first}"),
                    )?;
                    done += n;
                }
            }
            Ok(())
        };
        let costs = || -> Result<Vec<serde_json::Value>> {
            let body = request(port, "GET", "/__test/tick-costs")?;
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            Ok(v["ticks"].as_array().cloned().unwrap_or_default())
        };
        let last_tick = || -> Result<u64> {
            Ok(costs()?
                .last()
                .and_then(|c| c["tick_id"].as_u64())
                .unwrap_or(0))
        };
        // The next `n` ticks after the current one.
        let measure = |n: usize| -> Result<Phase> {
            let start = last_tick()?;
            // Asked every 2 s, not every 0.1 s: each read is a call to the
            // Coordinator, on the same workerd thread as the ticks it would
            // otherwise slow down.
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                std::thread::sleep(Duration::from_secs(2));
                let done = costs().is_ok_and(|t| {
                    t.iter()
                        .filter(|c| c["tick_id"].as_u64() > Some(start))
                        .count()
                        >= n
                });
                if done {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err("the measured ticks did not come within 600 s".into());
                }
            }
            let ticks: Vec<serde_json::Value> = costs()?
                .into_iter()
                .filter(|c| c["tick_id"].as_u64() > Some(start))
                .collect();
            let sorted = |key: &str| {
                let mut v: Vec<u64> = ticks.iter().filter_map(|c| c[key].as_u64()).collect();
                v.sort_unstable();
                v
            };
            let mut above: Vec<u64> = ticks
                .iter()
                .filter_map(|c| Some(c["ms"].as_u64()?.saturating_sub(c["floor_ms"].as_u64()?)))
                .collect();
            above.sort_unstable();
            let floor = sorted("floor_ms");
            let part = |c: &serde_json::Value, k: &str| c[k].as_u64().unwrap_or(0);
            let mut slowest: Vec<[u64; 4]> = ticks
                .iter()
                .map(|c| {
                    [
                        part(c, "ms"),
                        part(c, PARTS[0]),
                        part(c, PARTS[1]),
                        part(c, PARTS[2]),
                    ]
                })
                .collect();
            slowest.sort_unstable_by(|a, b| b.cmp(a));
            slowest.truncate(SLOWEST_SHOWN);
            Ok(Phase {
                ms: sorted("ms"),
                bytes: sorted("bytes"),
                waiting: ticks
                    .last()
                    .and_then(|c| c["waiting"].as_u64())
                    .unwrap_or(0),
                parts: PARTS.map(sorted),
                floor,
                above,
                slowest,
            })
        };
        // The same room nearly empty first (64 waiting per shard), in the
        // same run: the ratio is what a noisy machine can still compare.
        fill(0, SMALL_PER_SHARD)?;
        // A join wakes the Coordinator; then open at the pace.
        request(port, "POST", "/queue/join")?;
        admin_unpause(port, &secrets.admin_token)?;
        measure(2)?;
        let small = measure(ticks_measured)?;
        let filling = Instant::now();
        fill(SMALL_PER_SHARD, total / SHARDS)?;
        let fill_s = filling.elapsed().as_secs_f64();
        eprintln!("xtask: filled to {total} entries in {SHARDS} shards in {fill_s:.0} s");
        // Ranking the new entries takes a tick; measure after it.
        proc::wait_until("ranked ticks", Duration::from_secs(120), || {
            costs().is_ok_and(|t| {
                t.iter()
                    .any(|c| c["waiting"].as_u64() >= Some(total * 9 / 10))
            })
        })?;
        measure(2)?;
        let large = measure(ticks_measured)?;
        Ok((small, large, fill_s))
    })();
    server.stop(Duration::from_secs(5));
    let (small, large, fill_s) = result?;
    if small.floor.is_empty() || large.floor.is_empty() {
        return Err("no tick measured its floor (BENCH_TICK_FLOOR)".into());
    }
    let q = |v: &[u64]| {
        format!(
            "{{\"p50\": {}, \"p99\": {}, \"max\": {}}}",
            quantile(v, 0.5),
            quantile(v, 0.99),
            quantile(v, 1.0)
        )
    };
    let phase_json = |p: &Phase| {
        let parts: Vec<String> = PARTS
            .iter()
            .zip(&p.parts)
            .map(|(k, v)| format!("\"{k}\": {}", q(v)))
            .collect();
        format!(
            "{{\"waiting\": {}, \"tick_ms\": {}, \"tick_bytes\": {}, {}, \"floor_ms\": {}, \
             \"floors_measured\": {}, \"above_floor_ms\": {}, \"slowest_ticks\": {:?}}}",
            p.waiting,
            q(&p.ms),
            q(&p.bytes),
            parts.join(", "),
            q(&p.floor),
            p.floor.len(),
            q(&p.above),
            p.slowest
        )
    };
    let ratio = quantile(&large.ms, 0.5) as f64 / quantile(&small.ms, 0.5).max(1) as f64;
    let json = format!(
        "{{\n  \"runner\": \"workerd via Miniflare\",\n  \"shards\": {SHARDS},\n  \"ticks_per_phase\": {},\n  \
         \"small\": {},\n  \"large\": {},\n  \
         \"p50_ratio_large_to_small\": {ratio:.2},\n  \"fill_seconds\": {fill_s:.0}\n}}\n",
        large.ms.len(),
        phase_json(&small),
        phase_json(&large),
    );
    let file = out.join("tick.json");
    std::fs::write(&file, &json).map_err(|e| e.to_string())?;
    println!(
        "\nCoordinator tick inside workerd ({SHARDS} shards, open at 600/min, {} ticks each):",
        large.ms.len()
    );
    for (what, p) in [("nearly empty", &small), ("full", &large)] {
        let (m, b) = (&p.ms, &p.bytes);
        println!(
            "  {what:>12} ({:>7} waiting): tick p50 {} ms, p99 {} ms, max {} ms; JSON/tick p50 {} B, max {} B",
            p.waiting,
            quantile(m, 0.5),
            quantile(m, 0.99),
            quantile(m, 1.0),
            quantile(b, 0.5),
            quantile(b, 1.0)
        );
        let parts: Vec<String> = PARTS
            .iter()
            .zip(&p.parts)
            .map(|(k, v)| {
                format!(
                    "{k} p50 {} / p99 {} ms",
                    quantile(v, 0.5),
                    quantile(v, 0.99)
                )
            })
            .collect();
        println!("  {:>12}  {}", "", parts.join(", "));
        println!(
            "  {:>12}  floor ({SHARDS} calls doing nothing, {} ticks): p50 {} / max {} ms; \
             those ticks above it: p50 {} / max {} ms",
            "",
            p.floor.len(),
            quantile(&p.floor, 0.5),
            quantile(&p.floor, 1.0),
            quantile(&p.above, 0.5),
            quantile(&p.above, 1.0)
        );
        let slowest: Vec<String> = p
            .slowest
            .iter()
            .map(|[ms, s, b, g]| format!("{ms} ({s}/{b}/{g})"))
            .collect();
        println!(
            "  {:>12}  slowest ticks, ms (summaries/between/grants): {}",
            "",
            slowest.join(", ")
        );
    }
    println!(
        "  p50 ratio full / nearly empty: {ratio:.2} (the tick does not grow with the queue if ~1)"
    );
    Ok(file)
}

/// `PUT /admin/config {"paused": false}` with the operator token.
fn admin_unpause(port: u16, token: &str) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = r#"{"paused":false}"#;
    write!(
        s,
        "PUT /admin/config HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    match &head[9..12] {
        b"200" => Ok(()),
        other => Err(format!("unpause: HTTP {}", String::from_utf8_lossy(other))),
    }
}
