//! Operator features: queue modes, scheduled opening with a fair lottery,
//! "queue full", bypass paths and revocations. Pure rules; the edge only
//! stores them and asks.
//!
//! # Scheduled opening and the lottery
//! With `event_start` set, arrivals before it are *pre-queued* (from
//! `prequeue_start` on; before that the room is closed). Nobody is admitted
//! during the pre-queue. At `event_start` every pre-queued citizen, in every
//! shard, is put into one uniformly random order, then FIFO continues for
//! everyone arriving later.
//!
//! A global Fisher–Yates shuffle would need the per-citizen list in one
//! place, which the Coordinator never holds. The equivalent that splits over
//! shards: each pre-queued entry gets a lottery key `key(seed, id)` (a
//! 64-bit mix of the Coordinator's seed and the entry id), and its arrival
//! time is replaced by an *effective arrival* inside
//! `[event_start - window, event_start)` in key order
//! ([`Lottery::effective_arrival_ms`]). Sorting by independent uniform keys
//! is a uniform random permutation; since the Coordinator already admits
//! oldest-arrival-first across shards, the global order is the key order.
//! Everyone who arrives after `event_start` has a later arrival time, so
//! they stay behind the pre-queue, FIFO. The shuffle is deterministic for a
//! given seed (the keys are), and a shard applies it once per event
//! ([`crate::queue::ShardMeta::lottery_done`]); running it again would
//! reproduce the same order anyway. Two entries can only tie when their keys
//! map to the same millisecond (a window of an hour and 300,000 entries
//! leaves a few thousand adjacent pairs tied, each off by at most one place).
//!
//! # Modes
//! - `fifo`: oldest arrival first at the configured pace.
//! - `random`: each admission is a uniformly random waiting citizen: the
//!   Coordinator splits the budget over shards by sampling without
//!   replacement in proportion to their waiting counts
//!   ([`split_random`]), each shard then picks uniformly among its own.
//! - `passthrough`: everyone waiting is admitted on the next tick, without
//!   pacing or the active cap.
//! - `reject`: new arrivals get the closed page (`503` + `Retry-After` for
//!   JSON clients); those already in line keep their place and are admitted
//!   as in `fifo` (pause too to stop that).

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::ConfigError;

/// Default bypass prefixes: never queued.
pub const DEFAULT_BYPASS_PATHS: &str = "/healthz,/.well-known/dcc/keys,/assets/";
/// Default prefixes forwarded to the origin without a ticket.
pub const DEFAULT_BYPASS_FORWARD: &str = "/.well-known/dcc/keys";
/// Pre-queue window assumed when `prequeue_start` is not set.
pub const DEFAULT_LOTTERY_WINDOW_MS: u64 = 60 * 60 * 1000;
/// Earliest and latest instants accepted in the configuration (2000..2200).
const MIN_TIME_MS: u64 = 946_684_800_000;
const MAX_TIME_MS: u64 = 7_258_118_400_000;
/// Longest `max_wait_minutes` (a week).
pub const MAX_WAIT_MINUTES_LIMIT: u32 = 7 * 24 * 60;

/// How the room admits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueMode {
    /// Oldest arrival first (the default).
    #[default]
    Fifo,
    /// Uniformly among those waiting.
    Random,
    /// Everyone waiting at once, no pacing.
    Passthrough,
    /// No new arrivals: the closed page.
    Reject,
}

/// The operator settings beside [`crate::coordinator::AdmissionConfig`]
/// (the same `PUT /admin/config` object). Times are milliseconds since the
/// epoch; in JSON they are RFC 3339 UTC strings (`"2026-05-01T08:00:00Z"`),
/// epoch milliseconds are accepted too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorConfig {
    /// Admission mode.
    pub mode: QueueMode,
    /// New arrivals whose estimated wait exceeds this get the "come back
    /// later" page. 0: no limit.
    pub max_wait_minutes: u32,
    /// Start of the pre-queue (closed before it). Needs `event_start`.
    #[serde(with = "time_opt")]
    pub prequeue_start: Option<u64>,
    /// When admissions start and the pre-queue is shuffled.
    #[serde(with = "time_opt")]
    pub event_start: Option<u64>,
    /// Shown on the closed page (`reject` mode) and sent as `Retry-After`.
    #[serde(with = "time_opt")]
    pub reopen_at: Option<u64>,
}

