//! `QueueShard` requests and replies.

use serde::{Deserialize, Serialize};

use super::{body_of, Call, ProtocolError, Wire};
use crate::coordinator::{Grant, ShardSummary};
use crate::operator::{BypassKind, Message, Refusal};
use crate::queue::{JoinOutcome, Status};
pub use crate::wire::Summary;

/// A new place for entry `id` (or the one it already holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    pub id: u64,
}

/// The heartbeat: refreshes `last_seen` of `id`, answers its standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub id: u64,
}

/// The citizen gives up their place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    pub id: u64,
}

/// The citizen is done: free their active slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub id: u64,
}

/// Drop this admission now and refuse its ticket until `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    pub id: u64,
    pub until_ms: u64,
}

/// Whether the admission of `id` was revoked (before every forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub id: u64,
}

/// One Durable Object round trip that does no queue work (the benchmark's
/// baseline; the edge serves it only in its test build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping;

/// Benchmark only: `n` synthetic waiting entries with ids `first_id..`
/// (the edge serves it only in its test build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub first_id: u64,
    pub n: u64,
}

/// Test only: the shard refuses the Coordinator's summary and grant calls
/// for `ms` (a shard that stops answering; the edge serves it only in its
/// test build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    pub ms: u64,
}

/// Test only: `on` makes the shard's stored meta unreadable (keeping the
/// real one aside), `false` puts it back; a restart in between finds a
/// shard that cannot restore (the edge serves it only in its test build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corrupt {
    pub on: bool,
}

/// The answer to [`Corrupt`]: whether the shard now serves (it restored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptReply {
    pub serving: bool,
}

/// The entries the pre-queue lottery of the event starting at
/// `event_start_ms` shuffled in this shard (`GET /fairness/entries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawn {
    pub event_start_ms: u64,
}

/// The answer to [`Drawn`]: entry ids, ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawnReply {
    pub ids: Vec<u64>,
}

/// A session for `id` at once, outside the line: the operator's bypass
/// rule of `kind` matched the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmitNow {
    pub id: u64,
    pub kind: BypassKind,
}

/// The answer to [`AdmitNow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmitNowReply {
    pub session_expires_ms: u64,
    /// The operator's live message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// Everything a `QueueShard` is asked. The Coordinator's tick grant is
/// [`Grant`] itself.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a request is built, encoded and dropped at once; boxing the grant saves nothing"
)]
pub enum ShardRequest {
    Join(Join),
    Heartbeat(Heartbeat),
    Leave(Leave),
    Release(Release),
    Revoke(Revoke),
    Check(Check),
    Summary(Summary),
    Grant(Grant),
    Ping(Ping),
    Fill(Fill),
    Stall(Stall),
    Corrupt(Corrupt),
    Drawn(Drawn),
    AdmitNow(AdmitNow),
}

const HEARTBEAT_PREFIX: &str = "/status/";

impl ShardRequest {
    pub fn encode(&self) -> Wire {
        match self {
            // The hot path: everything in the path, nothing to parse but a number.
            ShardRequest::Heartbeat(h) => Wire::bare(format!("{HEARTBEAT_PREFIX}{}", h.id)),
            ShardRequest::Join(r) => Wire::post("/join", r),
            ShardRequest::Leave(r) => Wire::post("/leave", r),
            ShardRequest::Release(r) => Wire::post("/release", r),
            ShardRequest::Revoke(r) => Wire::post("/revoke", r),
            ShardRequest::Check(r) => Wire::post("/check", r),
            ShardRequest::Summary(r) => Wire::post("/summary", r),
            ShardRequest::Grant(r) => Wire::post("/grant", r),
            ShardRequest::Ping(r) => Wire::post("/ping", r),
            ShardRequest::Fill(r) => Wire::post("/fill", r),
            ShardRequest::Stall(r) => Wire::post("/stall", r),
            ShardRequest::Corrupt(r) => Wire::post("/corrupt", r),
            ShardRequest::Drawn(r) => Wire::post("/drawn", r),
            ShardRequest::AdmitNow(r) => Wire::post("/admit-now", r),
        }
    }

