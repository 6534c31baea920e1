//! The origin on a real Redis Cluster (three primaries, no replicas):
//! `REDIS_URL` lists the seed nodes. The happy path, single use of an
//! admission, the Lua scripts' `NOSCRIPT` fallback through the cluster
//! client, and the keys really spread over more than one node.
//!
//! Ports 21240–21249: Redis 21240–21242 (cluster bus 21245–21247),
//! registry-sim 21243, origin-worker 21244.

mod common;

use std::time::Duration;

use common::*;
use origin_worker::{
    crypto::Tag,
    ratelimit::BUCKET_KEY,
    store::{admission_key, job_key, JOB_STREAM},
};
use serde_json::Value;
use waitroom_core::ticket::{sign, AdmissionClaims, Claims};

const PORTS: [u16; 3] = [21240, 21241, 21242];
const BUS_PORTS: [u16; 3] = [21245, 21246, 21247];
const SIM_PORT: u16 = 21243;
const ORIGIN_PORT: u16 = 21244;

/// Which node (its port) serves each slot, as the cluster itself says.
async fn slot_owners(port: u16) -> Vec<(i64, i64, u16)> {
    let mut con = redis_con(port).await;
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut con)
        .await
        .unwrap();
    ranges
        .iter()
        .map(|r| {
            let primary: Vec<redis::Value> = redis::from_redis_value(&r[2]).unwrap();
            (
                redis::from_redis_value(&r[0]).unwrap(),
                redis::from_redis_value(&r[1]).unwrap(),
                redis::from_redis_value(&primary[1]).unwrap(),
            )
        })
        .collect()
}

/// The port of the node whose slots hold `key` (slot from `CLUSTER KEYSLOT`).
async fn owner_of(key: &str, owners: &[(i64, i64, u16)]) -> u16 {
    let mut con = redis_con(PORTS[0]).await;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut con)
        .await
        .unwrap();
    owners
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
        .unwrap_or_else(|| panic!("no node serves slot {slot}"))
        .2
}

/// `KEYS *` on one node (a plain connection: only that node's keys).
async fn keys_on(port: u16) -> Vec<String> {
    let mut con = redis_con(port).await;
    redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .unwrap()
}

/// How often this node ran `SCRIPT LOAD` (`INFO commandstats`).
fn script_loads(port: u16) -> u64 {
    let info = redis_cli(port, &["info", "commandstats"]);
    info.lines()
        .find_map(|l| l.trim().strip_prefix("cmdstat_script|load:calls="))
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .unwrap_or(0)
}

fn admission_with_id(secrets: &Secrets, ticket_id: &str, session: &str) -> String {
    sign(
        &secrets.ring,
        &Claims::Admission(AdmissionClaims {
            ticket_id: ticket_id.into(),
            room: ROOM.into(),
            shard: 0,
            session_id: session.into(),
            not_before_ms: now_ms().saturating_sub(1000),
            expires_ms: now_ms() + 15 * 60_000,
            client: String::new(),
        }),
    )
}