/// Where the room stands on its schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Before `prequeue_start`.
    NotOpen { prequeue_start_ms: u64 },
    /// Between `prequeue_start` and `event_start`: join, nobody admitted.
    PreQueue { event_start_ms: u64 },
    /// Admitting (no schedule, or after `event_start`).
    #[default]
    Open,
}

/// Why a new arrival gets no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Before the pre-queue opens.
    NotOpen,
    /// `reject` mode.
    Closed,
    /// The estimated wait exceeds `max_wait_minutes`.
    Full,
}

impl Refusal {
    /// The closed page's string key for this reason.
    pub fn string_key(self) -> &'static str {
        match self {
            Refusal::NotOpen => "c.reason_not_open",
            Refusal::Closed => "c.reason_closed",
            Refusal::Full => "c.reason_full",
        }
    }
}

/// What happens to a new arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "door", rename_all = "snake_case")]
pub enum Door {
    /// A place in line.
    Open,
    /// A place in the pre-queue; the lottery runs at `event_start_ms`.
    PreQueue { event_start_ms: u64 },
    /// No place.
    Refused {
        reason: Refusal,
        /// When to come back, if known.
        reopen_at_ms: Option<u64>,
    },
}

impl Door {
    /// `Retry-After` seconds for a refusal: until `reopen_at` (at least a
    /// minute, at most a day), or five minutes when unknown.
    pub fn retry_after_seconds(reopen_at_ms: Option<u64>, now_ms: u64) -> u64 {
        match reopen_at_ms {
            Some(t) => (t.saturating_sub(now_ms).div_ceil(1000)).clamp(60, 86_400),
            None => 300,
        }
    }
}

impl OperatorConfig {
    /// Rejects settings that cannot be meant.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, message: String| {
            Err(ConfigError {
                field: field.to_owned(),
                message,
            })
        };
        if self.max_wait_minutes > MAX_WAIT_MINUTES_LIMIT {
            return err(
                "max_wait_minutes",
                format!(
                    "must be between 0 (no limit) and {MAX_WAIT_MINUTES_LIMIT} minutes, got {}",
                    self.max_wait_minutes
                ),
            );
        }
        for (field, t) in [
            ("prequeue_start", self.prequeue_start),
            ("event_start", self.event_start),
            ("reopen_at", self.reopen_at),
        ] {
            if let Some(t) = t {
                if !(MIN_TIME_MS..MAX_TIME_MS).contains(&t) {
                    return err(field, "must be a time between 2000 and 2200".into());
                }
            }
        }
        match (self.prequeue_start, self.event_start) {
            (Some(_), None) => err(
                "prequeue_start",
                "needs event_start (the pre-queue ends at the event)".into(),
            ),
            (Some(p), Some(e)) if e < p => err(
                "event_start",
                format!(
                    "must not be before prequeue_start ({} < {})",
                    format_rfc3339(e),
                    format_rfc3339(p)
                ),
            ),
            _ => Ok(()),
        }
    }

    /// Where the schedule stands at `now_ms`.
    pub fn phase(&self, now_ms: u64) -> Phase {
        match (self.prequeue_start, self.event_start) {
            (Some(p), Some(_)) if now_ms < p => Phase::NotOpen {
                prequeue_start_ms: p,
            },
            (_, Some(e)) if now_ms < e => Phase::PreQueue { event_start_ms: e },
            _ => Phase::Open,
        }
    }

    /// What a new arrival gets, given the estimated wait of a new arrival
    /// (`eta_new_s`, the back of the line).
    pub fn door(&self, now_ms: u64, eta_new_s: u64) -> Door {
        match self.phase(now_ms) {
            Phase::NotOpen { prequeue_start_ms } => Door::Refused {
                reason: Refusal::NotOpen,
                reopen_at_ms: Some(prequeue_start_ms),
            },
            _ if self.mode == QueueMode::Reject => Door::Refused {
                reason: Refusal::Closed,
                reopen_at_ms: self.reopen_at,
            },
            // Nobody waits "too long" before the lottery has even run.
            Phase::PreQueue { event_start_ms } => Door::PreQueue { event_start_ms },
            Phase::Open => {
                let max_s = u64::from(self.max_wait_minutes) * 60;
                if max_s > 0 && self.mode != QueueMode::Passthrough && eta_new_s > max_s {
                    // Come back when the line ahead would have shrunk enough.
                    Door::Refused {
                        reason: Refusal::Full,
                        reopen_at_ms: Some(now_ms + (eta_new_s - max_s) * 1000),
                    }
                } else {
                    Door::Open
                }
            }
        }
    }

    /// The lottery shards must apply once `event_start` has passed.
    pub fn lottery(&self, seed: u64) -> Option<Lottery> {
        let event_start_ms = self.event_start?;
        let window_ms = match self.prequeue_start {
            Some(p) => (event_start_ms - p.min(event_start_ms)).max(60_000),
            None => DEFAULT_LOTTERY_WINDOW_MS,
        };
        Some(Lottery {
            seed,
            event_start_ms,
            window_ms: window_ms.min(event_start_ms),
        })
    }
}

