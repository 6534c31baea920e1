//! The figures of a launch run: built from the citizens' records and the
//! one-second ticks, printed as a table, written as JSON (+ the PNG).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::analysis::{self, Admission};
use super::citizen::{Outcome, Record, Route};
use super::{Options, Tick};

/// What [`Report::build`] reads.
pub struct Inputs<'a> {
    pub started_ms: u64,
    pub main_done_ms: u64,
    pub elapsed: Duration,
    pub records: &'a [Record],
    pub abandoner_final_states: &'a [String],
    pub ticks: &'a [Tick],
    pub registry_stats: &'a Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub citizens: usize,
    pub shards: u32,
    pub abandon_share: f64,
    pub registry_rate_per_s: u32,
    pub new_users_per_minute: u32,
    pub total_active_users: u32,
    pub abandon_after_seconds: u64,
    pub session_minutes: u64,
    pub burst_seconds: f64,
    /// How workerd ran: "miniflare" or "wrangler dev".
    pub edge: &'static str,
    pub pacing: waitroom_core::operator::Pacing,
    pub registry_changes: Vec<super::RegistryChange>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcomes {
    pub pdf_downloaded: u64,
    pub abandoned: u64,
    pub refused_by_registry: u64,
    pub errors: u64,
    pub timed_out: u64,
    /// Admitted, submitted, and the session ran out before the passport
    /// was ready (target 0).
    pub session_expired_while_queued: u64,
    /// Came back after their hold on purpose and were told the place is gone.
    pub lost_place_late: u64,
}

