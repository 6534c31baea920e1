//! `Coordinator` requests and replies.

use serde::{Deserialize, Serialize};

use super::{body_of, decode_json, Call, ProtocolError, Wire};
use crate::capacity::PacingStats;
use crate::coordinator::{AdminStats, AdmissionConfig, Grant, HistoryPoint};
use crate::operator::{
    BypassRules, LotteryEntry, MinuteRecord, OperatorConfig, OperatorExtras, PublicFairness,
};
use crate::protocol::GrantReply;

/// Make sure the admission alarm runs (a shard saw an arrival in an idle room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wake;

/// `/admin/stats`: the last tick's figures and the live configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats;

/// `PUT /admin/config`: a JSON object of the fields to change. It stays an
/// open object on purpose: the Coordinator rejects an unknown field with a
/// `422` naming it, which a closed type would turn into a bare parse error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPatch(pub serde_json::Map<String, serde_json::Value>);

/// Test builds only: send the last tick's grants again, as an alarm
/// delivered twice would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay;

/// Test builds only: what the last ticks cost (the benchmark reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Costs;

/// `GET /fairness` (public): every lottery's commitment, and its seed
/// once drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fairness;

/// The answer to [`Fairness`], oldest event first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairnessReply {
    pub lotteries: Vec<PublicFairness>,
}

/// `GET /fairness/entries?event_start_ms=`: the pseudonymous entries a
/// lottery shuffled (after its draw only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairnessEntries {
    pub event_start_ms: u64,
}

/// The answer to [`FairnessEntries`]: `None` while the lottery has not
/// been drawn (or there is none for that event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairnessEntriesReply {
    pub entries: Option<Vec<LotteryEntry>>,
}

/// `GET /admin/report`: every stored minute of the launch report, and the
/// open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecords;

/// The answer to [`ReportRecords`], oldest minute first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRecordsReply {
    pub records: Vec<MinuteRecord>,
}

/// The operator's bypass rules, for an edge isolate's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesQuery;

/// The answer to [`RulesQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesReply {
    pub rules: BypassRules,
}

/// Everything the Coordinator is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorRequest {
    Wake(Wake),
    Stats(Stats),
    Config(ConfigPatch),
    Replay(Replay),
    Costs(Costs),
    Fairness(Fairness),
    FairnessEntries(FairnessEntries),
    ReportRecords(ReportRecords),
    RulesQuery(RulesQuery),
}

impl CoordinatorRequest {
    pub fn encode(&self) -> Wire {
        match self {
            CoordinatorRequest::Wake(r) => Wire::post("/wake", r),
            CoordinatorRequest::Stats(r) => Wire::post("/stats", r),
            CoordinatorRequest::Config(r) => Wire::post("/config", r),
            CoordinatorRequest::Replay(r) => Wire::post("/replay", r),
            CoordinatorRequest::Costs(r) => Wire::post("/costs", r),
            CoordinatorRequest::Fairness(r) => Wire::post("/fairness", r),
            CoordinatorRequest::FairnessEntries(r) => Wire::post("/fairness/entries", r),
            CoordinatorRequest::ReportRecords(r) => Wire::post("/report", r),
            CoordinatorRequest::RulesQuery(r) => Wire::post("/rules", r),
        }
    }

    pub fn decode(path: &str, body: &str) -> Result<CoordinatorRequest, ProtocolError> {
        Ok(match path {
            "/wake" => CoordinatorRequest::Wake(body_of(path, body)?),
            "/stats" => CoordinatorRequest::Stats(body_of(path, body)?),
            "/config" => CoordinatorRequest::Config(body_of(path, body)?),
            "/replay" => CoordinatorRequest::Replay(body_of(path, body)?),
            "/costs" => CoordinatorRequest::Costs(body_of(path, body)?),
            "/fairness" => CoordinatorRequest::Fairness(body_of(path, body)?),
            "/fairness/entries" => CoordinatorRequest::FairnessEntries(body_of(path, body)?),
            "/report" => CoordinatorRequest::ReportRecords(body_of(path, body)?),
            "/rules" => CoordinatorRequest::RulesQuery(body_of(path, body)?),
            _ => return Err(ProtocolError::UnknownPath(path.to_owned())),
        })
    }
}

/// The whole configuration as the one flat JSON object of `PUT /admin/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomConfig {
    #[serde(flatten)]
    pub admission: AdmissionConfig,
    #[serde(flatten)]
    pub operator: OperatorConfig,
    /// Message, events, bypass rules.
    #[serde(flatten)]
    pub extras: OperatorExtras,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeReply {
    pub awake: bool,
}

/// The answer to [`Stats`]: the contract's fields plus the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReply {
    #[serde(flatten)]
    pub stats: AdminStats,
    pub config: RoomConfig,
    /// The dashboard chart: one point per 10 s, last 15 minutes.
    pub history: Vec<HistoryPoint>,
    /// The closed loop: effective rate, why, the origin's backlog.
    #[serde(flatten)]
    pub pacing: PacingStats,
    /// Sessions opened for a bypass rule in the current minute, by kind.
    #[serde(default)]
    pub bypassed_this_minute: BypassedCounts,
}

