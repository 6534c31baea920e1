//! The whole stack on loopback: redis-server, registry-sim, origin-worker and
//! the edge (workerd, through `wrangler dev` or, for benchmarks, through
//! Miniflare directly: see [`EdgeRunner`]), each in its own process group,
//! each stopped by pid when the [`Stack`] is dropped.
//!
//! `cargo xtask dev` uses [`Ports::DEV`]; every end-to-end test uses its own
//! [`Ports::block`] so tests can run in parallel and while `dev` is up.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::proc::{self, Service};
use crate::secrets::Secrets;
use crate::tools::EdgeBuild;
use crate::{target_dir, workspace_root, Result};

/// How long a service may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub edge: u16,
    pub origin: u16,
    pub registry: u16,
    pub redis: u16,
}

impl Ports {
    /// The ports of `cargo xtask dev` (the contract's "Local ports").
    pub const DEV: Ports = Ports {
        edge: 8787,
        origin: 8788,
        registry: 8789,
        redis: 6390,
    };

    /// Ports for test number `block` (0..=99): 20000 + 10·block + {0, 1, 2, 3}.
    /// (`wrangler dev` also opens an inspector port: + 4; the origin its
    /// metrics listener: + 5.)
    pub fn block(block: u16) -> Ports {
        assert!(block < 100, "test port blocks are 0..=99");
        let base = 20_000 + block * 10;
        Ports {
            edge: base,
            origin: base + 1,
            registry: base + 2,
            redis: base + 3,
        }
    }

    /// The origin's metrics listener (`ORIGIN_METRICS_ADDR`): 8790, or + 5.
    pub fn origin_metrics(&self) -> u16 {
        if *self == Ports::DEV {
            8790
        } else {
            self.edge + 5
        }
    }

    fn inspector(&self) -> u16 {
        if *self == Ports::DEV {
            9229
        } else {
            self.edge + 4
        }
    }
}

/// How the edge's workerd is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRunner {
    /// `wrangler dev`: what an operator runs locally (static assets, the
    /// wrangler.toml bindings as written). Dev and the end-to-end tests.
    WranglerDev,
    /// `node xtask/bench/miniflare-serve.mjs`: the same build in workerd
    /// without `wrangler dev`'s proxy (about 3x its throughput here), JSON
    /// routes only (no static assets). Benchmarks.
    Miniflare,
}

/// wrangler.toml's `[vars]`, as a deployed Worker gets them.
pub fn wrangler_vars() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("wrangler.toml")).unwrap_or_default();
    let mut in_vars = false;
    let mut vars = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_vars = line == "[vars]";
            continue;
        }
        if !in_vars || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"');
            vars.push((k.trim().to_string(), v.to_string()));
        }
    }
    vars
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `WAITROOM_MF_BINDINGS` for the Miniflare scripts: wrangler.toml's
/// `[vars]`, then `bindings` (later entries override earlier ones), as one
/// JSON object.
pub fn miniflare_bindings(bindings: &[(String, String)]) -> String {
    let mut all = wrangler_vars();
    for (k, v) in bindings {
        all.retain(|(old, _)| old != k);
        all.push((k.clone(), v.clone()));
    }
    let body = all
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{body}}}")
}

/// The command serving the edge build `build` from workerd through
/// Miniflare on 127.0.0.1:`port`: wrangler.toml's `[vars]`, then `bindings`
/// (later entries override earlier ones); Durable Object state under
/// `persist` (in memory without it).
pub fn miniflare_command(
    build: EdgeBuild,
    port: u16,
    bindings: &[(String, String)],
    persist: Option<&std::path::Path>,
) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(workspace_root())
        .arg("xtask/bench/miniflare-serve.mjs")
        .env("WAITROOM_MF_SCRIPT", build.script())
        .env("WAITROOM_MF_PORT", port.to_string())
        .env("WAITROOM_MF_BINDINGS", miniflare_bindings(bindings));
    if let Some(dir) = persist {
        cmd.env("WAITROOM_MF_PERSIST", dir);
    }
    cmd
}