    /// The request at `path` with JSON `body` (empty for the heartbeat).
    pub fn decode(path: &str, body: &str) -> Result<ShardRequest, ProtocolError> {
        if let Some(id) = path.strip_prefix(HEARTBEAT_PREFIX) {
            return match id.parse() {
                Ok(id) => Ok(ShardRequest::Heartbeat(Heartbeat { id })),
                Err(_) => Err(ProtocolError::UnknownPath(path.to_owned())),
            };
        }
        Ok(match path {
            "/join" => ShardRequest::Join(body_of(path, body)?),
            "/leave" => ShardRequest::Leave(body_of(path, body)?),
            "/release" => ShardRequest::Release(body_of(path, body)?),
            "/revoke" => ShardRequest::Revoke(body_of(path, body)?),
            "/check" => ShardRequest::Check(body_of(path, body)?),
            "/summary" => ShardRequest::Summary(body_of(path, body)?),
            "/grant" => ShardRequest::Grant(body_of(path, body)?),
            "/ping" => ShardRequest::Ping(body_of(path, body)?),
            "/fill" => ShardRequest::Fill(body_of(path, body)?),
            "/stall" => ShardRequest::Stall(body_of(path, body)?),
            "/corrupt" => ShardRequest::Corrupt(body_of(path, body)?),
            "/drawn" => ShardRequest::Drawn(body_of(path, body)?),
            "/admit-now" => ShardRequest::AdmitNow(body_of(path, body)?),
            _ => return Err(ProtocolError::UnknownPath(path.to_owned())),
        })
    }
}

/// The answer to [`Join`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinReply {
    /// Closed, not open yet, or full: no place, no row.
    Refused {
        reason: Refusal,
        /// When to come back, if known.
        reopen_at_ms: Option<u64>,
    },
    /// A place (new or the one already held).
    Placed {
        outcome: JoinOutcome,
        status: Status,
        /// `event_start_ms` while the room is in pre-queue.
        prequeue_until: Option<u64>,
        /// The operator's live message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<Message>,
    },
}

/// The answer to [`Heartbeat`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub status: Status,
    /// `event_start_ms` while the room is in pre-queue (the edge shows the
    /// countdown instead of a position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prequeue_until: Option<u64>,
    /// The operator's live message (shown with the standing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveReply {
    pub left: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseReply {
    pub released: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeReply {
    /// Whether a live session was freed (the ticket is refused either way).
    pub released: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReply {
    pub revoked: bool,
}

/// The answer to a [`Grant`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantReply {
    /// The tick was applied before: nothing changed.
    pub duplicate: bool,
    pub admitted: u64,
    pub abandoned: u64,
    /// Pre-queued entries this grant's lottery shuffled here.
    #[serde(default)]
    pub drawn: u64,
    /// The answer to [`Grant::next`], if the grant asked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ShardSummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    pub pong: bool,
}

/// The answer to [`Fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillReply {
    pub waiting: u64,
}

/// The answer to [`Stall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StallReply {
    pub until_ms: u64,
}

