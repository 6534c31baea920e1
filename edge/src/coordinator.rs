//! The `Coordinator` Durable Object: one per room. It paces admissions.
//!
//! Every tick (an alarm, about once a second) it takes each `QueueShard`'s
//! summary (and the origin's capacity report: `crate::capacity`), runs
//! `waitroom_core::coordinator::AdmissionController`, and sends each shard
//! that answered its grant. A grant also asks the next tick's summary
//! (`Grant::next`), which comes back in its reply: a steady tick is one call
//! per shard. A shard whose answer is missing (the first tick of this
//! instance, a failed call) is asked on its own first. A shard that does not
//! answer keeps its people in place (its last summary stands in) while the
//! others go on.
//! The controller stays in this instance's memory between ticks: its book
//! of the admission order (`waitroom_core::order`) is memory only, and a
//! fresh instance rebuilds it from the shards' full reports in one tick.
//! Alarms are delivered at least once, so ticks carry an id and shards
//! apply each id once. When nobody waits and nobody is
//! active the alarm is not re-armed; the next join wakes it
//! (`CoordinatorRequest::Wake`); when and how often it ticks is
//! `waitroom_core::timing`. It also holds the operators' configuration
//! (`PUT /admin/config`: the room's settings, the live message and the
//! scheduled events, applied as `Settings::effective` at each tick) and the
//! pre-queue lotteries' committed seeds (`GET /fairness`), and adds every
//! tick to the launch report (`crate::report`). Its RPC method `rpc`
//! (`crate::protocol`) decodes one `CoordinatorRequest` and matches it to a
//! `handle_*` method.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use futures_util::future::join_all;
use waitroom_core::coordinator::{
    AdmissionConfig, AdmissionController, Grant, ShardSummary, Stored, TickExtras,
};
use waitroom_core::operator::{
    draws_needed, next_change_ms, FairnessDraw, LotteryEntry, OperatorConfig, OperatorExtras,
    Settings, ShardFacts, TickFacts,
};
use waitroom_core::protocol::coordinator::CoordinatorRequest;
use waitroom_core::protocol::{
    BypassedCounts, ConfigPatch, Drawn, FairnessEntries, FairnessEntriesReply, FairnessReply,
    ReportRecordsReply, RoomConfig, RulesReply, StatsReply, TickCost, WakeReply,
};
use waitroom_core::timing::{self, TICK_MS};
use worker::wasm_bindgen::prelude::*;
use worker::*;

use crate::clock::now_ms;
use crate::config;
use crate::protocol::{self, Answer};

const KEY_CONTROLLER: &str = "controller";
const KEY_CONFIG: &str = "config";
const KEY_TICK: &str = "tick_id";
/// Operator settings (modes, schedule, max wait), as a JSON string.
const KEY_OPERATOR: &str = "operator";
/// Message, events and bypass rules, as a JSON string.
const KEY_EXTRAS: &str = "extras";
/// The lotteries' seeds and draws (`FairnessDraw`s), as a JSON string.
const KEY_FAIRNESS: &str = "fairness";
/// Lotteries kept (the newest): more than the events a room can schedule.
const DRAWS_KEPT: usize = 20;

#[durable_object]
pub struct Coordinator {
    state: State,
    env: Env,
    /// The controller of the last tick, with its in-memory book.
    controller: RefCell<Option<AdmissionController>>,
    /// The summaries the last tick's grants were answered with, for the
    /// next tick: kept only while the room keeps ticking (see
    /// [`NextSummaries`]).
    next_summaries: RefCell<Option<NextSummaries>>,
    /// What the last ticks cost (read by the benchmark in test builds).
    costs: RefCell<VecDeque<TickCost>>,
    /// Per shard, why its last summary call failed (cleared when it
    /// answers): `/admin/stats` shows it, so a shard that cannot restore
    /// is an error the operator sees, not a silent gap.
    shard_errors: RefCell<Vec<Option<String>>>,
    /// The last published entry list (`event_start_ms`, entries): it never
    /// changes after the draw, and gathering it asks every shard.
    drawn_cache: RefCell<Option<(u64, Vec<LotteryEntry>)>>,
    /// Test builds: measure each tick's [`TickCost::floor_ms`].
    #[cfg(feature = "test-routes")]
    measure_floor: bool,
}

/// Tick costs kept.
const COSTS_KEPT: usize = 600;

