//! The citizen pages in real headless Chromium (Playwright, tests/browser/)
//! against the full local stack: queue, admission, form, result, PDF,
//! accessibility (axe-core) and screenshots.

use std::process::Command;

use waitroom_e2e::*;

#[test]
fn citizen_pages_in_chromium() {
    let s = setup("browser", 40).start();
    let status = Command::new("node")
        .arg("tests/browser/run.mjs")
        .current_dir(xtask::workspace_root())
        .env("BASE_URL", s.stack.opts.edge_url())
        .env("ADMIN_TOKEN", &s.secrets().admin_token)
        .env("REGISTRY_URL", s.stack.opts.registry_url())
        .status()
        .expect("node runs the browser scenarios");
    assert!(
        status.success(),
        "browser scenarios failed (see the `not ok` lines above)"
    );
}
