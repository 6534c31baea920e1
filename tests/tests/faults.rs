//! Faults against the real stack (issue 10): a process dies or a dependency
//! goes away, and nothing accepted is lost, nothing is done twice.
//! Port blocks 30..39.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use waitroom_e2e::attack::*;
use waitroom_e2e::*;

/// The origin's gauge of jobs being worked on (origin-worker/src/metrics.rs).
const IN_FLIGHT: &str = "waitroom_origin_jobs_in_flight";
/// The origin's registry circuit breaker gauge: 1 open, 0 closed.
const CIRCUIT_OPEN: &str = "waitroom_origin_registry_circuit_open";

#[test]
fn workerd_sigkill_under_load_keeps_every_place_and_admits_nobody_twice() {
    let mut s = setup("fault_edge_kill", 30).start();
    const N: usize = 12;
    let mut people: Vec<_> = (0..N).map(|_| s.citizen()).collect();
    for p in people.iter_mut() {
        assert_eq!(p.join().0, 201);
    }
    let want: Vec<u64> = (1..=N as u64).collect();
    eventually("positions 1..N", Duration::from_secs(15), || {
        (positions(&mut people) == want).then_some(())
    });
    let jars: Vec<_> = people.into_iter().map(|p| p.cookies).collect();
    let cookies: Vec<String> = jars
        .iter()
        .map(|jar| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();

    // Load: every citizen polls as fast as it can while workerd is killed,
    // past its ticket's budget (100 requests in 10 s) too: a refusal (`429`)
    // or a failed request, and it tries again 50 ms later.
    let stop = AtomicBool::new(false);
    let polls = AtomicU64::new(0);
    let edge_url = s.url("/queue/status");
    let http = s.http.clone();
    std::thread::scope(|scope| {
        for c in &cookies {
            let (stop, polls, http, url) = (&stop, &polls, &http, &edge_url);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ok = http
                        .get(url)
                        .header("Accept", "application/json")
                        .header("Cookie", c)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        polls.fetch_add(1, Ordering::Relaxed);
                    } else {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            });
        }
        // A failed assertion below stops the load too.
        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_secs(2));
        let before = polls.load(Ordering::Relaxed);
        assert!(before > 0, "the load is running");
        s.stack.crash("edge");
        std::thread::sleep(Duration::from_secs(1));
        s.stack.start_service("edge").expect("edge restarts");
        let after_restart = polls.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            polls.load(Ordering::Relaxed) > after_restart,
            "polls succeed again after the restart"
        );
        stop.store(true, Ordering::Relaxed);
    });

    let mut people: Vec<_> = jars
        .into_iter()
        .map(|jar| {
            let mut p = s.citizen();
            p.cookies = jar;
            p
        })
        .collect();
    // A citizen the load left over its budget is refused for up to one
    // limiter period (10 s); then its status answers again.
    eventually(
        "same positions after the crash",
        Duration::from_secs(30),
        || (positions_within_budget(&mut people)? == want).then_some(()),
    );
    let (code, _) = s.configure(json!({"paused": false, "new_users_per_minute": 600}));
    assert_eq!(code, 200);
    eventually("all admitted", Duration::from_secs(30), || {
        people
            .iter_mut()
            .all(|p| status_within_budget(p).is_some_and(|v| v["state"] == "admitted"))
            .then_some(())
    });
    s.settle();
    assert_eq!(
        s.stats()["admitted_total"],
        N as u64,
        "each admitted exactly once"
    );
}

/// A citizen's status, or `None` while it is refused `429` (over its
/// ticket's request budget); any other answer but `200` fails the test.
fn status_within_budget(p: &mut Citizen<'_>) -> Option<serde_json::Value> {
    let (code, body) = into_json(p.get("/queue/status"));
    match code {
        429 => None,
        200 => Some(body),
        _ => panic!("status: {code} {body}"),
    }
}

