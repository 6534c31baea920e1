//! The launch report (`GET /admin/report`): per event and per minute,
//! joined, admitted, abandoned, away and back, bypassed, time in queue
//! p50/p90/p99, ETA error at join p50/p90, active peak and registry
//! utilisation; as JSON or CSV.
//!
//! # Bounded by design
//! The Coordinator keeps one *open* [`MinuteRecord`] and adds each tick to
//! it ([`record_tick`]); when the minute (or the event applying) changes,
//! the closed record is returned to be stored as one row: one row a
//! minute (two in a minute where an event starts or ends), so thirty days
//! are about 43,200 rows, and [`prune`] drops older ones
//! ([`REPORT_RETENTION_MS`]).
//!
//! The quantiles come from a [`Histogram`] per minute: log-linear buckets
//! (every value below 16 exact, then 16 buckets per power of two), stored
//! sparsely, so a row holds one count per occupied bucket: a minute of
//! waits between a second and a day fills at most about 230, usually a
//! few dozen. Why this and not a crate: a quantile sketch here must merge
//! exactly (shards send their own, minutes merge into an event's total)
//! and be identical on wasm32 and native (integer bucket arithmetic, no
//! floating point), and it must serialize to a small serde row; the
//! usual crates (HdrHistogram's dense arrays, t-digest's float centroids)
//! give up one of these. The estimate is the bucket's midpoint: within
//! 1/32 of the true value (nearest-rank quantile), exact below 16.
//!
//! # CSV
//! Written with the `csv` crate (quoting, one serde record per row):
//! [`ReportRow`] is the flat form both JSON and CSV share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::BypassKind;
use crate::date::rfc3339;

/// History kept: thirty days.
pub const REPORT_RETENTION_MS: u64 = 30 * 24 * 60 * 60 * 1000;
const MINUTE_MS: u64 = 60_000;
/// Sub-buckets per power of two (4 bits of mantissa).
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;

/// A mergeable, sparse log-linear histogram of whole seconds (see the
/// module docs). In JSON: `{"<bucket>": count, …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(BTreeMap<u16, u64>);

fn bucket_of(v: u64) -> u16 {
    if v < SUB {
        return v as u16;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let mantissa = (v >> (e - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(e - SUB_BITS) * SUB + mantissa) as u16
}

/// The smallest and largest value of a bucket.
fn bucket_range(b: u16) -> (u64, u64) {
    let b = u64::from(b);
    if b < SUB {
        return (b, b);
    }
    let e = (b - SUB) / SUB + u64::from(SUB_BITS);
    let mantissa = (b - SUB) % SUB;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    let low = (1u64 << e) + mantissa * width;
    (low, low + (width - 1))
}

impl Histogram {
    pub fn record(&mut self, seconds: u64) {
        self.record_n(seconds, 1);
    }

    pub fn record_n(&mut self, seconds: u64, n: u64) {
        if n > 0 {
            *self.0.entry(bucket_of(seconds)).or_default() += n;
        }
    }

    /// Adds another histogram's counts (a shard's, another minute's).
    pub fn merge(&mut self, other: &Histogram) {
        for (&b, &n) in &other.0 {
            *self.0.entry(b).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The `q` quantile (`0 < q <= 1`, nearest rank) estimated as its
    /// bucket's midpoint; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // Nearest rank: the ceil(q n)-th smallest, at least the first.
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (&b, &c) in &self.0 {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_range(b);
                return Some(lo + (hi - lo) / 2);
            }
        }
        unreachable!("rank {rank} <= count {n}")
    }
}

/// What one shard saw since the last summary the Coordinator received
/// (sent with every [`crate::wire::ShardSummary`]; a summary that did not
/// arrive is sent again merged into the next, so nothing is counted
/// twice or lost while the shard stays up).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFacts {
    pub joined: u64,
    pub admitted: u64,
    pub abandoned: u64,
    pub away: u64,
    pub back: u64,
    /// Sessions opened for a bypass rule, by kind
    /// ([`BypassKind`] as index: address, header, country).
    #[serde(default)]
    pub bypassed: [u64; 3],
    /// Seconds in queue of those admitted.
    pub queue_seconds: Histogram,
    /// For those admitted: |actual admission − admission the first exact
    /// ETA promised|, s.
    pub eta_error_seconds: Histogram,
}

impl ShardFacts {
    /// Adds another shard's (or an earlier, unreceived summary's) facts.
    pub fn merge(&mut self, other: &ShardFacts) {
        self.joined += other.joined;
        self.admitted += other.admitted;
        self.abandoned += other.abandoned;
        self.away += other.away;
        self.back += other.back;
        for (sum, n) in self.bypassed.iter_mut().zip(other.bypassed) {
            *sum += n;
        }
        self.queue_seconds.merge(&other.queue_seconds);
        self.eta_error_seconds.merge(&other.eta_error_seconds);
    }
}

/// What one tick adds to the report: the shards' facts summed, and what
/// the Coordinator knows itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickFacts {
    /// The answering shards' facts, summed.
    pub shards: ShardFacts,
    /// Active sessions after the tick.
    pub active: u64,
    /// The registry's load against its capacity (0..=1 and above when
    /// overloaded), from the origin's capacity report, if fresh.
    pub registry_utilisation: Option<f64>,
}

