//! # xtask: the one place that knows how to install tools and start services
//!
//! `cargo xtask dev`, `cargo xtask test` and `cargo xtask bench` (see
//! `main.rs`) are thin over this library, and the end-to-end tests in
//! `tests/` use [`stack`] to start the very same processes.
//!
//! ## Layout
//! - [`tools`]: idempotent installers (wasm32 target, worker-build,
//!   wasm-bindgen-cli at the Cargo.lock version, npm packages, apt packages)
//!   and the two edge builds ([`tools::EdgeBuild`]: `edge/build/` deploys,
//!   `edge/build-test/` has the `test-routes` feature).
//! - `no-test-routes.mjs` (beside `src/`): runs a built bundle in workerd
//!   and fails if it answers a test route (`cargo xtask test`, after the
//!   deploy dry-run).
//! - [`secrets`]: dev secrets generated once per checkout into `.dev.vars`.
//! - [`stack`]: starts redis-server, registry-sim, origin-worker and the edge
//!   (workerd via `wrangler dev`, either build) on loopback, waits until each answers, and
//!   stops them by pid (process group) on drop.
//! - [`proc`]: the small process helpers the others share.

pub mod proc;
pub mod secrets;
pub mod stack;
pub mod tools;

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where cargo puts build output (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

/// `Result` with a human-readable error: xtask reports and exits, it does not recover.
pub type Result<T, E = String> = std::result::Result<T, E>;
