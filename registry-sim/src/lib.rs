//! # registry-sim
//!
//! The stand-in for the third-party vaccination registry, so the whole
//! system runs and is load-tested on one machine. It shares no code with
//! `origin-worker`: it is the other side of the wire, as the real registry
//! would be, and defines its own copy of the contract ([`VerifyRequest`],
//! [`VerifyResponse`], [`DoseRecord`]); origin-worker's tests check that
//! the two sides read each other.
//!
//! ## Layout
//!
//! - this library: the population rule ([`national_id_for`], [`lookup`],
//!   [`sample_citizen`]), the HTTP [`app`] and the binary's [`main`];
//! - `src/main.rs`: the `registry-sim` binary (three lines);
//! - `tests/http.rs`: the HTTP behaviour, against the real binary.
//!
//! # Endpoints
//!
//! - `POST /verify` with [`VerifyRequest`] → `200` [`VerifyResponse`]
//!   (`vaccinated` with dose records, `not_found`, or `mismatch`); `429`
//!   past the rate limit; `503` for injected failures and while down. Every
//!   answer announces the limit: `ratelimit-policy: <quota>;w=<seconds>`
//!   (the IETF RateLimit header fields' form).
//! - `PUT /control` `{"rate_per_sec":N,"down":bool,"notice_ms":N}` (each
//!   optional; loopback clients only, else `403`): changes the limit or
//!   takes the registry down at run time, for tests and benchmarks. A raised
//!   limit applies at once; a lowered one is announced at once and enforced
//!   `notice_ms` later (default [`DEFAULT_NOTICE_MS`]), as a registry that
//!   announces its limit must, or a client already sending at the old pace
//!   could not avoid a `429`. Answers the control state; `422` naming the
//!   field for a bad value, `400` for a body that is not a JSON object.
//! - `GET /stats` → counters, including `rate_limited` (429s answered), the
//!   announced `rate_per_sec` and `down`.
//! - `GET /citizens/sample?n=N` → N citizens it confirms (N ≤ 1000).
//! - `GET /healthz`.
//!
//! # Who is in the registry (the population rule)
//!
//! Everybody, in a sense: every (given name, family name, date of birth) has
//! exactly one national id, [`national_id_for`]:
//!
//! 1. `h = SHA-256("waitroom-registry-sim v1\n" ‖ seed ‖ "\n" ‖ lower(trim(given))
//!    ‖ "\n" ‖ lower(trim(family)) ‖ "\n" ‖ date_of_birth)`;
//! 2. nine characters `ALPHABET[h[i] mod 36]` (`ALPHABET` = `0-9A-Z`), then a
//!    check character `ALPHABET[Σ (i+1)·value(c_i) mod 36]`: ten characters.
//!
//! `POST /verify` answers `vaccinated` when the id is that person's id,
//! `mismatch` when the id is well-formed (valid check character) but belongs
//! to other details, and `not_found` otherwise. Every confirmed person has a
//! complete primary series (one or two doses, product picked from `h`).
//!
//! # Limits
//!
//! Rate: a token bucket refilled at `REGISTRY_SIM_RATE_PER_SEC` holding one
//! second's worth (burst = rate); a call without a token gets `429` and is
//! counted. Latency: uniform in `REGISTRY_SIM_LATENCY_MS` (`"20-80"` or
//! `"50"`), applied after the rate check. Failures: with probability
//! `REGISTRY_SIM_FAILURE_RATE` a call gets `503`. `REGISTRY_SIM_SEED` seeds
//! the population and the randomness. Binds `REGISTRY_SIM_ADDR`
//! (default `127.0.0.1:8789`). Logs never contain the submitted details.

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use waitroom_core::{operator::SeededRng, passport_request::utc_date};

/// `POST /verify` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: String,
    pub national_id: String,
}

/// One vaccination event, coded as in the EU DCC value sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoseRecord {
    pub disease: String,
    pub vaccine: String,
    pub product: String,
    pub manufacturer: String,
    pub dose_number: u32,
    pub total_doses: u32,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub issuer: String,
}

/// `POST /verify` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VerifyResponse {
    Vaccinated { doses: Vec<DoseRecord> },
    NotFound,
    Mismatch,
}

