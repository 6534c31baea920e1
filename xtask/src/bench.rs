//! `cargo xtask bench`: criterion micro-benchmarks, the Prawn comparison,
//! the heartbeat-vs-bare throughput ratio under workerd (Miniflare, not
//! `wrangler dev`), the wasm size, and the launch-day load test. Every
//! result lands in `target/bench/`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use xtask::proc::{self, Service};
use xtask::secrets::Secrets;
use xtask::stack::{self, Ports};
use xtask::tools::EdgeBuild;
use xtask::{target_dir, tools, workspace_root, Result};

/// The throughput measurement's Miniflare listens on this block's edge port.
const MINIFLARE_BLOCK: u16 = 92;
/// Distinct waiting tickets the heartbeat load rotates through.
const COOKIES: usize = 2000;
/// wrk's shape: the one TOOLCHAIN.md's reference figures used.
const WRK_THREADS: &str = "-t2";
const WRK_CONNECTIONS: &str = "-c50";
/// What the ratio run measures, in this order: the bare route, one
/// Durable Object round trip that does nothing, and the heartbeat.
/// The last one is one ticket polled flat out: past its budget
/// (`TICKET_LIMITER`, 100 per 10 s) it is answered `429` at the edge with no
/// Durable Object call, so its figure is what a one-ticket flood costs.
const ROUTES: [(&str, &str); 4] = [
    ("/healthz", "bare route"),
    ("/__test/shard-ping", "one DO round trip"),
    ("/queue/status", "heartbeat"),
    (
        "/queue/status?one",
        "one ticket flooding (429 past its budget)",
    ),
];

const HELP: &str = "\
cargo xtask bench [--quick] [--only micro|ratio|tick|flood|launch] [-- <launch flags>]

  --quick        shorter criterion runs, 5 s wrk runs, a 1000-citizen launch,
                 100,000 entries for the tick
  --only X       run one part: micro (criterion + Prawn), ratio (Miniflare + wrk),
                 tick (the Coordinator's tick inside workerd, 64 shards, 1M waiting),
                 flood (honest heartbeats and admissions with and without a
                 one-ticket flood), launch (the stampede, then the registry
                 changing its limit mid-run with pacing origin and fixed)
  -- flags       passed to the first load generator run (see `cargo run -p waitroom-e2e --bin launch -- --help`)
";

struct Args {
    quick: bool,
    only: Option<String>,
    launch: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        quick: false,
        only: None,
        launch: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => a.quick = true,
            "--only" => a.only = it.next().cloned(),
            "--" => a.launch = it.by_ref().cloned().collect(),
            "--help" | "-h" => return Err(HELP.into()),
            other => return Err(format!("unknown flag {other}\n\n{HELP}")),
        }
    }
    Ok(a)
}

pub fn run(args: &[String]) -> Result<()> {
    let args = parse(args)?;
    proc::stop_all_on_interrupt()?;
    let wants = |part: &str| args.only.as_deref().is_none_or(|o| o == part);
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    tools::ensure_all()?;
    let mut written: Vec<PathBuf> = Vec::new();
    if wants("micro") {
        written.extend(micro(&args, &out)?);
    }
    let mut ratio = None;
    if wants("ratio") {
        // `/__test/shard-ping` is the round-trip baseline; the wasm size
        // reported is the deploy build's.
        tools::build_edge_if_stale(EdgeBuild::Test)?;
    }
    if wants("ratio") || wants("launch") {
        tools::build_edge_if_stale(EdgeBuild::Deploy)?;
    }
    if wants("ratio") {
        let (r, file) = throughput(&args, &out)?;
        ratio = Some(r);
        written.push(file);
    }
    if wants("tick") {
        written.push(crate::bench_tick::run(args.quick, &out)?);
    }
    if wants("flood") {
        tools::build_origin(true)?;
        tools::build_edge_if_stale(EdgeBuild::Test)?;
        let mut cmd = e2e_bin("flood");
        if args.quick {
            cmd.arg("--quick");
        }
        proc::run(&mut cmd)?;
        written.push(out.join("flood.json"));
    }
    if wants("launch") {
        tools::build_origin(true)?;
        let mut cmd = e2e_bin("launch");
        if args.quick {
            cmd.args(["--citizens", "1000", "--burst", "20"]);
        }
        if let Some(r) = ratio {
            cmd.args(["--throughput-ratio", &format!("{r:.3}")]);
        }
        cmd.args(&args.launch);
        proc::run(&mut cmd)?;
        written.push(out.join("launch.json"));
        written.push(out.join("launch.png"));
        // Issue 20: the registry changes its limit mid-run, once with the
        // closed loop and once at the fixed initial rate, side by side.
        for pacing in ["origin", "fixed"] {
            let name = format!("launch-registry-{pacing}");
            let mut cmd = e2e_bin("launch");
            cmd.args(REGISTRY_SCENARIO).args([
                "--pacing",
                pacing,
                "--name",
                &name,
                "--no-progress",
            ]);
            if args.quick {
                cmd.args(["--citizens", "1200"]);
            }
            proc::run(&mut cmd)?;
            written.push(out.join(format!("{name}.json")));
            written.push(out.join(format!("{name}.png")));
        }
    }
    println!("\nxtask bench: results");
    for f in written {
        println!("  {}", f.display());
    }
    Ok(())
}

