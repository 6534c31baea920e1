//! The admission controller run by the Coordinator Durable Object.
//!
//! Every tick (about a second; alarms are at-least-once) the Coordinator
//! collects one [`ShardSummary`] per QueueShard, calls
//! [`AdmissionController::tick`], persists the controller (it is serde), and
//! sends each shard its [`Grant`], which the shard applies with
//! [`crate::queue::ShardQueue::apply_grant`].
//!
//! # Budget
//! `budget = min(pacing, total_active_users - active sessions, waiting)`.
//! Pacing accrues `new_users_per_minute × elapsed / 60 s` into a fractional
//! carry, so integer grants add up to the configured rate over a minute
//! (the error is below one admission per minute, whatever the tick
//! length). Unused allowance is not banked: when demand or the active cap
//! limits a tick, only the fraction is kept, so an idle room does not
//! release a burst later.
//!
//! # FIFO across shards
//! Each summary carries the exact arrival times of its oldest waiting
//! entries (the *head sample*). The controller merges the samples and grants
//! each shard the number of its entries among the `budget` globally oldest,
//! so admission is FIFO by arrival time across shards, exact up to changes
//! within the tick (entries that leave between summary and grant). The
//! grant asks each shard for a head sample of at least twice the budget, so
//! the merge rarely runs past a sample; when it does, the remainder is split
//! in proportion to the shards' waiting counts.
//!
//! # Global positions
//! Each grant carries, for the receiving shard, breakpoints
//! `(arrival_ms, n)` = "n waiting entries in other shards arrived before
//! `arrival_ms`", counted after this tick's admissions. They are exact at
//! the receiving shard's head-sample arrival times (wherever the other
//! shards' samples reach) and come from the other shards' histograms,
//! linearly interpolated, elsewhere. See
//! [`crate::queue::ShardQueue::global_position`] for the error bound.
//!
//! # Idempotence
//! A tick id that is not newer than the last one returns the stored last
//! plan unchanged; its grants carry the old tick id, which the shards have
//! already applied, so a duplicate admits nobody.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

pub use crate::config::{AdmissionConfig, ConfigError};
use crate::eta::{EtaInfo, RateEstimator};
use crate::operator::{self, OperatorConfig, Phase, QueueMode};
pub use crate::wire::{ArrivalHistogram, Grant, ShardSummary, HISTOGRAM_BUCKETS};
use crate::wire::{DEFAULT_HEAD_SAMPLE_LEN, MAX_HEAD_SAMPLE_LEN};

/// Elapsed time assumed for the very first tick.
pub const NOMINAL_TICK_MS: u64 = 1_000;
/// Longest gap between ticks that accrues pacing allowance (after an
/// outage the room resumes at its rate instead of releasing a flood).
pub const MAX_TICK_GAP_MS: u64 = 5_000;
/// Most head-sample breakpoints sent to one shard for global positions.
const HEAD_BREAKPOINTS: usize = 64;

/// Per-shard row of `/admin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Shard index.
    pub shard: u32,
    /// Waiting entries.
    pub waiting: u64,
    /// Active sessions.
    pub active: u64,
    /// Admissions granted this tick.
    pub granted: u32,
    /// Wait of its oldest entry.
    pub oldest_wait_seconds: u64,
    /// Last grant the shard had applied when it reported.
    pub last_applied_tick: Option<u64>,
}

/// `/admin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminStats {
    /// Tick these figures come from.
    pub tick_id: u64,
    /// Waiting citizens, all shards.
    pub waiting: u64,
    /// Active sessions, all shards.
    pub active: u64,
    /// Admitted, ever (as reported by the shards).
    pub admitted_total: u64,
    /// Dropped for silence, ever (as reported by the shards).
    pub abandoned_total: u64,
    /// Smoothed measured admission rate.
    pub admit_rate_per_min: f64,
    /// Wait of the oldest waiting citizen.
    pub oldest_wait_seconds: u64,
    /// Whether admission is paused.
    pub paused: bool,
    /// Estimated wait of someone arriving now (the back of the line).
    #[serde(default)]
    pub eta_new_arrival_seconds: u64,
    /// Admissions over the last minute (from the history).
    #[serde(default)]
    pub admitted_per_min: f64,
    /// Citizens dropped for silence over the last minute.
    #[serde(default)]
    pub abandoned_per_min: f64,
    /// Where the schedule stands.
    #[serde(default)]
    pub phase: Phase,
    /// One row per shard.
    pub shards: Vec<ShardStats>,
}

