//! Issue 18, attack 4: the registry's answers are no oracle. Every
//! rejection reads the same to the citizen (the cause goes to the metrics
//! and the log), and a national id gets `NATIONAL_ID_MAX_ATTEMPTS` registry
//! verifications per window, counted in Redis under a keyed hash of the id.
//! Real redis, registry-sim and origin on ports 21350–21369.

mod common;

use std::time::Duration;

use common::*;
use origin_worker::{crypto::Tag, store::attempts_key, worker::REJECTED};
use serde_json::{json, Value};

struct Stack {
    _redis: Proc,
    _sim: Proc,
    _origin: Proc,
    secrets: Secrets,
    edge: Edge,
    block: u16,
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
        block,
        logs,
    }
}

impl Stack {
    /// Submits `citizen` with a fresh admission; its final status.
    async fn outcome(&self, citizen: &Value) -> Value {
        let ticket = self.secrets.admission(&format!("s-{}", now_ms()));
        let (id, _) = self.edge.submit(citizen, &ticket).await;
        self.edge
            .wait_done(&id, &ticket, Duration::from_secs(30))
            .await
    }
}

#[tokio::test]
async fn every_rejection_reads_the_same_and_only_the_operator_sees_why() {
    let s = stack(21350, &[]);
    let person = sim_sample(s.block + 1, 1).await.remove(0);
    let mut unknown = person.clone();
    unknown["national_id"] = json!("NOPE0000");
    let mut other_name = person.clone();
    other_name["given_name"] = json!("Somebodyelse");

    let a = s.outcome(&unknown).await;
    let b = s.outcome(&other_name).await;
    for v in [&a, &b] {
        assert_eq!(v["status"], "rejected", "{v}");
        assert_eq!(v["reason"], REJECTED, "{v}");
    }
    let stats = sim_stats(s.block + 1).await;
    assert_eq!(stats["not_found"], 1, "{stats}");
    assert_eq!(stats["mismatch"], 1, "{stats}");

    // The operator can tell them apart.
    let m = |n: &'static str| s.edge.metric(n);
    assert_eq!(m("waitroom_origin_rejected_not_found_total").await, 1.0);
    assert_eq!(m("waitroom_origin_rejected_mismatch_total").await, 1.0);
    assert_eq!(m("waitroom_origin_rejected_attempt_limit_total").await, 0.0);
    let log = std::fs::read_to_string(s.logs.join(format!("origin-{}.log", s.block + 2))).unwrap();
    let whys: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["fields"]["why"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(whys, ["not_found", "mismatch"], "{log}");
}

#[tokio::test]
async fn attempts_per_national_id_are_limited_and_counted_under_a_keyed_hash() {
    let s = stack(21360, &[("NATIONAL_ID_MAX_ATTEMPTS", "3")]);
    let people = sim_sample(s.block + 1, 2).await;
    let (person, other) = (&people[0], &people[1]);
    let nid = person["national_id"].as_str().unwrap();

    // Three guesses at the name that goes with this national id.
    for guess in ["Aaa", "Bbb", "Ccc"] {
        let mut c = person.clone();
        c["given_name"] = json!(guess);
        let v = s.outcome(&c).await;
        assert_eq!(v["reason"], REJECTED, "{v}");
    }
    let before = sim_stats(s.block + 1).await;
    assert_eq!(before["mismatch"], 3, "{before}");

    // The fourth, with the right details, is rejected alike and never asked.
    let v = s.outcome(person).await;
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["reason"], REJECTED, "{v}");
    let after = sim_stats(s.block + 1).await;
    assert_eq!(
        after["answered"], before["answered"],
        "the registry was asked"
    );
    assert_eq!(
        s.edge
            .metric("waitroom_origin_rejected_attempt_limit_total")
            .await,
        1.0
    );

    // Another national id is not affected.
    assert_eq!(s.outcome(other).await["status"], "ready");

    // The count is under the keyed hash; the id itself is in no key.
    let mut con = redis_con(s.block).await;
    let count: Option<u64> = redis::cmd("GET")
        .arg(attempts_key(&s.secrets.job_keys.tag(Tag::NationalId, nid)))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(count, Some(4));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(keys.iter().all(|k| !k.contains(nid)), "{keys:?}");
}