/// The registry scenario (issue 20): 20 calls/s, cut to 5/s at 30 s for two
/// minutes, down for 15 s at 150 s, back at 20/s at 165 s. Admissions at
/// most 20/s (the `fixed` run's rate, the `origin` run's ceiling),
/// one-minute sessions (with two, this run's fixed-pace backlog drains just
/// in time), no cap on active sessions: what expires is what waited behind
/// the registry.
const REGISTRY_SCENARIO: [&str; 14] = [
    "--citizens",
    "2400",
    "--registry-rate",
    "20",
    "--registry-changes",
    "30:5,150:down,165:20",
    "--session-minutes",
    "1",
    "--total-active",
    "100000",
    "--burst",
    "20",
    "--time-limit",
    "420",
];

/// `cargo run --profile bench -p waitroom-e2e --bin <name> --`: the load
/// generators, built like the release the bench measures.
fn e2e_bin(name: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root()).args([
        "run",
        "--profile",
        "bench",
        "-p",
        "waitroom-e2e",
        "--bin",
        name,
        "--",
    ]);
    cmd
}

/// Runs `cmd` through `tee` so the figures are both shown and kept.
fn run_teed(cmd: &str, file: &Path) -> Result<()> {
    proc::run(
        Command::new("bash")
            .current_dir(workspace_root())
            .arg("-c")
            .arg(format!(
                "set -o pipefail; {cmd} 2>&1 | tee '{}'",
                file.display()
            )),
    )
}

/// The criterion benches and the Ruby Prawn side of the passport comparison.
fn micro(args: &Args, out: &Path) -> Result<Vec<PathBuf>> {
    let criterion = if args.quick {
        " -- --warm-up-time 1 --measurement-time 3"
    } else {
        ""
    };
    let mut files = Vec::new();
    for (pkg, bench) in [
        ("waitroom-core", "ticket"),
        ("waitroom-core", "queue"),
        ("waitroom-core", "order"),
        ("waitroom-core", "order_sim"),
        ("origin-worker", "passport"),
    ] {
        let file = out.join(format!("{bench}.txt"));
        run_teed(
            &format!("cargo bench -p {pkg} --bench {bench}{criterion}"),
            &file,
        )?;
        files.push(file);
    }
    let prawn = workspace_root().join("origin-worker/benches/prawn_passport.rb");
    if prawn.exists() {
        let loads = |libs: &str| {
            Command::new("ruby")
                .args(["-e", libs])
                .status()
                .is_ok_and(|s| s.success())
        };
        let libs = "require 'prawn'; require 'rqrcode'; require 'chunky_png'";
        if !loads(libs) {
            // The marker files are version-specific: ask apt for all four.
            tools::ensure_apt(&[
                ("/nonexistent/ruby", "ruby"),
                ("/nonexistent/ruby-prawn", "ruby-prawn"),
                ("/nonexistent/ruby-rqrcode", "ruby-rqrcode"),
                ("/nonexistent/ruby-chunky-png", "ruby-chunky-png"),
            ])?;
        }
        let file = out.join("prawn.txt");
        let n = if args.quick { 50 } else { 200 };
        run_teed(&format!("ruby '{}' {n}", prawn.display()), &file)?;
        files.push(file);
    }
    Ok(files)
}

/// One wrk run: requests/s, p50 and p99 (ms), non-2xx count.
#[derive(Debug, Clone, Copy)]
struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// wrk prints latencies as `1.23ms`, `456.00us` or `1.02s`.
fn wrk_ms(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

fn parse_wrk(text: &str) -> Option<WrkRun> {
    let mut run = WrkRun {
        rps: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        non_2xx: 0,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => run.rps = v.parse().ok()?,
            ["50%", v] => run.p50_ms = wrk_ms(v)?,
            ["99%", v] => run.p99_ms = wrk_ms(v)?,
            ["Non-2xx", "or", "3xx", "responses:", v] => run.non_2xx = v.parse().ok()?,
            _ => {}
        }
    }
    (run.rps > 0.0).then_some(run)
}