/// Sessions opened for bypass rules, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BypassedCounts {
    pub cidr: u64,
    pub header: u64,
    pub country: u64,
}

impl BypassedCounts {
    /// From counts indexed by [`crate::operator::BypassKind`].
    pub fn of(counts: [u64; 3]) -> Self {
        let [cidr, header, country] = counts;
        BypassedCounts {
            cidr,
            header,
            country,
        }
    }
}

/// A configuration patch refused: the body of the `422` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidField {
    /// Always `invalid_field`.
    pub error: String,
    pub field: String,
    pub message: String,
}

/// `422` is how the Coordinator says "invalid patch".
pub const INVALID_STATUS: u16 = 422;

/// The answer to [`ConfigPatch`]: on the wire, `200` with the new
/// [`RoomConfig`] or `422` with an [`InvalidField`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigReply {
    Applied(RoomConfig),
    Invalid(InvalidField),
}

impl ConfigReply {
    /// The status and JSON body of this answer.
    pub fn encode(&self) -> (u16, String) {
        match self {
            ConfigReply::Applied(c) => (200, super::encode_reply(c)),
            ConfigReply::Invalid(e) => (INVALID_STATUS, super::encode_reply(e)),
        }
    }
}

/// The answer to [`Replay`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReply {
    pub grants: Vec<Grant>,
    pub replies: Vec<GrantReply>,
}

/// One tick's cost, measured by the Coordinator: wall time from the first
/// summary request to the last grant's answer (in workerd the clock moves
/// with I/O, which a tick is made of), and the JSON bytes it sent and got.
/// `ms` is split into the three parts of a tick: the summaries (all shards,
/// concurrently), the work between (pacing with the origin's capacity
/// report, the controller, the launch report) and the grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickCost {
    pub tick_id: u64,
    pub ms: u64,
    #[serde(default)]
    pub summaries_ms: u64,
    #[serde(default)]
    pub between_ms: u64,
    #[serde(default)]
    pub grants_ms: u64,
    pub bytes: u64,
    pub waiting: u64,
    /// The runtime's floor under this tick: wall time of one call that does
    /// nothing (`Ping`) to every shard at once, made right after the tick.
    /// Only a test build whose `BENCH_TICK_FLOOR` is `true` measures it, on
    /// every tenth tick (`cargo xtask bench --only tick`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_ms: Option<u64>,
}

/// The answer to [`Costs`]: the last ticks, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostsReply {
    pub ticks: Vec<TickCost>,
}

calls! {
    CoordinatorRequest;
    Wake => WakeReply, "coordinator wake";
    Stats => StatsReply, "coordinator stats";
    Replay => ReplayReply, "coordinator replay";
    Costs => CostsReply, "coordinator costs";
    Fairness => FairnessReply, "coordinator fairness";
    FairnessEntries => FairnessEntriesReply, "coordinator fairness entries";
    ReportRecords => ReportRecordsReply, "coordinator report";
    RulesQuery => RulesReply, "coordinator bypass rules";
}

impl From<ConfigPatch> for CoordinatorRequest {
    fn from(r: ConfigPatch) -> CoordinatorRequest {
        CoordinatorRequest::Config(r)
    }
}

impl Call<CoordinatorRequest> for ConfigPatch {
    type Reply = ConfigReply;
    const NAME: &'static str = "coordinator config";