/// How long a lowered limit is announced before it is enforced.
pub const DEFAULT_NOTICE_MS: u64 = 2_000;
/// Highest limit `PUT /control` accepts.
const MAX_RATE_PER_SEC: f64 = 1_000_000.0;

pub const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Most citizens one sample call returns.
pub const MAX_SAMPLE: usize = 1000;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub addr: SocketAddr,
    pub rate_per_sec: f64,
    pub latency_ms: (u64, u64),
    pub failure_rate: f64,
    pub seed: u64,
}

impl SimConfig {
    pub fn from_env() -> Result<SimConfig, String> {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        let latency = var("REGISTRY_SIM_LATENCY_MS", "20-80");
        let latency_ms = match latency.split_once('-') {
            Some((a, b)) => (a.trim().parse(), b.trim().parse()),
            None => (latency.trim().parse(), latency.trim().parse()),
        };
        let latency_ms = match latency_ms {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => return Err("REGISTRY_SIM_LATENCY_MS must be \"MIN-MAX\" or \"MS\"".into()),
        };
        let num = |k: &str, d: &str| -> Result<f64, String> {
            var(k, d)
                .trim()
                .parse()
                .map_err(|_| format!("{k} must be a number"))
        };
        Ok(SimConfig {
            addr: var("REGISTRY_SIM_ADDR", "127.0.0.1:8789")
                .parse()
                .map_err(|_| "REGISTRY_SIM_ADDR must be host:port".to_owned())?,
            rate_per_sec: num("REGISTRY_SIM_RATE_PER_SEC", "10")?,
            latency_ms,
            failure_rate: num("REGISTRY_SIM_FAILURE_RATE", "0")?,
            seed: var("REGISTRY_SIM_SEED", "42")
                .trim()
                .parse()
                .map_err(|_| "REGISTRY_SIM_SEED must be an integer".to_owned())?,
        })
    }
}

fn person_hash(seed: u64, given: &str, family: &str, dob: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"waitroom-registry-sim v1\n");
    h.update(seed.to_string().as_bytes());
    for part in [given.trim().to_lowercase(), family.trim().to_lowercase()] {
        h.update(b"\n");
        h.update(part.as_bytes());
    }
    h.update(b"\n");
    h.update(dob.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

fn check_char(body: &[u8]) -> u8 {
    let sum: usize = body
        .iter()
        .enumerate()
        .map(|(i, c)| (i + 1) * ALPHABET.iter().position(|a| a == c).unwrap_or(0))
        .sum();
    ALPHABET[sum % 36]
}

/// The national id the registry holds for these details.
pub fn national_id_for(seed: u64, given: &str, family: &str, dob: &str) -> String {
    let h = person_hash(seed, given, family, dob);
    let mut id: Vec<u8> = h[..9]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % 36])
        .collect();
    id.push(check_char(&id));
    String::from_utf8(id).expect("ASCII")
}

/// Well-formed: ten characters of the alphabet with a valid check character.
pub fn is_well_formed_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 10 && b.iter().all(|c| ALPHABET.contains(c)) && check_char(&b[..9]) == b[9]
}

/// The registry's answer for these details (no rate limit, no latency).
pub fn lookup(seed: u64, req: &VerifyRequest) -> VerifyResponse {
    let expected = national_id_for(seed, &req.given_name, &req.family_name, &req.date_of_birth);
    if req.national_id == expected {
        let h = person_hash(seed, &req.given_name, &req.family_name, &req.date_of_birth);
        VerifyResponse::Vaccinated {
            doses: doses_for(&h),
        }
    } else if is_well_formed_id(&req.national_id) {
        VerifyResponse::Mismatch
    } else {
        VerifyResponse::NotFound
    }
}