/// The pre-queue shuffle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lottery {
    /// Drawn once by the Coordinator per event.
    pub seed: u64,
    /// Entries that arrived before this are shuffled.
    pub event_start_ms: u64,
    /// Effective arrivals spread over `[event_start - window, event_start)`.
    pub window_ms: u64,
}

impl Lottery {
    /// The entry's lottery key: uniform over u64 for a random seed.
    pub fn key(&self, id: u64) -> u64 {
        splitmix64(self.seed ^ splitmix64(id.wrapping_add(0x9E37_79B9_7F4A_7C15)))
    }

    /// The entry's arrival time after the shuffle: its key scaled into the
    /// window (order-preserving).
    pub fn effective_arrival_ms(&self, id: u64) -> u64 {
        let offset = (u128::from(self.key(id)) * u128::from(self.window_ms)) >> 64;
        self.event_start_ms - self.window_ms + offset as u64
    }
}

/// SplitMix64's output function: a bijective 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic generator (SplitMix64) for the random mode (and
/// registry-sim's seeded population).
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let z = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (Lemire's rejection: no modulo bias). `n > 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Uniform Fisher–Yates shuffle of `items` with a seeded generator
/// (deterministic for a given seed).
pub fn fisher_yates<T>(items: &mut [T], seed: u64) {
    let mut rng = SeededRng::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Splits `budget` admissions over shards holding `waiting[i]` entries so
/// that the admitted set is a uniformly random subset of everyone waiting
/// (sampling without replacement, one entry at a time).
pub fn split_random(budget: u64, waiting: &[u64], seed: u64) -> Vec<u64> {
    let mut rest = waiting.to_vec();
    let mut taken = vec![0u64; waiting.len()];
    let mut total: u64 = rest.iter().sum();
    let mut rng = SeededRng::new(seed);
    for _ in 0..budget.min(total) {
        let mut r = rng.below(total);
        for (i, n) in rest.iter_mut().enumerate() {
            if r < *n {
                *n -= 1;
                taken[i] += 1;
                break;
            }
            r -= *n;
        }
        total -= 1;
    }
    taken
}

/// The seed of tick `tick_id` in random mode.
pub fn tick_seed(seed: u64, tick_id: u64) -> u64 {
    splitmix64(seed ^ splitmix64(tick_id))
}

/// What a bypass path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    /// Not a bypass path: queue rules apply.
    No,
    /// Never queued; forwarded to the origin without a ticket.
    Origin,
    /// Never queued; answered by the edge (health, static files), never
    /// forwarded.
    Edge,
}

/// Whether `path` is under `prefix`: equal, or below it on a segment
/// boundary (`/healthz` covers `/healthz/x` but not `/healthzz`).
pub fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || !prefix.starts_with('/') {
        return false;
    }
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Parses a comma-separated prefix list (blank entries and entries not
/// starting with `/` dropped).
pub fn parse_prefixes(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| p.starts_with('/') && p.len() > 1)
        .map(str::to_owned)
        .collect()
}

/// Classifies `path` under the bypass prefixes and the subset allowed to
/// reach the origin without a ticket. An `allowed_to_origin` prefix that is
/// not also a bypass prefix does nothing: forwarding is an exception to
/// bypass, never to the queue.
pub fn classify_bypass(path: &str, bypass: &[String], allowed_to_origin: &[String]) -> Bypass {
    if !bypass.iter().any(|p| path_has_prefix(path, p)) {
        return Bypass::No;
    }
    if allowed_to_origin.iter().any(|p| path_has_prefix(path, p)) {
        Bypass::Origin
    } else {
        Bypass::Edge
    }
}

/// Admissions revoked before their session ended: the edge refuses their
/// still-valid tickets until then. O(1) lookups; pruned as they lapse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    until: HashMap<u64, u64>,
}