/// Everything that differs between `dev`, a test, and the bench.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub ports: Ports,
    pub secrets: Secrets,
    /// Redis data, wrangler's Durable Object state, logs. Kept across restarts.
    pub state_dir: PathBuf,
    /// Overrides of wrangler.toml `[vars]` (e.g. `SHARDS`, `NEW_USERS_PER_MINUTE`).
    pub edge_vars: Vec<(String, String)>,
    /// Extra environment for origin-worker (e.g. `RESULT_TTL_SECONDS`).
    pub origin_env: Vec<(String, String)>,
    /// Extra environment for registry-sim (e.g. `REGISTRY_SIM_RATE_PER_SEC`).
    pub registry_env: Vec<(String, String)>,
    /// Where origin-worker and registry-sim were built.
    pub bin_dir: PathBuf,
    /// Redis append-only file: on for dev (a crash loses no accepted job).
    pub redis_aof: bool,
    /// `wrangler dev` unless a benchmark asks for Miniflare.
    pub edge_runner: EdgeRunner,
    /// Which Worker build the edge runs: the deploy build unless a test
    /// needs the test routes.
    pub edge_build: EdgeBuild,
}

impl StackOptions {
    /// Options for a stack on `ports` with state under `state_dir` and the debug binaries.
    pub fn new(ports: Ports, secrets: Secrets, state_dir: PathBuf) -> StackOptions {
        StackOptions {
            ports,
            secrets,
            state_dir,
            edge_vars: Vec::new(),
            origin_env: Vec::new(),
            registry_env: Vec::new(),
            bin_dir: target_dir().join("debug"),
            redis_aof: true,
            edge_runner: EdgeRunner::WranglerDev,
            edge_build: EdgeBuild::Deploy,
        }
    }

    pub fn edge_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.edge)
    }
    pub fn origin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.origin)
    }
    pub fn origin_metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.origin_metrics())
    }
    pub fn registry_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.registry)
    }
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports.redis)
    }
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

/// The running processes. Dropping it stops them all (SIGTERM, then SIGKILL).
pub struct Stack {
    pub opts: StackOptions,
    services: Vec<Service>,
}

impl Stack {
    /// Starts all four services in dependency order and waits until each answers.
    pub fn start(opts: StackOptions) -> Result<Stack> {
        for dir in [
            opts.state_dir.clone(),
            opts.log_dir(),
            opts.state_dir.join("redis"),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut stack = Stack {
            opts,
            services: Vec::new(),
        };
        stack.start_service("redis")?;
        stack.start_service("registry-sim")?;
        stack.start_service("origin-worker")?;
        stack.start_service("edge")?;
        Ok(stack)
    }

    /// (name, pid) of every running service.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.services
            .iter()
            .map(|s| (s.name.clone(), s.pid()))
            .collect()
    }

    /// Kills a service with SIGKILL, as a crash would.
    pub fn crash(&mut self, name: &str) {
        if let Some(i) = self.services.iter().position(|s| s.name == name) {
            self.services.remove(i).crash();
        }
    }

    /// Stops a service gracefully (SIGTERM).
    pub fn stop(&mut self, name: &str) {
        if let Some(i) = self.services.iter().position(|s| s.name == name) {
            self.services.remove(i).stop(Duration::from_secs(10));
        }
    }

