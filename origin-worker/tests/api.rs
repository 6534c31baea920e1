//! The origin's HTTP contract against real processes: happy path, privacy,
//! validation, authentication, single use, TTL, wrong key, other session.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

struct Stack {
    _redis: Proc,
    _sim: Proc,
    _origin: Proc,
    secrets: Secrets,
    edge: Edge,
    redis_port: u16,
    sim_port: u16,
    logs: std::path::PathBuf,
}

fn stack(block: u16, env: &[(&str, &str)]) -> Stack {
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let redis = spawn_redis(block);
    let sim = spawn_sim(block + 1, &[], &logs);
    let origin = spawn_origin(block + 2, block, block + 1, &secrets, env, &logs);
    Stack {
        edge: Edge::new(block + 2, &secrets.edge_key),
        _redis: redis,
        _sim: sim,
        _origin: origin,
        secrets,
        redis_port: block,
        sim_port: block + 1,
        logs,
    }
}

#[tokio::test]
async fn happy_path_pdf_privacy_wrong_key_and_other_session() {
    let s = stack(21100, &[]);
    let citizen = sim_sample(s.sim_port, 3).await.remove(2);
    let ticket = s.secrets.admission("session-a");
    let (id, cookie) = s.edge.submit(&citizen, &ticket).await;

    let done = s
        .edge
        .wait_done(&id, &ticket, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "ready", "{done}");

    // Wrong key, no key, another session: 404.
    let wrong = format!("__Secure-waitroom-pk-{id}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(s.edge.pdf(&id, &ticket, Some(&wrong)).await.status(), 404);
    assert_eq!(s.edge.pdf(&id, &ticket, None).await.status(), 404);
    let other = s.secrets.admission("session-b");
    assert_eq!(s.edge.status(&id, &other).await.0, 404);
    assert_eq!(s.edge.pdf(&id, &other, Some(&cookie)).await.status(), 404);

    // The owner downloads it: a PDF, and the edge is told to release the slot.
    let resp = s.edge.pdf(&id, &ticket, Some(&cookie)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-waitroom-release"], "1");
    let pdf = resp.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");

    // A citizen the registry does not know: rejected, slot released.
    let mut unknown = citizen.clone();
    unknown["national_id"] = json!("NOPE0000");
    let t2 = s.secrets.admission("session-c");
    let (id2, _) = s.edge.submit(&unknown, &t2).await;
    let done2 = s.edge.wait_done(&id2, &t2, Duration::from_secs(30)).await;
    assert_eq!(done2["status"], "rejected");
    assert_eq!(done2["reason"], origin_worker::worker::REJECTED);
    let path = format!("/api/passports/{id2}");
    let r = s.edge.send(Req::get(&path, &t2)).await;
    assert_eq!(r.headers()["x-waitroom-release"], "1");

    // Privacy: nothing readable in Redis or in any log line.
    let secrets: Vec<String> = [
        "given_name",
        "family_name",
        "national_id",
        "date_of_birth",
        "email",
    ]
    .iter()
    .map(|f| citizen[*f].as_str().unwrap().to_owned())
    .collect();
    let mut con = redis_con(s.redis_port).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        for secret in &secrets {
            assert!(!key.contains(secret.as_str()), "key {key} leaks");
            assert!(
                !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "value of {key} leaks personal data"
            );
        }
    }
    for entry in std::fs::read_dir(&s.logs).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.contains("passport issued") || text.contains("registry-sim"));
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a log line leaks personal data"
            );
        }
    }
}

