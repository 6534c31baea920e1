//! `flood`: what a one-ticket flood costs honest citizens (issue 18), on
//! the real local stack (workerd via Miniflare, loopback only, bounded in
//! time). `cargo xtask bench --only flood` runs it.
//!
//! The room is open at a fixed pace with thousands waiting ahead (filled
//! through the test build's `/__test/fill`); honest citizens, each from
//! its own address, poll every two seconds. Four windows alternate, the
//! same run: without a flood, with one (threads polling one bot ticket as
//! fast as they can), without, with. Per kind of window: the honest
//! heartbeat p50/p99, how many honest polls were refused, and the
//! admission rate (`admitted_total` from `/admin/stats`); then the ratios
//! flooded / quiet, which a noisy shared machine can still compare.
//! Targets (issue 18): admissions >= 95% of the configured pace, honest
//! p99 within 2x of the quiet windows.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};
use xtask::secrets::Secrets;
use xtask::stack::{EdgeRunner, Ports, Stack, StackOptions};

const HELP: &str = "\
flood [--quick] [--out DIR]: honest heartbeats and admissions with and without a one-ticket flood

  --quick     short windows, fewer citizens (a smoke run)
  --out DIR   flood.json (default target/bench)
";

/// Its own port block (throughput 92, tick 93, launch 90).
const BLOCK: u16 = 94;
const SHARDS: u64 = 8;
/// The configured pace: 10 a second.
const PER_MINUTE: u64 = 600;
const FLOOD_THREADS: usize = 8;
const HONEST_THREADS: usize = 8;
/// Each honest citizen polls this often.
const HONEST_EVERY: Duration = Duration::from_secs(2);

struct Plan {
    honest: usize,
    window: Duration,
}