/// Spacing of the dashboard's history points.
pub const HISTORY_STEP_MS: u64 = 10_000;
/// History kept: 15 minutes.
pub const HISTORY_POINTS: usize = 90;

/// One point of the dashboard chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub t_ms: u64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub abandoned_total: u64,
}

/// The last 15 minutes at one point per 10 s (bounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub points: std::collections::VecDeque<HistoryPoint>,
}

impl History {
    /// Records `p` unless the last point is less than a step old; drops
    /// points beyond the window.
    pub fn record(&mut self, p: HistoryPoint) {
        if self
            .points
            .back()
            .is_some_and(|last| p.t_ms < last.t_ms + HISTORY_STEP_MS)
        {
            return;
        }
        self.points.push_back(p);
        while self.points.len() > HISTORY_POINTS {
            self.points.pop_front();
        }
        let horizon = p
            .t_ms
            .saturating_sub(HISTORY_POINTS as u64 * HISTORY_STEP_MS);
        while self.points.front().is_some_and(|f| f.t_ms < horizon) {
            self.points.pop_front();
        }
    }

    /// Per-minute rate of a running total over (about) the last minute,
    /// ending at `now` with the current total.
    pub fn per_min(&self, now: HistoryPoint, total: impl Fn(&HistoryPoint) -> u64) -> f64 {
        let from = self
            .points
            .iter()
            .find(|p| p.t_ms + 60_000 >= now.t_ms && p.t_ms < now.t_ms)
            .or_else(|| self.points.back().filter(|p| p.t_ms < now.t_ms));
        match from {
            Some(p) => {
                let dt = (now.t_ms - p.t_ms) as f64 / 60_000.0;
                total(&now).saturating_sub(total(p)) as f64 / dt
            }
            None => 0.0,
        }
    }
}

/// The outcome of one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickPlan {
    /// Tick id.
    pub tick_id: u64,
    /// Total admissions granted.
    pub budget: u64,
    /// One grant per summary, in the summaries' order.
    pub grants: Vec<Grant>,
    /// Figures for `/admin/stats`.
    pub stats: AdminStats,
}

/// Pacing, FIFO split and ETA state, persisted by the Coordinator between
/// ticks (serde).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdmissionController {
    last_tick_id: Option<u64>,
    last_tick_ms: Option<u64>,
    /// Accrued, not yet granted admissions (fractional).
    carry: f64,
    granted_total: u64,
    rate: RateEstimator,
    last_plan: Option<TickPlan>,
    /// The room's random seed, drawn once by the Coordinator
    /// ([`AdmissionController::ensure_seed`]); each event's lottery seed and
    /// each random-mode tick's seed derive from it.
    #[serde(default)]
    seed: Option<u64>,
    /// `(event_start_ms, tick_id)`: the tick that announced that event's
    /// lottery (it admits nobody, so the next summaries are shuffled).
    #[serde(default)]
    lottery_tick: Option<(u64, u64)>,
    /// The dashboard's last 15 minutes.
    #[serde(default)]
    history: History,
}

impl AdmissionController {
    /// A controller that has never ticked.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last plan, e.g. for `/admin/stats` between ticks.
    pub fn last_plan(&self) -> Option<&TickPlan> {
        self.last_plan.as_ref()
    }

    /// Admissions granted, ever, by this controller.
    pub fn granted_total(&self) -> u64 {
        self.granted_total
    }

    /// The smoothed rate estimator.
    pub fn rate(&self) -> &RateEstimator {
        &self.rate
    }

    /// The dashboard history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Sets the room's random seed unless it has one: `fresh_seed` is used
    /// only the first time (returns whether it was). The edge draws it from
    /// the runtime's CSPRNG; keep it below 2^53 (persisted as a JS number).
    pub fn ensure_seed(&mut self, fresh_seed: u64) -> bool {
        if self.seed.is_some() {
            return false;
        }
        self.seed = Some(fresh_seed);
        true
    }

    /// The room's random seed, if drawn.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// [`AdmissionController::tick_room`] with the default operator settings.
    pub fn tick(
        &mut self,
        tick_id: u64,
        now_ms: u64,
        summaries: &[ShardSummary],
        config: &AdmissionConfig,
    ) -> TickPlan {
        self.tick_room(
            tick_id,
            now_ms,
            summaries,
            config,
            &OperatorConfig::default(),
        )
    }

