//! One simulated citizen: joins, keeps its cookies, polls `/queue/status` at
//! the `poll_after_ms` it is told, maybe abandons, and once admitted submits
//! the form, polls the result and downloads the PDF.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Client;
use serde_json::Value;
use tokio::sync::Semaphore;
use waitroom_core::ticket::{Claims, KeyRing, UntrustedTicket};

/// The edge's ticket cookie.
pub const TICKET_COOKIE: &str = "__Host-waitroom";

/// Whether a request without an answer was already reported on stderr.
static FIRST_TRANSPORT_ERROR: AtomicBool = AtomicBool::new(false);

/// How often the result page polls `GET /api/passports/{id}`.
const RESULT_POLL: Duration = Duration::from_millis(500);

pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    Join,
    Status,
    Submit,
    Result,
    Pdf,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::Join,
        Route::Status,
        Route::Submit,
        Route::Result,
        Route::Pdf,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Route::Join => "join",
            Route::Status => "status",
            Route::Submit => "passport submit",
            Route::Result => "passport result",
            Route::Pdf => "pdf download",
        }
    }
}

/// One request: when it was answered (wall ms), how long it took, its
/// status code (0: no HTTP answer at all).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub route: Route,
    pub at_ms: u64,
    pub micros: u64,
    pub code: u16,
}

/// How a citizen's visit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// PDF downloaded.
    Done,
    /// Stopped polling while waiting (on purpose).
    Abandoned,
    /// The registry said no (or the job failed): `status` from the origin.
    Refused(String),
    /// Something answered unexpectedly; the text says what.
    Error(String),
    /// The run's time bound passed first.
    TimedOut,
    /// The admission ran out while the job still waited for the registry.
    ExpiredWhileQueued,
    /// Came back after the hold (+ the grace) and was told the place is gone.
    LostPlace,
}

/// A citizen who leaves the page while waiting (a locked phone) and comes
/// back: within the hold they were told, or on purpose after it.
#[derive(Debug, Clone, Copy)]
pub struct Away {
    /// Goes away at the first poll this long after joining that shows a
    /// hold long enough to be away for longer than the grace.
    pub after: Duration,
    /// Back after `hold_until + grace + slack` instead of before the hold.
    pub late: bool,
    /// Where in the allowed window an on-time citizen comes back (0..1).
    pub u: f64,
}

/// What happened to an [`Away`] citizen.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwayRecord {
    /// Wall ms, when the last poll before leaving was answered.
    pub left_ms: u64,
    pub back_ms: u64,
    pub late: bool,
}

/// Everything one citizen saw.
#[derive(Debug, Clone)]
pub struct Record {
    pub outcome: Outcome,
    /// From the verified waiting ticket (server clock).
    pub arrived_ms: u64,
    pub shard: u32,
    pub seq: u64,
    pub eta_at_join_s: u64,
    /// Admission time on the server clock: the admission ticket expires
    /// exactly `session_ms` after it.
    pub admitted_ms: Option<u64>,
    /// Abandoners: when the last heartbeat's answer arrived (wall ms).
    pub last_heartbeat_ms: Option<u64>,
    pub submitted_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub cookies: BTreeMap<String, String>,
    /// Sent as `CF-Connecting-IP`, as Cloudflare would: each citizen has
    /// its own address, so the edge's per-address join limit sees people,
    /// not one loopback client.
    pub client_ip: String,
    pub samples: Vec<Sample>,
    /// Went away and came back ([`Away`]).
    pub away: Option<AwayRecord>,
    /// Meant to go away, but no hold long enough was shown before the end
    /// of the wait (near the front presence is required).
    pub away_skipped: bool,
    /// From the join to the end of the wait (admitted, lost, abandoned).
    pub waiting_ms: u64,
}

/// What every citizen shares.
pub struct Ctx {
    pub http: Client,
    pub edge: String,
    pub keys: KeyRing,
    pub room: String,
    pub session_ms: u64,
    /// The silence the room tolerates ([`super::silence_tolerated_ms`]).
    pub grace_ms: u64,
    pub deadline: Instant,
    /// Caps requests in flight, so the generator stays a polite client.
    pub in_flight: Semaphore,
    pub progress: Progress,
}

/// Counters the progress bar shows.
#[derive(Default)]
pub struct Progress {
    pub joined: AtomicU64,
    pub admitted: AtomicU64,
    pub done: AtomicU64,
    pub abandoned: AtomicU64,
    pub finished: AtomicU64,
}

/// What the script of one citizen says.
#[derive(Debug, Clone)]
pub struct Plan {
    pub start_after: Duration,
    /// Abandoners stop polling this long after joining (if still waiting).
    pub abandon_after: Option<Duration>,
    pub details: Value,
    pub client_ip: String,
    pub away: Option<Away>,
}