impl RevocationList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `id` as revoked until `until_ms` (the session end).
    pub fn revoke(&mut self, id: u64, until_ms: u64) {
        let e = self.until.entry(id).or_insert(until_ms);
        *e = (*e).max(until_ms);
    }

    /// Whether `id` is revoked at `now_ms`.
    pub fn is_revoked(&self, id: u64, now_ms: u64) -> bool {
        self.until.get(&id).is_some_and(|&u| u > now_ms)
    }

    /// Forgets lapsed revocations; returns the ids forgotten.
    pub fn prune(&mut self, now_ms: u64) -> Vec<u64> {
        let gone: Vec<u64> = self
            .until
            .iter()
            .filter(|(_, &u)| u <= now_ms)
            .map(|(&id, _)| id)
            .collect();
        for id in &gone {
            self.until.remove(id);
        }
        gone
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

/// `2026-05-01T08:00:00Z` (milliseconds shown only when not zero).
pub fn format_rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    match ms % 1000 {
        0 => format!("{base}Z"),
        frac => format!("{base}.{frac:03}Z"),
    }
}

/// Parses an RFC 3339 UTC time (`Z` or a numeric offset, optional
/// fraction) into epoch milliseconds. Dates before 1970 are refused.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let hh: i64 = o[1..3].parse().ok()?;
            let mm: i64 = o[4..6].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se.min(59)) as i64 - offset_s;
    u64::try_from(secs).ok().map(|s| s * 1000 + millis)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Serde for `Option<u64>` times: RFC 3339 out; RFC 3339 or epoch ms in.