    /// Plans one tick. `summaries` must hold every shard (pass the last
    /// known summary of an unreachable shard, or skip the tick: its active
    /// sessions count against the cap). A `tick_id` not newer than the last
    /// returns the last plan again.
    ///
    /// Operator settings: no admissions before `event_start`; the first
    /// tick after it announces the lottery and admits nobody; `passthrough`
    /// admits everyone waiting; `random` splits the budget uniformly.
    pub fn tick_room(
        &mut self,
        tick_id: u64,
        now_ms: u64,
        summaries: &[ShardSummary],
        config: &AdmissionConfig,
        op: &OperatorConfig,
    ) -> TickPlan {
        if let (Some(last), Some(plan)) = (self.last_tick_id, &self.last_plan) {
            if tick_id <= last {
                return plan.clone();
            }
        }
        let elapsed = match self.last_tick_ms {
            Some(last) => now_ms.saturating_sub(last).min(MAX_TICK_GAP_MS),
            None => NOMINAL_TICK_MS,
        };
        let waiting: u64 = summaries.iter().map(|s| s.waiting).sum();
        let active: u64 = summaries.iter().map(|s| s.active_sessions).sum();

        let open = op.phase(now_ms) == Phase::Open;
        let seed = self.seed.unwrap_or(0);
        let lottery = match op.event_start {
            Some(e) if open => op.lottery(operator::tick_seed(seed, e)),
            _ => None,
        };
        // The first open tick of an event only announces the lottery.
        let lottery_tick = match (lottery, self.lottery_tick) {
            (Some(l), Some((e, t))) if e == l.event_start_ms => t == tick_id,
            (Some(l), _) => {
                self.lottery_tick = Some((l.event_start_ms, tick_id));
                true
            }
            (None, _) => false,
        };
        let held = config.paused || !open || lottery_tick;
        let budget = if held {
            self.carry = 0.0;
            0
        } else if op.mode == QueueMode::Passthrough {
            self.carry = 0.0;
            waiting
        } else {
            self.carry += f64::from(config.new_users_per_minute) * elapsed as f64 / 60_000.0;
            let paced = self.carry.floor() as u64;
            let room = u64::from(config.total_active_users).saturating_sub(active);
            let budget = paced.min(room).min(waiting);
            self.carry -= budget as f64;
            if budget < paced {
                // Demand or the cap limited this tick: do not bank the rest.
                self.carry = self.carry.fract();
            }
            budget
        };
        if !held && waiting > budget {
            self.rate.observe(budget, elapsed);
        }
        self.granted_total += budget;

        let heads: Vec<Vec<u64>> = summaries.iter().map(ShardSummary::head_arrivals).collect();
        let random_seed = (op.mode == QueueMode::Random && budget > 0).then(|| {
            // Fresh per tick; from the lottery seed when there is one, so
            // a replayed tick splits the same way.
            operator::tick_seed(seed ^ 0x5EED, tick_id)
        });
        let shares = match random_seed {
            Some(seed) => {
                let counts: Vec<u64> = summaries.iter().map(|s| s.waiting).collect();
                operator::split_random(budget, &counts, seed)
            }
            None => split_fifo(budget, summaries, &heads),
        };
        let eta = EtaInfo {
            rate_per_s: self.rate.rate_per_s(config.new_users_per_minute),
            paused: held,
        };
        // Twice the whole budget: even if one shard holds all of the oldest
        // entries, the merge stays within its sample.
        let head_sample_len = (2 * budget)
            .max(u64::from(DEFAULT_HEAD_SAMPLE_LEN))
            .next_power_of_two()
            .min(u64::from(MAX_HEAD_SAMPLE_LEN)) as u32;
        let shard_config = config.shard_config();
        let after: Vec<ShardAfterTick> = summaries
            .iter()
            .zip(&heads)
            .zip(&shares)
            .map(|((s, h), &g)| ShardAfterTick::new(s, h, g))
            .collect();
        let waiting_after = waiting - budget;

        let grants = summaries
            .iter()
            .enumerate()
            .map(|(i, s)| Grant {
                tick_id,
                shard: s.shard,
                admit: u32::try_from(shares[i]).unwrap_or(u32::MAX),
                config: shard_config,
                others_before: others_before(i, &after),
                others_waiting: waiting_after - after[i].waiting_after(),
                eta,
                head_sample_len,
                operator: *op,
                lottery,
                random_seed: random_seed.map(|seed| operator::tick_seed(seed, u64::from(s.shard))),
            })
            .collect();

        let oldest = summaries.iter().filter_map(|s| s.oldest_arrival_ms).min();
        let wait_s = |t: Option<u64>| t.map_or(0, |t| now_ms.saturating_sub(t) / 1000);
        let stats = AdminStats {
            tick_id,
            waiting,
            active,
            admitted_total: summaries.iter().map(|s| s.admitted_total).sum(),
            abandoned_total: summaries.iter().map(|s| s.abandoned_total).sum(),
            admit_rate_per_min: self.rate.measured_per_s().unwrap_or(0.0) * 60.0,
            oldest_wait_seconds: wait_s(oldest),
            paused: config.paused,
            eta_new_arrival_seconds: eta.eta_seconds(waiting_after + 1),
            admitted_per_min: 0.0,
            abandoned_per_min: 0.0,
            phase: op.phase(now_ms),
            shards: summaries
                .iter()
                .zip(&shares)
                .map(|(s, &g)| ShardStats {
                    shard: s.shard,
                    waiting: s.waiting,
                    active: s.active_sessions,
                    granted: u32::try_from(g).unwrap_or(u32::MAX),
                    oldest_wait_seconds: wait_s(s.oldest_arrival_ms),
                    last_applied_tick: s.last_applied_tick,
                })
                .collect(),
        };
        let mut stats = stats;
        let point = HistoryPoint {
            t_ms: now_ms,
            waiting,
            active,
            admitted_total: stats.admitted_total,
            abandoned_total: stats.abandoned_total,
        };
        stats.admitted_per_min = self.history.per_min(point, |p| p.admitted_total);
        stats.abandoned_per_min = self.history.per_min(point, |p| p.abandoned_total);
        self.history.record(point);
        let plan = TickPlan {
            tick_id,
            budget,
            grants,
            stats,
        };
        self.last_tick_id = Some(tick_id);
        self.last_tick_ms = Some(now_ms);
        self.last_plan = Some(plan.clone());
        plan
    }
}