    /// Starts (or restarts, after `crash`/`stop`) one service and waits for it.
    pub fn start_service(&mut self, name: &str) -> Result<()> {
        let o = &self.opts;
        let port = match name {
            "redis" => o.ports.redis,
            "registry-sim" => o.ports.registry,
            "origin-worker" => o.ports.origin,
            _ => o.ports.edge,
        };
        // Otherwise the readiness check would pass on someone else's server.
        // (A few seconds' grace: a just-killed predecessor's children may
        // still be exiting.)
        proc::wait_until(&format!("{name}'s port"), Duration::from_secs(5), || {
            !proc::port_in_use(port)
        })
        .map_err(|_| {
            format!(
                "cannot start {name}: 127.0.0.1:{port} is already in use (an earlier run \
                 still up? `ss -ltnp 'sport = :{port}'` shows which process)"
            )
        })?;
        let log = o.log_dir().join(format!("{name}.log"));
        let (mut cmd, ready): (Command, Box<dyn Fn() -> bool>) = match name {
            "redis" => {
                let mut c = Command::new("redis-server");
                c.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--dir", &o.state_dir.join("redis").to_string_lossy()])
                    .args(["--appendonly", if o.redis_aof { "yes" } else { "no" }])
                    .args(["--save", ""]);
                (c, Box::new(move || proc::redis_ping(port)))
            }
            "registry-sim" => {
                let mut c = Command::new(o.bin_dir.join("registry-sim"));
                c.env("REGISTRY_SIM_ADDR", format!("127.0.0.1:{port}"))
                    .envs(o.registry_env.iter().cloned());
                (
                    c,
                    Box::new(move || proc::http_get_status(port, "/healthz") == Some(200)),
                )
            }
            "origin-worker" => {
                let mut c = Command::new(o.bin_dir.join("origin-worker"));
                c.env("ORIGIN_ADDR", format!("127.0.0.1:{port}"))
                    .env("REDIS_URL", o.redis_url())
                    .env("REGISTRY_URL", o.registry_url())
                    .env("TICKET_KEYS", &o.secrets.ticket_keys)
                    .env("EDGE_ORIGIN_KEY", &o.secrets.edge_origin_key)
                    .env("DCC_SIGNING_KEY", &o.secrets.dcc_signing_key)
                    // A local stack: JOB_SEAL_KEY may be derived (origin-worker/src/config.rs).
                    .env("ORIGIN_DEV_MODE", "true")
                    .env(
                        "ORIGIN_METRICS_ADDR",
                        format!("127.0.0.1:{}", o.ports.origin_metrics()),
                    )
                    .envs(o.origin_env.iter().cloned());
                (
                    c,
                    Box::new(move || proc::http_get_status(port, "/healthz") == Some(200)),
                )
            }
            "edge" => {
                let env_file = o.state_dir.join("edge.env");
                let mut vars: Vec<(String, String)> = o
                    .secrets
                    .as_pairs()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                // A test may point the edge at another origin (`edge_vars`).
                if !o.edge_vars.iter().any(|(k, _)| k == "ORIGIN_URL") {
                    vars.push(("ORIGIN_URL".into(), o.origin_url()));
                }
                vars.extend(o.edge_vars.iter().cloned());
                let ready = Box::new(move || proc::http_get_status(port, "/healthz") == Some(200));
                if o.edge_runner == EdgeRunner::Miniflare {
                    let persist = o.state_dir.join("miniflare");
                    (
                        miniflare_command(o.edge_build, port, &vars, Some(&persist)),
                        ready,
                    )
                } else {
                    let body: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                    std::fs::write(&env_file, body).map_err(|e| e.to_string())?;
                    let root = workspace_root();
                    let mut c = Command::new(root.join("node_modules/.bin/wrangler"));
                    // The script argument overrides wrangler.toml's `main`
                    // (the deploy build) with the build this stack runs.
                    c.current_dir(&root)
                        .arg("dev")
                        .arg(o.edge_build.script())
                        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
                        .args(["--inspector-port", &o.ports.inspector().to_string()])
                        .args([
                            "--persist-to",
                            &o.state_dir.join("wrangler").to_string_lossy(),
                        ])
                        .args(["--env-file", &env_file.to_string_lossy()])
                        .args([
                            "--show-interactive-dev-session=false",
                            "--log-level",
                            "warn",
                        ])
                        .env("WRANGLER_SEND_METRICS", "false")
                        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
                        .env("WRANGLER_LOG_PATH", o.log_dir().join("wrangler-debug"))
                        // wrangler dev must not rebuild: xtask built the edge already.
                        .env("WAITROOM_SKIP_BUILD", "1");
                    (c, ready)
                }
            }
            other => return Err(format!("unknown service {other}")),
        };
        let service = Service::spawn(name, &mut cmd, &log)?;
        eprintln!(
            "xtask: started {name} (pid {}), log {}",
            service.pid(),
            log.display()
        );
        self.services.push(service);
        let result = proc::wait_until(name, START_TIMEOUT, || {
            let alive = self
                .services
                .last_mut()
                .map(|s| !s.has_exited())
                .unwrap_or(false);
            // An exited service will never answer: stop waiting at once.
            !alive || ready()
        });
        let exited = self.services.last_mut().is_some_and(|s| s.has_exited());
        if exited {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!(
                "{name} exited during start-up; last log lines:\n{tail}"
            ));
        }
        result
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Stop in reverse order of start: the edge first, Redis last.
        while let Some(mut s) = self.services.pop() {
            s.stop(Duration::from_secs(5));
        }
    }
}