/// Summaries a tick's grants brought (`Grant::next`), per shard. A tick
/// uses them instead of asking only if it is the very next tick and they
/// are at most [`NEXT_SUMMARIES_MAX_AGE_MS`] old: they stand for the shards
/// as they were after the last grants, so a tick woken in an idle room (by
/// the very arrival they do not count) asks afresh.
struct NextSummaries {
    tick_id: u64,
    taken_ms: u64,
    summaries: Vec<Option<ShardSummary>>,
}

/// Older than this (a late alarm), the shards are asked again.
const NEXT_SUMMARIES_MAX_AGE_MS: u64 = 3 * TICK_MS;

impl DurableObject for Coordinator {
    fn new(state: State, env: Env) -> Self {
        #[cfg(feature = "test-routes")]
        let measure_floor = env
            .var("BENCH_TICK_FLOOR")
            .is_ok_and(|v| v.to_string() == "true");
        Self {
            state,
            env,
            controller: RefCell::new(None),
            next_summaries: RefCell::new(None),
            costs: RefCell::new(VecDeque::new()),
            shard_errors: RefCell::new(Vec::new()),
            drawn_cache: RefCell::new(None),
            #[cfg(feature = "test-routes")]
            measure_floor,
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        protocol::not_rpc()
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.tick().await {
            // Never let a failed tick stop the room: log it and tick again soon.
            console_error!("tick failed: {e}");
            self.state
                .storage()
                .set_alarm(Duration::from_millis(TICK_MS))
                .await?;
        }
        Response::ok("ticked")
    }
}

/// Durable Object RPC (`edge/entry.mjs` passes it through).
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl Coordinator {
    /// One typed call: `path` names it, `body` holds its fields (see
    /// `protocol`).
    pub async fn rpc(&self, path: String, body: String) -> std::result::Result<JsValue, JsValue> {
        protocol::rpc_answer(self.answer(&path, &body)).await
    }
}

impl Coordinator {
    /// One call's answer (`protocol`).
    async fn answer(&self, path: &str, body: &str) -> Result<Answer> {
        let request = match CoordinatorRequest::decode(path, body) {
            Ok(r) => r,
            Err(e) => return protocol::undecodable(e),
        };
        match request {
            CoordinatorRequest::Wake(_) => protocol::reply(&self.handle_wake().await?),
            CoordinatorRequest::Stats(_) => protocol::reply(&self.handle_stats().await?),
            CoordinatorRequest::Config(patch) => self.handle_config(patch).await,
            CoordinatorRequest::Fairness(_) => protocol::reply(&FairnessReply {
                lotteries: self
                    .draws()
                    .await?
                    .iter()
                    .map(FairnessDraw::public)
                    .collect(),
            }),
            CoordinatorRequest::FairnessEntries(r) => {
                protocol::reply(&self.handle_fairness_entries(r).await?)
            }
            CoordinatorRequest::ReportRecords(_) => protocol::reply(&ReportRecordsReply {
                records: crate::report::records(&self.state).await?,
            }),
            CoordinatorRequest::RulesQuery(_) => protocol::reply(&RulesReply {
                rules: self.extras().await?.bypass_rules,
            }),
            #[cfg(feature = "test-routes")]
            CoordinatorRequest::Replay(_) => protocol::reply(&self.handle_replay().await?),
            #[cfg(feature = "test-routes")]
            CoordinatorRequest::Costs(_) => protocol::reply(&waitroom_core::protocol::CostsReply {
                ticks: self.costs.borrow().iter().copied().collect(),
            }),
            #[cfg(not(feature = "test-routes"))]
            CoordinatorRequest::Replay(_) | CoordinatorRequest::Costs(_) => {
                Ok(Answer::error("not found", 404))
            }
        }
    }
}

/// The configuration from wrangler.toml `[vars]`, used until an operator changes it.
fn default_config(env: &Env) -> AdmissionConfig {
    let d = AdmissionConfig::default();
    AdmissionConfig {
        new_users_per_minute: config::number(env, "NEW_USERS_PER_MINUTE", d.new_users_per_minute),
        total_active_users: config::number(env, "TOTAL_ACTIVE_USERS", d.total_active_users),
        session_minutes: config::number(env, "SESSION_MINUTES", d.session_minutes),
        abandon_after_seconds: config::number(
            env,
            "ABANDON_AFTER_SECONDS",
            d.abandon_after_seconds,
        ),
        paused: config::var(env, "PAUSED").is_some_and(|v| v == "true"),
        max_away_minutes: config::number(env, "MAX_AWAY_MINUTES", d.max_away_minutes),
    }
}

impl Coordinator {
    fn shards(&self) -> u32 {
        config::number(&self.env, "SHARDS", 8).clamp(1, config::MAX_SHARDS)
    }