/// Splits `budget` so that the globally oldest entries are admitted.
fn split_fifo(budget: u64, summaries: &[ShardSummary], heads: &[Vec<u64>]) -> Vec<u64> {
    let n = summaries.len();
    let mut taken = vec![0u64; n];
    if budget == 0 {
        return taken;
    }
    // Entries of a shard beyond its sample arrived no earlier than its last
    // sampled arrival: the merge is exact up to the earliest such time.
    let exact_until = summaries
        .iter()
        .zip(heads)
        .filter(|(s, h)| (h.len() as u64) < s.waiting)
        .map(|(_, h)| h.last().copied().unwrap_or(0))
        .min()
        .unwrap_or(u64::MAX);
    let mut merge: BinaryHeap<Reverse<(u64, usize)>> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.first().map(|&t| Reverse((t, i))))
        .collect();
    let mut left = budget;
    while left > 0 {
        let Some(&Reverse((t, i))) = merge.peek() else {
            break;
        };
        if t > exact_until || taken[i] >= summaries[i].waiting {
            break;
        }
        merge.pop();
        taken[i] += 1;
        left -= 1;
        if let Some(&next) = heads[i].get(taken[i] as usize) {
            merge.push(Reverse((next, i)));
        }
    }
    if left > 0 {
        // Beyond the samples: split by remaining waiting counts (largest
        // remainder, ties to the lower shard index).
        let rest: Vec<u64> = summaries
            .iter()
            .zip(&taken)
            .map(|(s, &t)| s.waiting.saturating_sub(t))
            .collect();
        let total: u64 = rest.iter().sum();
        if total > 0 {
            let give = left.min(total);
            let mut remainders: Vec<(u64, usize)> = Vec::with_capacity(n);
            let mut given = 0;
            for (i, &r) in rest.iter().enumerate() {
                let exact = u128::from(give) * u128::from(r);
                let share = (exact / u128::from(total)) as u64;
                taken[i] += share;
                given += share;
                remainders.push(((exact % u128::from(total)) as u64, i));
            }
            remainders.sort_by_key(|&(rem, i)| (Reverse(rem), i));
            for &(_, i) in remainders.iter().take((give - given) as usize) {
                taken[i] += 1;
            }
        }
    }
    taken
}