/// One minute of one event (or of the room outside events), as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteRecord {
    /// Start of the minute (ms since the epoch, a multiple of 60,000).
    pub minute_ms: u64,
    /// The event applying ([`super::Effective::event_start_ms`]); `None`
    /// outside events.
    pub event_start_ms: Option<u64>,
    /// The shards' facts of every tick in the minute, summed.
    pub counts: ShardFacts,
    pub active_peak: u64,
    /// Highest utilisation seen in the minute.
    pub registry_utilisation_peak: Option<f64>,
}

impl MinuteRecord {
    fn new(minute_ms: u64, event_start_ms: Option<u64>) -> Self {
        Self {
            minute_ms,
            event_start_ms,
            ..Self::default()
        }
    }

    fn add(&mut self, t: &TickFacts) {
        self.counts.merge(&t.shards);
        self.active_peak = self.active_peak.max(t.active);
        self.registry_utilisation_peak =
            max_opt(self.registry_utilisation_peak, t.registry_utilisation);
    }

    /// Adds a whole record (for an event's totals).
    fn absorb(&mut self, r: &MinuteRecord) {
        self.counts.merge(&r.counts);
        self.active_peak = self.active_peak.max(r.active_peak);
        self.registry_utilisation_peak =
            max_opt(self.registry_utilisation_peak, r.registry_utilisation_peak);
    }

    /// The flat row of the report.
    pub fn row(&self) -> ReportRow {
        let at = |ms: u64| rfc3339(ms).unwrap_or_else(|| ms.to_string());
        let c = &self.counts;
        ReportRow {
            minute: at(self.minute_ms),
            event: self.event_start_ms.map(at),
            joined: c.joined,
            admitted: c.admitted,
            abandoned: c.abandoned,
            away: c.away,
            back: c.back,
            bypassed_cidr: c.bypassed[BypassKind::Cidr as usize],
            bypassed_header: c.bypassed[BypassKind::Header as usize],
            bypassed_country: c.bypassed[BypassKind::Country as usize],
            queue_p50_s: c.queue_seconds.quantile(0.50),
            queue_p90_s: c.queue_seconds.quantile(0.90),
            queue_p99_s: c.queue_seconds.quantile(0.99),
            eta_error_p50_s: c.eta_error_seconds.quantile(0.50),
            eta_error_p90_s: c.eta_error_seconds.quantile(0.90),
            active_peak: self.active_peak,
            registry_utilisation: self.registry_utilisation_peak,
        }
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Adds one tick at `now_ms`, while `event_start_ms` applies, to the open
/// record. Returns the record it closes (the minute or the event changed):
/// the row to store. Ticks of a minute already closed (a clock step back)
/// go into the open record rather than rewrite a stored row.
pub fn record_tick(
    open: &mut Option<MinuteRecord>,
    now_ms: u64,
    event_start_ms: Option<u64>,
    facts: &TickFacts,
) -> Option<MinuteRecord> {
    let minute_ms = now_ms - now_ms % MINUTE_MS;
    let closed = match open {
        Some(r) if r.event_start_ms == event_start_ms && r.minute_ms >= minute_ms => None,
        _ => open.take(),
    };
    open.get_or_insert_with(|| MinuteRecord::new(minute_ms, event_start_ms))
        .add(facts);
    closed
}

/// Drops the records older than [`REPORT_RETENTION_MS`] before `now_ms`
/// (for SQLite: `DELETE … WHERE minute_ms < `[`retention_cutoff_ms`]).
pub fn prune(records: &mut Vec<MinuteRecord>, now_ms: u64) {
    let cutoff = retention_cutoff_ms(now_ms);
    records.retain(|r| r.minute_ms >= cutoff);
}

/// The oldest minute kept at `now_ms`.
pub fn retention_cutoff_ms(now_ms: u64) -> u64 {
    now_ms.saturating_sub(REPORT_RETENTION_MS)
}

/// One line of the report (JSON object or CSV row). Times RFC 3339 UTC;
/// quantiles in seconds, empty when nobody was admitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The minute's start, or for a total the event's first minute.
    pub minute: String,
    /// The event's start (its id); empty outside events.
    pub event: Option<String>,
    pub joined: u64,
    pub admitted: u64,
    pub abandoned: u64,
    pub away: u64,
    pub back: u64,
    pub bypassed_cidr: u64,
    pub bypassed_header: u64,
    pub bypassed_country: u64,
    pub queue_p50_s: Option<u64>,
    pub queue_p90_s: Option<u64>,
    pub queue_p99_s: Option<u64>,
    pub eta_error_p50_s: Option<u64>,
    pub eta_error_p90_s: Option<u64>,
    pub active_peak: u64,
    pub registry_utilisation: Option<f64>,
}

/// `GET /admin/report` as JSON: every minute in order, and a total per
/// event (its quantiles over the whole event, not an average of minutes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub minutes: Vec<ReportRow>,
    pub events: Vec<ReportRow>,
}