fn wrk(url: &str, script: Option<(&Path, &Path)>, seconds: u64) -> Result<(WrkRun, String)> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        WRK_THREADS,
        WRK_CONNECTIONS,
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some((lua, _)) = script {
        cmd.arg("-s").arg(lua);
    }
    cmd.arg(url);
    if let Some((_, cookies)) = script {
        cmd.arg("--").arg(cookies);
    }
    let text =
        proc::output(&mut cmd).ok_or_else(|| format!("wrk failed: {}", proc::describe(&cmd)))?;
    let run = parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's output:\n{text}"))?;
    Ok((run, text))
}

/// The address of bench citizen `client` (`CF-Connecting-IP`): each its own.
fn client_ip(client: usize) -> String {
    format!(
        "10.{}.{}.{}",
        (client >> 16) & 255,
        (client >> 8) & 255,
        client & 255
    )
}

/// `POST /queue/join` over a raw socket: the `Cookie` header that holds
/// the new place (the ticket and its browser secret), if any.
fn join(port: u16, client: usize) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let ip = client_ip(client);
    write!(
        s,
        "POST /queue/join HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
         CF-Connecting-IP: {ip}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    // Read only the head: the cookie is there, and workerd may keep the
    // connection open after the body despite `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next()?;
    let pairs: Vec<&str> = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next())
                .flatten()
        })
        .filter(|p| p.starts_with("__Host-waitroom"))
        .collect();
    pairs
        .iter()
        .any(|p| p.starts_with("__Host-waitroom="))
        .then(|| pairs.join("; "))
}