/// Citizens who left the page while waiting (issue 19).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phones {
    pub max_away_minutes: Option<u64>,
    /// Meant to leave; of them, who did (on time / late) and who was never
    /// shown a hold long enough before the front.
    pub planned: u64,
    pub away_on_time: u64,
    pub away_late: u64,
    pub never_held: u64,
    /// Longest time away of someone back on time (s).
    pub longest_away_on_time_seconds: f64,
    /// Admitted between leaving and coming back (must be 0).
    pub admitted_while_away: u64,
    /// Back before the hold ended, yet the place was gone (must be 0).
    pub on_time_lost_place: u64,
    /// Back after the hold (+ grace), yet admitted (must be 0).
    pub late_admitted: u64,
    /// Back on time and admitted, and no later arrival of their shard was
    /// admitted before them: what staying on the page would have given
    /// them (target 100%).
    pub on_time_admitted: u64,
    pub on_time_not_overtaken_share: f64,
    /// Status polls of everyone while waiting, per hour of waiting.
    pub heartbeats_per_waiting_hour: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AdmissionAccuracy {
    pub admitted_total: u64,
    /// Over the window in which people were waiting (after the first admission).
    pub admitted_per_minute: f64,
    pub configured_per_minute: u32,
    /// Each full minute from the first admission while people were waiting.
    pub per_full_minute: Vec<u64>,
    pub max_active: u64,
    pub configured_total_active: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Fairness {
    /// Largest number of later arrivals (any shard, by arrival time) admitted before one citizen.
    pub max_overtaken_any_shard: u64,
    /// The same within one shard (by arrival sequence): FIFO says 0.
    pub max_overtaken_same_shard: u64,
    /// Largest arrival gap of an overtaking pair (s).
    pub worst_inversion_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Abandonment {
    pub abandoners: u64,
    /// Their state at a last look after grace + slack: expired / waiting / admitted / error.
    pub final_states: BTreeMap<String, u64>,
    /// Admitted later than `last heartbeat + abandon_after` (must be 0).
    pub admitted_after_abandoning: u64,
    /// Admitted inside the grace period after their last heartbeat (allowed).
    pub admitted_within_grace: u64,
    pub removal_p50_seconds: f64,
    pub removal_p99_seconds: f64,
    pub removals_matched: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Registry {
    pub limit_per_s: u32,
    pub calls_total: u64,
    pub rate_limited_429: u64,
    /// Mean calls/s while people were waiting (first call → queue empty).
    pub calls_per_s_while_demand: f64,
    /// Calls ÷ what the limit in force allowed over that window (each
    /// second's announced limit, 0 while down; target ≥ 0.95).
    pub utilisation_while_demand: f64,
    pub demand_seconds: f64,
    /// The largest origin backlog seen (jobs), and as seconds of registry
    /// work at the limit in force then (target ≤ 30 s).
    pub longest_backlog_jobs: u64,
    pub longest_backlog_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Eta {
    /// Median |ETA at join − actual wait| ÷ actual wait, admitted citizens.
    pub median_abs_pct_error: f64,
    pub samples: usize,
}

/// One second of the run, for the plot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Point {
    pub t_s: f64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_per_s: u64,
    pub registry_calls_per_s: f64,
    pub status_p99_ms: f64,
    pub registry_limit_per_s: f64,
    pub effective_rate_per_s: f64,
    pub origin_backlog: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub config: Config,
    pub elapsed_seconds: f64,
    pub outcomes: Outcomes,
    pub admission: AdmissionAccuracy,
    pub fairness: Fairness,
    pub abandonment: Abandonment,
    pub registry: Registry,
    pub latency: BTreeMap<String, Latency>,
    /// "route code" → count for unexpected answers (code 0: no answer).
    pub errors: BTreeMap<String, u64>,
    /// Citizens whose visit ended in an error, by reason.
    pub error_outcomes: BTreeMap<String, u64>,
    pub eta: Eta,
    pub phones: Phones,
    /// Heartbeat ÷ bare route throughput, when measured in the same bench run.
    pub throughput_ratio: Option<f64>,
    pub series: Vec<Point>,
}

fn expected(route: Route, code: u16) -> bool {
    match route {
        Route::Join => code == 200 || code == 201,
        Route::Submit => code == 202,
        _ => code == 200,
    }
}

impl Report {
    pub fn build(opts: &Options, i: Inputs<'_>) -> Report {
        let config = Config {
            citizens: opts.citizens,
            shards: opts.shards,
            abandon_share: opts.abandon,
            registry_rate_per_s: opts.registry_rate,
            new_users_per_minute: opts.admit_per_minute(),
            total_active_users: opts.total_active(),
            abandon_after_seconds: opts.abandon_after_seconds,
            session_minutes: opts.session_minutes,
            burst_seconds: opts.burst.as_secs_f64(),
            edge: match opts.edge_runner {
                xtask::stack::EdgeRunner::Miniflare => "miniflare",
                xtask::stack::EdgeRunner::WranglerDev => "wrangler dev",
            },
            pacing: opts.pacing,
            registry_changes: opts.registry_changes.clone(),
        };
        let mut outcomes = Outcomes::default();
        let mut error_outcomes = BTreeMap::new();
        for r in i.records {
            match &r.outcome {
                Outcome::Done => outcomes.pdf_downloaded += 1,
                Outcome::Abandoned => outcomes.abandoned += 1,
                Outcome::Refused(_) => outcomes.refused_by_registry += 1,
                Outcome::TimedOut => outcomes.timed_out += 1,
                Outcome::ExpiredWhileQueued => outcomes.session_expired_while_queued += 1,
                Outcome::LostPlace => outcomes.lost_place_late += 1,
                Outcome::Error(e) => {
                    outcomes.errors += 1;
                    *error_outcomes.entry(e.clone()).or_insert(0) += 1;
                }
            }
        }

        // Latency and unexpected answers.
        let mut latency = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for route in Route::ALL {
            let mut ms: Vec<f64> = i
                .records
                .iter()
                .flat_map(|r| r.samples.iter())
                .filter(|s| s.route == route && s.code != 0)
                .map(|s| s.micros as f64 / 1000.0)
                .collect();
            let max_ms = ms.iter().cloned().fold(0.0, f64::max);
            latency.insert(
                route.name().to_string(),
                Latency {
                    count: ms.len(),
                    p50_ms: analysis::quantile(&mut ms, 0.5),
                    p99_ms: analysis::quantile(&mut ms, 0.99),
                    max_ms,
                },
            );
        }
        for s in i.records.iter().flat_map(|r| r.samples.iter()) {
            if !expected(s.route, s.code) {
                *errors
                    .entry(format!("{} {}", s.route.name(), s.code))
                    .or_insert(0) += 1;
            }
        }

        // The demand window: from the first admission (registry call) to the
        // last second anyone was waiting.
        let ticks = i.ticks;
        let first_admit = ticks.iter().position(|t| t.admitted_total > 0);
        let first_call = ticks.iter().position(|t| t.registry_requests > 0);
        let last_waiting = ticks.iter().rposition(|t| t.waiting > 0);
        let span =
            |a: usize, b: usize| (ticks[b].at_ms.saturating_sub(ticks[a].at_ms)) as f64 / 1000.0;

        let mut admission = AdmissionAccuracy {
            admitted_total: ticks.last().map(|t| t.admitted_total).unwrap_or(0),
            configured_per_minute: opts.admit_per_minute(),
            configured_total_active: opts.total_active(),
            max_active: ticks.iter().map(|t| t.active).max().unwrap_or(0),
            ..Default::default()
        };
        if let (Some(a), Some(b)) = (first_admit, last_waiting) {
            if b > a {
                let secs = span(a, b);
                let n = ticks[b].admitted_total - ticks[a].admitted_total;
                admission.admitted_per_minute = n as f64 / secs * 60.0;
                let mut m = a;
                for k in (a + 1)..=b {
                    if ticks[k].at_ms >= ticks[m].at_ms + 60_000 {
                        admission
                            .per_full_minute
                            .push(ticks[k].admitted_total - ticks[m].admitted_total);
                        m = k;
                    }
                }
            }
        }

        let mut registry = Registry {
            limit_per_s: opts.registry_rate,
            calls_total: i.registry_stats["requests"].as_u64().unwrap_or(0),
            rate_limited_429: i.registry_stats["rate_limited"].as_u64().unwrap_or(0),
            ..Default::default()
        };
        if let (Some(a), Some(b)) = (first_call, last_waiting) {
            if b > a {
                let secs = span(a, b);
                let calls = ticks[b].registry_requests - ticks[a].registry_requests;
                registry.demand_seconds = secs;
                registry.calls_per_s_while_demand = calls as f64 / secs;
                // What the limit allowed, second by second (a sample's limit
                // holds until the next sample).
                let allowed: f64 = ticks[a..=b]
                    .windows(2)
                    .map(|w| {
                        w[0].registry_limit_per_s * (w[1].at_ms.saturating_sub(w[0].at_ms)) as f64
                            / 1000.0
                    })
                    .sum();
                registry.utilisation_while_demand = calls as f64 / allowed.max(1.0);
            }
        }
        for t in ticks {
            if t.origin_backlog >= registry.longest_backlog_jobs {
                registry.longest_backlog_jobs = t.origin_backlog;
            }
            if t.registry_limit_per_s > 0.0 {
                registry.longest_backlog_seconds = registry
                    .longest_backlog_seconds
                    .max(t.origin_backlog as f64 / t.registry_limit_per_s);
            }
        }

        // Fairness, on the server's own clocks (from verified tickets).
        let admitted: Vec<Admission> = i
            .records
            .iter()
            .filter_map(|r| {
                r.admitted_ms.map(|admitted_ms| Admission {
                    arrived_ms: r.arrived_ms,
                    admitted_ms,
                    shard: r.shard,
                    seq: r.seq,
                })
            })
            .collect();
        let mut same_shard = 0;
        for shard in 0..opts.shards {
            let mine: Vec<Admission> = admitted
                .iter()
                .filter(|a| a.shard == shard)
                .copied()
                .collect();
            same_shard = same_shard.max(analysis::max_overtaken(&mine, |a| a.seq));
        }
        let fairness = Fairness {
            max_overtaken_any_shard: analysis::max_overtaken(&admitted, |a| a.arrived_ms),
            max_overtaken_same_shard: same_shard,
            worst_inversion_seconds: analysis::worst_inversion_ms(&admitted) as f64 / 1000.0,
        };

        // Abandonment.
        let grace_ms = super::silence_tolerated_ms(opts.abandon_after_seconds);
        let abandoners: Vec<&Record> = i
            .records
            .iter()
            .filter(|r| r.outcome == Outcome::Abandoned)
            .collect();
        let mut abandonment = Abandonment {
            abandoners: abandoners.len() as u64,
            ..Default::default()
        };
        for s in i.abandoner_final_states {
            *abandonment.final_states.entry(s.clone()).or_insert(0) += 1;
        }
        for r in &abandoners {
            if let (Some(adm), Some(hb)) = (r.admitted_ms, r.last_heartbeat_ms) {
                if adm > hb + grace_ms {
                    abandonment.admitted_after_abandoning += 1;
                } else {
                    abandonment.admitted_within_grace += 1;
                }
            }
        }
        let removed_hb: Vec<u64> = abandoners
            .iter()
            .filter(|r| r.admitted_ms.is_none())
            .filter_map(|r| r.last_heartbeat_ms)
            .collect();
        let samples: Vec<(u64, u64)> = ticks.iter().map(|t| (t.at_ms, t.abandoned_total)).collect();
        let mut delays: Vec<f64> = analysis::removal_delays_ms(&removed_hb, &samples)
            .into_iter()
            .map(|d| d as f64 / 1000.0)
            .collect();
        abandonment.removals_matched = delays.len();
        abandonment.removal_p50_seconds = analysis::quantile(&mut delays, 0.5);
        abandonment.removal_p99_seconds = analysis::quantile(&mut delays, 0.99);

        // ETA quality.
        let mut ape: Vec<f64> = i
            .records
            .iter()
            .filter(|r| r.outcome != Outcome::Abandoned)
            .filter_map(|r| {
                let actual = r.admitted_ms?.saturating_sub(r.arrived_ms).max(1000) as f64;
                let eta = r.eta_at_join_s as f64 * 1000.0;
                Some((eta - actual).abs() / actual)
            })
            .collect();
        let eta = Eta {
            samples: ape.len(),
            median_abs_pct_error: analysis::quantile(&mut ape, 0.5) * 100.0,
        };

        let phones = phones(opts, i.records);
        let series = series(i.started_ms, i.main_done_ms, i.records, ticks);
        Report {
            config,
            elapsed_seconds: i.elapsed.as_secs_f64(),
            outcomes,
            admission,
            fairness,
            abandonment,
            registry,
            latency,
            errors,
            error_outcomes,
            eta,
            phones,
            throughput_ratio: None,
            series,
        }
    }

    /// The table for stdout.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let c = &self.config;
        let _ = writeln!(
            s,
            "launch: {} citizens, {} shards, {:.0}% abandon, registry {}/s, admit {}/min ({:?} pacing), cap {} active, edge {}, {:.0} s",
            c.citizens,
            c.shards,
            c.abandon_share * 100.0,
            c.registry_rate_per_s,
            c.new_users_per_minute,
            c.pacing,
            c.total_active_users,
            c.edge,
            self.elapsed_seconds
        );
        let o = &self.outcomes;
        let row = |s: &mut String, k: &str, v: String, target: &str| {
            let _ = writeln!(s, "  {k:<44} {v:>14}  {target}");
        };
        row(&mut s, "pdf downloaded", o.pdf_downloaded.to_string(), "");
        row(
            &mut s,
            "abandoned (on purpose)",
            o.abandoned.to_string(),
            "",
        );
        row(
            &mut s,
            "refused by registry",
            o.refused_by_registry.to_string(),
            "",
        );
        row(&mut s, "visits ended in error", o.errors.to_string(), "");
        row(
            &mut s,
            "visits cut by the time bound",
            o.timed_out.to_string(),
            "",
        );
        row(
            &mut s,
            "sessions expired while queued",
            o.session_expired_while_queued.to_string(),
            "target 0",
        );
        let a = &self.admission;
        let _ = writeln!(s, "admission accuracy");
        row(&mut s, "admitted total", a.admitted_total.to_string(), "");
        row(
            &mut s,
            "admitted / min while people wait",
            format!("{:.0}", a.admitted_per_minute),
            &format!("configured {}", a.configured_per_minute),
        );
        row(
            &mut s,
            "admitted in each full minute",
            format!("{:?}", a.per_full_minute),
            "",
        );
        row(
            &mut s,
            "max active sessions",
            a.max_active.to_string(),
            &format!("cap {}", a.configured_total_active),
        );
        let f = &self.fairness;
        let _ = writeln!(s, "fairness");
        row(
            &mut s,
            "max overtaken (same shard, by seq)",
            f.max_overtaken_same_shard.to_string(),
            "FIFO: 0",
        );
        row(
            &mut s,
            "max overtaken (any shard, by arrival)",
            f.max_overtaken_any_shard.to_string(),
            "",
        );
        row(
            &mut s,
            "worst cross-shard inversion (s)",
            format!("{:.3}", f.worst_inversion_seconds),
            "",
        );
        let b = &self.abandonment;
        let _ = writeln!(s, "abandonment");
        row(&mut s, "abandoners", b.abandoners.to_string(), "");
        row(&mut s, "final states", format!("{:?}", b.final_states), "");
        row(
            &mut s,
            "admitted after abandoning",
            b.admitted_after_abandoning.to_string(),
            "must be 0",
        );
        row(
            &mut s,
            "admitted within grace (allowed)",
            b.admitted_within_grace.to_string(),
            "",
        );
        row(
            &mut s,
            "last heartbeat → removal p50 / p99 (s)",
            format!(
                "{:.1} / {:.1}",
                b.removal_p50_seconds, b.removal_p99_seconds
            ),
            &format!("abandon_after {} s", c.abandon_after_seconds),
        );
        let r = &self.registry;
        let _ = writeln!(s, "registry");
        row(&mut s, "calls total", r.calls_total.to_string(), "");
        row(
            &mut s,
            "429s received",
            r.rate_limited_429.to_string(),
            "must be 0",
        );
        row(
            &mut s,
            "calls/s while people wait",
            format!("{:.1}", r.calls_per_s_while_demand),
            &format!("limit {}", r.limit_per_s),
        );
        row(
            &mut s,
            "utilisation while people wait",
            format!("{:.1}%", r.utilisation_while_demand * 100.0),
            "target >= 95%",
        );
        if !c.registry_changes.is_empty() {
            let changes: Vec<String> = c
                .registry_changes
                .iter()
                .map(|ch| match (ch.rate_per_sec, ch.down) {
                    (Some(r), _) => format!("{:.0}s→{r}/s", ch.at.as_secs_f64()),
                    (None, Some(true)) => format!("{:.0}s→down", ch.at.as_secs_f64()),
                    _ => format!("{:.0}s→up", ch.at.as_secs_f64()),
                })
                .collect();
            row(&mut s, "registry changes", changes.join(" "), "");
        }
        row(
            &mut s,
            "longest origin backlog (jobs / s of work)",
            format!(
                "{} / {:.1}",
                r.longest_backlog_jobs, r.longest_backlog_seconds
            ),
            "target <= 30 s",
        );
        let _ = writeln!(
            s,
            "latency (ms)                                         p50      p99      max     count"
        );
        for (k, l) in &self.latency {
            let _ = writeln!(
                s,
                "  {k:<44} {:>8.1} {:>8.1} {:>8.1} {:>9}",
                l.p50_ms, l.p99_ms, l.max_ms, l.count
            );
        }
        let _ = writeln!(s, "errors by code");
        if self.errors.is_empty() && self.error_outcomes.is_empty() {
            let _ = writeln!(s, "  none");
        }
        for (k, v) in self.errors.iter().chain(self.error_outcomes.iter()) {
            row(&mut s, k, v.to_string(), "");
        }
        let p = &self.phones;
        let _ = writeln!(s, "phones (citizens who leave the page)");
        if p.planned > 0 {
            row(
                &mut s,
                "away on time / late / never held",
                format!("{} / {} / {}", p.away_on_time, p.away_late, p.never_held),
                &format!("of {} planned", p.planned),
            );
            row(
                &mut s,
                "longest away, back on time (s)",
                format!("{:.0}", p.longest_away_on_time_seconds),
                "",
            );
            row(
                &mut s,
                "admitted while away",
                p.admitted_while_away.to_string(),
                "must be 0",
            );
            row(
                &mut s,
                "back on time, place lost",
                p.on_time_lost_place.to_string(),
                "must be 0",
            );
            row(
                &mut s,
                "back late, admitted",
                p.late_admitted.to_string(),
                "must be 0",
            );
            row(
                &mut s,
                "back on time, not overtaken in their shard",
                format!("{:.1}%", p.on_time_not_overtaken_share * 100.0),
                &format!("target 100% of {}", p.on_time_admitted),
            );
        }
        row(
            &mut s,
            "status polls per waiting citizen-hour",
            format!("{:.0}", self.phones.heartbeats_per_waiting_hour),
            "",
        );
        let _ = writeln!(s, "eta");
        row(
            &mut s,
            "median abs % error (ETA at join vs wait)",
            format!("{:.1}%", self.eta.median_abs_pct_error),
            &format!("{} admitted", self.eta.samples),
        );
        if let Some(ratio) = self.throughput_ratio {
            row(
                &mut s,
                "heartbeat / bare route throughput",
                format!("{ratio:.2}"),
                "target >= 0.5",
            );
        }
        s
    }

    /// `<name>.json` and `<name>.png` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(format!("{name}.json")), json).map_err(|e| e.to_string())?;
        super::plot::draw(&self.series, &dir.join(format!("{name}.png")))
    }
}

fn phones(opts: &Options, records: &[Record]) -> Phones {
    let mut p = Phones {
        max_away_minutes: opts.max_away_minutes,
        ..Default::default()
    };
    let mut not_overtaken = 0;
    for r in records {
        if r.away_skipped {
            p.planned += 1;
            p.never_held += 1;
        }
        let Some(a) = r.away else { continue };
        p.planned += 1;
        if r.admitted_ms
            .is_some_and(|t| t >= a.left_ms && t < a.back_ms)
        {
            p.admitted_while_away += 1;
        }
        if a.late {
            p.away_late += 1;
            p.late_admitted += u64::from(r.admitted_ms.is_some());
            continue;
        }
        p.away_on_time += 1;
        p.longest_away_on_time_seconds = p
            .longest_away_on_time_seconds
            .max(a.back_ms.saturating_sub(a.left_ms) as f64 / 1000.0);
        let lost = matches!(&r.outcome, Outcome::LostPlace)
            || matches!(&r.outcome, Outcome::Error(e) if e == "queue: expired");
        p.on_time_lost_place += u64::from(lost);
        if let Some(at) = r.admitted_ms {
            p.on_time_admitted += 1;
            let overtaken = records.iter().any(|b| {
                b.shard == r.shard && b.seq > r.seq && b.admitted_ms.is_some_and(|t| t < at)
            });
            not_overtaken += u64::from(!overtaken);
        }
    }
    if p.on_time_admitted > 0 {
        p.on_time_not_overtaken_share = not_overtaken as f64 / p.on_time_admitted as f64;
    }
    let polls = records
        .iter()
        .flat_map(|r| r.samples.iter())
        .filter(|s| s.route == Route::Status)
        .count();
    let hours: f64 = records.iter().map(|r| r.waiting_ms as f64).sum::<f64>() / 3_600_000.0;
    if hours > 0.0 {
        p.heartbeats_per_waiting_hour = polls as f64 / hours;
    }
    p
}

/// Per-second series: room ticks plus what the citizens saw in that second.
fn series(started_ms: u64, done_ms: u64, records: &[Record], ticks: &[Tick]) -> Vec<Point> {
    let seconds = (done_ms.saturating_sub(started_ms) / 1000 + 1) as usize;
    let mut admitted = vec![0u64; seconds];
    let mut status: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    let sec = |ms: u64| (ms.saturating_sub(started_ms) / 1000) as usize;
    for r in records {
        if let Some(a) = r.admitted_ms {
            if let Some(x) = admitted.get_mut(sec(a)) {
                *x += 1;
            }
        }
        for s in r.samples.iter().filter(|s| s.route == Route::Status) {
            if let Some(v) = status.get_mut(sec(s.at_ms)) {
                v.push(s.micros as f64 / 1000.0);
            }
        }
    }
    let mut out = Vec::new();
    let mut prev: Option<&Tick> = None;
    for t in ticks {
        let k = sec(t.at_ms);
        if k >= seconds {
            break;
        }
        let calls = match prev {
            Some(p) if t.at_ms > p.at_ms => {
                (t.registry_requests - p.registry_requests) as f64 * 1000.0
                    / (t.at_ms - p.at_ms) as f64
            }
            _ => 0.0,
        };
        out.push(Point {
            t_s: t.at_ms.saturating_sub(started_ms) as f64 / 1000.0,
            waiting: t.waiting,
            active: t.active,
            admitted_per_s: admitted[k],
            registry_calls_per_s: calls,
            status_p99_ms: analysis::quantile(&mut status[k], 0.99),
            registry_limit_per_s: t.registry_limit_per_s,
            effective_rate_per_s: t.effective_rate_per_min as f64 / 60.0,
            origin_backlog: t.origin_backlog,
        });
        prev = Some(t);
    }
    out
}