/// Each citizen's position, or `None` while one of them is refused `429`.
fn positions_within_budget(people: &mut [Citizen<'_>]) -> Option<Vec<u64>> {
    people
        .iter_mut()
        .map(|p| Some(status_within_budget(p)?["position"].as_u64().unwrap_or(0)))
        .collect()
}

#[test]
fn a_coordinator_alarm_delivered_twice_admits_nobody_twice() {
    let s = setup("fault_alarm_twice", 31).start();
    let mut people: Vec<_> = (0..6).map(|_| s.citizen()).collect();
    for p in people.iter_mut() {
        assert_eq!(p.join().0, 201);
    }
    // One admission a tick, so every tick's grant matters.
    let (code, _) = s.configure(json!({"paused": false, "new_users_per_minute": 60}));
    assert_eq!(code, 200);
    let mut replays = 0;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let resp = s.http.post(s.url("/__test/replay-tick")).send().unwrap();
        let (code, body) = into_json(resp);
        assert_eq!(code, 200, "{body}");
        for reply in body["replies"].as_array().unwrap() {
            assert_eq!(reply["duplicate"], true, "a replayed grant applied: {body}");
            assert_eq!(reply["admitted"], 0, "{body}");
        }
        if !body["grants"].as_array().unwrap().is_empty() {
            replays += 1;
        }
        let admitted = people
            .iter_mut()
            .map(|p| p.status()["state"] == "admitted")
            .filter(|&a| a)
            .count() as u64;
        let total = s.stats()["admitted_total"].as_u64().unwrap();
        assert!(total <= 6, "admitted_total {total} > people");
        if admitted == 6 {
            break;
        }
        assert!(Instant::now() < deadline, "not everyone admitted");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(replays >= 3, "replayed {replays} ticks with grants");
    s.settle();
    assert_eq!(s.stats()["admitted_total"], 6);
}

/// An extra origin-worker on `port`, same Redis and secrets as the stack's.
fn spawn_origin(s: &TestStack, port: u16, env: &[(&str, &str)]) -> Child {
    let o = &s.stack.opts;
    let log = std::fs::File::create(o.log_dir().join(format!("origin-{port}.log"))).unwrap();
    let mut child = Command::new(o.bin_dir.join("origin-worker"))
        .env("ORIGIN_ADDR", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", o.redis_url())
        .env("REGISTRY_URL", o.registry_url())
        .env("TICKET_KEYS", &o.secrets.ticket_keys)
        .env("EDGE_ORIGIN_KEY", &o.secrets.edge_origin_key)
        .env("DCC_SIGNING_KEY", &o.secrets.dcc_signing_key)
        // A local stack: JOB_SEAL_KEY may be derived (origin-worker/src/config.rs).
        .env("ORIGIN_DEV_MODE", "true")
        .envs(env.iter().copied())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("origin-worker starts");
    eventually("extra origin up", Duration::from_secs(30), || {
        assert!(child.try_wait().unwrap().is_none(), "origin {port} exited");
        s.http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    child
}

/// Kills the extra origins when the test ends, however it ends.
struct Extra(Vec<Child>);
impl Drop for Extra {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

type Jar = std::collections::BTreeMap<String, String>;

/// Citizens borrow the stack: keep their cookies across a restart (which
/// needs the stack mutably) and make them again after.
fn jars(people: Vec<Citizen<'_>>) -> Vec<Jar> {
    people.into_iter().map(|p| p.cookies).collect()
}

fn citizens(s: &TestStack, jars: Vec<Jar>) -> Vec<Citizen<'_>> {
    jars.into_iter()
        .map(|j| {
            let mut p = s.citizen();
            p.cookies = j;
            p
        })
        .collect()
}

/// Submits one passport per citizen through the edge; returns the ids.
fn submit_all(people: &mut [Citizen<'_>], sample: &[serde_json::Value]) -> Vec<String> {
    people
        .iter_mut()
        .zip(sample)
        .map(|(p, c)| {
            let (code, body) = p.post_json("/api/passports", &passport_body(c));
            assert_eq!(code, 202, "{body}");
            body["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Waits until each citizen's passport is ready and downloads it.
fn all_ready(people: &mut [Citizen<'_>], ids: &[String], within: Duration) {
    for (p, id) in people.iter_mut().zip(ids) {
        let done = eventually("passport done", within, || {
            let (code, v) = into_json(p.get(&format!("/api/passports/{id}")));
            (code == 200
                && v["status"] != "queued"
                && v["status"] != "validating"
                && v["status"] != "rendering")
                .then_some(v)
        });
        assert_eq!(done["status"], "ready", "{id}: {done}");
        let pdf = p.get(&format!("/api/passports/{id}/pdf"));
        assert_eq!(pdf.status().as_u16(), 200, "{id}");
        assert!(pdf.bytes().unwrap().starts_with(b"%PDF-"));
    }
}

/// Each job committed its result exactly once, and no stream entry is left pending.
fn each_issued_once(s: &TestStack, ids: &[String]) {
    for id in ids {
        let issued = s.redis(&["HGET", &format!("wr:job:{{{id}}}"), "issued"]);
        assert_eq!(issued, "1", "job {id} committed {issued} times");
    }
    let pending = s.redis(&["XPENDING", "wr:jobs", "workers"]);
    assert!(pending.starts_with('0'), "entries still pending: {pending}");
}

#[test]
fn an_origin_killed_mid_job_of_three_still_produces_each_passport_once() {
    let env = [
        ("JOB_CLAIM_TIMEOUT_MS", "2000"),
        ("WORKER_CONCURRENCY", "2"),
    ];
    let mut setup =
        setup("fault_origin_kill", 32).registry_env("REGISTRY_SIM_LATENCY_MS", "300-600");
    for (k, v) in env {
        setup = setup.origin_env(k, v);
    }
    let mut s = setup.start();
    let base = s.stack.opts.ports.edge;
    let _extra = Extra(vec![
        // +5 is the stack origin's metrics listener.
        spawn_origin(&s, base + 6, &env),
        spawn_origin(&s, base + 7, &env),
    ]);
    const JOBS: usize = 9;
    let mut people: Vec<_> = (0..JOBS).map(|_| s.citizen()).collect();
    admit_all(&s, &mut people);
    let sample = s.sample_citizens(JOBS);
    let ids = submit_all(&mut people, &sample);

    // SIGKILL the edge's origin while it holds a job, then bring it back
    // (as a supervisor would) so the edge can reach an origin again.
    let metrics = s.stack.opts.origin_metrics_url() + "/metrics";
    eventually("the victim holds a job", Duration::from_secs(20), || {
        let m = s.http.get(&metrics).send().ok()?.text().ok()?;
        let in_flight = metric(&m, IN_FLIGHT).unwrap_or_else(|| panic!("no {IN_FLIGHT}: {m}"));
        (in_flight >= 1.0).then_some(())
    });
    let saved = jars(people);
    s.stack.crash("origin-worker");
    std::thread::sleep(Duration::from_secs(1));
    s.stack
        .start_service("origin-worker")
        .expect("origin restarts");
    let mut people = citizens(&s, saved);

    all_ready(&mut people, &ids, Duration::from_secs(180));
    each_issued_once(&s, &ids);
    assert_eq!(job_count(&s), JOBS);
}

#[test]
fn redis_restarted_with_aof_keeps_accepted_jobs_and_answers_503_meanwhile() {
    let mut s = setup("fault_redis_restart", 33).redis_aof(true).start();
    let sample = s.sample_citizens(4);
    // No registry: accepted jobs wait in Redis.
    s.stack.crash("registry-sim");
    let mut people: Vec<_> = (0..4).map(|_| s.citizen()).collect();
    admit_all(&s, &mut people);
    let ids = submit_all(&mut people[..3], &sample[..3]);
    // appendfsync everysec: give the AOF its second, then kill hard.
    std::thread::sleep(Duration::from_secs(2));
    let saved = jars(people);
    s.stack.crash("redis");
    let mut people = citizens(&s, saved);

    // In flight while Redis is gone: 503 with Retry-After, never 500.
    let url = s.url("/api/passports");
    let resp = people[3].send(
        s.http
            .post(&url)
            .header("Accept", "application/json")
            .json(&passport_body(&sample[3])),
    );
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (code, body) = into_json(resp);
    assert_eq!(code, 503, "{body}");
    assert!(
        retry.is_some_and(|r| r.parse::<u32>().unwrap() > 0),
        "Retry-After"
    );
    assert!(body["error"].is_string(), "{body}");
    let resp = people[0].get(&format!("/api/passports/{}", ids[0]));
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    drop(resp);

    let saved = jars(people);
    s.stack.start_service("redis").expect("redis restarts");
    s.stack
        .start_service("registry-sim")
        .expect("registry back");
    let mut people = citizens(&s, saved);
    assert_eq!(job_count(&s), 3, "the accepted jobs survived");
    // The refused citizen's admission was not used up: it can try again.
    let retried = eventually("submission after restart", Duration::from_secs(30), || {
        let (code, body) = people[3].post_json("/api/passports", &passport_body(&sample[3]));
        (code != 503).then_some((code, body))
    });
    assert_eq!(retried.0, 202, "{}", retried.1);
    let mut ids = ids;
    ids.push(retried.1["id"].as_str().unwrap().to_string());
    all_ready(&mut people, &ids, Duration::from_secs(120));
    each_issued_once(&s, &ids);
}

#[test]
fn registry_down_30_seconds_opens_the_circuit_loses_nothing_and_no_429_after() {
    let mut s = setup("fault_registry_down", 34).start();
    let sample = s.sample_citizens(4);
    s.stack.crash("registry-sim");
    let mut people: Vec<_> = (0..4).map(|_| s.citizen()).collect();
    admit_all(&s, &mut people);
    let ids: Vec<String> = people
        .iter_mut()
        .zip(&sample)
        .map(|(p, c)| {
            let (code, body) = p.post_json("/api/passports", &passport_body(c));
            assert_eq!(code, 202, "{body}");
            body["id"].as_str().unwrap().to_string()
        })
        .collect();
    let metrics = s.stack.opts.origin_metrics_url() + "/metrics";
    eventually("circuit open", Duration::from_secs(30), || {
        let m = s.http.get(&metrics).send().ok()?.text().ok()?;
        (metric(&m, CIRCUIT_OPEN) == Some(1.0)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(30));
    for (p, id) in people.iter_mut().zip(&ids) {
        let (code, v) = into_json(p.get(&format!("/api/passports/{id}")));
        assert_eq!(code, 200, "{v}");
        assert!(
            v["status"] == "queued" || v["status"] == "validating",
            "{v}"
        );
    }
    let saved = jars(people);
    s.stack
        .start_service("registry-sim")
        .expect("registry back");
    let mut people = citizens(&s, saved);
    all_ready(&mut people, &ids, Duration::from_secs(120));
    each_issued_once(&s, &ids);
    let stats: serde_json::Value = s
        .http
        .get(format!("{}/stats", s.stack.opts.registry_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        stats["rate_limited"], 0,
        "no 429 after it returned: {stats}"
    );
    let m = s.http.get(&metrics).send().unwrap().text().unwrap();
    assert_eq!(
        metric(&m, CIRCUIT_OPEN),
        Some(0.0),
        "circuit closed again: {m}"
    );
}
