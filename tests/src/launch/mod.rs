//! The launch-day load generator (issue 9): a stampede of simulated citizens
//! against the real local stack, and the figures an operator needs.
//!
//! # Layout
//! - [`citizen`]: one citizen's visit (join, heartbeats, maybe abandon,
//!   form, result, PDF), recording every request.
//! - [`analysis`]: pure arithmetic (quantiles, overtaking, removal delays).
//! - [`report`]: turns the records and the one-second samples into a
//!   [`report::Report`], prints it as a table, writes it as JSON.
//! - [`plot`]: the PNG over time.
//!
//! [`run_with_stack`] starts the stack itself (`xtask::stack`) and is what
//! both the `launch` binary and the smoke test call.

pub mod analysis;
pub mod citizen;
pub mod plot;
pub mod report;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use waitroom_core::operator::Pacing;
use waitroom_core::ticket::KeyRing;
use xtask::secrets::Secrets;
use xtask::stack::{EdgeRunner, Ports, Stack, StackOptions};

use citizen::{Away, Ctx, Plan, Progress, Record};

/// Requests the generator keeps in flight at most (a browser-like client
/// population over a bounded pool of connections).
const MAX_IN_FLIGHT: usize = 256;
/// registry-sim hands out at most this many sample citizens per call.
const SAMPLE_CITIZENS: usize = 1000;
/// Of the citizens who go away, the share who come back after their hold.
const LATE_SHARE: f64 = 0.2;
/// After the last abandoner's last heartbeat, wait the grace period plus
/// this much before checking it was removed.
const REMOVAL_SLACK: Duration = Duration::from_secs(5);

/// How long the room tolerates silence before dropping an entry: the core's
/// `ShardConfig::expiry_grace_ms`, i.e. `abandon_after` plus the last-seen
/// write granularity the coordinator sets (`abandon_after / 6`, at most 10 s).
pub fn silence_tolerated_ms(abandon_after_seconds: u64) -> u64 {
    let abandon = abandon_after_seconds * 1000;
    abandon + (abandon / 6).min(10_000)
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    pub citizens: usize,
    pub shards: u32,
    /// Share of citizens (0..=1) who stop polling at a random time.
    pub abandon: f64,
    /// Share of the others who leave the page while waiting and come back
    /// (issue 19); a fifth of them come back after their hold, on purpose.
    pub away: f64,
    /// `max_away_minutes` (0: nobody may leave the page; none: the room's).
    pub max_away_minutes: Option<u64>,
    /// The registry's limit (calls/s); the origin is told the same limit.
    pub registry_rate: u32,
    /// Admission pacing; default: the registry's rate (per minute).
    pub admit_per_minute: Option<u32>,
    /// Active-session cap; default: one minute of admissions.
    pub total_active: Option<u32>,
    pub abandon_after_seconds: u64,
    pub session_minutes: u64,
    /// Arrivals: everyone within this window, most of them at its start.
    pub burst: Duration,
    /// Hard bound on the whole run (after the stack is up).
    pub time_limit: Duration,
    pub seed: u64,
    pub progress_bar: bool,
    /// Where launch.json and launch.png go (none: not written).
    pub out_dir: Option<PathBuf>,
    /// workerd through Miniflare (default) or through `wrangler dev`.
    pub edge_runner: EdgeRunner,
    /// How the Coordinator paces admissions during the run.
    pub pacing: Pacing,
    /// What happens to the registry during the run (registry-sim `/control`).
    pub registry_changes: Vec<RegistryChange>,
    /// Stem of the files written: `<name>.json`, `<name>.png`.
    pub out_name: String,
}

