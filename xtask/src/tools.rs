//! Idempotent installers and the builds. Each `ensure_*` checks first and
//! prints what it installs; a second run with everything present is quick.
//!
//! How the edge is built offline (see shared TOOLCHAIN notes): worker-build
//! would download wasm-bindgen and wasm-opt, which this network refuses, so we
//! hand it `WASM_BINDGEN_BIN` (cargo-installed at exactly the Cargo.lock
//! version), `WASM_OPT_BIN` (npm `binaryen`) and `ESBUILD_BIN` (npm `esbuild`).

use std::path::PathBuf;
use std::process::Command;

use crate::{proc, workspace_root, Result};

/// workers-rs' build tool; must match the `worker` crate's release line.
pub const WORKER_BUILD_VERSION: &str = "0.8.7";

/// Debian packages the stack and its tests need: (a file the package installs, package).
pub const APT_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/redis-server", "redis-server"),
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/pdftoppm", "poppler-utils"),
    ("/usr/bin/zbarimg", "zbar-tools"),
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "fonts-dejavu-core",
    ),
];

fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    home.join("bin").join(name)
}

/// Everything `dev` and `test` need.
pub fn ensure_all() -> Result<()> {
    ensure_apt(APT_PACKAGES)?;
    ensure_wasm_target()?;
    ensure_npm()?;
    ensure_cargo_tool("worker-build", "worker-build", WORKER_BUILD_VERSION)?;
    let bindgen = wasm_bindgen_version()?;
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &bindgen)?;
    Ok(())
}

pub fn ensure_wasm_target() -> Result<()> {
    let installed = proc::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    eprintln!("xtask: installing the wasm32-unknown-unknown target");
    proc::run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// `cargo install <krate> --version <version>` unless `<bin> --version` already reports it.
pub fn ensure_cargo_tool(bin: &str, krate: &str, version: &str) -> Result<()> {
    let path = cargo_bin(bin);
    let current = proc::output(Command::new(&path).arg("--version")).unwrap_or_default();
    if current
        .split_whitespace()
        .any(|w| w.trim_start_matches('v') == version)
    {
        return Ok(());
    }
    eprintln!("xtask: installing {krate} {version} (one-off, a few minutes)");
    // No --locked: wasm-bindgen-cli's lockfile pins a yanked crate.
    proc::run(Command::new("cargo").args(["install", krate, "--version", version]))
}

/// The exact `wasm-bindgen` version in Cargo.lock: the CLI must match it.
pub fn wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_string());
            }
        }
    }
    Err("wasm-bindgen not found in Cargo.lock".into())
}

/// `npm ci` when node_modules is missing or older than package-lock.json.
pub fn ensure_npm() -> Result<()> {
    let root = workspace_root();
    let stamp = root.join("node_modules/.package-lock.json");
    let lock = root.join("package-lock.json");
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&stamp), modified(&lock)) {
        (Some(s), Some(l)) => s >= l,
        _ => false,
    };
    if fresh && root.join("node_modules/.bin/wrangler").exists() {
        return Ok(());
    }
    eprintln!("xtask: installing npm packages (npm ci)");
    proc::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&root),
    )
}

/// The schemathesis release the API contract tests run (PyPI).
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// schemathesis in its own virtualenv under `target/tools` (installed
/// with pip on first use, a few seconds): the path of its executable.
pub fn ensure_schemathesis() -> Result<PathBuf> {
    let venv = crate::target_dir()
        .join("tools")
        .join(format!("schemathesis-{SCHEMATHESIS_VERSION}"));
    let bin = venv.join("bin/schemathesis");
    let current = proc::output(Command::new(&bin).arg("--version")).unwrap_or_default();
    if current
        .split_whitespace()
        .any(|w| w == SCHEMATHESIS_VERSION)
    {
        return Ok(bin);
    }
    eprintln!("xtask: installing schemathesis {SCHEMATHESIS_VERSION} (pip, one-off)");
    let _ = std::fs::remove_dir_all(&venv);
    proc::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    proc::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")),
    )?;
    Ok(bin)
}

/// Installs the Debian packages whose marker file is missing (one apt-get call).
pub fn ensure_apt(packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(file, _)| !std::path::Path::new(file).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    proc::run(&mut apt(&["update", "-q"]))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    proc::run(&mut apt(&args))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The two builds of the edge Worker, each in its own folder under `edge/`
/// so that neither overwrites the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeBuild {
    /// What `wrangler deploy` ships (wrangler.toml `main`): no test routes.
    Deploy,
    /// With the `test-routes` cargo feature (`/__test/*`, the Coordinator
    /// replay, the golden ticket vectors): the end-to-end tests and the
    /// benchmark's round-trip baseline. Never deployed.
    Test,
}

