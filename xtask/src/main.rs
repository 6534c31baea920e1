//! `cargo xtask <command>`: see `cargo xtask help`.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use xtask::secrets::{random_b64, Secrets};
use xtask::stack::{self, Ports, Stack, StackOptions};
use xtask::tools::EdgeBuild;
use xtask::{proc, tools, workspace_root, Result};

mod bench;
mod bench_tick;

const HELP: &str = "\
cargo xtask <command>

  dev          install what is missing, build, start the whole stack on loopback
               (edge :8787, origin :8788, registry-sim :8789, redis :6390); Ctrl-C stops it
  test         install what is missing, then fmt, clippy, wasm32 build, deploy dry-run
               (whose bundle must answer no test route), fuzz smoke (with nightly), and every
               test including end-to-end ones (against the test build)
  bench        micro-benchmarks (criterion) and the launch-day load test
  build-edge   build the Worker into edge/build (what `wrangler deploy` runs)
  build-edge --test-routes
               build the Worker with its test routes into edge/build-test (what the
               end-to-end tests run; never deployed)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("build-edge") => build_edge_for_wrangler(&args[1..]),
        Some("help") | Some("--help") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `[build] command` of wrangler.toml (the deploy build), or with
/// `--test-routes` the test build. `wrangler dev` started by xtask sets
/// WAITROOM_SKIP_BUILD because xtask has just built the edge itself.
fn build_edge_for_wrangler(args: &[String]) -> Result<()> {
    let which = match args.first().map(String::as_str) {
        None => EdgeBuild::Deploy,
        Some("--test-routes") => EdgeBuild::Test,
        Some(other) => return Err(format!("build-edge: unknown flag `{other}`\n\n{HELP}")),
    };
    if std::env::var_os("WAITROOM_SKIP_BUILD").is_some() {
        return Ok(());
    }
    tools::ensure_wasm_target()?;
    tools::ensure_npm()?;
    tools::ensure_cargo_tool("worker-build", "worker-build", tools::WORKER_BUILD_VERSION)?;
    tools::ensure_cargo_tool(
        "wasm-bindgen",
        "wasm-bindgen-cli",
        &tools::wasm_bindgen_version()?,
    )?;
    tools::build_edge(which)
}

