//! The `Coordinator` Durable Object: one per room. It paces admissions.
//!
//! Every tick (an alarm, about once a second) it asks each `QueueShard` for a
//! summary, runs `waitroom_core::coordinator::AdmissionController`, and sends
//! each shard its grant. Alarms are delivered at least once, so ticks carry
//! an id and shards apply each id once. When nobody waits and nobody is
//! active the alarm is not re-armed; the next join wakes it
//! (`CoordinatorRequest::Wake`); when and how often it ticks is
//! `waitroom_core::timing`. It also holds the operators' configuration
//! (`PUT /admin/config`). `fetch` decodes one `CoordinatorRequest` and
//! matches it to a `handle_*` method.

use std::time::Duration;

use futures_util::future::join_all;
use waitroom_core::coordinator::{AdmissionConfig, AdmissionController, Grant, Stored};
use waitroom_core::operator::OperatorConfig;
use waitroom_core::protocol::coordinator::CoordinatorRequest;
use waitroom_core::protocol::shard::Summary;
use waitroom_core::protocol::{ConfigPatch, RoomConfig, StatsReply, WakeReply};
use waitroom_core::timing::{self, TICK_MS};
use worker::*;

use crate::config;
use crate::protocol;

const KEY_CONTROLLER: &str = "controller";
const KEY_CONFIG: &str = "config";
const KEY_TICK: &str = "tick_id";
/// Operator settings (modes, schedule, max wait), as a JSON string.
const KEY_OPERATOR: &str = "operator";

#[durable_object]
pub struct Coordinator {
    state: State,
    env: Env,
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

impl DurableObject for Coordinator {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let (path, body) = protocol::incoming(&mut req).await?;
        let request = match CoordinatorRequest::decode(&path, &body) {
            Ok(r) => r,
            Err(e) => return protocol::undecodable(e),
        };
        match request {
            CoordinatorRequest::Wake(_) => protocol::reply(&self.handle_wake().await?),
            CoordinatorRequest::Stats(_) => protocol::reply(&self.handle_stats().await?),
            CoordinatorRequest::Config(patch) => self.handle_config(patch).await,
            #[cfg(feature = "test-routes")]
            CoordinatorRequest::Replay(_) => protocol::reply(&self.handle_replay().await?),
            #[cfg(not(feature = "test-routes"))]
            CoordinatorRequest::Replay(_) => Response::error("not found", 404),
        }
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

    /// Both halves of the configuration.
    async fn room_config(&self) -> Result<RoomConfig> {
        Ok(RoomConfig {
            admission: self.config().await?,
            operator: self.operator().await?,
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
        let stats = controller
            .last_plan()
            .map(|p| p.stats.clone())
            .unwrap_or_default();
        Ok(StatsReply {
            stats,
            config: self.room_config().await?,
            history: controller.history().points.iter().copied().collect(),
        })
    }

    /// Applies a JSON patch of the configuration
    /// (`waitroom_core::operator::apply_patch`): 422 (as JSON) on nonsense.
    async fn handle_config(&self, patch: ConfigPatch) -> Result<Response> {
        use waitroom_core::operator::{apply_patch, config_json};
        let (config, operator) = (self.config().await?, self.operator().await?);
        let (new, new_op) = match apply_patch(&config, &operator, &patch.0) {
            Ok(both) => both,
            Err(e) => return unprocessable(&e.field, &e.message),
        };
        self.state.storage().put(KEY_CONFIG, new).await?;
        let op_json =
            serde_json::to_string(&new_op).map_err(|e| Error::RustError(e.to_string()))?;
        self.state.storage().put(KEY_OPERATOR, op_json).await?;
        let (old, new) = (config_json(&config, &operator), config_json(&new, &new_op));
        console_log!(
            "{}",
            serde_json::json!({ "event": "config_changed", "old": old, "new": new })
        );
        self.handle_wake().await?;
        protocol::json(&new)
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

    /// One admission tick. See the module docs.
    async fn tick(&self) -> Result<()> {
        let storage = self.state.storage();
        let config = self.config().await?;
        let operator = self.operator().await?;
        let mut controller = self.controller().await?;
        // The room's random seed (lottery, random mode), drawn once; 52 bits
        // so it persists as an exact JS number.
        let fresh = u64::from_le_bytes(crate::rand::bytes::<8>()) >> 12;
        controller.ensure_seed(fresh);
        let tick_id = storage.get::<u64>(KEY_TICK).await?.unwrap_or(0) + 1;
        let shards = self.shards();

        let summaries =
            join_all((0..shards).map(|i| protocol::shard_call(&self.env, i, Summary { shard: i })))
                .await
                .into_iter()
                .collect::<Result<Vec<_>>>();
        let summaries = match summaries {
            Ok(s) => s,
            Err(e) => {
                // A shard did not answer: skip this tick (its sessions must count
                // against the cap), try again shortly.
                console_error!("tick {tick_id}: shard summary failed: {e}");
                storage.set_alarm(Duration::from_millis(TICK_MS)).await?;
                return Ok(());
            }
        };
        let now = now_ms();
        let plan = controller.tick_room(tick_id, now, &summaries, &config, &operator);
        let results = join_all(
            plan.grants
                .iter()
                .map(|grant: &Grant| protocol::shard_call(&self.env, grant.shard, grant.clone())),
        )
        .await;
        for r in results {
            if let Err(e) = r {
                // That shard keeps its people: it admits on a later tick.
                console_error!("tick {tick_id}: grant failed: {e}");
            }
        }
        let controller_json =
            serde_json::to_string(&controller).map_err(|e| Error::RustError(e.to_string()))?;
        storage.put(KEY_CONTROLLER, controller_json).await?;
        storage.put(KEY_TICK, tick_id).await?;
        if let Some(ms) = timing::next_tick_in_ms(
            plan.stats.waiting,
            plan.stats.active,
            operator.event_start,
            now,
        ) {
            storage.set_alarm(Duration::from_millis(ms)).await?;
        }
        Ok(())
    }
}

fn unprocessable(field: &str, message: &str) -> Result<Response> {
    let body = serde_json::json!({
        "error": "invalid_field",
        "field": field,
        "message": format!("{field} {message}"),
    });
    Ok(Response::from_json(&body)?.with_status(422))
}