#[tokio::test]
async fn every_validation_error_changes_nothing() {
    let s = stack(21110, &[]);
    let ticket = s.secrets.admission("session-v");
    let good = json!({"given_name":"Ana","family_name":"López","date_of_birth":"1980-02-29",
        "national_id":"X1234567","email":"ana@example.org"});
    let with = |f: &str, v: Value| {
        let mut b = good.clone();
        b[f] = v;
        serde_json::to_vec(&b).unwrap()
    };
    let without = |f: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(f);
        serde_json::to_vec(&b).unwrap()
    };
    let cases: Vec<(Vec<u8>, u16, &str, Option<&str>)> = vec![
        (b"{not json".to_vec(), 400, "malformed_json", None),
        (vec![b' '; 17 * 1024], 413, "payload_too_large", None),
        (
            without("given_name"),
            422,
            "invalid_field",
            Some("given_name"),
        ),
        (without("email"), 422, "invalid_field", Some("email")),
        (
            with("given_name", json!("A".repeat(10_000))),
            422,
            "invalid_field",
            Some("given_name"),
        ),
        (
            with("given_name", json!("")),
            422,
            "invalid_field",
            Some("given_name"),
        ),
        (
            with("family_name", json!("Lo\u{0000}pez")),
            422,
            "invalid_field",
            Some("family_name"),
        ),
        (
            with("family_name", json!("L0pez")),
            422,
            "invalid_field",
            Some("family_name"),
        ),
        (
            with("date_of_birth", json!("2999-01-01")),
            422,
            "invalid_field",
            Some("date_of_birth"),
        ),
        (
            with("date_of_birth", json!("1800-01-01")),
            422,
            "invalid_field",
            Some("date_of_birth"),
        ),
        (
            with("date_of_birth", json!("1981-02-29")),
            422,
            "invalid_field",
            Some("date_of_birth"),
        ),
        (
            with("date_of_birth", json!("29/02/1980")),
            422,
            "invalid_field",
            Some("date_of_birth"),
        ),
        (
            with("national_id", json!("x12")),
            422,
            "invalid_field",
            Some("national_id"),
        ),
        (
            with("national_id", json!("ABCDEFGHIJKLMN")),
            422,
            "invalid_field",
            Some("national_id"),
        ),
        (
            with("email", json!("not-an-email")),
            422,
            "invalid_field",
            Some("email"),
        ),
        (
            with("email", json!(format!("{}@example.org", "a".repeat(250)))),
            422,
            "invalid_field",
            Some("email"),
        ),
        (b"[1,2]".to_vec(), 422, "invalid_field", Some("body")),
    ];
    for (body, code, error, field) in &cases {
        let resp = s.edge.send(Req::post_json(body, &ticket)).await;
        assert_eq!(resp.status(), *code, "{error} {field:?}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], *error);
        assert!(v["message"].is_string());
        if let Some(f) = field {
            assert_eq!(v["field"], *f);
        }
    }
    // Wrong content type.
    let body = serde_json::to_vec(&good).unwrap();
    let mut r = Req::post_json(&body, &ticket);
    r.content_type = Some("text/plain");
    let resp = s.edge.send(r).await;
    assert_eq!(resp.status(), 415);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unsupported_media_type"
    );
    // 1 MB body.
    let big = vec![b'a'; 1 << 20];
    assert_eq!(
        s.edge.send(Req::post_json(&big, &ticket)).await.status(),
        413
    );

    let mut con = redis_con(s.redis_port).await;
    assert!(job_keys(&mut con).await.is_empty());
    assert_eq!(stream_len(&mut con).await, 0);
    // The admission was not used up by the bad requests.
    let resp = s.edge.send(Req::post_json(&body, &ticket)).await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn unauthenticated_and_forbidden_requests_store_nothing() {
    let s = stack(21120, &[]);
    let body = serde_json::to_vec(&citizen(1)).unwrap();
    let ticket = s.secrets.admission("session-x");

    let mut r = Req::post_json(&body, &ticket);
    r.edge_ts = None;
    let resp = s.edge.send(r).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unauthenticated"
    );

    let mut r = Req::post_json(&body, &ticket);
    r.edge_ts = Some(now_ms() - 61_000);
    assert_eq!(s.edge.send(r).await.status(), 401, "stale");

    let signed = serde_json::to_vec(&citizen(2)).unwrap();
    let resp = s
        .edge
        .send_signed_body(Req::post_json(&body, &ticket), Some(&signed))
        .await;
    assert_eq!(resp.status(), 401, "body changed after signing");

    let wrong_key = Edge::new(21122, &[9u8; 32]);
    assert_eq!(
        wrong_key
            .send(Req::post_json(&body, &ticket))
            .await
            .status(),
        401
    );

    let resp = s
        .edge
        .http
        .post(format!("{}/api/passports", s.edge.base))
        .header("x-waitroom-edge-auth", "v1,t=1,s=garbage")
        .header("x-waitroom-ticket", &ticket)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "malformed header");

    let mut r = Req::post_json(&body, "");
    r.ticket = None;
    let resp = s.edge.send(r).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "forbidden");

    let waiting = s.secrets.waiting();
    assert_eq!(
        s.edge.send(Req::post_json(&body, &waiting)).await.status(),
        403,
        "waiting ticket"
    );
    let other_room = s
        .secrets
        .admission_for("s", "another-room", now_ms() + 60_000);
    assert_eq!(
        s.edge
            .send(Req::post_json(&body, &other_room))
            .await
            .status(),
        403
    );
    let expired = s.secrets.admission_for("s", ROOM, now_ms() - 1);
    assert_eq!(
        s.edge.send(Req::post_json(&body, &expired)).await.status(),
        403
    );
    let mut flipped = ticket.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        s.edge.send(Req::post_json(&body, &flipped)).await.status(),
        403
    );

    // GETs too.
    let mut r = Req::get("/api/passports/AAAAAAAAAAAAAAAAAAAAAA", &ticket);
    r.edge_ts = None;
    assert_eq!(s.edge.send(r).await.status(), 401);
    assert_eq!(
        s.edge
            .send(Req::get("/api/passports/AAAAAAAAAAAAAAAAAAAAAA", &waiting))
            .await
            .status(),
        403
    );
    assert_eq!(
        s.edge
            .send(Req::get("/api/passports/AAAAAAAAAAAAAAAAAAAAAA", &ticket))
            .await
            .status(),
        404
    );

    let mut con = redis_con(s.redis_port).await;
    assert!(job_keys(&mut con).await.is_empty());
    assert_eq!(stream_len(&mut con).await, 0);

    // Open routes.
    for path in ["/healthz", "/.well-known/dcc/keys"] {
        let r = reqwest::get(format!("{}{path}", s.edge.base))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let keys: Value = reqwest::get(format!("{}/.well-known/dcc/keys", s.edge.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_object().unwrap().len(), 1);
    // Not on the API's listener (issue 18, attack 7): on its own.
    let r = reqwest::get(format!("{}/metrics", s.edge.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let metrics = reqwest::get(format!("{}/metrics", s.edge.metrics_base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("waitroom_origin_auth_refused_total"));
}

#[tokio::test]
async fn one_admission_one_job_under_100_concurrent_posts() {
    let s = stack(21130, &[]);
    let ticket = s.secrets.admission("session-race");
    let body = serde_json::to_vec(&citizen(3)).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (edge, ticket, body) = (s.edge.clone(), ticket.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = edge.send(Req::post_json(&body, &ticket)).await;
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap())
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let (code, v) = t.await.unwrap();
        match code {
            202 => accepted += 1,
            409 => assert_eq!(v["error"], "already_used"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(accepted, 1);
    let mut con = redis_con(s.redis_port).await;
    let jobs: Vec<String> = redis::cmd("KEYS")
        .arg("wr:job:*")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
}

#[tokio::test]
async fn result_expires_after_the_ttl() {
    let s = stack(21140, &[("RESULT_TTL_SECONDS", "2")]);
    let ticket = s.secrets.admission("session-ttl");
    let (id, cookie) = s.edge.submit(&citizen(4), &ticket).await;
    assert!(cookie.starts_with(&format!("__Secure-waitroom-pk-{id}=")));
    let done = s
        .edge
        .wait_done(&id, &ticket, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "ready");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.edge.status(&id, &ticket).await.0, 404);
    assert_eq!(s.edge.pdf(&id, &ticket, Some(&cookie)).await.status(), 404);
}