fn main() -> ExitCode {
    let mut quick = false;
    let mut out = xtask::target_dir().join("bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(args.next().unwrap_or_default()),
            _ => {
                eprint!("{HELP}");
                return ExitCode::FAILURE;
            }
        }
    }
    let plan = if quick {
        Plan {
            honest: 100,
            window: Duration::from_secs(10),
        }
    } else {
        Plan {
            honest: 400,
            window: Duration::from_secs(30),
        }
    };
    match run(&plan, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flood: {e}");
            ExitCode::FAILURE
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One kind of window's figures.
#[derive(Default)]
struct Window {
    latencies_ms: Vec<f64>,
    refused: u64,
    admitted: u64,
    seconds: f64,
}

fn run(plan: &Plan, out: &std::path::Path) -> Result<(), String> {
    let bin_dir = xtask::target_dir().join("release");
    let secrets = Secrets::generate(&bin_dir.join("origin-worker"))?;
    let state_dir = xtask::target_dir().join("bench").join("flood-state");
    let _ = std::fs::remove_dir_all(&state_dir);
    let mut so = StackOptions::new(Ports::block(BLOCK), secrets.clone(), state_dir);
    so.bin_dir = bin_dir;
    so.redis_aof = false;
    so.edge_build = xtask::tools::EdgeBuild::Test;
    so.edge_runner = EdgeRunner::Miniflare;
    so.edge_vars = vec![
        ("SHARDS".into(), SHARDS.to_string()),
        ("PAUSED".into(), "true".into()),
        ("NEW_USERS_PER_MINUTE".into(), PER_MINUTE.to_string()),
        ("TOTAL_ACTIVE_USERS".into(), "1000000".into()),
        ("SESSION_MINUTES".into(), "60".into()),
        ("ABANDON_AFTER_SECONDS".into(), "3600".into()),
    ];
    let stack = Stack::start(so)?;
    let edge = stack.opts.edge_url();
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let admin =
        |method: reqwest::Method, path: &str, body: Option<Value>| -> Result<Value, String> {
            let mut r = http
                .request(method, format!("{edge}{path}"))
                .bearer_auth(&secrets.admin_token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let resp = r.send().map_err(|e| e.to_string())?;
            let code = resp.status();
            let v: Value = resp.json().map_err(|e| e.to_string())?;
            if !code.is_success() {
                return Err(format!("{path}: {code} {v}"));
            }
            Ok(v)
        };

    // Enough waiting ahead that admissions never run dry in the run.
    let seconds = plan.window.as_secs() * 4 + 30;
    let ahead = PER_MINUTE / 60 * seconds * 2 / SHARDS;
    for shard in 0..SHARDS {
        let first = (shard << 40) + 1;
        let r = http
            .post(format!(
                "{edge}/__test/fill?shard={shard}&n={ahead}&first={first}"
            ))
            .send()
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("fill: {}", r.status()));
        }
    }
    let join = |ip: &str| -> Result<String, String> {
        let r = http
            .post(format!("{edge}/queue/join"))
            .header("Accept", "application/json")
            .header("CF-Connecting-IP", ip)
            .send()
            .map_err(|e| e.to_string())?;
        if r.status() != 201 {
            return Err(format!("join: {}", r.status()));
        }
        Ok(waitroom_e2e::cookies_set_by(r.headers()))
    };
    let honest: Vec<(String, String)> = (0..plan.honest)
        .map(|i| {
            let ip = format!("10.20.{}.{}", i / 250, i % 250 + 1);
            join(&ip).map(|c| (c, ip))
        })
        .collect::<Result<_, _>>()?;
    let bot = join("203.0.113.66")?;
    admin(
        reqwest::Method::PUT,
        "/admin/config",
        Some(json!({"paused": false, "pacing": "fixed"})),
    )?;
    let admitted = || -> Result<u64, String> {
        admin(reqwest::Method::GET, "/admin/stats", None)?["admitted_total"]
            .as_u64()
            .ok_or_else(|| "no admitted_total".to_string())
    };
    // Let the pace settle before measuring.
    std::thread::sleep(Duration::from_secs(5));

    // 0, 2: quiet; 1, 3: flooded.
    let phase = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (flood_ok, flood_refused) = (AtomicU64::new(0), AtomicU64::new(0));
    let samples: Mutex<Vec<(usize, f64, u16)>> = Mutex::new(Vec::new());
    let mut windows = [Window::default(), Window::default()];
    let flood_seconds = Mutex::new(0.0f64);
    std::thread::scope(|scope| -> Result<(), String> {
        let _stop = waitroom_e2e::StopOnDrop(&stop);
        for chunk in honest.chunks(honest.len().div_ceil(HONEST_THREADS)) {
            let (http, edge, phase, stop, samples) = (&http, &edge, &phase, &stop, &samples);
            scope.spawn(move || {
                let gap = HONEST_EVERY / chunk.len() as u32;
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for (cookie, ip) in chunk {
                        let p = phase.load(Ordering::Relaxed);
                        let t = Instant::now();
                        let code = http
                            .get(format!("{edge}/queue/status"))
                            .header("Accept", "application/json")
                            .header("Cookie", cookie)
                            .header("CF-Connecting-IP", ip)
                            .send()
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        mine.push((p, t.elapsed().as_secs_f64() * 1000.0, code));
                        std::thread::sleep(gap.saturating_sub(t.elapsed()));
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                samples.lock().unwrap().extend(mine);
            });
        }
        for _ in 0..FLOOD_THREADS {
            let (http, edge, phase, stop, bot) = (&http, &edge, &phase, &stop, &bot);
            let (ok, refused) = (&flood_ok, &flood_refused);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if phase.load(Ordering::Relaxed) % 2 == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    let code = http
                        .get(format!("{edge}/queue/status"))
                        .header("Accept", "application/json")
                        .header("Cookie", bot)
                        .header("CF-Connecting-IP", "203.0.113.66")
                        .send()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    if code == 429 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        for p in 0..4 {
            phase.store(p, Ordering::Relaxed);
            let started = Instant::now();
            let before = admitted()?;
            std::thread::sleep(plan.window);
            let after = admitted()?;
            let w = &mut windows[p % 2];
            w.admitted += after - before;
            w.seconds += started.elapsed().as_secs_f64();
            if p % 2 == 1 {
                *flood_seconds.lock().unwrap() += started.elapsed().as_secs_f64();
            }
            eprintln!(
                "flood: window {p} ({}) admitted {} in {:.1} s",
                if p % 2 == 1 { "flooded" } else { "quiet" },
                after - before,
                started.elapsed().as_secs_f64()
            );
        }
        stop.store(true, Ordering::Relaxed);
        Ok(())
    })?;
    drop(stack);

    for (p, ms, code) in samples.into_inner().unwrap() {
        let w = &mut windows[p % 2];
        if code == 200 {
            w.latencies_ms.push(ms);
        } else {
            w.refused += 1;
        }
    }
    for w in &mut windows {
        w.latencies_ms.sort_by(f64::total_cmp);
    }
    let configured = PER_MINUTE as f64 / 60.0;
    let rate = |w: &Window| w.admitted as f64 / w.seconds;
    let p99 = |w: &Window| quantile(&w.latencies_ms, 0.99);
    let p50 = |w: &Window| quantile(&w.latencies_ms, 0.5);
    let [quiet, flooded] = &windows;
    let flood_s = *flood_seconds.lock().unwrap();
    let (fok, fref) = (flood_ok.into_inner(), flood_refused.into_inner());
    let report = json!({
        "runner": "workerd via Miniflare, one machine: the flood and the room share its cores",
        "shards": SHARDS,
        "honest_citizens": plan.honest,
        "honest_poll_every_s": HONEST_EVERY.as_secs(),
        "flood_threads": FLOOD_THREADS,
        "window_s": plan.window.as_secs(),
        "configured_per_s": configured,
        "quiet": {
            "honest_p50_ms": p50(quiet), "honest_p99_ms": p99(quiet),
            "honest_polls": quiet.latencies_ms.len(), "honest_refused": quiet.refused,
            "admitted_per_s": rate(quiet),
        },
        "flooded": {
            "honest_p50_ms": p50(flooded), "honest_p99_ms": p99(flooded),
            "honest_polls": flooded.latencies_ms.len(), "honest_refused": flooded.refused,
            "admitted_per_s": rate(flooded),
            "flood_per_s": (fok + fref) as f64 / flood_s,
            "flood_refused_share": fref as f64 / (fok + fref).max(1) as f64,
        },
        "admission_rate_flooded_vs_configured": rate(flooded) / configured,
        "admission_rate_flooded_vs_quiet": rate(flooded) / rate(quiet),
        "honest_p99_flooded_vs_quiet": p99(flooded) / p99(quiet),
    });
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let file = out.join("flood.json");
    std::fs::write(&file, serde_json::to_string_pretty(&report).unwrap() + "\n")
        .map_err(|e| e.to_string())?;
    println!(
        "\none-ticket flood vs honest citizens (same run, {} windows of {} s each):",
        4,
        plan.window.as_secs()
    );
    for (what, w) in [("quiet", quiet), ("flooded", flooded)] {
        println!(
            "  {what:>8}: honest heartbeat p50 {:>7.1} ms, p99 {:>7.1} ms ({} polls, {} refused); admitted {:.2}/s of {configured:.0}/s",
            p50(w),
            p99(w),
            w.latencies_ms.len(),
            w.refused,
            rate(w)
        );
    }
    println!(
        "  flood: {:.0} req/s, {:.1}% answered 429",
        (fok + fref) as f64 / flood_s,
        100.0 * fref as f64 / (fok + fref).max(1) as f64
    );
    println!(
        "  admission rate flooded / configured {:.2} (target >= 0.95); honest p99 flooded / quiet {:.2} (target <= 2)",
        rate(flooded) / configured,
        p99(flooded) / p99(quiet)
    );
    println!("  {}", file.display());
    Ok(())
}
