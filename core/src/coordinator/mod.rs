//! The admission controller run by the Coordinator Durable Object.
//!
//! Every tick (about a second; alarms are at-least-once) the Coordinator
//! asks every QueueShard for its [`ShardSummary`] (the question comes from
//! [`AdmissionController::summary_request`]), calls
//! [`AdmissionController::tick_shards`] with the answers, persists the
//! controller (it is serde), and sends each shard that answered its
//! [`Grant`], which the shard applies with
//! [`crate::queue::ShardQueue::apply_grant`]. The edge sends each grant
//! with the next tick's question ([`Grant::next`], from
//! [`AdmissionController::summary_request`] right after this tick) and
//! plans the next tick from the answers, so a steady tick is one call per
//! shard; the order's lag rules hold either way (`tests/order_model.rs`
//! drives both).
//!
//! The controller keeps the book of the admission order
//! ([`crate::order::OrderBook`]) in memory only (`serde(skip)`): a
//! controller read back from storage starts an empty book and rebuilds it
//! from the shards' full reports within a tick. Keep one controller per
//! Coordinator instance rather than reading it back every tick, or every
//! tick costs full reports.
//!
//! # Idempotence
//! A tick id that is not newer than the last one returns the stored last
//! plan unchanged; its grants carry the old tick id, which the shards have
//! already applied, so a duplicate admits nobody.
//!
//! # Files
//! - `pacing.rs`: how many are admitted this tick: `min(pacing,
//!   total_active_users - active sessions, waiting)`, the pace accrued in a
//!   fractional carry that is never banked.
//! - which shards they come from, and what each grant tells its shard about
//!   the others: [`crate::order::OrderBook`].
//! - `stats.rs`: `/admin/stats` and the dashboard history.
//! - `stored.rs`: reading back what the Coordinator stored ([`Stored`]).
//! - The settings live in [`crate::config`], the summary and grant in
//!   [`crate::wire`] (re-exported here).

use serde::{Deserialize, Serialize};

pub use crate::config::{AdmissionConfig, ConfigError};
use crate::eta::{EtaInfo, RateEstimator};
use crate::operator::{self, Message, OperatorConfig, Phase, QueueMode};
use crate::order::Cut;
use crate::order::OrderBook;
pub use crate::wire::{Grant, ShardSettings, ShardSummary, Summary};

mod pacing;
mod stats;
mod stored;

pub use pacing::{MAX_TICK_GAP_MS, NOMINAL_TICK_MS};
pub use stats::{AdminStats, History, HistoryPoint, ShardStats, HISTORY_POINTS, HISTORY_STEP_MS};
pub use stored::Stored;

/// What a tick passes on besides the pacing settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct TickExtras<'a> {
    /// The operator's live message in force (part of the grants'
    /// [`ShardSettings`]).
    pub message: Option<&'a Message>,
    /// The committed lottery seed of the event starting
    /// ([`crate::operator::fairness`]); without one the room's own seed
    /// is used.
    pub lottery_seed: Option<u64>,
    /// The operator's pace before closed-loop pacing lowered it (the
    /// ceiling the loop may return to); `None`: the tick's own pace.
    pub ceiling_per_minute: Option<u32>,
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// The admission order's book (memory only: see the module docs).
    #[serde(skip)]
    book: OrderBook,
    /// Each shard's last summary, standing in for one that does not answer.
    #[serde(skip)]
    last_known: Vec<Option<ShardSummary>>,
}

impl PartialEq for AdmissionController {
    /// The persisted state (the book is rebuilt, not compared).
    fn eq(&self, other: &Self) -> bool {
        self.last_tick_id == other.last_tick_id
            && self.last_tick_ms == other.last_tick_ms
            && self.carry == other.carry
            && self.granted_total == other.granted_total
            && self.rate == other.rate
            && self.last_plan == other.last_plan
            && self.seed == other.seed
            && self.lottery_tick == other.lottery_tick
            && self.history == other.history
    }
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