    async fn config(&self) -> Result<AdmissionConfig> {
        Ok(
            match self
                .state
                .storage()
                .get::<AdmissionConfig>(KEY_CONFIG)
                .await?
            {
                Some(c) => c,
                None => default_config(&self.env),
            },
        )
    }

    async fn operator(&self) -> Result<OperatorConfig> {
        Ok(self.stored_json(KEY_OPERATOR).await?.unwrap_or_default())
    }

    /// The value stored as JSON text under `key`; see [`Stored`] for what
    /// happens to anything else there.
    async fn stored_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        Ok(match Stored::decode(self.state.storage().get(key).await?) {
            Stored::Absent => None,
            Stored::Found(value) => Some(value),
            Stored::Unreadable => {
                console_error!("Coordinator: unreadable stored {key:?}, starting it afresh");
                None
            }
        })
    }

    async fn extras(&self) -> Result<OperatorExtras> {
        Ok(self.stored_json(KEY_EXTRAS).await?.unwrap_or_default())
    }

    /// Every operator setting, as stored.
    async fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            admission: self.config().await?,
            operator: self.operator().await?,
            extras: self.extras().await?,
        })
    }

    /// The configuration as the admin API shows it.
    async fn room_config(&self) -> Result<RoomConfig> {
        let s = self.settings().await?;
        Ok(RoomConfig {
            admission: s.admission,
            operator: s.operator,
            extras: s.extras,
        })
    }

    async fn draws(&self) -> Result<Vec<FairnessDraw>> {
        Ok(self.stored_json(KEY_FAIRNESS).await?.unwrap_or_default())
    }

    async fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string(value).map_err(|e| Error::RustError(e.to_string()))?;
        self.state.storage().put(key, text).await
    }

    /// Draws and stores a seed for every scheduled pre-queue without one:
    /// its commitment is public from now on (`waitroom_core::operator::fairness`).
    /// A seed whose pre-queue was unscheduled before its draw is dropped
    /// unrevealed.
    async fn commit_draws(&self, settings: &Settings) -> Result<Vec<FairnessDraw>> {
        let mut draws = self.draws().await?;
        let scheduled = draws_needed(settings, &[]);
        let before = draws.len();
        draws.retain(|d| d.drawn_at_ms.is_some() || scheduled.contains(&d.event_start_ms));
        let needed = draws_needed(settings, &draws);
        if needed.is_empty() {
            if draws.len() != before {
                self.put_json(KEY_FAIRNESS, &draws).await?;
            }
            return Ok(draws);
        }
        for event_start_ms in needed {
            draws.push(FairnessDraw::new(event_start_ms, crate::rand::bytes()));
            console_log!(
                "{}",
                serde_json::json!({ "event": "lottery_committed", "event_start_ms": event_start_ms })
            );
        }
        draws.sort_by_key(|d| d.event_start_ms);
        let drop = draws.len().saturating_sub(DRAWS_KEPT);
        draws.drain(..drop);
        self.put_json(KEY_FAIRNESS, &draws).await?;
        Ok(draws)
    }

    /// The entries a drawn lottery shuffled, from every shard (once: the
    /// list is kept in memory for the next asker).
    async fn handle_fairness_entries(&self, r: FairnessEntries) -> Result<FairnessEntriesReply> {
        let drawn = self
            .draws()
            .await?
            .iter()
            .any(|d| d.event_start_ms == r.event_start_ms && d.drawn_at_ms.is_some());
        if !drawn {
            return Ok(FairnessEntriesReply { entries: None });
        }
        if let Some((at, entries)) = &*self.drawn_cache.borrow() {
            if *at == r.event_start_ms {
                return Ok(FairnessEntriesReply {
                    entries: Some(entries.clone()),
                });
            }
        }
        let call = Drawn {
            event_start_ms: r.event_start_ms,
        };
        let replies =
            join_all((0..self.shards()).map(|i| protocol::shard_call(&self.env, i, call))).await;
        let mut entries = Vec::new();
        for (shard, reply) in (0..).zip(replies) {
            entries.extend(reply?.ids.into_iter().map(|id| LotteryEntry { id, shard }));
        }
        *self.drawn_cache.borrow_mut() = Some((r.event_start_ms, entries.clone()));
        Ok(FairnessEntriesReply {
            entries: Some(entries),
        })
    }

    /// The controller is stored as JSON text, not as a structured value:
    /// it holds 64-bit seeds, which a JS number (what the storage API's
    /// structured values become) cannot represent exactly.
    async fn controller(&self) -> Result<AdmissionController> {
        Ok(self.stored_json(KEY_CONTROLLER).await?.unwrap_or_default())
    }

    async fn handle_wake(&self) -> Result<WakeReply> {
        let storage = self.state.storage();
        let alarm = storage.get_alarm().await?.map(|at| at.max(0) as u64);
        if timing::alarm_overdue(alarm, now_ms()) {
            storage
                .set_alarm(Duration::from_millis(timing::WAKE_NOW_MS))
                .await?;
        }
        Ok(WakeReply { awake: true })
    }

    async fn handle_stats(&self) -> Result<StatsReply> {
        let controller = self.controller().await?;
        let mut stats = controller
            .last_plan()
            .map(|p| p.stats.clone())
            .unwrap_or_default();
        for (row, error) in stats
            .shards
            .iter_mut()
            .zip(self.shard_errors.borrow().iter())
        {
            row.error.clone_from(error);
        }
        let config = self.room_config().await?;
        let pacing = crate::capacity::stats(&self.state, config.admission.paused).await?;
        Ok(StatsReply {
            stats,
            config,
            history: controller.history().points.iter().copied().collect(),
            pacing,
            bypassed_this_minute: BypassedCounts::of(
                crate::report::this_minute(&self.state, now_ms())
                    .await?
                    .map_or([0; 3], |m| m.counts.bypassed),
            ),
        })
    }

    /// Applies a JSON patch of the configuration
    /// (`waitroom_core::operator::apply_settings_patch`): 422 (as JSON) on
    /// nonsense, with nothing changed. A new pre-queue gets its lottery
    /// seed committed before the answer goes out.
    async fn handle_config(&self, patch: ConfigPatch) -> Result<Answer> {
        use waitroom_core::operator::{apply_settings_patch, settings_log_json};
        let current = self.settings().await?;
        let new = match apply_settings_patch(&current, &patch.0) {
            Ok(s) => s,
            Err(e) => return unprocessable(&e.field, &e.message),
        };
        self.state.storage().put(KEY_CONFIG, new.admission).await?;
        self.put_json(KEY_OPERATOR, &new.operator).await?;
        self.put_json(KEY_EXTRAS, &new.extras).await?;
        self.commit_draws(&new).await?;
        console_log!(
            "{}",
            serde_json::json!({
                "event": "config_changed",
                "old": settings_log_json(&current),
                "new": settings_log_json(&new),
            })
        );
        self.handle_wake().await?;
        protocol::reply(&RoomConfig {
            admission: new.admission,
            operator: new.operator,
            extras: new.extras,
        })
    }

    /// Test-only: sends the last tick's grants again, as an alarm delivered
    /// twice would. Shards must answer `duplicate` and admit nobody.
    #[cfg(feature = "test-routes")]
    async fn handle_replay(&self) -> Result<waitroom_core::protocol::ReplayReply> {
        let controller = self.controller().await?;
        let grants = controller
            .last_plan()
            .map(|p| p.grants.clone())
            .unwrap_or_default();
        let mut replies = Vec::new();
        for grant in &grants {
            replies.push(protocol::shard_call(&self.env, grant.shard, grant.clone()).await?);
        }
        Ok(waitroom_core::protocol::ReplayReply { grants, replies })
    }

    /// Adds this tick to the launch report: the facts of the shards that
    /// answered (one that did not sends its own again next time), the
    /// active sessions, the registry's utilisation from the origin's last
    /// capacity report.
    async fn record_report(
        &self,
        replies: &[Option<ShardSummary>],
        active: u64,
        utilisation: Option<f64>,
        event_start_ms: Option<u64>,
        now: u64,
    ) -> Result<()> {
        let mut facts = ShardFacts::default();
        for s in replies.iter().flatten() {
            facts.merge(&s.facts);
        }
        let tick = TickFacts {
            shards: facts,
            active,
            registry_utilisation: utilisation,
        };
        crate::report::record(&self.state, now, event_start_ms, &tick).await
    }

    fn record_cost(&self, cost: TickCost) {
        let mut costs = self.costs.borrow_mut();
        if costs.len() == COSTS_KEPT {
            costs.pop_front();
        }
        costs.push_back(cost);
    }

    /// Test builds with `BENCH_TICK_FLOOR`, every tenth tick: the wall time
    /// of a call that does nothing to every shard at once, the floor under a
    /// tick's grants (the runtime's own cost per call; see
    /// [`TickCost::floor_ms`]).
    #[cfg(feature = "test-routes")]
    async fn floor_ms(&self, tick_id: u64, shards: u32) -> Option<u64> {
        // On one tick in ten: the extra calls would otherwise weigh on the
        // ticks being measured.
        if !self.measure_floor || !tick_id.is_multiple_of(10) {
            return None;
        }
        let started = now_ms();
        let pings = (0..shards)
            .map(|i| protocol::shard_call(&self.env, i, waitroom_core::protocol::shard::Ping));
        join_all(pings).await;
        Some(now_ms().saturating_sub(started))
    }

    /// One admission tick. See the module docs.
    async fn tick(&self) -> Result<()> {
        let storage = self.state.storage();
        let settings = self.settings().await?;
        // The event running now, if any, overrides the room's settings.
        let effective = settings.effective(now_ms());
        let (config, operator) = (effective.admission, effective.operator);
        // The pace closed-loop pacing may go up to: holds assume it.
        let ceiling_per_minute = config.new_users_per_minute;
        let mut draws = self.commit_draws(&settings).await?;
        let draw = operator
            .event_start
            .and_then(|e| draws.iter().position(|d| d.event_start_ms == e));
        let cached = self.controller.borrow_mut().take();
        let mut controller = match cached {
            Some(c) => c,
            None => self.controller().await?,
        };
        // The room's random seed (lottery, random mode), drawn once; 52 bits
        // so it persists as an exact JS number.
        let fresh = u64::from_le_bytes(crate::rand::bytes::<8>()) >> 12;
        controller.ensure_seed(fresh);
        let tick_id = storage.get::<u64>(KEY_TICK).await?.unwrap_or(0) + 1;
        let shards = self.shards();

        let started = now_ms();
        // The answers the last tick's grants brought, if they are this tick's.
        let mut replies: Vec<Option<ShardSummary>> = match self.next_summaries.borrow_mut().take() {
            Some(n)
                if n.tick_id == tick_id
                    && started.saturating_sub(n.taken_ms) <= NEXT_SUMMARIES_MAX_AGE_MS =>
            {
                n.summaries
            }
            _ => Vec::new(),
        };
        replies.resize(shards as usize, None);
        let requests: Vec<_> = (0..shards)
            .filter(|&i| replies[i as usize].is_none())
            .map(|i| controller.summary_request(i, tick_id))
            .collect();
        // The origin's capacity report is asked for meanwhile: its round
        // trip overlaps the shards'.
        let (asked, answer) = futures_util::future::join(
            join_all(
                requests
                    .iter()
                    .map(|r| protocol::shard_call(&self.env, r.shard, r.clone())),
            ),
            crate::capacity::ask_origin(&self.env, &operator, started),
        )
        .await;
        let mut errors = vec![None; shards as usize];
        for (r, reply) in requests.iter().zip(asked) {
            match reply {
                Ok(s) => replies[r.shard as usize] = Some(s),
                Err(e) => {
                    // Its last summary stands in; the others keep admitting.
                    console_error!("tick {tick_id}: shard {} summary failed: {e}", r.shard);
                    errors[r.shard as usize] = Some(e.to_string());
                }
            }
        }
        *self.shard_errors.borrow_mut() = errors;
        let now = now_ms();
        let summaries_ms = now.saturating_sub(started);
        // Closed-loop pacing: the rate this tick is what the origin can serve.
        let known = controller.with_last_known(&replies);
        let (config, pacing) =
            crate::capacity::paced_config(&self.state, &config, &operator, answer, &known, now)
                .await?;
        let extras = TickExtras {
            message: effective.message.as_ref(),
            lottery_seed: draw.map(|i| draws[i].seed.lottery_seed()),
            ceiling_per_minute: Some(ceiling_per_minute),
        };
        let mut plan = controller.tick_shards(tick_id, now, &replies, &config, &operator, extras);
        let utilisation = pacing.registry_utilisation();
        self.record_report(
            &replies,
            plan.stats.active,
            utilisation,
            effective.event_start_ms,
            now,
        )
        .await?;
        let granting = now_ms();
        let lottery_ran = plan.grants.iter().any(|g| g.lottery.is_some());
        // Each grant asks the next tick's summary too.
        let sent: Vec<Grant> = std::mem::take(&mut plan.grants)
            .into_iter()
            .map(|g| Grant {
                next: Some(controller.summary_request(g.shard, tick_id + 1)),
                ..g
            })
            .collect();
        let results = join_all(
            sent.iter()
                .map(|grant| protocol::shard_call(&self.env, grant.shard, grant.clone())),
        )
        .await;
        let done = now_ms();
        #[cfg(feature = "test-routes")]
        let floor_ms = self.floor_ms(tick_id, shards).await;
        #[cfg(not(feature = "test-routes"))]
        let floor_ms = None;
        let mut drawn = 0;
        let mut next = vec![None; shards as usize];
        for (grant, r) in sent.iter().zip(results) {
            match r {
                Ok(reply) => {
                    drawn += reply.drawn;
                    next[grant.shard as usize] = reply.summary;
                }
                // That shard keeps its people: it admits on a later tick.
                Err(e) => console_error!("tick {tick_id}: grant failed: {e}"),
            }
        }
        if let (Some(i), true) = (draw, lottery_ran) {
            // The shards shuffled on this grant: the seed may be published.
            if draws[i].drawn_at_ms.is_none() {
                draws[i].record_draw(drawn, now);
                self.put_json(KEY_FAIRNESS, &draws).await?;
                console_log!(
                    "{}",
                    serde_json::json!({
                        "event": "lottery_drawn",
                        "event_start_ms": draws[i].event_start_ms,
                        "entries": drawn,
                    })
                );
            }
        }
        // Re-encoding every message costs time: only test builds count bytes.
        #[cfg(feature = "test-routes")]
        let bytes = requests.iter().map(json_len).sum::<usize>()
            + replies.iter().flatten().map(json_len).sum::<usize>()
            + sent.iter().map(json_len).sum::<usize>();
        #[cfg(not(feature = "test-routes"))]
        let bytes = 0;
        self.record_cost(TickCost {
            tick_id,
            ms: done.saturating_sub(started),
            summaries_ms,
            between_ms: granting.saturating_sub(now),
            grants_ms: done.saturating_sub(granting),
            bytes: bytes as u64,
            waiting: plan.stats.waiting,
            floor_ms,
        });
        let controller_json =
            serde_json::to_string(&controller).map_err(|e| Error::RustError(e.to_string()))?;
        storage.put(KEY_CONTROLLER, controller_json).await?;
        storage.put(KEY_TICK, tick_id).await?;
        *self.controller.borrow_mut() = Some(controller);
        // Whoever the grants' answers count (arrivals since the summaries
        // this tick used) keeps the room ticking too.
        let counted = |f: fn(&ShardSummary) -> u64| next.iter().flatten().map(f).sum::<u64>();
        let waiting = plan.stats.waiting.max(counted(|s| s.waiting));
        let active = plan.stats.active.max(counted(|s| s.active_sessions));
        let next_tick = timing::next_tick_in_ms(waiting, active, operator.event_start, now);
        // An idle room's next tick is woken by an arrival (or an event's
        // start) these do not count: it asks afresh.
        *self.next_summaries.borrow_mut() = (waiting > 0 || active > 0).then(|| NextSummaries {
            tick_id: tick_id + 1,
            taken_ms: done,
            summaries: next,
        });
        // An idle room still wakes when an event begins or ends, so the
        // shards' door follows the schedule before anyone arrives.
        let next_change = next_change_ms(&settings.extras.events, now).map(|t| t - now);
        if let Some(ms) = next_tick.into_iter().chain(next_change).min() {
            storage.set_alarm(Duration::from_millis(ms)).await?;
        }
        Ok(())
    }
}

/// JSON length of one of the tick's messages, for [`TickCost`].
#[cfg(feature = "test-routes")]
fn json_len<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(0, |v| v.len())
}

fn unprocessable(field: &str, message: &str) -> Result<Answer> {
    protocol::unprocessable(&serde_json::json!({
        "error": "invalid_field",
        "field": field,
        "message": format!("{field} {message}"),
    }))
}