const WRK_LUA: &str = r#"-- Heartbeats from many waiting citizens: each request carries the next
-- citizen's cookies (the ticket and its browser secret), from that
-- citizen's own address (a line is "cookies<TAB>address"), as Cloudflare
-- would set CF-Connecting-IP: the per-address limit sees many households.
local tickets = {}
local addrs = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local t, a = line:match("^([^\t]+)\t(%S+)$")
    tickets[#tickets + 1] = t
    addrs[#addrs + 1] = a
  end
  i = math.random(#tickets)
end
request = function()
  i = i % #tickets + 1
  return wrk.format("GET", "/queue/status", {
    ["Accept"] = "application/json",
    ["Cookie"] = tickets[i],
    ["CF-Connecting-IP"] = addrs[i],
  })
end
"#;

/// Gzipped size of the edge's wasm (bytes raw, bytes gzipped -9).
fn wasm_size() -> (u64, u64) {
    let wasm = EdgeBuild::Deploy.wasm();
    let raw = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let gz = proc::output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9c '{}' | wc -c", wasm.display())),
    )
    .and_then(|s| s.trim().parse().ok())
    .unwrap_or(0);
    (raw, gz)
}

/// Heartbeat (`GET /queue/status` with valid waiting tickets) vs bare
/// `GET /healthz` on the same Worker, same run, under workerd via Miniflare.
fn throughput(args: &Args, out: &Path) -> Result<(f64, PathBuf)> {
    tools::ensure_apt(&[("/usr/bin/wrk", "wrk")])?;
    let port = Ports::block(MINIFLARE_BLOCK).edge;
    // Only the origin knows how to make a DCC key; the shared debug build
    // will do (the ratio never touches the origin).
    tools::build_origin(false)?;
    let secrets = Secrets::generate(&target_dir().join("debug/origin-worker"))?;
    // Paused: nobody is admitted, so every request is the heartbeat path.
    let mut bindings = vec![("PAUSED".to_string(), "true".to_string())];
    for (k, v) in secrets.as_pairs() {
        bindings.push((k.to_string(), v.to_string()));
    }
    let dir = out.join("throughput");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let log = dir.join("miniflare.log");
    let _ = std::fs::remove_file(&log);
    // The test build, for `/__test/shard-ping`; the other routes are the same code.
    let mut cmd = stack::miniflare_command(EdgeBuild::Test, port, &bindings, None);
    let mut server = Service::spawn("miniflare", &mut cmd, &log)?;
    let result = (|| {
        proc::wait_until("miniflare", Duration::from_secs(60), || {
            server.has_exited() || proc::http_get_status(port, "/healthz") == Some(200)
        })?;
        if server.has_exited() {
            return Err(format!("miniflare exited; see {}", log.display()));
        }
        let want = if args.quick { COOKIES / 4 } else { COOKIES };
        eprintln!("xtask: joining {want} waiting citizens");
        let tickets: Vec<String> = (0..want)
            .filter_map(|i| join(port, i).map(|c| format!("{c}\t{}", client_ip(i))))
            .collect();
        if tickets.len() < want / 2 {
            return Err(format!(
                "only {} of {want} joins gave a ticket",
                tickets.len()
            ));
        }
        let cookies = dir.join("tickets.txt");
        std::fs::write(&cookies, tickets.join("\n") + "\n").map_err(|e| e.to_string())?;
        let lua = dir.join("heartbeat.lua");
        std::fs::write(&lua, WRK_LUA).map_err(|e| e.to_string())?;
        let one = dir.join("one-ticket.txt");
        std::fs::write(&one, format!("{}\n", tickets[0])).map_err(|e| e.to_string())?;
        let seconds = if args.quick { 5 } else { 15 };
        let base = format!("http://127.0.0.1:{port}");
        let mut runs: Vec<Vec<WrkRun>> = vec![Vec::new(); ROUTES.len()];
        let mut raw = String::new();
        // Alternate, so a noisy neighbour hurts every route alike.
        for round in 0..2 {
            for (i, (path, _)) in ROUTES.iter().enumerate() {
                let script = match *path {
                    "/queue/status" => Some((lua.as_path(), cookies.as_path())),
                    "/queue/status?one" => Some((lua.as_path(), one.as_path())),
                    _ => None,
                };
                let (r, t) = wrk(&format!("{base}{path}"), script, seconds)?;
                raw.push_str(&format!("## round {round}: {path}\n{t}\n"));
                runs[i].push(r);
            }
        }
        std::fs::write(dir.join("wrk.txt"), raw).map_err(|e| e.to_string())?;
        Ok((runs, tickets.len()))
    })();
    server.stop(Duration::from_secs(5));
    let (runs, tickets) = result?;
    let mean = |v: &[WrkRun], f: fn(&WrkRun) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let rps: Vec<f64> = runs.iter().map(|r| mean(r, |w| w.rps)).collect();
    let ratio = rps[2] / rps[0];
    let floor = rps[1] / rps[0];
    let (wasm_raw, wasm_gz) = wasm_size();
    // The honest routes; the flood's refusals are its own figure.
    let non_2xx: u64 = runs[..3].iter().flatten().map(|r| r.non_2xx).sum();
    let flood_refused: u64 = runs[3].iter().map(|r| r.non_2xx).sum();
    let routes_json: Vec<String> = ROUTES
        .iter()
        .zip(&runs)
        .map(|((path, _), r)| {
            format!(
                "\"{path}\": {{\"rps\": {:.0}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
                mean(r, |w| w.rps),
                mean(r, |w| w.p50_ms),
                mean(r, |w| w.p99_ms)
            )
        })
        .collect();
    let json = format!(
        "{{\n  \"runner\": \"workerd via Miniflare (node xtask/bench/miniflare-serve.mjs)\",\n  \
         \"wrk\": \"{WRK_THREADS} {WRK_CONNECTIONS} --latency, 2 alternating rounds\",\n  \
         \"waiting_tickets\": {tickets},\n  \"routes\": {{\n    {}\n  }},\n  \
         \"ratio\": {ratio:.3},\n  \"do_roundtrip_ratio\": {floor:.3},\n  \"non_2xx\": {non_2xx},\n  \"flood_refused\": {flood_refused},\n  \
         \"wasm_bytes\": {wasm_raw},\n  \"wasm_gzip_bytes\": {wasm_gz}\n}}\n",
        routes_json.join(",\n    ")
    );
    let file = out.join("throughput.json");
    std::fs::write(&file, &json).map_err(|e| e.to_string())?;
    println!(
        "\nheartbeat vs bare route (workerd via Miniflare, wrk {WRK_THREADS} {WRK_CONNECTIONS}):"
    );
    for ((path, what), r) in ROUTES.iter().zip(&runs) {
        println!(
            "  GET {path:<20} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {what}",
            mean(r, |w| w.rps),
            mean(r, |w| w.p50_ms),
            mean(r, |w| w.p99_ms)
        );
    }
    println!("  ratio heartbeat/bare   {ratio:>6.2}  (target >= 0.5; {tickets} waiting tickets)");
    println!(
        "  ratio DO ping/bare     {floor:>6.2}  (one Durable Object round trip, no queue work)"
    );
    println!("  non-2xx answers        {non_2xx} (honest routes)");
    println!("  one-ticket flood       {flood_refused} answers refused with 429");
    println!(
        "  edge wasm              {} KiB, {} KiB gzipped (target < 1024 KiB)",
        wasm_raw / 1024,
        wasm_gz / 1024
    );
    Ok((ratio, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/healthz\n  Latency Distribution\n     50%    1.50ms\n     75%    2.00ms\n     90%  800.00us\n     99%    1.02s\n  12345 requests in 5.00s, 1.00MB read\n  Non-2xx or 3xx responses: 7\nRequests/sec:   2469.00\n";
        let r = parse_wrk(text).expect("parsed");
        assert_eq!(r.rps, 2469.0);
        assert_eq!(r.p50_ms, 1.5);
        assert_eq!(r.p99_ms, 1020.0);
        assert_eq!(r.non_2xx, 7);
    }
}
