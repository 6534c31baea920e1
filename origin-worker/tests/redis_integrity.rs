//! Issue 18, attack 6: what someone who can read or write the origin's
//! Redis can do. Copying one's own job's `pk` and `session` onto another
//! job does not get that job's passport (its sealed request is bound to
//! both); and no session, ticket or national id is in Redis as itself.
//! Real redis, registry-sim and origins on ports 21330–21349.

mod common;

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use common::*;
use redis::AsyncCommands;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_job_given_another_jobs_pk_and_session_in_redis_is_refused() {
    let block = 21330;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let sim_port = block + 1;
    // No registry yet: both jobs wait inside the first process, unopened
    // by anyone after it hands them back.
    let mut first = spawn_origin(block + 2, block, sim_port, &secrets, &HAND_BACK_ENV, &logs);
    let edge = Edge::new(block + 2, &secrets.edge_key);
    let victim_ticket = secrets.admission("victim-session");
    let attacker_ticket = secrets.admission("attacker-session");
    let (victim_job, _) = edge.submit(&citizen(6000), &victim_ticket).await;
    let (attacker_job, attacker_cookie) = edge.submit(&citizen(6001), &attacker_ticket).await;
    edge.wait_in_flight(
        2.0,
        Duration::from_secs(20),
        "the first process never took both jobs",
    )
    .await;
    let status = first
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM, handing the jobs back");
    assert!(status.success(), "{status:?}");

    // The attack: the attacker's pk and session onto the victim's job.
    let mut con = redis_con(block).await;
    let (pk, session): (Vec<u8>, Vec<u8>) = redis::cmd("HMGET")
        .arg(format!("wr:job:{{{attacker_job}}}"))
        .arg("pk")
        .arg("session")
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("wr:job:{{{victim_job}}}"))
        .arg("pk")
        .arg(pk)
        .arg("session")
        .arg(session)
        .query_async(&mut con)
        .await
        .unwrap();

    let _sim = spawn_sim(sim_port, &[], &logs);
    let _second = spawn_origin(block + 3, block, sim_port, &secrets, &HAND_BACK_ENV, &logs);
    let edge = Edge::new(block + 3, &secrets.edge_key);

    // The attacker's own job is fine: the keys work.
    let own = edge
        .wait_done(&attacker_job, &attacker_ticket, Duration::from_secs(60))
        .await;
    assert_eq!(own["status"], "ready", "{own}");
    let pdf = edge
        .pdf(&attacker_job, &attacker_ticket, Some(&attacker_cookie))
        .await;
    assert_eq!(pdf.status(), 200);

    // The victim's job, as the attacker now sees it (their session): it
    // failed unread, and no PDF opens with the attacker's key.
    let stolen = edge
        .wait_done(&victim_job, &attacker_ticket, Duration::from_secs(60))
        .await;
    assert_eq!(stolen["status"], "failed", "{stolen}");
    assert_eq!(stolen["reason"], "the request data could not be read");
    let key = attacker_cookie.split_once('=').unwrap().1;
    let cookie = format!("__Secure-waitroom-pk-{victim_job}={key}");
    let r = edge.pdf(&victim_job, &attacker_ticket, Some(&cookie)).await;
    assert_ne!(
        r.status(),
        200,
        "the attacker downloaded the victim's passport"
    );
    let pdf_field: Option<Vec<u8>> = con
        .hget(format!("wr:job:{{{victim_job}}}"), "pdf")
        .await
        .unwrap();
    assert!(
        pdf_field.is_none(),
        "a passport was made for the victim's job"
    );
}

/// Every key of the Redis on `port` and its value(s), by type; panics on a
/// type the origin does not use (so nothing escapes the check).
async fn everything_in(port: u16) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut con = redis_con(port).await;
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .query_async(&mut con)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![con.get(&key).await.unwrap()],
            "hash" => {
                let h: Vec<Vec<u8>> = redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                h
            }
            "stream" => {
                let v: redis::Value = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut con)
                    .await
                    .unwrap();
                vec![format!("{v:?}").into_bytes()]
            }
            "none" => continue, // expired meanwhile
            other => panic!("{key} is a {other}"),
        };
        out.push((key, values));
    }
    out
}

#[tokio::test]
async fn no_session_ticket_or_national_id_is_in_redis_as_itself() {
    let block = 21340;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let _sim = spawn_sim(block + 1, &[], &logs);
    let _origin = spawn_origin(block + 2, block, block + 1, &secrets, &[], &logs);
    let edge = Edge::new(block + 2, &secrets.edge_key);
    let fresh = || URL_SAFE_NO_PAD.encode(origin_worker::crypto::random_bytes::<12>());
    let expires = now_ms() + 15 * 60_000;

    // A passport issued and downloaded, a rejection, a refused replay.
    let (t1, s1) = (fresh(), fresh());
    let ticket1 = secrets.admission_with_id(&t1, &s1, ROOM, expires);
    let citizen1 = sim_sample(block + 1, 1).await.remove(0);
    let (id1, cookie1) = edge.submit(&citizen1, &ticket1).await;
    let done = edge
        .wait_done(&id1, &ticket1, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(edge.pdf(&id1, &ticket1, Some(&cookie1)).await.status(), 200);
    let body = serde_json::to_vec(&citizen(7000)).unwrap();
    assert_eq!(
        edge.send(Req::post_json(&body, &ticket1)).await.status(),
        409
    );

    let (t2, s2) = (fresh(), fresh());
    let ticket2 = secrets.admission_with_id(&t2, &s2, ROOM, expires);
    let mut unknown = citizen(7001);
    unknown["national_id"] = json!("ZQ7654321");
    let (id2, _) = edge.submit(&unknown, &ticket2).await;
    let done = edge
        .wait_done(&id2, &ticket2, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "rejected", "{done}");

    let sha256_hex = |s: &str| -> String {
        Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut forbidden = Vec::new();
    for id in [&t1, &s1, &t2, &s2] {
        // Nor an unkeyed hash of it: anyone with the id could compute that.
        forbidden.push(id.to_string());
        forbidden.push(sha256_hex(id));
    }
    for nid in [
        citizen1["national_id"].as_str().unwrap(),
        unknown["national_id"].as_str().unwrap(),
    ] {
        forbidden.push(nid.to_string());
        forbidden.push(sha256_hex(nid));
    }

    let all = everything_in(block).await;
    assert!(
        all.iter().any(|(k, _)| k.starts_with("wr:admission:")),
        "no admission marker to check: {all:?}"
    );
    for (key, values) in &all {
        for bad in &forbidden {
            assert!(!key.contains(bad.as_str()), "key {key} holds {bad}");
            for v in values {
                assert!(
                    !v.windows(bad.len()).any(|w| w == bad.as_bytes()),
                    "a value of {key} holds {bad}"
                );
            }
        }
    }
}