    /// The book of the admission order (for the benchmark and tests).
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// Each shard's summary this tick, or its last known one if it did not
    /// answer (what `tick_shards` counts with).
    pub fn with_last_known(&self, replies: &[Option<ShardSummary>]) -> Vec<ShardSummary> {
        replies
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.clone()
                    .or_else(|| self.last_known.get(i).cloned().flatten())
                    .unwrap_or(ShardSummary {
                        shard: i as u32,
                        ..ShardSummary::default()
                    })
            })
            .collect()
    }

    /// What to ask `shard` at tick `tick_id`.
    pub fn summary_request(&self, shard: u32, tick_id: u64) -> Summary {
        let (received_through, seals) = self.book.summary_request(shard);
        Summary {
            shard,
            tick_id,
            received_through,
            seals,
        }
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

    /// [`AdmissionController::tick_shards`] with every shard answering
    /// (`summaries[i]` is shard `i`'s).
    pub fn tick_room(
        &mut self,
        tick_id: u64,
        now_ms: u64,
        summaries: &[ShardSummary],
        config: &AdmissionConfig,
        op: &OperatorConfig,
    ) -> TickPlan {
        let replies: Vec<Option<ShardSummary>> = summaries.iter().cloned().map(Some).collect();
        self.tick_shards(tick_id, now_ms, &replies, config, op, TickExtras::default())
    }

    /// Plans one tick. `replies[i]` is shard `i`'s summary, answering
    /// [`AdmissionController::summary_request`], or `None` if it did not
    /// answer: its last known figures stand in (its sessions count against
    /// the cap), its people keep their place and the others go on. Grants
    /// are for the shards that answered. A `tick_id` not newer than the last
    /// returns the last plan again.
    ///
    /// Operator settings: no admissions before `event_start`; the first
    /// tick after it announces the lottery and admits nobody; `passthrough`
    /// admits everyone waiting; `random` splits the budget uniformly.
    pub fn tick_shards(
        &mut self,
        tick_id: u64,
        now_ms: u64,
        replies: &[Option<ShardSummary>],
        config: &AdmissionConfig,
        op: &OperatorConfig,
        extras: TickExtras<'_>,
    ) -> TickPlan {
        if let (Some(last), Some(plan)) = (self.last_tick_id, &self.last_plan) {
            if tick_id <= last {
                return plan.clone();
            }
        }
        let shards = replies.len();
        if self.last_known.len() < shards {
            self.last_known.resize(shards, None);
        }
        let mut eligible = vec![false; shards];
        for (i, reply) in replies.iter().enumerate() {
            if let Some(s) = reply {
                eligible[i] = self.book.absorb(tick_id, s);
                // Kept without its report facts: a stand-in counts nothing twice.
                self.last_known[i] = Some(ShardSummary {
                    facts: Default::default(),
                    ..s.clone()
                });
            }
        }
        let known: Vec<ShardSummary> = (0..shards)
            .map(|i| {
                self.last_known[i].clone().unwrap_or(ShardSummary {
                    shard: i as u32,
                    ..ShardSummary::default()
                })
            })
            .collect();
        let summaries = &known[..];
        let elapsed = self.elapsed_ms(now_ms);
        let waiting: u64 = summaries.iter().map(|s| s.waiting).sum();
        let active: u64 = summaries.iter().map(|s| s.active_sessions).sum();
        let admissible: u64 = summaries
            .iter()
            .zip(&eligible)
            .filter(|(_, &e)| e)
            .map(|(s, _)| s.waiting)
            .sum();
        let open = op.phase(now_ms) == Phase::Open;
        let seed = self.seed.unwrap_or(0);
        let lottery = match op.event_start {
            Some(e) if open => op.lottery(
                extras
                    .lottery_seed
                    .unwrap_or_else(|| operator::tick_seed(seed, e)),
            ),
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
        let budget = self.budget(held, op.mode, config, elapsed, admissible, active);
        if !held && waiting > budget {
            self.rate.observe(budget, elapsed);
        }
        self.granted_total += budget;

        let random_seed = (op.mode == QueueMode::Random && budget > 0).then(|| {
            // Fresh per tick; from the lottery seed when there is one, so
            // a replayed tick splits the same way.
            operator::tick_seed(seed ^ 0x5EED, tick_id)
        });
        let cuts = match random_seed {
            Some(seed) => {
                let counts: Vec<u64> = summaries
                    .iter()
                    .zip(&eligible)
                    .map(|(s, &e)| if e { s.waiting } else { 0 })
                    .collect();
                operator::split_random(budget, &counts, seed)
                    .into_iter()
                    .map(|admit| Cut {
                        admit,
                        through_rank: u64::MAX,
                    })
                    .collect()
            }
            None => {
                let away: Vec<&[(u64, u64)]> =
                    summaries.iter().map(|s| s.away_ahead.as_slice()).collect();
                self.book.cuts_present(budget, &eligible, &away)
            }
        };
        let ceiling = extras
            .ceiling_per_minute
            .unwrap_or(0)
            .max(config.new_users_per_minute);
        let eta = EtaInfo {
            rate_per_s: self.rate.rate_per_s(config.new_users_per_minute),
            paused: held,
            max_rate_per_s: f64::from(ceiling) / 60.0,
        };
        let settings = ShardSettings {
            config: config.shard_config(),
            operator: *op,
            message: extras.message.cloned(),
        };
        let digest = settings.digest();
        let views = self.book.complete(shards as u32);
        let grants: Vec<Grant> = replies
            .iter()
            .flatten()
            .map(|s| {
                let i = s.shard as usize;
                let cut = cuts.get(i).copied().unwrap_or_default();
                Grant {
                    tick_id,
                    shard: s.shard,
                    admit: u32::try_from(cut.admit).unwrap_or(u32::MAX),
                    admit_through_rank: cut.through_rank,
                    seals: self.book.summary_request(s.shard).1,
                    view: views.then(|| self.book.view_for(s.shard, s.view_tick)),
                    settings: (s.settings_digest != Some(digest)).then(|| settings.clone()),
                    others_waiting: waiting - s.waiting.min(waiting),
                    eta,
                    lottery,
                    random_seed: random_seed
                        .map(|seed| operator::tick_seed(seed, u64::from(s.shard))),
                    next: None,
                }
            })
            .collect();
        self.book.finish_tick(tick_id, views);
        let shares: Vec<u64> = (0..shards)
            .map(|i| cuts.get(i).map_or(0, |c| c.admit))
            .collect();
        let waiting_after = waiting - budget.min(waiting);

        let oldest = summaries.iter().filter_map(|s| s.oldest_arrival_ms).min();
        let wait_s = |t: Option<u64>| t.map_or(0, |t| now_ms.saturating_sub(t) / 1000);
        let stats = AdminStats {
            tick_id,
            waiting,
            active,
            admitted_total: summaries.iter().map(|s| s.admitted_total).sum(),
            abandoned_total: summaries.iter().map(|s| s.abandoned_total).sum(),
            away: summaries.iter().map(|s| s.away).sum(),
            missed_total: summaries.iter().map(|s| s.missed_total).sum(),
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
                .zip(replies)
                .map(|((s, &g), reply)| ShardStats {
                    shard: s.shard,
                    waiting: s.waiting,
                    active: s.active_sessions,
                    granted: u32::try_from(g).unwrap_or(u32::MAX),
                    oldest_wait_seconds: wait_s(s.oldest_arrival_ms),
                    last_applied_tick: s.last_applied_tick,
                    answered: reply.is_some(),
                    error: None,
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
