//! Issue 18, attack 6 (Redis without auth): the origin works with a Redis
//! that requires a password, or an ACL user limited to the origin's keys,
//! given in `REDIS_URL`; without them it refuses to start and says why.
//! Ports 21390–21399.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Waits for `origin` to exit; its status code.
fn exit_code(origin: &mut Proc, within: Duration) -> Option<i32> {
    let child = origin.child.as_mut().unwrap();
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the origin is still running after {within:?}");
}

#[tokio::test]
async fn a_password_or_acl_user_in_the_url_works_and_none_is_refused_clearly() {
    let block = 21390;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis_with(block, &["--requirepass", "adm1n-pw"]);
    let acl = redis_cli(
        block,
        &[
            "--user",
            "default",
            "--pass",
            "adm1n-pw",
            "--no-auth-warning",
            "ACL",
            "SETUSER",
            "origin",
            "on",
            ">origin-pw",
            "~wr:*",
            "+@all",
            "-@admin",
        ],
    );
    assert_eq!(acl.trim(), "OK", "{acl}");
    let _sim = spawn_sim(block + 1, &[], &logs);

    // No credentials, then a wrong password: exit at once, saying why.
    for (url, why) in [
        (
            format!("redis://127.0.0.1:{block}"),
            "authentication required",
        ),
        (
            format!("redis://origin:wrong@127.0.0.1:{block}"),
            "wrong user name or password",
        ),
    ] {
        let mut o = spawn_origin_unchecked(block + 2, &secrets, &url, &logs);
        let t = Instant::now();
        assert_eq!(exit_code(&mut o, Duration::from_secs(20)), Some(1), "{url}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "retried for {:?}",
            t.elapsed()
        );
        let log = std::fs::read_to_string(logs.join(format!("origin-{}.log", block + 2))).unwrap();
        assert!(
            log.contains(why) && log.contains("REDIS_URL"),
            "{url}: {log}"
        );
        assert!(!log.contains("wrong@"), "the log echoes the URL: {log}");
        std::fs::remove_file(logs.join(format!("origin-{}.log", block + 2))).unwrap();
    }

    // The ACL user, then the default user's password: a passport each.
    for (i, url) in [
        format!("redis://origin:origin-pw@127.0.0.1:{block}"),
        format!("redis://:adm1n-pw@127.0.0.1:{block}"),
    ]
    .iter()
    .enumerate()
    {
        let port = block + 3 + i as u16;
        let _origin = spawn_origin(
            port,
            block,
            block + 1,
            &secrets,
            &[("REDIS_URL", url.as_str())],
            &logs,
        );
        let edge = Edge::new(port, &secrets.edge_key);
        let ticket = secrets.admission(&format!("auth-{i}"));
        let (id, cookie) = edge.submit(&citizen(9000 + i as u64), &ticket).await;
        let done = edge.wait_done(&id, &ticket, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "ready", "{url}: {done}");
        assert_eq!(edge.pdf(&id, &ticket, Some(&cookie)).await.status(), 200);
    }
}

/// An origin that may not come up: no wait for its port.
fn spawn_origin_unchecked(
    port: u16,
    secrets: &Secrets,
    redis_url: &str,
    logs: &std::path::Path,
) -> Proc {
    let log = std::fs::File::create(logs.join(format!("origin-{port}.log"))).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_origin-worker"))
        .env_clear()
        .env("ORIGIN_ADDR", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", redis_url)
        .env("TICKET_KEYS", &secrets.ticket_keys)
        .env("EDGE_ORIGIN_KEY", &secrets.edge_key_b64)
        .env("DCC_SIGNING_KEY", &secrets.dcc_key)
        .env("JOB_SEAL_KEY", &secrets.job_seal_key_b64)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc {
        name: "origin-worker".into(),
        child: Some(child),
    }
}