fn doses_for(h: &[u8; 32]) -> Vec<DoseRecord> {
    // (vaccine type, product, manufacturer, doses in the primary series)
    const PRODUCTS: [(&str, &str, &str, u32); 4] = [
        ("1119349007", "EU/1/20/1528", "ORG-100030215", 2),
        ("1119349007", "EU/1/20/1507", "ORG-100031184", 2),
        ("J07BX03", "EU/1/21/1529", "ORG-100001699", 2),
        ("J07BX03", "EU/1/20/1525", "ORG-100001417", 1),
    ];
    const COUNTRIES: [&str; 6] = ["NL", "DE", "FR", "ES", "GR", "PL"];
    const DAY_2021_01_01: u64 = 18_628;
    let (vaccine, product, manufacturer, total) = PRODUCTS[usize::from(h[9]) % PRODUCTS.len()];
    let country = COUNTRIES[usize::from(h[11]) % COUNTRIES.len()];
    let first_day = DAY_2021_01_01 + u64::from(h[10]);
    (1..=total)
        .map(|n| {
            let (y, m, d) = utc_date((first_day + 28 * u64::from(n - 1)) * 86_400_000);
            DoseRecord {
                disease: "840539006".into(),
                vaccine: vaccine.into(),
                product: product.into(),
                manufacturer: manufacturer.into(),
                dose_number: n,
                total_doses: total,
                date: format!("{y:04}-{m:02}-{d:02}"),
                country: country.into(),
                issuer: format!("Ministry of Health {country} (simulated)"),
            }
        })
        .collect()
}

const GIVEN: [&str; 16] = [
    "Ana",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "Γιώργος",
    "Μαρία",
    "Дмитрий",
    "Анна",
    "Chloé",
    "Niamh",
    "Jürgen",
    "Ines",
    "Mateus",
    "Eleni",
    "Oğuz",
];
const FAMILY: [&str; 16] = [
    "López",
    "Müller",
    "Dvořák",
    "Παπαδόπουλος",
    "Иванова",
    "Nguyễn",
    "Kowalski",
    "Ó Súilleabháin",
    "Smith-Jones",
    "D'Angelo",
    "Jansen",
    "Σιδηρόπουλος",
    "Петров",
    "Öztürk",
    "García Márquez",
    "Virtanen",
];