impl Record {
    fn new(client_ip: String) -> Record {
        Record {
            outcome: Outcome::TimedOut,
            arrived_ms: 0,
            shard: 0,
            seq: 0,
            eta_at_join_s: 0,
            admitted_ms: None,
            last_heartbeat_ms: None,
            submitted_ms: None,
            finished_ms: None,
            cookies: BTreeMap::new(),
            client_ip,
            samples: Vec::new(),
            away: None,
            away_skipped: false,
            waiting_ms: 0,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((k, val)) = pair.split_once('=') {
                if val.is_empty() || v.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), val.to_string());
                }
            }
        }
    }
}

/// One HTTP answer, read whole: its JSON (or `Null`) and its size.
pub struct Answer {
    pub code: u16,
    pub json: Value,
    pub bytes: usize,
}

impl Ctx {
    /// Sends with the citizen's cookies, keeps the ones it gets back and
    /// records the latency (from sending, not from waiting for a permit).
    async fn send(
        &self,
        rec: &mut Record,
        route: Route,
        req: reqwest::RequestBuilder,
    ) -> Option<Answer> {
        let _permit = self.in_flight.acquire().await.ok()?;
        let req = req.header("CF-Connecting-IP", &rec.client_ip);
        let req = if rec.cookies.is_empty() {
            req
        } else {
            req.header("Cookie", rec.cookie_header())
        };
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let code = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((code, headers, bytes))
        }
        .await;
        let micros = started.elapsed().as_micros() as u64;
        let at_ms = wall_ms();
        match result {
            Ok((code, headers, bytes)) => {
                rec.remember(&headers);
                rec.samples.push(Sample {
                    route,
                    at_ms,
                    micros,
                    code,
                });
                Some(Answer {
                    code,
                    json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    bytes: bytes.len(),
                })
            }
            Err(e) => {
                if !FIRST_TRANSPORT_ERROR.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "launch: first request without an answer ({}): {e}",
                        route.name()
                    );
                }
                rec.samples.push(Sample {
                    route,
                    at_ms,
                    micros,
                    code: 0,
                });
                None
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.edge)
    }

    fn claims(&self, rec: &Record) -> Option<Claims> {
        let raw = rec.cookies.get(TICKET_COOKIE)?;
        let ticket = UntrustedTicket::parse(raw).ok()?;
        let verified = ticket.verify(&self.keys, wall_ms(), &self.room).ok()?;
        Some(verified.claims().clone())
    }

    async fn sleep_or_deadline(&self, d: Duration) -> bool {
        let wake = Instant::now() + d;
        if wake >= self.deadline {
            tokio::time::sleep_until(self.deadline.into()).await;
            return false;
        }
        tokio::time::sleep(d).await;
        true
    }

    /// `GET /queue/status` once; returns the parsed answer.
    pub async fn status(&self, rec: &mut Record) -> Option<Value> {
        let req = self
            .http
            .get(self.url("/queue/status"))
            .header("Accept", "application/json");
        let a = self.send(rec, Route::Status, req).await?;
        (a.code == 200).then_some(a.json)
    }

    /// The admission time, read from the (verified) admission ticket.
    pub fn admitted_at(&self, rec: &Record) -> Option<u64> {
        match self.claims(rec)? {
            Claims::Admission(a) => Some(a.expires_ms.saturating_sub(self.session_ms)),
            Claims::Waiting(_) => None,
        }
    }
}