calls! {
    ShardRequest;
    Join => JoinReply, "shard join";
    Heartbeat => HeartbeatReply, "shard heartbeat";
    Leave => LeaveReply, "shard leave";
    Release => ReleaseReply, "shard release";
    Revoke => RevokeReply, "shard revoke";
    Check => CheckReply, "shard check";
    Summary => ShardSummary, "shard summary";
    Grant => GrantReply, "shard grant";
    Ping => Pong, "shard ping";
    Fill => FillReply, "shard fill";
    Stall => StallReply, "shard stall";
    Corrupt => CorruptReply, "shard corrupt";
    Drawn => DrawnReply, "shard drawn";
    AdmitNow => AdmitNowReply, "shard admit now";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eta::EtaInfo;
    use crate::operator::{Lottery, OperatorConfig, QueueMode};
    use crate::order::Seal;
    use crate::order::{RankReport, ViewUpdate};
    use crate::protocol::encode_reply;
    use crate::queue::{ShardConfig, WaitingStatus};
    use crate::wire::ShardSettings;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    fn grant() -> Grant {
        Grant {
            tick_id: 7,
            shard: 3,
            admit: 2,
            admit_through_rank: 7 << 16,
            seals: vec![Seal {
                rank: 7 << 16,
                through_seq: 41,
            }],
            view: Some(ViewUpdate::Delta {
                from_tick: 6,
                ranks: vec![(6 << 16, -2, -2), (7 << 16, 5, 0)],
            }),
            settings: Some(ShardSettings {
                config: ShardConfig::default(),
                operator: OperatorConfig {
                    mode: QueueMode::Random,
                    max_wait_minutes: 30,
                    prequeue_start: Some(1_700_000_000_000),
                    event_start: Some(1_700_000_600_000),
                    reopen_at: None,
                    ..OperatorConfig::default()
                },
                message: Some(Message(
                    [("es".to_string(), "¡Abrimos a las 9! <script>".to_string())].into(),
                )),
            }),
            others_waiting: 12,
            eta: EtaInfo {
                rate_per_s: 0.25,
                paused: false,
                max_rate_per_s: 0.5,
            },
            lottery: Some(Lottery {
                // 52 bits and more: the body must keep every bit.
                seed: u64::MAX - 1,
                event_start_ms: 1_700_000_600_000,
                window_ms: 60_000,
            }),
            random_seed: Some(1 << 60),
            next: Some(Summary {
                shard: 3,
                tick_id: 8,
                received_through: Some(7),
                seals: vec![],
            }),
        }
    }

    fn requests() -> Vec<ShardRequest> {
        vec![
            Join { id: 1 }.into(),
            AdmitNow {
                id: 2,
                kind: BypassKind::Header,
            }
            .into(),
            Heartbeat { id: (1 << 52) - 1 }.into(),
            Leave { id: 3 }.into(),
            Release { id: 4 }.into(),
            Revoke {
                id: 5,
                until_ms: 1_700_000_000_000,
            }
            .into(),
            Check { id: 6 }.into(),
            Summary {
                shard: 255,
                tick_id: 9,
                received_through: Some(8),
                seals: vec![Seal {
                    rank: 8 << 16,
                    through_seq: 3,
                }],
            }
            .into(),
            grant().into(),
            Ping.into(),
            Fill {
                first_id: 1 << 40,
                n: 15_625,
            }
            .into(),
            Stall { ms: 30_000 }.into(),
            Corrupt { on: true }.into(),
            Drawn {
                event_start_ms: 1_800_000_000_000,
            }
            .into(),
        ]
    }

    #[test]
    fn every_request_round_trips() {
        for req in requests() {
            let wire = req.encode();
            let back = ShardRequest::decode(&wire.path, wire.body.as_deref().unwrap_or(""));
            assert_eq!(back.as_ref(), Ok(&req), "{wire:?}");
        }
    }

    #[test]
    fn the_heartbeat_is_a_bare_path() {
        let wire = ShardRequest::from(Heartbeat { id: 42 }).encode();
        assert_eq!(wire.path, "/status/42");
        assert_eq!(wire.body, None);
        for req in requests() {
            if !matches!(req, ShardRequest::Heartbeat(_)) {
                assert!(req.encode().body.is_some(), "{req:?}");
            }
        }
    }

    #[test]
    fn nonsense_is_an_error_not_a_guess() {
        assert!(matches!(
            ShardRequest::decode("/status/x", ""),
            Err(ProtocolError::UnknownPath(_))
        ));
        assert!(matches!(
            ShardRequest::decode("/peek", "{\"id\":1}"),
            Err(ProtocolError::UnknownPath(_))
        ));
        assert!(matches!(
            ShardRequest::decode("/join", "{\"id\":\"1\"}"),
            Err(ProtocolError::BadBody { .. })
        ));
        assert!(matches!(
            ShardRequest::decode("/join", ""),
            Err(ProtocolError::BadBody { .. })
        ));
    }

    fn round_trip<C: Call<ShardRequest>>(reply: C::Reply)
    where
        C::Reply: PartialEq + Debug + DeserializeOwned,
    {
        let text = encode_reply(&reply);
        assert_eq!(C::decode_reply(200, &text), Ok(reply), "{text}");
        assert!(matches!(
            C::decode_reply(500, &text),
            Err(ProtocolError::Status { status: 500, .. })
        ));
        assert!(matches!(
            C::decode_reply(200, "{}"),
            Err(ProtocolError::BadReply { .. })
        ));
    }

    fn waiting() -> Status {
        Status::Waiting(WaitingStatus {
            seq: 9,
            position: 3,
            shard_waiting: 5,
            global_position: Some(11),
            global_waiting: 40,
            eta_seconds: 33,
            poll_after_ms: 5_000,
            persist_last_seen: true,
            hold_until_ms: Some(1_700_000_600_000),
            persist_hold: true,
        })
    }

    #[test]
    fn every_reply_round_trips() {
        round_trip::<Join>(JoinReply::Refused {
            reason: Refusal::Full,
            reopen_at_ms: None,
        });
        round_trip::<Join>(JoinReply::Refused {
            reason: Refusal::NotOpen,
            reopen_at_ms: Some(1_700_000_000_000),
        });
        round_trip::<Join>(JoinReply::Placed {
            outcome: JoinOutcome::Joined { seq: 9 },
            status: waiting(),
            prequeue_until: Some(1_700_000_600_000),
            message: Some(Message(
                [("en".to_string(), "Doors at 9 <b>".to_string())].into(),
            )),
        });
        round_trip::<Join>(JoinReply::Placed {
            outcome: JoinOutcome::AlreadyAdmitted {
                session_expires_ms: 5,
            },
            status: Status::Admitted {
                session_expires_ms: 5,
            },
            prequeue_until: None,
            message: None,
        });
        for status in [
            waiting(),
            Status::Admitted {
                session_expires_ms: 1_700_000_000_000,
            },
            Status::Abandoned,
            Status::NotFound,
        ] {
            for prequeue_until in [None, Some(1_700_000_600_000)] {
                round_trip::<Heartbeat>(HeartbeatReply {
                    status,
                    prequeue_until,
                    message: None,
                });
            }
        }
        round_trip::<Leave>(LeaveReply { left: true });
        round_trip::<Release>(ReleaseReply { released: false });
        round_trip::<Revoke>(RevokeReply { released: true });
        round_trip::<Check>(CheckReply { revoked: true });
        round_trip::<Summary>(ShardSummary {
            shard: 2,
            last_applied_tick: Some(8),
            waiting: 3,
            oldest_arrival_ms: Some(1_700_000_000_000),
            active_sessions: 1,
            abandoned_total: 4,
            admitted_total: 5,
            unranked: 2,
            unranked_through_seq: Some(12),
            sealed_through_seq: Some(10),
            ranked: RankReport::Full(vec![(8 << 16, 1)]),
            ranked_waiting: 1,
            view_tick: Some(8),
            away: 1,
            missed_total: 2,
            away_ahead: vec![(8 << 16, 1)],
            facts: {
                let mut f = crate::operator::ShardFacts {
                    joined: 3,
                    admitted: 1,
                    ..Default::default()
                };
                f.queue_seconds.record(42);
                f
            },
            settings_digest: Some(u64::MAX - 3),
        });
        round_trip::<Grant>(GrantReply {
            duplicate: true,
            admitted: 0,
            abandoned: 2,
            drawn: 5,
            summary: None,
        });
        round_trip::<Grant>(GrantReply {
            duplicate: false,
            admitted: 1,
            abandoned: 0,
            drawn: 0,
            summary: Some(ShardSummary {
                shard: 3,
                waiting: 7,
                ..ShardSummary::default()
            }),
        });
        round_trip::<Ping>(Pong { pong: true });
        round_trip::<Fill>(FillReply { waiting: 3 });
        round_trip::<Stall>(StallReply { until_ms: 9 });
        round_trip::<Corrupt>(CorruptReply { serving: false });
        round_trip::<Drawn>(DrawnReply {
            ids: vec![1, (1 << 52) - 1],
        });
    }
}