impl EdgeBuild {
    /// worker-build's `--out-dir`, relative to `edge/`.
    fn out_dir(self) -> &'static str {
        match self {
            EdgeBuild::Deploy => "build",
            EdgeBuild::Test => "build-test",
        }
    }

    /// The output folder.
    pub fn dir(self) -> PathBuf {
        workspace_root().join("edge").join(self.out_dir())
    }

    /// The Worker's entry module (what wrangler / Miniflare load):
    /// `edge/entry.mjs`, copied next to worker-build's `index.js`, which it
    /// imports.
    pub fn script(self) -> PathBuf {
        self.dir().join("entry.mjs")
    }

    /// The Wasm module.
    pub fn wasm(self) -> PathBuf {
        self.dir().join("index_bg.wasm")
    }

    fn name(self) -> &'static str {
        match self {
            EdgeBuild::Deploy => "edge build",
            EdgeBuild::Test => "edge test build (test-routes)",
        }
    }
}

/// Newest modification time of any file below `dir`, build output left out.
fn newest_mtime(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(dir).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            name != EdgeBuild::Deploy.out_dir() && name != EdgeBuild::Test.out_dir()
        })
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// Builds `which` unless its output is newer than every input (edge/,
/// core/, public/, Cargo.lock): worker-build always re-runs wasm-bindgen and
/// wasm-opt, which costs half a minute for nothing.
pub fn build_edge_if_stale(which: EdgeBuild) -> Result<()> {
    let root = workspace_root();
    // Both outputs: a build from before `entry.mjs` existed has no copy.
    let built = [which.wasm(), which.script()]
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .min()
        .flatten();
    let inputs = ["edge", "core", "public", "Cargo.lock"]
        .iter()
        .filter_map(|p| newest_mtime(&root.join(p)))
        .max();
    match (built, inputs) {
        (Some(b), Some(i)) if b > i => {
            eprintln!("xtask: {} is up to date", which.name());
            Ok(())
        }
        _ => build_edge(which),
    }
}

/// Builds the edge Worker with worker-build into [`EdgeBuild::dir`].
/// Arguments worker-build does not know go to `cargo build` (the feature).
pub fn build_edge(which: EdgeBuild) -> Result<()> {
    let root = workspace_root();
    let bin = root.join("node_modules/.bin");
    let mut cmd = Command::new(cargo_bin("worker-build"));
    cmd.args(["--release", "--out-dir", which.out_dir()]);
    if which == EdgeBuild::Test {
        cmd.args(["--features", "test-routes"]);
    }
    eprintln!(
        "xtask: building the {} into {}",
        which.name(),
        which.dir().display()
    );
    proc::run(
        cmd.current_dir(root.join("edge"))
            .env("WASM_BINDGEN_BIN", cargo_bin("wasm-bindgen"))
            .env("WASM_OPT_BIN", bin.join("wasm-opt"))
            .env("ESBUILD_BIN", bin.join("esbuild")),
    )?;
    std::fs::copy(root.join("edge/entry.mjs"), which.script())
        .map(|_| ())
        .map_err(|e| format!("copying edge/entry.mjs into {}: {e}", which.dir().display()))
}

/// Builds origin-worker and registry-sim (`release` for benchmarks).
///
/// The debug build is exactly the build `cargo nextest run --workspace`
/// makes (`cargo test --no-run` over the same packages): cargo unifies
/// features over what it builds, so any other selection (say `-p
/// origin-worker --bins`) would compile the origin's dependency tree a second
/// time with other features, and every switch between `dev` and `test` would
/// rebuild it. One build, shared by dev, the tests and the e2e harness.
/// Builds origin-worker and registry-sim: the shared debug build, or (for
/// benchmarks) the `bench` profile (opt-level 3, thin LTO; its binaries land
/// in `target/release`).
pub fn build_origin(optimised: bool) -> Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root());
    if optimised {
        cmd.args([
            "build",
            "--profile",
            "bench",
            "-p",
            "origin-worker",
            "-p",
            "registry-sim",
            "--bins",
        ]);
    } else {
        cmd.args(NATIVE_TEST_BUILD);
    }
    proc::run(&mut cmd)
}

/// `cargo` arguments of the one debug build of the native workspace.
pub const NATIVE_TEST_BUILD: &[&str] = &[
    "test",
    "--no-run",
    "--workspace",
    "--exclude",
    "waitroom-edge",
];