/// Citizen `i` of the sample for `seed`: always confirmed as vaccinated.
pub fn sample_citizen(seed: u64, i: u64) -> serde_json::Value {
    let mut r = SeededRng::new(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    let given = GIVEN[(r.next_u64() % GIVEN.len() as u64) as usize];
    let family = FAMILY[(r.next_u64() % FAMILY.len() as u64) as usize];
    let dob = format!(
        "{:04}-{:02}-{:02}",
        1930 + r.next_u64() % 75,
        1 + r.next_u64() % 12,
        1 + r.next_u64() % 28
    );
    json!({
        "given_name": given,
        "family_name": family,
        "date_of_birth": dob,
        "national_id": national_id_for(seed, given, family, &dob),
        "email": format!("citizen{i}@example.org"),
    })
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    vaccinated: AtomicU64,
    not_found: AtomicU64,
    mismatch: AtomicU64,
    rate_limited: AtomicU64,
    failures: AtomicU64,
    bad_requests: AtomicU64,
    down_refused: AtomicU64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What `PUT /control` changes.
#[derive(Debug, Clone, Copy)]
struct Control {
    /// The limit announced.
    announced: f64,
    /// The limit enforced, until `lowered` takes over.
    enforced: f64,
    /// A lowered limit and when it is enforced.
    lowered: Option<(f64, Instant)>,
    down: bool,
}

impl Control {
    /// The limit enforced at `now`.
    fn enforced(&mut self, now: Instant) -> f64 {
        if let Some((rate, at)) = self.lowered {
            if now >= at {
                self.enforced = rate;
                self.lowered = None;
            }
        }
        self.enforced
    }
}

struct Sim {
    config: SimConfig,
    counters: Counters,
    bucket: Mutex<Bucket>,
    control: Mutex<Control>,
    rng: Mutex<SeededRng>,
}

impl Sim {
    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().expect("control lock")
    }

    /// `ratelimit-policy`: the announced limit as a quota per window
    /// (a fractional rate over 10 s).
    fn policy(&self) -> String {
        let rate = self.control().announced;
        if rate.fract() == 0.0 {
            format!("{rate:.0};w=1")
        } else {
            format!("{:.0};w=10", rate * 10.0)
        }
    }

    fn take_token(&self) -> bool {
        let now = Instant::now();
        let rate = self.control().enforced(now);
        let mut b = self.bucket.lock().expect("bucket lock");
        let cap = rate.max(1.0);
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub fn app(config: SimConfig) -> Router {
    let sim = Arc::new(Sim {
        bucket: Mutex::new(Bucket {
            tokens: config.rate_per_sec.max(1.0),
            at: Instant::now(),
        }),
        control: Mutex::new(Control {
            announced: config.rate_per_sec,
            enforced: config.rate_per_sec,
            lowered: None,
            down: false,
        }),
        rng: Mutex::new(SeededRng::new(config.seed)),
        counters: Counters::default(),
        config,
    });
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/verify", post(verify))
        .route("/control", put(control))
        .route("/stats", get(stats))
        .route("/citizens/sample", get(sample))
        .with_state(sim)
}

async fn verify(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    let mut resp = answer(&sim, body).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&sim.policy()) {
        resp.headers_mut().insert("ratelimit-policy", v);
    }
    resp
}

async fn answer(sim: &Sim, body: axum::body::Bytes) -> Response {
    let c = &sim.counters;
    c.requests.fetch_add(1, Relaxed);
    if sim.control().down {
        c.down_refused.fetch_add(1, Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable"})),
        )
            .into_response();
    }
    if !sim.take_token() {
        c.rate_limited.fetch_add(1, Relaxed);
        tracing::warn!("rate limit exceeded: 429");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({"error": "rate_limited"})),
        )
            .into_response();
    }
    let (latency, fail) = {
        let mut r = sim.rng.lock().expect("rng lock");
        let (lo, hi) = sim.config.latency_ms;
        (
            lo + r.next_u64() % (hi - lo + 1),
            r.next_f64() < sim.config.failure_rate,
        )
    };
    tokio::time::sleep(Duration::from_millis(latency)).await;
    if fail {
        c.failures.fetch_add(1, Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable"})),
        )
            .into_response();
    }
    let Ok(req) = serde_json::from_slice::<VerifyRequest>(&body) else {
        c.bad_requests.fetch_add(1, Relaxed);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad_request"})),
        )
            .into_response();
    };
    let answer = lookup(sim.config.seed, &req);
    let counter = match answer {
        VerifyResponse::Vaccinated { .. } => &c.vaccinated,
        VerifyResponse::NotFound => &c.not_found,
        VerifyResponse::Mismatch => &c.mismatch,
    };
    counter.fetch_add(1, Relaxed);
    Json(answer).into_response()
}

async fn stats(State(sim): State<Arc<Sim>>) -> impl IntoResponse {
    let c = &sim.counters;
    let v = |a: &AtomicU64| a.load(Relaxed);
    Json(json!({
        "requests": v(&c.requests),
        "vaccinated": v(&c.vaccinated),
        "not_found": v(&c.not_found),
        "mismatch": v(&c.mismatch),
        "answered": v(&c.vaccinated) + v(&c.not_found) + v(&c.mismatch),
        "rate_limited": v(&c.rate_limited),
        "failures": v(&c.failures),
        "bad_requests": v(&c.bad_requests),
        "down_refused": v(&c.down_refused),
        "rate_per_sec": sim.control().announced,
        "down": sim.control().down,
    }))
}

fn unprocessable(field: &str, message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": "invalid_field", "field": field, "message": message})),
    )
        .into_response()
}

