//! The citizen pages in real headless Chromium (Playwright, tests/browser/)
//! against the full local stack: queue, admission, form, result, PDF,
//! accessibility (axe-core) and screenshots.

use std::process::Command;

use waitroom_e2e::*;

/// Runs the scenarios whose names contain one of `only` (all when empty).
fn run_scenarios(name: &str, block: u16, only: &[&str]) {
    let s = setup(name, block).start();
    // The harness starts with admissions paused; the scenarios that need
    // someone paused (queue positions) pause it themselves.
    let (code, body) = s.configure(json!({"paused": false, "new_users_per_minute": 600}));
    assert_eq!(code, 200, "{body}");
    let status = Command::new("node")
        .arg("tests/browser/run.mjs")
        .args(only)
        .current_dir(xtask::workspace_root())
        .env("BASE_URL", s.stack.opts.edge_url())
        .env("ADMIN_TOKEN", &s.secrets().admin_token)
        .env("REGISTRY_URL", s.stack.opts.registry_url())
        .status()
        .expect("node runs the browser scenarios");
    drop(s);
    assert!(
        status.success(),
        "browser scenarios failed (see the `not ok` lines above)"
    );
}

#[test]
fn citizen_pages_in_chromium() {
    // Every scenario: page weights, queue positions across browser contexts,
    // the passport flow, axe-core, screenshots, network errors.
    run_scenarios("browser", 40, &[]);
}