/// One shard's waiting entries as they will be after this tick's grants.
struct ShardAfterTick {
    /// Head sample, minus the entries admitted this tick.
    head: Vec<u64>,
    /// Whether `head` holds every waiting entry.
    complete: bool,
    histogram: ArrivalHistogram,
    granted: u64,
    waiting: u64,
}

impl ShardAfterTick {
    fn new(s: &ShardSummary, head: &[u64], granted: u64) -> Self {
        let skip = (granted as usize).min(head.len());
        Self {
            head: head[skip..].to_vec(),
            complete: head.len() as u64 >= s.waiting,
            histogram: s.histogram.clone(),
            granted,
            waiting: s.waiting,
        }
    }

    fn waiting_after(&self) -> u64 {
        self.waiting.saturating_sub(self.granted)
    }

    /// Entries of this shard still waiting after the tick that arrived
    /// before `t`.
    fn count_before(&self, t: u64) -> f64 {
        let exact = self.head.partition_point(|&a| a < t) as f64;
        if self.complete || self.head.last().is_some_and(|&last| t <= last) {
            return exact;
        }
        // Beyond the sample: histogram (which still counts the admitted).
        let est = self.histogram.count_before(t) - self.granted as f64;
        est.max(self.head.len() as f64)
            .min(self.waiting_after() as f64)
    }
}

/// Breakpoints of "waiting entries elsewhere that arrived earlier" for
/// shard `i`, at its own head sample times and histogram boundaries.
fn others_before(i: usize, after: &[ShardAfterTick]) -> Vec<(u64, u64)> {
    let me = &after[i];
    let mut times: Vec<u64> = Vec::new();
    let step = me.head.len().div_ceil(HEAD_BREAKPOINTS).max(1);
    times.extend(me.head.iter().step_by(step));
    times.extend(me.head.last());
    let h = &me.histogram;
    if !h.counts.is_empty() {
        times.extend((0..=h.counts.len() as u64).map(|b| h.start_ms + b * h.width_ms));
    }
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .map(|t| {
            let n: f64 = after
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, o)| o.count_before(t))
                .sum();
            (t, n.floor() as u64)
        })
        .collect()
}

/// A value the Coordinator keeps under one storage key, as read back.
///
/// The controller and the operator settings are stored as JSON text, not as
/// structured values: the controller holds 64-bit seeds, which a JS number
/// (what the storage API's structured values become) cannot represent
/// exactly.
#[derive(Debug, PartialEq)]
pub enum Stored<T> {
    /// Nothing stored yet.
    Absent,
    Found(T),
    /// What this version cannot read: a structured value an earlier version
    /// wrote (the controller once was one), or text that no longer parses.
    /// The Coordinator logs it and starts that value afresh, instead of
    /// failing every tick and every `/admin/stats`.
    Unreadable,
}

impl<T: serde::de::DeserializeOwned> Stored<T> {
    /// What the storage API returned for the key.
    pub fn decode(raw: Option<serde_json::Value>) -> Self {
        match raw {
            None => Stored::Absent,
            Some(serde_json::Value::String(text)) => {
                serde_json::from_str(&text).map_or(Stored::Unreadable, Stored::Found)
            }
            Some(_) => Stored::Unreadable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_are_json_text_and_anything_else_starts_afresh() {
        let mut controller = AdmissionController::new();
        controller.ensure_seed(u64::MAX - 1);
        let text = serde_json::to_string(&controller).unwrap();
        assert_eq!(
            Stored::decode(Some(serde_json::Value::String(text))),
            Stored::Found(controller.clone())
        );
        assert_eq!(Stored::<AdmissionController>::decode(None), Stored::Absent);
        // What a build before the JSON-text format stored: the structured value.
        let structured = serde_json::to_value(&controller).unwrap();
        assert_eq!(
            Stored::<AdmissionController>::decode(Some(structured)),
            Stored::Unreadable
        );
        for text in ["", "{", "[1,2]", "\"text\""] {
            assert_eq!(
                Stored::<AdmissionController>::decode(Some(text.into())),
                Stored::Unreadable,
                "{text:?}"
            );
        }
    }
}