mod time_opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => s.serialize_some(&format_rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Ms(u64),
        Float(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        use serde::de::Error;
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Ms(ms)) => Ok(Some(ms)),
            Some(Raw::Float(f)) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(Some(f as u64)),
            Some(Raw::Float(f)) => Err(D::Error::custom(format!("{f} is not a time"))),
            Some(Raw::Text(t)) if t.is_empty() => Ok(None),
            Some(Raw::Text(t)) => parse_rfc3339(&t)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("{t:?} is not an RFC 3339 UTC time"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_rejects_nonsense() {
        let t = parse_rfc3339("2026-05-01T08:00:00Z").unwrap();
        assert_eq!(t, 1_777_622_400_000);
        assert_eq!(format_rfc3339(t), "2026-05-01T08:00:00Z");
        assert_eq!(parse_rfc3339("2026-05-01T10:00:00+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2026-05-01T08:00:00.250Z"), Some(t + 250));
        assert_eq!(format_rfc3339(t + 250), "2026-05-01T08:00:00.250Z");
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(format_rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-05-01 08:00",
            "tomorrow",
            "2026-05-01T08:00:00",
            "2026-05-01T24:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for ms in [0u64, 86_399_999, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
    }

    #[test]
    fn config_json_takes_strings_or_ms_and_validates() {
        let c: OperatorConfig = serde_json::from_str(
            r#"{"mode":"random","prequeue_start":"2026-05-01T07:00:00Z","event_start":1777622400000}"#,
        )
        .unwrap();
        assert_eq!(c.mode, QueueMode::Random);
        assert_eq!(c.event_start, Some(1_777_622_400_000));
        assert!(c.validate().is_ok());
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["event_start"], "2026-05-01T08:00:00Z");
        assert_eq!(v["reopen_at"], serde_json::Value::Null);
        let back: OperatorConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        let swapped = OperatorConfig {
            prequeue_start: c.event_start,
            event_start: c.prequeue_start,
            ..c
        };
        assert_eq!(swapped.validate().unwrap_err().field, "event_start");
        assert!(serde_json::from_str::<OperatorConfig>(r#"{"mode":"lifo"}"#).is_err());
        assert!(serde_json::from_str::<OperatorConfig>(r#"{"event_start":"soon"}"#).is_err());
        assert!(serde_json::from_str::<OperatorConfig>(r#"{"max_wait_minutes":-1}"#).is_err());
        let too_long = OperatorConfig {
            max_wait_minutes: MAX_WAIT_MINUTES_LIMIT + 1,
            ..c
        };
        assert_eq!(too_long.validate().unwrap_err().field, "max_wait_minutes");
        let lone = OperatorConfig {
            event_start: None,
            ..c
        };
        assert_eq!(lone.validate().unwrap_err().field, "prequeue_start");
        let ancient = OperatorConfig {
            reopen_at: Some(5),
            ..OperatorConfig::default()
        };
        assert_eq!(ancient.validate().unwrap_err().field, "reopen_at");
        // Old stored configs (no operator fields at all) still load.
        assert_eq!(
            serde_json::from_str::<OperatorConfig>("{}").unwrap(),
            OperatorConfig::default()
        );
    }

    #[test]
    fn door_follows_schedule_mode_and_max_wait() {
        let p = 1_000_000_000_000;
        let e = p + 3_600_000;
        let c = OperatorConfig {
            prequeue_start: Some(p),
            event_start: Some(e),
            max_wait_minutes: 10,
            ..OperatorConfig::default()
        };
        assert_eq!(
            c.door(p - 1, 0),
            Door::Refused {
                reason: Refusal::NotOpen,
                reopen_at_ms: Some(p)
            }
        );
        assert_eq!(c.door(p, 99_999), Door::PreQueue { event_start_ms: e });
        assert_eq!(c.door(e, 600), Door::Open);
        assert_eq!(
            c.door(e, 660),
            Door::Refused {
                reason: Refusal::Full,
                reopen_at_ms: Some(e + 60_000)
            }
        );
        let pass = OperatorConfig {
            mode: QueueMode::Passthrough,
            ..c
        };
        assert_eq!(pass.door(e, 99_999), Door::Open);
        let reject = OperatorConfig {
            mode: QueueMode::Reject,
            reopen_at: Some(e + 5),
            ..c
        };
        assert_eq!(
            reject.door(e, 0),
            Door::Refused {
                reason: Refusal::Closed,
                reopen_at_ms: Some(e + 5)
            }
        );
        assert_eq!(OperatorConfig::default().door(0, u64::MAX), Door::Open);
        assert_eq!(Door::retry_after_seconds(None, 0), 300);
        assert_eq!(Door::retry_after_seconds(Some(10_000), 0), 60);
        assert_eq!(Door::retry_after_seconds(Some(7_200_000), 0), 7_200);
    }

    #[test]
    fn bypass_matches_on_segment_boundaries() {
        let bypass = parse_prefixes(DEFAULT_BYPASS_PATHS);
        let fwd = parse_prefixes(DEFAULT_BYPASS_FORWARD);
        assert_eq!(classify_bypass("/healthz", &bypass, &fwd), Bypass::Edge);
        assert_eq!(classify_bypass("/healthzz", &bypass, &fwd), Bypass::No);
        assert_eq!(
            classify_bypass("/assets/app.css", &bypass, &fwd),
            Bypass::Edge
        );
        assert_eq!(classify_bypass("/assets", &bypass, &fwd), Bypass::No);
        assert_eq!(
            classify_bypass("/.well-known/dcc/keys", &bypass, &fwd),
            Bypass::Origin
        );
        assert_eq!(classify_bypass("/api/passports", &bypass, &fwd), Bypass::No);
        assert_eq!(classify_bypass("/", &bypass, &fwd), Bypass::No);
        // Forwarding needs bypass too: it never skips the queue on its own.
        let only_fwd = parse_prefixes("/api/");
        assert_eq!(
            classify_bypass("/api/passports", &bypass, &only_fwd),
            Bypass::No
        );
        assert_eq!(parse_prefixes(" /a , ,b,/ ,/c/"), vec!["/a", "/c/"]);
    }

    #[test]
    fn revocations_last_until_the_session_ends() {
        let mut r = RevocationList::new();
        r.revoke(7, 1_000);
        assert!(r.is_revoked(7, 999));
        assert!(!r.is_revoked(7, 1_000));
        assert!(!r.is_revoked(8, 0));
        assert_eq!(r.prune(1_000), vec![7]);
        assert!(r.is_empty());
    }

    #[test]
    fn seeded_rng_below_is_in_range_and_deterministic() {
        let mut a = SeededRng::new(42);
        let mut b = SeededRng::new(42);
        for n in [1u64, 2, 3, 7, 1 << 40, u64::MAX] {
            let x = a.below(n);
            assert!(x < n);
            assert_eq!(x, b.below(n));
        }
    }

    #[test]
    fn split_random_gives_exactly_the_budget_within_counts() {
        for seed in 0..200 {
            let waiting = [5u64, 0, 17, 3];
            let got = split_random(9, &waiting, seed);
            assert_eq!(got.iter().sum::<u64>(), 9);
            assert!(got.iter().zip(&waiting).all(|(g, w)| g <= w));
        }
        assert_eq!(split_random(100, &[2, 3], 1), vec![2, 3]);
    }
}
