//! What the dashboard shows: `/admin/stats` per tick, and the last 15
//! minutes of history it charts and takes per-minute rates from.

use serde::{Deserialize, Serialize};

use crate::operator::Phase;

/// Per-shard row of `/admin/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Whether it answered this tick (if not, its figures are its last).
    #[serde(default = "yes")]
    pub answered: bool,
    /// Why it did not answer, when it said (e.g. its rows cannot be
    /// restored): shown on the dashboard until it answers again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn yes() -> bool {
    true
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
    /// Waiting citizens away within the hold of their place.
    #[serde(default)]
    pub away: u64,
    /// Dropped after their hold ran out (back too late), ever: the
    /// contract's `missed_turn` (API.md).
    #[serde(default, rename = "missed_turn", alias = "missed_total")]
    pub missed_total: u64,
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
