//! The OpenAPI descriptions in `docs/` against the real stack (issue 18):
//! schemathesis (from PyPI, installed by xtask) generates requests for
//! every operation, valid and not, and checks each answer: no 5xx, and
//! every status code, content type and JSON body as documented. Port
//! block 58.

use std::process::Command;

use waitroom_e2e::*;

/// What schemathesis checks of every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance";

fn schemathesis(spec: &str, url: &str, headers: &[String]) -> (bool, String) {
    let bin = xtask::tools::ensure_schemathesis()
        .unwrap_or_else(|e| panic!("schemathesis could not be installed: {e}"));
    let spec = xtask::workspace_root().join(spec);
    // schemathesis keeps its example database in the working directory.
    let dir = xtask::target_dir().join("e2e").join("schema");
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir)
        .arg("run")
        .arg(&spec)
        .args(["--url", url, "--checks", CHECKS])
        // Bounded: a few dozen cases per operation, one at a time (the
        // limits the edge enforces are per client, and this is one).
        .args(["--max-examples", "25", "--workers", "1", "--seed", "18"])
        .args(["--no-color", "--request-timeout", "30"]);
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = cmd.output().expect("schemathesis runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The last lines say how many operations and cases ran.
    let tail: Vec<&str> = text.lines().rev().take(12).collect();
    eprintln!(
        "{}:\n{}",
        spec.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    (out.status.success(), text)
}

#[test]
fn the_edge_and_the_origin_answer_as_their_openapi_descriptions_say() {
    let s = setup("schema", 58).start();
    let auth = format!("Authorization: Bearer {}", s.secrets().admin_token);
    let edge = s.stack.opts.edge_url();
    // Anyone: no place yet, the operator's token.
    let (ok, report) = schemathesis("docs/openapi-edge.yaml", &edge, &[auth]);
    assert!(ok, "the edge breaks its description:\n{report}");
    // An admitted citizen, so the passport routes answer more than 403.
    let mut admitted = s.citizen();
    waitroom_e2e::attack::admit_all(&s, std::slice::from_mut(&mut admitted));
    let cookie = format!("Cookie: {}", admitted.cookie_header());
    let (ok, report) = schemathesis("docs/openapi-edge.yaml", &edge, &[cookie]);
    assert!(
        ok,
        "the edge breaks its description for the admitted:\n{report}"
    );
    let (ok, report) = schemathesis("docs/openapi-origin.yaml", &s.stack.opts.origin_url(), &[]);
    assert!(ok, "the origin breaks its description:\n{report}");
}