    fn decode_reply(status: u16, body: &str) -> Result<ConfigReply, ProtocolError> {
        match status {
            200 => decode_json(Self::NAME, body).map(ConfigReply::Applied),
            INVALID_STATUS => decode_json(Self::NAME, body).map(ConfigReply::Invalid),
            status => Err(ProtocolError::Status {
                status,
                what: Self::NAME.to_owned(),
                detail: super::status_detail(body),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::ShardStats;
    use crate::eta::EtaInfo;
    use crate::operator::{Phase, QueueMode};
    use crate::protocol::encode_reply;

    fn patch() -> ConfigPatch {
        let serde_json::Value::Object(map) = serde_json::json!({
            "new_users_per_minute": 120,
            "event_start": "2026-05-01T08:00:00Z",
            "not_a_field": [1, 2],
        }) else {
            unreachable!()
        };
        ConfigPatch(map)
    }

    #[test]
    fn every_request_round_trips() {
        for req in [
            CoordinatorRequest::from(Wake),
            Stats.into(),
            patch().into(),
            Replay.into(),
            Costs.into(),
            Fairness.into(),
            FairnessEntries {
                event_start_ms: 1_800_000_000_000,
            }
            .into(),
            ReportRecords.into(),
            RulesQuery.into(),
        ] {
            let wire = req.encode();
            let back = CoordinatorRequest::decode(&wire.path, wire.body.as_deref().unwrap_or(""));
            assert_eq!(back.as_ref(), Ok(&req), "{wire:?}");
        }
        assert!(matches!(
            CoordinatorRequest::decode("/tick", "null"),
            Err(ProtocolError::UnknownPath(_))
        ));
        assert!(matches!(
            CoordinatorRequest::decode("/config", "[1]"),
            Err(ProtocolError::BadBody { .. })
        ));
    }

    fn room_config() -> RoomConfig {
        RoomConfig {
            admission: AdmissionConfig {
                new_users_per_minute: 120,
                total_active_users: 50,
                session_minutes: 15,
                abandon_after_seconds: 60,
                paused: true,
                max_away_minutes: 90,
            },
            operator: OperatorConfig {
                mode: QueueMode::Reject,
                max_wait_minutes: 0,
                prequeue_start: None,
                event_start: Some(1_777_622_400_000),
                reopen_at: Some(1_777_626_000_000),
                ..OperatorConfig::default()
            },
            extras: OperatorExtras {
                message: Some(crate::operator::Message(
                    [("en".to_string(), "Back at 10".to_string())].into(),
                )),
                ..OperatorExtras::default()
            },
        }
    }

    #[test]
    fn the_config_is_one_flat_object() {
        let v = serde_json::to_value(room_config()).unwrap();
        assert_eq!(v["new_users_per_minute"], 120);
        assert_eq!(v["mode"], "reject");
        assert_eq!(v["message"]["en"], "Back at 10");
        assert_eq!(v["events"], serde_json::json!([]));
        assert_eq!(v["event_start"], "2026-05-01T08:00:00Z");
        assert_eq!(
            v.as_object().unwrap().len(),
            16,
            "the room, the operator and the extras: {v}"
        );
        assert_eq!(v["pacing"], "origin");
    }

    #[test]
    fn every_reply_round_trips() {
        let text = encode_reply(&WakeReply { awake: true });
        assert_eq!(
            Wake::decode_reply(200, &text),
            Ok(WakeReply { awake: true })
        );

        let stats = StatsReply {
            stats: AdminStats {
                tick_id: 4,
                waiting: 10,
                active: 2,
                admitted_total: 7,
                abandoned_total: 1,
                away: 3,
                missed_total: 1,
                admit_rate_per_min: 1.5,
                oldest_wait_seconds: 30,
                paused: false,
                eta_new_arrival_seconds: 400,
                admitted_per_min: 2.0,
                abandoned_per_min: 0.5,
                phase: Phase::PreQueue {
                    event_start_ms: 1_777_622_400_000,
                },
                shards: vec![ShardStats {
                    shard: 1,
                    waiting: 10,
                    active: 2,
                    granted: 1,
                    oldest_wait_seconds: 30,
                    last_applied_tick: Some(3),
                    answered: false,
                    error: Some("shard cannot restore: unreadable shard meta".into()),
                }],
            },
            config: room_config(),
            history: vec![HistoryPoint {
                t_ms: 1,
                waiting: 2,
                active: 3,
                admitted_total: 4,
                abandoned_total: 5,
            }],
            pacing: PacingStats {
                effective_rate_per_min: 300,
                pacing_reason: crate::capacity::PacingReason::RegistryPace,
                origin_backlog: Some(20),
                registry_limit_per_s: Some(5.0),
                show_rate: 1.0,
                ..PacingStats::default()
            },
            bypassed_this_minute: BypassedCounts::of([1, 0, 2]),
        };
        let text = encode_reply(&stats);
        assert_eq!(Stats::decode_reply(200, &text), Ok(stats));
        // The contract's figures sit at the top level of `/admin/stats`.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["tick_id"], 4);
        assert_eq!(v["bypassed_this_minute"]["country"], 2);
        assert_eq!(v["config"]["mode"], "reject");
        assert_eq!(v["effective_rate_per_min"], 300);
        assert_eq!(v["origin_backlog"], 20);
        assert_eq!(v["pacing_reason"], "registry_pace");

        for reply in [
            ConfigReply::Applied(room_config()),
            ConfigReply::Invalid(InvalidField {
                error: "invalid_field".into(),
                field: "mode".into(),
                message: "mode is not a mode".into(),
            }),
        ] {
            let (status, body) = reply.encode();
            assert_eq!(ConfigPatch::decode_reply(status, &body), Ok(reply));
        }
        assert!(matches!(
            ConfigPatch::decode_reply(500, "{}"),
            Err(ProtocolError::Status { status: 500, .. })
        ));

        let replay = ReplayReply {
            grants: vec![Grant {
                tick_id: 1,
                shard: 0,
                admit: 1,
                admit_through_rank: 1 << 16,
                seals: vec![],
                view: None,
                settings: None,
                others_waiting: 0,
                eta: EtaInfo::default(),
                lottery: None,
                random_seed: None,
                next: None,
            }],
            replies: vec![GrantReply {
                duplicate: true,
                admitted: 0,
                abandoned: 0,
                drawn: 0,
                summary: None,
            }],
        };
        let text = encode_reply(&replay);
        assert_eq!(Replay::decode_reply(200, &text), Ok(replay));
    }
}