/// At `at` after the doors open, registry-sim's limit becomes `rate_per_sec`
/// and/or it goes down or comes back.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RegistryChange {
    #[serde(rename = "at_seconds", serialize_with = "as_seconds")]
    pub at: Duration,
    pub rate_per_sec: Option<u32>,
    pub down: Option<bool>,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl RegistryChange {
    /// `SECONDS:WHAT[,SECONDS:WHAT...]`, WHAT being a rate (calls/s, which
    /// also brings a down registry back), `down` or `up`: `40:5,80:down,100:20`.
    pub fn parse_list(spec: &str) -> Result<Vec<RegistryChange>, String> {
        let mut changes: Vec<RegistryChange> = spec
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|part| {
                let bad = || format!("registry change {part:?}: want SECONDS:RATE|down|up");
                let (at, what) = part.trim().split_once(':').ok_or_else(bad)?;
                let at = at.parse::<f64>().map_err(|_| bad())?;
                if !at.is_finite() || at < 0.0 {
                    return Err(bad());
                }
                let (rate_per_sec, down) = match what {
                    "down" => (None, Some(true)),
                    "up" => (None, Some(false)),
                    n => (Some(n.parse::<u32>().map_err(|_| bad())?), Some(false)),
                };
                Ok(RegistryChange {
                    at: Duration::from_secs_f64(at),
                    rate_per_sec,
                    down,
                })
            })
            .collect::<Result<_, String>>()?;
        changes.sort_by_key(|c| c.at);
        Ok(changes)
    }

    fn body(&self) -> Value {
        let mut b = json!({});
        if let Some(r) = self.rate_per_sec {
            b["rate_per_sec"] = r.into();
        }
        if let Some(d) = self.down {
            b["down"] = d.into();
        }
        b
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            citizens: 3000,
            shards: 8,
            abandon: 0.1,
            away: 0.0,
            max_away_minutes: None,
            registry_rate: 25,
            admit_per_minute: None,
            total_active: None,
            abandon_after_seconds: 45,
            session_minutes: 10,
            burst: Duration::from_secs(60),
            time_limit: Duration::from_secs(240),
            seed: 2021,
            progress_bar: true,
            out_dir: None,
            edge_runner: EdgeRunner::Miniflare,
            pacing: Pacing::Origin,
            registry_changes: Vec::new(),
            out_name: "launch".into(),
        }
    }
}

impl Options {
    pub fn admit_per_minute(&self) -> u32 {
        self.admit_per_minute.unwrap_or(self.registry_rate * 60)
    }
    pub fn total_active(&self) -> u32 {
        self.total_active.unwrap_or(self.admit_per_minute())
    }
}

/// Where the stack runs and which binaries it uses.
#[derive(Debug, Clone)]
pub struct StackPlace {
    pub ports: Ports,
    pub state_dir: PathBuf,
    /// `target/debug` or `target/release` (origin-worker, registry-sim).
    pub bin_dir: PathBuf,
}

/// One second of the room as the operator sees it.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Tick {
    pub at_ms: u64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub abandoned_total: u64,
    pub registry_requests: u64,
    pub registry_rate_limited: u64,
    /// The limit registry-sim announces (0 while it is down).
    pub registry_limit_per_s: f64,
    /// What the Coordinator admits at (`/admin/stats`).
    pub effective_rate_per_min: u64,
    /// Jobs in the origin's stream (queued or in flight): its `/metrics`
    /// gauge, the figure its capacity report carries, in either pacing.
    pub origin_backlog: u64,
}

/// Starts the stack on `place`, runs the stampede, stops the stack.
pub fn run_with_stack(opts: &Options, place: &StackPlace) -> Result<report::Report, String> {
    let secrets = Secrets::generate(&place.bin_dir.join("origin-worker"))?;
    let _ = std::fs::remove_dir_all(&place.state_dir);
    let mut so = StackOptions::new(place.ports, secrets.clone(), place.state_dir.clone());
    so.bin_dir = place.bin_dir.clone();
    so.redis_aof = false;
    so.edge_runner = opts.edge_runner;
    let rate = opts.registry_rate.to_string();
    so.edge_vars = vec![
        ("SHARDS".into(), opts.shards.to_string()),
        ("PAUSED".into(), "true".into()),
        (
            "NEW_USERS_PER_MINUTE".into(),
            opts.admit_per_minute().to_string(),
        ),
        ("TOTAL_ACTIVE_USERS".into(), opts.total_active().to_string()),
        ("SESSION_MINUTES".into(), opts.session_minutes.to_string()),
        (
            "ABANDON_AFTER_SECONDS".into(),
            opts.abandon_after_seconds.to_string(),
        ),
    ];
    if let Some(m) = opts.max_away_minutes {
        so.edge_vars
            .push(("MAX_AWAY_MINUTES".into(), m.to_string()));
    }
    so.origin_env = vec![("REGISTRY_RATE_PER_SEC".into(), rate.clone())];
    so.registry_env = vec![("REGISTRY_SIM_RATE_PER_SEC".into(), rate)];
    let stack = Stack::start(so)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(run(opts, &stack, &secrets));
    drop(runtime);
    drop(stack);
    let report = result?;
    if let Some(dir) = &opts.out_dir {
        report.write(dir, &opts.out_name)?;
    }
    Ok(report)
}

