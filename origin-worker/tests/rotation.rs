//! Issue 18, attack 5 (origin side): key rotation as the README documents
//! it loses no queued job and no admission. A job sealed under the old
//! `JOB_SEAL_KEY` is handed back, then finished by a process whose ring has
//! a new key first; its citizen still sees it (session names under the old
//! key) and cannot submit twice (admission marker under the old key); the
//! edge may sign with the old or the new `EDGE_ORIGIN_KEY`. Ports 21370–21379.

mod common;

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use common::*;

#[tokio::test]
async fn a_job_sealed_with_the_old_key_completes_after_the_new_key_is_added_first() {
    let block = 21370;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let sim_port = block + 1;
    // Before: the old keys only (secrets.*), and no registry: the job waits.
    let mut old = spawn_origin(block + 2, block, sim_port, &secrets, &HAND_BACK_ENV, &logs);
    let edge = Edge::new(block + 2, &secrets.edge_key);
    let ticket = secrets.admission("rotating-session");
    let (id, cookie) = edge.submit(&citizen(8000), &ticket).await;
    edge.wait_in_flight(
        1.0,
        Duration::from_secs(20),
        "the old process never took the job",
    )
    .await;
    assert!(old.terminate(Duration::from_secs(10)).unwrap().success());

    // After: new keys first, old ones still in the rings.
    let new_seal = URL_SAFE_NO_PAD.encode(origin_worker::crypto::random_bytes::<32>());
    let new_edge = origin_worker::crypto::random_bytes::<32>().to_vec();
    let seal_ring = format!("{new_seal},{}", secrets.job_seal_key_b64);
    let edge_ring = format!(
        "{},{}",
        URL_SAFE_NO_PAD.encode(&new_edge),
        secrets.edge_key_b64
    );
    let mut rotated_env = HAND_BACK_ENV.to_vec();
    rotated_env.push(("JOB_SEAL_KEY", &seal_ring));
    rotated_env.push(("EDGE_ORIGIN_KEY", &edge_ring));
    let _sim = spawn_sim(sim_port, &[], &logs);
    let _new = spawn_origin(block + 3, block, sim_port, &secrets, &rotated_env, &logs);

    for key in [&secrets.edge_key, &new_edge] {
        let edge = Edge::new(block + 3, key);
        let done = edge.wait_done(&id, &ticket, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "ready", "{done}");
        let pdf = edge.pdf(&id, &ticket, Some(&cookie)).await;
        assert_eq!(pdf.status(), 200);
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
        let body = serde_json::to_vec(&citizen(8001)).unwrap();
        let again = edge.send(Req::post_json(&body, &ticket)).await;
        assert_eq!(
            again.status(),
            409,
            "the admission was used before the rotation"
        );
    }
    // A key in neither ring is still refused.
    let stranger = Edge::new(block + 3, &[9u8; 32]);
    assert_eq!(stranger.status(&id, &ticket).await.0, 401);

    // A job made now (sealed with the new key) completes too.
    let fresh = secrets.admission("after-rotation");
    let edge = Edge::new(block + 3, &new_edge);
    let (id2, _) = edge.submit(&citizen(8002), &fresh).await;
    let done = edge.wait_done(&id2, &fresh, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "ready", "{done}");
}

#[test]
fn production_refuses_to_start_without_its_own_job_seal_key() {
    let secrets = Secrets::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_origin-worker"))
        .env_clear()
        .env("ORIGIN_ADDR", "127.0.0.1:21379")
        .env("TICKET_KEYS", &secrets.ticket_keys)
        .env("EDGE_ORIGIN_KEY", &secrets.edge_key_b64)
        .env("DCC_SIGNING_KEY", &secrets.dcc_key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("JOB_SEAL_KEY is required in production"),
        "{err}"
    );
}