/// `PUT /control` (see the crate docs).
async fn control(
    State(sim): State<Arc<Sim>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    if !peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "forbidden", "message": "control is for loopback clients"})),
        )
            .into_response();
    }
    let Ok(serde_json::Value::Object(patch)) = serde_json::from_slice(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "malformed_json", "message": "send a JSON object"})),
        )
            .into_response();
    };
    let (mut rate, mut down, mut notice_ms) = (None, None, DEFAULT_NOTICE_MS);
    for (field, value) in &patch {
        match field.as_str() {
            "rate_per_sec" => match value.as_f64() {
                Some(r) if r > 0.0 && r <= MAX_RATE_PER_SEC => rate = Some(r),
                _ => return unprocessable(field, "must be a number above 0 and at most 1000000"),
            },
            "down" => match value.as_bool() {
                Some(d) => down = Some(d),
                None => return unprocessable(field, "must be true or false"),
            },
            "notice_ms" => match value.as_u64() {
                Some(n) if n <= 600_000 => notice_ms = n,
                _ => return unprocessable(field, "must be between 0 and 600000"),
            },
            _ => return unprocessable(field, "is not a control field"),
        }
    }
    let now = Instant::now();
    let state = {
        let mut c = sim.control();
        if let Some(rate) = rate {
            let enforced = c.enforced(now);
            c.announced = rate;
            if rate >= enforced || notice_ms == 0 {
                c.enforced = rate;
                c.lowered = None;
            } else {
                c.lowered = Some((rate, now + Duration::from_millis(notice_ms)));
            }
        }
        if let Some(down) = down {
            c.down = down;
        }
        *c
    };
    tracing::info!(
        rate = state.announced,
        down = state.down,
        "registry-sim control changed"
    );
    Json(json!({"rate_per_sec": state.announced, "down": state.down})).into_response()
}

#[derive(Deserialize)]
struct SampleQuery {
    n: Option<usize>,
}

async fn sample(State(sim): State<Arc<Sim>>, Query(q): Query<SampleQuery>) -> impl IntoResponse {
    let n = q.n.unwrap_or(10).min(MAX_SAMPLE);
    let citizens: Vec<_> = (0..n as u64)
        .map(|i| sample_citizen(sim.config.seed, i))
        .collect();
    Json(citizens)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The `registry-sim` binary. Logs as origin-worker does: JSON on stdout,
/// `RUST_LOG` filters, `info` by default.
pub async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
    let config = match SimConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("registry-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("registry-sim: cannot listen on {}: {e}", config.addr);
            return ExitCode::from(1);
        }
    };
    tracing::info!(addr = %config.addr, rate = config.rate_per_sec, "registry-sim listening");
    let service = app(config).into_make_service_with_connect_info::<SocketAddr>();
    match axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-sim: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The population rule and the dose records, to the byte: the load tests'
    /// citizens and the passports issued locally depend on them.
    #[test]
    fn one_person_answer_is_pinned() {
        let req = VerifyRequest {
            given_name: " Ana ".into(),
            family_name: "LÓPEZ".into(),
            date_of_birth: "1980-02-29".into(),
            national_id: national_id_for(42, "Ana", "López", "1980-02-29"),
        };
        // The id follows the module doc's rule (checked with Python's hashlib).
        assert_eq!(req.national_id, "DOWZSCHI4G");
        assert_eq!(
            serde_json::to_value(lookup(42, &req)).unwrap(),
            json!({"status": "vaccinated", "doses": [
                {"disease": "840539006", "vaccine": "1119349007", "product": "EU/1/20/1528",
                 "manufacturer": "ORG-100030215", "dose_number": 1, "total_doses": 2,
                 "date": "2021-03-11", "country": "DE", "issuer": "Ministry of Health DE (simulated)"},
                {"disease": "840539006", "vaccine": "1119349007", "product": "EU/1/20/1528",
                 "manufacturer": "ORG-100030215", "dose_number": 2, "total_doses": 2,
                 "date": "2021-04-08", "country": "DE", "issuer": "Ministry of Health DE (simulated)"},
            ]})
        );
        assert_eq!(
            sample_citizen(42, 0),
            json!({"given_name": "Γιώργος", "family_name": "Παπαδόπουλος",
                   "date_of_birth": "1963-01-07", "national_id": "4V0Z2T0L39",
                   "email": "citizen0@example.org"})
        );
    }

    #[test]
    fn sample_citizens_are_vaccinated_and_ids_valid() {
        for i in 0..50 {
            let c = sample_citizen(42, i);
            let req: VerifyRequest = serde_json::from_value(c.clone()).unwrap();
            assert!(is_well_formed_id(&req.national_id));
            assert!(matches!(
                lookup(42, &req),
                VerifyResponse::Vaccinated { .. }
            ));
            let mut other = req.clone();
            other.date_of_birth = "1901-01-01".into();
            assert_eq!(lookup(42, &other), VerifyResponse::Mismatch);
            other.national_id = "ZZZZZZ".into();
            assert_eq!(lookup(42, &other), VerifyResponse::NotFound);
        }
    }
}