/// A small deterministic generator (SplitMix64): reproducible plans per seed.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Every citizen's script. Arrival offsets are `burst · u²` (u uniform):
/// half of everyone within the first quarter of the window. Abandoners give
/// up at a uniform time within the wait the room could have made them do.
fn plans(opts: &Options, people: &[Value]) -> Vec<Plan> {
    let mut rng = Rng(opts.seed);
    let longest_wait = opts.citizens as f64 / (opts.admit_per_minute().max(1) as f64 / 60.0);
    let mut plans: Vec<Plan> = (0..opts.citizens)
        .map(|i| {
            let u = rng.next_f64();
            let start_after = opts.burst.mul_f64(u * u);
            let abandon_after = (rng.next_f64() < opts.abandon)
                .then(|| Duration::from_secs_f64(1.0 + rng.next_f64() * longest_wait * 0.5));
            let (r_away, r_late, u) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
            let away = (abandon_after.is_none() && r_away < opts.away).then(|| Away {
                // Soon after joining: far from the front is where holds are.
                after: Duration::from_secs(5) + opts.burst.mul_f64(u / 2.0),
                late: r_late < LATE_SHARE,
                u,
            });
            Plan {
                start_after,
                abandon_after,
                details: people[i % people.len()].clone(),
                // 10.0.0.0/8: private, one per citizen.
                client_ip: format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                away,
            }
        })
        .collect();
    plans.sort_by_key(|p| p.start_after);
    plans
}