/// The report over `records` (in any order; the open one included if the
/// caller wants the current minute).
pub fn build_report(records: &[MinuteRecord]) -> Report {
    let mut sorted: Vec<&MinuteRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.minute_ms, r.event_start_ms));
    let mut totals: BTreeMap<Option<u64>, MinuteRecord> = BTreeMap::new();
    for r in &sorted {
        totals
            .entry(r.event_start_ms)
            .or_insert_with(|| MinuteRecord::new(r.minute_ms, r.event_start_ms))
            .absorb(r);
    }
    Report {
        minutes: sorted.iter().map(|r| r.row()).collect(),
        events: totals.values().map(MinuteRecord::row).collect(),
    }
}

/// The per-minute rows as CSV, with a header line.
pub fn report_csv(records: &[MinuteRecord]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in build_report(records).minutes {
        // Writing serde rows of numbers and strings into memory cannot fail.
        w.serialize(row).expect("a report row is a flat record");
    }
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the rows are UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: u64 = 1_800_000_000_000; // a minute boundary

    #[test]
    fn buckets_tile_the_numbers() {
        let mut expected_low = 0;
        for b in 0..=bucket_of(u64::MAX) {
            let (lo, hi) = bucket_range(b);
            assert_eq!(lo, expected_low, "bucket {b}");
            assert!(hi >= lo);
            assert_eq!(bucket_of(lo), b);
            assert_eq!(bucket_of(hi), b);
            expected_low = hi.wrapping_add(1);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_of(15), 15);
        assert_eq!(bucket_range(bucket_of(1_000)), (992, 1_023));
    }

    fn exact_quantile(values: &mut [u64], q: f64) -> u64 {
        values.sort_unstable();
        let n = values.len() as u64;
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        values[(rank - 1) as usize]
    }

    proptest! {
        #[test]
        fn quantiles_are_within_a_32nd_and_merging_is_adding(
            a in proptest::collection::vec(0u64..200_000, 1..300),
            b in proptest::collection::vec(0u64..200_000, 0..300),
        ) {
            let (mut ha, mut hb) = (Histogram::default(), Histogram::default());
            a.iter().for_each(|&v| ha.record(v));
            b.iter().for_each(|&v| hb.record(v));
            let mut all = Histogram::default();
            a.iter().chain(&b).for_each(|&v| all.record(v));
            ha.merge(&hb);
            prop_assert_eq!(&ha, &all);
            let mut values: Vec<u64> = a.iter().chain(&b).copied().collect();
            for q in [0.5, 0.9, 0.99, 1.0] {
                let exact = exact_quantile(&mut values, q);
                let est = all.quantile(q).unwrap();
                prop_assert!(est.abs_diff(exact) <= exact / 32, "q{} exact {} est {}", q, exact, est);
            }
        }
    }

    fn tick(admitted: u64, active: u64, waits: &[u64]) -> TickFacts {
        let mut queue_seconds = Histogram::default();
        waits.iter().for_each(|&w| queue_seconds.record(w));
        TickFacts {
            shards: ShardFacts {
                joined: 3,
                admitted,
                queue_seconds,
                ..ShardFacts::default()
            },
            active,
            ..TickFacts::default()
        }
    }

    #[test]
    fn ticks_fill_one_record_per_minute_and_event() {
        let mut open = None;
        let mut stored = Vec::new();
        let e = Some(T + 120_000);
        for (now, event, facts) in [
            (T + 1_000, None, tick(1, 10, &[5])),
            (T + 59_999, None, tick(2, 30, &[6, 7])),
            (T + 60_000, None, tick(1, 20, &[100])), // next minute
            (T + 61_000, e, tick(0, 20, &[])),       // the event starts to apply
            (T + 62_000, e, tick(4, 25, &[1, 2, 3, 4])),
            (T + 30_000, e, tick(1, 5, &[9])), // clock stepped back
        ] {
            stored.extend(record_tick(&mut open, now, event, &facts));
        }
        assert_eq!(stored.len(), 2);
        assert_eq!((stored[0].minute_ms, stored[0].counts.admitted), (T, 3));
        assert_eq!(stored[0].active_peak, 30);
        assert_eq!(stored[0].counts.joined, 6);
        assert_eq!(stored[1].counts.admitted, 1);
        let last = open.clone().unwrap();
        assert_eq!(
            (last.minute_ms, last.event_start_ms, last.counts.admitted),
            (T + 60_000, e, 5)
        );
        stored.push(last);

        let rep = build_report(&stored);
        assert_eq!(rep.minutes.len(), 3);
        assert_eq!(rep.minutes[0].minute, "2027-01-15T08:00:00Z");
        assert_eq!(rep.minutes[0].queue_p50_s, Some(6));
        assert_eq!(rep.minutes[0].queue_p99_s, Some(7));
        assert_eq!(
            rep.minutes[2].event.as_deref(),
            Some("2027-01-15T08:02:00Z")
        );
        assert_eq!(rep.events.len(), 2);
        let room = &rep.events[0];
        assert_eq!(
            (room.event.as_deref(), room.admitted, room.active_peak),
            (None, 4, 30)
        );
        // 100 s falls in the bucket 100..=103: its midpoint.
        assert_eq!(room.queue_p99_s, Some(101));
        assert_eq!(rep.events[1].admitted, 5);
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["minutes"][1]["queue_p90_s"], 101);
        assert_eq!(
            json["minutes"][1]["eta_error_p50_s"],
            serde_json::Value::Null
        );
        // Stored rows read back.
        let row = serde_json::to_string(&stored[0]).unwrap();
        assert!(
            row.contains(r#""queue_seconds":{"5":1,"6":1,"7":1}"#),
            "{row}"
        );
        assert_eq!(
            serde_json::from_str::<MinuteRecord>(&row).unwrap(),
            stored[0]
        );
    }

    #[test]
    fn csv_has_a_header_and_empty_cells_for_no_data() {
        let mut open = None;
        let mut facts = tick(2, 7, &[30, 40]);
        facts.shards.bypassed = [1, 0, 4];
        facts.registry_utilisation = Some(0.75);
        assert_eq!(record_tick(&mut open, T, Some(T), &facts), None);
        let closed = record_tick(&mut open, T + 60_000, None, &TickFacts::default());
        let records = vec![open.unwrap(), closed.unwrap()];
        let csv = report_csv(&records);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "minute,event,joined,admitted,abandoned,away,back,bypassed_cidr,bypassed_header,\
             bypassed_country,queue_p50_s,queue_p90_s,queue_p99_s,eta_error_p50_s,\
             eta_error_p90_s,active_peak,registry_utilisation"
        );
        assert_eq!(
            lines[1],
            "2027-01-15T08:00:00Z,2027-01-15T08:00:00Z,3,2,0,0,0,1,0,4,30,40,40,,,7,0.75"
        );
        assert_eq!(lines[2], "2027-01-15T08:01:00Z,,0,0,0,0,0,0,0,0,,,,,,0,");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn thirty_days_are_kept() {
        let mut records: Vec<MinuteRecord> = [0, 1, 2]
            .iter()
            .map(|d| MinuteRecord::new(T + d * 24 * 60 * MINUTE_MS, None))
            .collect();
        prune(&mut records, T + REPORT_RETENTION_MS + 24 * 60 * MINUTE_MS);
        assert_eq!(records.len(), 2, "the day 31 days old goes");
        prune(&mut records, T + REPORT_RETENTION_MS + 24 * 60 * MINUTE_MS);
        assert_eq!(records.len(), 2);
        prune(&mut records, u64::MAX);
        assert!(records.is_empty());
        assert_eq!(retention_cutoff_ms(5), 0);
    }
}