#[tokio::test]
async fn cluster_happy_path_single_use_and_keys_on_several_nodes() {
    let logs = log_dir(PORTS[0]);
    let mut redis = spawn_redis_cluster(&PORTS, &BUS_PORTS, &logs);
    let secrets = Secrets::new();
    let _sim = spawn_sim(SIM_PORT, &[], &logs);
    let seeds = PORTS.map(|p| format!("redis://127.0.0.1:{p}")).join(",");
    // REDIS_URL given here replaces the single-node one spawn_origin sets.
    let _origin = spawn_origin(
        ORIGIN_PORT,
        PORTS[0],
        SIM_PORT,
        &secrets,
        &[("REDIS_URL", seeds.as_str())],
        &logs,
    );
    let edge = Edge::new(ORIGIN_PORT, &secrets.edge_key);

    let owners = slot_owners(PORTS[0]).await;
    assert_eq!(owners.len(), 3, "one slot range per primary: {owners:?}");
    let stream_node = owner_of(JOB_STREAM, &owners).await;

    // An admission whose single-use marker lives on another node than the
    // job stream (ticket ids are the edge's choice; pick one that does).
    let mut i = 0;
    let ticket_id = loop {
        let id = format!("cluster-ticket-{i}");
        if owner_of(
            &admission_key(&secrets.job_keys.tag(Tag::Ticket, &id)),
            &owners,
        )
        .await
            != stream_node
        {
            break id;
        }
        i += 1;
    };
    let ticket = admission_with_id(&secrets, &ticket_id, "session-a");

    // Fresh nodes have no scripts cached: the first EVALSHA answers NOSCRIPT.
    assert!(PORTS.iter().all(|&p| script_loads(p) == 0));

    // Happy path: queued → ready → the PDF.
    let (id, cookie) = edge.submit(&citizen(1), &ticket).await;
    let done = edge.wait_done(&id, &ticket, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "ready", "{done}");
    let resp = edge.pdf(&id, &ticket, Some(&cookie)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let pdf = resp.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");

    // The NOSCRIPT fallback went through the cluster client: SCRIPT LOAD
    // reached every node (redis-rs sends it to all of them).
    for &p in &PORTS {
        assert!(script_loads(p) >= 1, "node {p} never loaded a script");
    }

    // Single use: the same admission again is refused, and made no job.
    let body = serde_json::to_vec(&citizen(2)).unwrap();
    let again = edge.send(Req::post_json(&body, &ticket)).await;
    assert_eq!(again.status(), 409);
    let v: Value = again.json().await.unwrap();
    assert_eq!(v["error"], "already_used");

    // Where the keys are: each on the node owning its slot, and not all on one.
    let job = job_key(&id);
    let admission = admission_key(&secrets.job_keys.tag(Tag::Ticket, &ticket_id));
    let mut by_node = Vec::new();
    for &p in &PORTS {
        let keys = keys_on(p).await;
        for k in &keys {
            assert_eq!(owner_of(k, &owners).await, p, "{k} on the wrong node");
        }
        by_node.push((p, keys));
    }
    let node_of = |key: &str| {
        by_node
            .iter()
            .find(|(_, keys)| keys.iter().any(|k| k == key))
            .map(|(p, _)| *p)
            .unwrap_or_else(|| panic!("{key} is on no node: {by_node:?}"))
    };
    assert_eq!(node_of(JOB_STREAM), stream_node);
    assert_ne!(node_of(&admission), stream_node);
    let job_node = node_of(&job);
    let jobs_total: usize = by_node
        .iter()
        .map(|(_, keys)| keys.iter().filter(|k| k.starts_with("wr:job:")).count())
        .sum();
    assert_eq!(jobs_total, 1, "the refused POST made a job: {by_node:?}");
    let used: std::collections::BTreeSet<u16> = by_node
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(p, _)| *p)
        .collect();
    assert!(used.len() >= 2, "all keys on one node: {by_node:?}");
    // The token bucket (short TTL, may be gone by now) has its own slot too.
    let bucket_node = owner_of(BUCKET_KEY, &owners).await;
    eprintln!(
        "stream on {stream_node}, job on {job_node}, admission on {}, bucket on {bucket_node}",
        node_of(&admission)
    );

    // Script caches lost (e.g. a node restarted): still works.
    for &p in &PORTS {
        assert_eq!(redis_cli(p, &["script", "flush"]).trim(), "OK");
    }
    let t2 = secrets.admission("session-b");
    let (id2, cookie2) = edge.submit(&citizen(2), &t2).await;
    let done2 = edge.wait_done(&id2, &t2, Duration::from_secs(60)).await;
    assert_eq!(done2["status"], "ready", "{done2}");
    let resp2 = edge.pdf(&id2, &t2, Some(&cookie2)).await;
    assert_eq!(resp2.status(), 200);
    assert!(resp2.bytes().await.unwrap().starts_with(b"%PDF"));

    // A node down: requests for its keys fail fast (503, bounded waits),
    // jobs on the other nodes are still served.
    let victim = owner_of(&job_key(&id2), &owners).await;
    redis[PORTS.iter().position(|&p| p == victim).unwrap()].kill();
    let t0 = std::time::Instant::now();
    let (code, v) = edge.status(&id2, &t2).await;
    let waited = t0.elapsed();
    assert_eq!(code, 503, "{v}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    if job_node != victim {
        assert_eq!(edge.status(&id, &ticket).await.0, 200);
    }
    eprintln!("node {victim} down: 503 after {waited:?}");
}