async fn run(opts: &Options, stack: &Stack, secrets: &Secrets) -> Result<report::Report, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let edge = stack.opts.edge_url();
    let registry = stack.opts.registry_url();
    let admin = secrets.admin_token.clone();

    let people: Vec<Value> = http
        .get(format!(
            "{registry}/citizens/sample?n={}",
            SAMPLE_CITIZENS.min(opts.citizens.max(1))
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if people.is_empty() {
        return Err("registry-sim gave no sample citizens".into());
    }
    let plans = plans(opts, &people);

    let keys = KeyRing::parse(&secrets.ticket_keys).map_err(|e| format!("{e:?}"))?;
    let started = Instant::now();
    let ctx = Arc::new(Ctx {
        http: http.clone(),
        edge: edge.clone(),
        keys,
        room: "passport".into(),
        session_ms: opts.session_minutes * 60_000,
        grace_ms: silence_tolerated_ms(opts.abandon_after_seconds),
        deadline: started + opts.time_limit,
        in_flight: Semaphore::new(MAX_IN_FLIGHT),
        progress: Progress::default(),
    });

    // Open the doors.
    let resp = http
        .put(format!("{edge}/admin/config"))
        .bearer_auth(&admin)
        .json(&json!({ "paused": false, "pacing": opts.pacing }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("admin config: {}", resp.status()));
    }
    let started_ms = citizen::wall_ms();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_every_second(
        http.clone(),
        edge.clone(),
        registry.clone(),
        stack.opts.origin_metrics_url(),
        admin.clone(),
        stop_rx,
    ));
    let changes = tokio::spawn(change_the_registry(
        http.clone(),
        registry.clone(),
        opts.registry_changes.clone(),
        started,
    ));
    let bar = progress_bar(opts);
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|p| tokio::spawn(citizen::visit(ctx.clone(), p)))
        .collect();
    let total = tasks.len() as u64;
    let mut records: Vec<Record> = Vec::with_capacity(tasks.len());
    let watcher = {
        let ctx = ctx.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                let p = &ctx.progress;
                let finished = p.finished.load(Ordering::Relaxed);
                bar.set_position(finished);
                bar.set_message(format!(
                    "joined {} admitted {} pdf {} abandoned {}",
                    p.joined.load(Ordering::Relaxed),
                    p.admitted.load(Ordering::Relaxed),
                    p.done.load(Ordering::Relaxed),
                    p.abandoned.load(Ordering::Relaxed)
                ));
                if finished >= total {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    for t in tasks {
        records.push(t.await.map_err(|e| e.to_string())?);
    }
    let _ = watcher.await;
    bar.finish_and_clear();
    let main_done_ms = citizen::wall_ms();

    // Abandoners: once each is surely past its grace period, one last look.
    let grace =
        Duration::from_millis(silence_tolerated_ms(opts.abandon_after_seconds)) + REMOVAL_SLACK;
    let last_hb = records
        .iter()
        .filter(|r| r.outcome == citizen::Outcome::Abandoned)
        .filter_map(|r| r.last_heartbeat_ms)
        .max();
    if let Some(last) = last_hb {
        let due = last + grace.as_millis() as u64;
        let now = citizen::wall_ms();
        let remaining = Duration::from_millis(due.saturating_sub(now));
        let left = ctx.deadline.saturating_duration_since(Instant::now()) + REMOVAL_SLACK;
        tokio::time::sleep(remaining.min(left)).await;
    }
    let mut final_states = Vec::new();
    for r in records
        .iter_mut()
        .filter(|r| r.outcome == citizen::Outcome::Abandoned)
    {
        let state = ctx
            .status(r)
            .await
            .and_then(|b| b["state"].as_str().map(str::to_string))
            .unwrap_or_else(|| "error".into());
        if state == "admitted" {
            r.admitted_ms = ctx.admitted_at(r);
        }
        final_states.push(state);
    }
    let _ = stop_tx.send(true);
    changes.abort();
    let ticks = sampler.await.map_err(|e| e.to_string())?;
    let registry_stats: Value = http
        .get(format!("{registry}/stats"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(report::Report::build(
        opts,
        report::Inputs {
            started_ms,
            main_done_ms,
            elapsed: started.elapsed(),
            records: &records,
            abandoner_final_states: &final_states,
            ticks: &ticks,
            registry_stats: &registry_stats,
        },
    ))
}

fn progress_bar(opts: &Options) -> indicatif::ProgressBar {
    if !opts.progress_bar {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(opts.citizens as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} citizens done  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `GET /admin/stats` and registry-sim `/stats` once a second until told to stop.
async fn sample_every_second(
    http: reqwest::Client,
    edge: String,
    registry: String,
    origin_metrics: String,
    admin: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Tick> {
    let mut ticks = Vec::new();
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        let get = |url: String, bearer: Option<&str>| {
            let mut req = http.get(url);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            async move {
                match req.send().await {
                    Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                }
            }
        };
        let metrics = async {
            match http.get(format!("{origin_metrics}/metrics")).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        };
        let (room, reg, metrics) = tokio::join!(
            get(format!("{edge}/admin/stats"), Some(&admin)),
            get(format!("{registry}/stats"), None),
            metrics
        );
        if room.is_null() || reg.is_null() {
            continue;
        }
        let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
        let limit = if reg["down"] == true {
            0.0
        } else {
            reg["rate_per_sec"].as_f64().unwrap_or(0.0)
        };
        ticks.push(Tick {
            at_ms: citizen::wall_ms(),
            waiting: n(&room, "waiting"),
            active: n(&room, "active"),
            admitted_total: n(&room, "admitted_total"),
            abandoned_total: n(&room, "abandoned_total"),
            registry_requests: n(&reg, "requests"),
            registry_rate_limited: n(&reg, "rate_limited"),
            registry_limit_per_s: limit,
            effective_rate_per_min: n(&room, "effective_rate_per_min"),
            origin_backlog: crate::metric(&metrics, "waitroom_origin_stream_entries").unwrap_or(0.0)
                as u64,
        });
    }
    ticks
}

/// Applies `changes` to registry-sim at their times after `started`.
async fn change_the_registry(
    http: reqwest::Client,
    registry: String,
    changes: Vec<RegistryChange>,
    started: Instant,
) {
    for c in changes {
        tokio::time::sleep_until((started + c.at).into()).await;
        let sent = http
            .put(format!("{registry}/control"))
            .json(&c.body())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!("launch: registry change {c:?}: {}", r.status()),
            Err(e) => eprintln!("launch: registry change {c:?}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_changes_parse_in_time_order() {
        let c = RegistryChange::parse_list("80:down, 40:5,100:20,120:up").unwrap();
        let at: Vec<u64> = c.iter().map(|c| c.at.as_secs()).collect();
        assert_eq!(at, [40, 80, 100, 120]);
        assert_eq!(c[0].body(), json!({"rate_per_sec": 5, "down": false}));
        assert_eq!(c[1].body(), json!({"down": true}));
        assert_eq!(c[3].body(), json!({"down": false}));
        for bad in ["40", "x:5", "40:fast", "-1:5", "40:-5"] {
            assert!(RegistryChange::parse_list(bad).is_err(), "{bad}");
        }
        assert_eq!(RegistryChange::parse_list("").unwrap(), []);
    }
}