/// Runs one citizen's visit to its end.
pub async fn visit(ctx: Arc<Ctx>, plan: Plan) -> Record {
    let mut rec = Record::new(plan.client_ip.clone());
    if !ctx.sleep_or_deadline(plan.start_after).await {
        return rec;
    }
    rec.outcome = queue_then_passport(&ctx, &plan, &mut rec)
        .await
        .unwrap_or(Outcome::TimedOut);
    let p = &ctx.progress;
    match rec.outcome {
        Outcome::Done => p.done.fetch_add(1, Ordering::Relaxed),
        Outcome::Abandoned => p.abandoned.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    p.finished.fetch_add(1, Ordering::Relaxed);
    rec
}

/// `None`: the deadline passed.
async fn queue_then_passport(ctx: &Ctx, plan: &Plan, rec: &mut Record) -> Option<Outcome> {
    // Join.
    let req = ctx
        .http
        .post(ctx.url("/queue/join"))
        .header("Accept", "application/json");
    let joined_at = Instant::now();
    let Some(a) = ctx.send(rec, Route::Join, req).await else {
        return Some(Outcome::Error("join: no answer".into()));
    };
    if a.code != 201 && a.code != 200 {
        return Some(Outcome::Error(format!("join: {}", a.code)));
    }
    match ctx.claims(rec) {
        Some(Claims::Waiting(w)) => {
            rec.arrived_ms = w.arrived_ms;
            rec.shard = w.shard;
            rec.seq = w.seq;
        }
        _ => return Some(Outcome::Error("join: no valid waiting ticket".into())),
    }
    ctx.progress.joined.fetch_add(1, Ordering::Relaxed);
    let body = &a.json;
    rec.eta_at_join_s = body["eta_seconds"].as_u64().unwrap_or(0);
    let mut state = body["state"].as_str().unwrap_or("").to_string();
    let mut poll_ms = body["poll_after_ms"].as_u64().unwrap_or(5_000);
    let mut hold_until_ms = body["hold_until_ms"].as_u64();
    rec.last_heartbeat_ms = Some(wall_ms());
    let mut away_due = plan.away;

    // Wait in line.
    while state == "waiting" {
        if let Some(after) = plan.abandon_after {
            if joined_at.elapsed() + Duration::from_millis(poll_ms) >= after {
                return Some(Outcome::Abandoned);
            }
        }
        let mut sleep = Duration::from_millis(poll_ms);
        if let Some(away) = away_due.filter(|a| joined_at.elapsed() >= a.after) {
            // The page is frozen from the last answer on: no poll until back.
            let left_ms = rec.last_heartbeat_ms.unwrap_or_else(wall_ms);
            let hold = hold_until_ms.unwrap_or(0);
            let grace = ctx.grace_ms;
            // On time: away longer than the grace (else it proves nothing),
            // back a second or more before the hold ends.
            let window = hold.saturating_sub(left_ms + grace + 2_000);
            let away_ms = if away.late {
                Some(hold.saturating_sub(left_ms) + grace + 5_000)
            } else {
                (window > 0).then(|| grace + 1_000 + (away.u * window as f64) as u64)
            };
            // Without a hold long enough, try again at the next poll.
            if let Some(ms) = away_ms.filter(|_| hold > left_ms + grace + 3_000) {
                away_due = None;
                sleep = Duration::from_millis(ms);
                rec.away = Some(AwayRecord {
                    left_ms,
                    back_ms: left_ms + ms,
                    late: away.late,
                });
            }
        }
        if !ctx.sleep_or_deadline(sleep).await {
            return None;
        }
        let answer = ctx.status(rec).await;
        rec.waiting_ms = joined_at.elapsed().as_millis() as u64;
        // Even a poll without an answer may have reached the shard: it counts
        // as the latest possible heartbeat.
        rec.last_heartbeat_ms = Some(wall_ms());
        let Some(body) = answer else {
            continue; // counted as an error; the next poll tries again
        };
        state = body["state"].as_str().unwrap_or("").to_string();
        poll_ms = body["poll_after_ms"].as_u64().unwrap_or(5_000).max(100);
        hold_until_ms = body["hold_until_ms"].as_u64();
    }
    rec.away_skipped = away_due.is_some();
    rec.last_heartbeat_ms = None;
    if state == "expired" && rec.away.is_some_and(|a| a.late) {
        return Some(Outcome::LostPlace);
    }
    if state != "admitted" {
        return Some(Outcome::Error(format!("queue: {state}")));
    }
    rec.admitted_ms = ctx.admitted_at(rec);
    ctx.progress.admitted.fetch_add(1, Ordering::Relaxed);

    // Submit the form.
    let req = ctx
        .http
        .post(ctx.url("/api/passports"))
        .header("Accept", "application/json")
        .json(&plan.details);
    let a = ctx.send(rec, Route::Submit, req).await?;
    if a.code != 202 {
        let code = a.json["error"].as_str().unwrap_or("");
        return Some(Outcome::Error(format!("submit: {} {code}", a.code)));
    }
    rec.submitted_ms = Some(wall_ms());
    let Some(id) = &a.json["id"].as_str().map(str::to_string) else {
        return Some(Outcome::Error("submit: no id".into()));
    };

    // The result page polls until the passport is ready.
    loop {
        if !ctx.sleep_or_deadline(RESULT_POLL).await {
            return None;
        }
        let req = ctx
            .http
            .get(ctx.url(&format!("/api/passports/{id}")))
            .header("Accept", "application/json");
        let Some(a) = ctx.send(rec, Route::Result, req).await else {
            continue;
        };
        if a.code != 200 {
            let expired = rec
                .admitted_ms
                .is_some_and(|at| wall_ms() >= at + ctx.session_ms);
            if expired {
                return Some(Outcome::ExpiredWhileQueued);
            }
            return Some(Outcome::Error(format!("result: {}", a.code)));
        }
        match a.json["status"].as_str().unwrap_or("") {
            "ready" => break,
            s @ ("rejected" | "failed") => return Some(Outcome::Refused(s.to_string())),
            _ => {}
        }
    }

    // Download.
    let req = ctx.http.get(ctx.url(&format!("/api/passports/{id}/pdf")));
    let a = ctx.send(rec, Route::Pdf, req).await?;
    if a.code == 200 && a.bytes > 0 {
        rec.finished_ms = Some(wall_ms());
        Some(Outcome::Done)
    } else {
        Some(Outcome::Error(format!("pdf: {}", a.code)))
    }
}