fn dev() -> Result<()> {
    tools::ensure_all()?;
    tools::build_origin(false)?;
    tools::build_edge_if_stale(EdgeBuild::Deploy)?;
    let root = workspace_root();
    let vars = root.join(".dev.vars");
    let secrets = match Secrets::read_env_file(&vars) {
        Some(s) => s,
        None => {
            eprintln!("xtask: generating dev secrets into .dev.vars");
            let s = Secrets::generate(&xtask::target_dir().join("debug/origin-worker"))?;
            s.write_env_file(&vars)?;
            s
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    }
    let opts = StackOptions::new(Ports::DEV, secrets.clone(), root.join(".dev"));
    let stack = Stack::start(opts)?;
    println!();
    println!("waitroom is up:");
    println!("  open         {}/", stack.opts.edge_url());
    println!("  admin token  {}", secrets.admin_token);
    println!(
        "  operators    curl -H 'Authorization: Bearer {}' {}/admin/stats",
        secrets.admin_token,
        stack.opts.edge_url()
    );
    println!(
        "  citizens     {}/citizens/sample?n=3  (registry-sim: people it confirms)",
        stack.opts.registry_url()
    );
    println!(
        "  origin       {}/healthz   redis 127.0.0.1:{}",
        stack.opts.origin_url(),
        stack.opts.ports.redis
    );
    println!("  logs         {}", stack.opts.log_dir().display());
    println!("Ctrl-C stops everything.");
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("\nxtask: stopping {:?}", stack.pids());
    drop(stack);
    eprintln!("xtask: stopped");
    Ok(())
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.args(args).current_dir(workspace_root());
    c
}

fn test(args: &[String]) -> Result<()> {
    tools::ensure_all()?;
    proc::run(&mut cargo(&["fmt", "--all", "--check"]))?;
    proc::run(&mut cargo(&[
        "clippy",
        "--workspace",
        "--exclude",
        "waitroom-edge",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The docs the next engineer reads: no broken or private links.
    proc::run(
        cargo(&[
            "doc",
            "--workspace",
            "--exclude",
            "waitroom-edge",
            "--no-deps",
        ])
        .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // Both builds of the edge: the deployed one and the one with test routes.
    for features in [None, Some("test-routes")] {
        let mut clippy = cargo(&[
            "clippy",
            "-p",
            "waitroom-edge",
            "--target",
            "wasm32-unknown-unknown",
        ]);
        if let Some(f) = features {
            clippy.args(["--features", f]);
        }
        proc::run(clippy.args(["--", "-D", "warnings"]))?;
    }
    proc::run(&mut cargo(&[
        "build",
        "-p",
        "waitroom-core",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    tools::build_edge_if_stale(EdgeBuild::Deploy)?;
    report_wasm_size();
    deploy_dry_run()?;
    // What the end-to-end tests run (tests/src/lib.rs `setup`).
    tools::build_edge_if_stale(EdgeBuild::Test)?;
    fuzz_smoke()?;
    // Last, so the runner's summary line ends the output.
    let mut nextest = cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--exclude",
        "waitroom-edge",
        "--no-fail-fast",
    ]);
    nextest.args(args);
    proc::run(&mut nextest)
}

/// The size of the Wasm that ships (the deploy build).
fn report_wasm_size() {
    let wasm = EdgeBuild::Deploy.wasm();
    let raw = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let gz = proc::output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9c '{}' | wc -c", wasm.display())),
    )
    .and_then(|s| s.parse::<u64>().ok())
    .unwrap_or(0);
    eprintln!(
        "xtask: edge wasm {} KiB, {} KiB gzipped",
        raw / 1024,
        gz / 1024
    );
}

/// `wrangler deploy --dry-run`: proves wrangler.toml and the deploy build
/// deploy, offline, and that what would be uploaded answers no test route.
fn deploy_dry_run() -> Result<()> {
    let root = workspace_root();
    let out = xtask::target_dir().join("deploy-dry-run");
    // A stale bundle from an earlier run must not be what gets checked.
    let _ = std::fs::remove_dir_all(&out);
    proc::run(
        Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(&out)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WAITROOM_SKIP_BUILD", "1"),
    )?;
    // The bundle itself, run in workerd: every test route must be answered
    // as an unknown path is (see the script for why not a text search).
    let secrets = [
        ("TICKET_KEYS", format!("k1:{}", random_b64(32))),
        ("ADMIN_TOKEN", random_b64(32)),
        ("EDGE_ORIGIN_KEY", random_b64(32)),
    ]
    .map(|(k, v)| (k.to_string(), v));
    proc::run(
        Command::new("node")
            .current_dir(&root)
            .arg("xtask/no-test-routes.mjs")
            // wrangler names the bundle after `main` (edge/build/entry.mjs).
            .arg(out.join("entry.js"))
            .env("WAITROOM_MF_BINDINGS", stack::miniflare_bindings(&secrets)),
    )
    .map_err(|e| format!("the deploy bundle must hold no test route: {e}"))
}

/// Bounded cargo-fuzz runs when the nightly toolchain is present.
fn fuzz_smoke() -> Result<()> {
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    if !fuzz_dir.join("Cargo.toml").exists() {
        return Ok(());
    }
    let has_nightly = proc::output(Command::new("rustup").args(["toolchain", "list"]))
        .is_some_and(|l| l.contains("nightly"));
    if !has_nightly {
        eprintln!("xtask: no nightly toolchain: skipping the fuzz smoke run");
        return Ok(());
    }
    if !proc::on_path("cargo-fuzz") {
        eprintln!("xtask: installing cargo-fuzz (one-off)");
        proc::run(&mut cargo(&["install", "cargo-fuzz", "--locked"]))?;
    }
    let targets = std::fs::read_dir(fuzz_dir.join("fuzz_targets"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect::<Vec<_>>();
    let seconds = std::env::var("WAITROOM_FUZZ_SECONDS").unwrap_or_else(|_| "20".into());
    for target in targets {
        proc::run(
            Command::new("cargo")
                .current_dir(&fuzz_dir)
                .args(["+nightly", "fuzz", "run", &target, "--"])
                .arg(format!("-max_total_time={seconds}")),
        )?;
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    bench::run(args)
}
