//! The typed messages between the edge's stateless Worker and its two
//! Durable Object classes, in the spirit of mini-redis's `Command`: one
//! request enum per object ([`ShardRequest`], [`CoordinatorRequest`]), one
//! struct per operation, and each operation names its reply type through
//! [`Call::Reply`], so a caller cannot decode the wrong answer.
//!
//! # Encoding
//! Every request is one [`Wire`] (a path naming the operation and an
//! optional JSON body), sent as the two arguments of the object's RPC
//! method `rpc`, and every reply is the JSON of its reply type with status
//! `200`. The heartbeat, the hottest call, is `/status/{id}` with no body
//! at all. [`ShardRequest::encode`] / [`ShardRequest::decode`] (and the
//! Coordinator's pair) are the only places that know paths; the object's
//! `rpc` decodes once and matches.
//!
//! ## Layout
//! - [`shard`]: `QueueShard` requests and replies.
//! - [`coordinator`]: `Coordinator` requests and replies.

/// Ties each request struct to its object's request enum (`From`) and to
/// its reply type and name ([`Call`]); shared by both objects' modules.
macro_rules! calls {
    ($enum:ident; $($req:ident => $reply:ty, $name:literal;)*) => {$(
        impl From<$req> for $enum {
            fn from(r: $req) -> $enum {
                $enum::$req(r)
            }
        }
        impl Call<$enum> for $req {
            type Reply = $reply;
            const NAME: &'static str = $name;
        }
    )*};
}

pub mod coordinator;
pub mod shard;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use coordinator::{
    BypassedCounts, ConfigPatch, ConfigReply, CoordinatorRequest, CostsReply, Fairness,
    FairnessEntries, FairnessEntriesReply, FairnessReply, InvalidField, ReplayReply, ReportRecords,
    ReportRecordsReply, RoomConfig, RulesQuery, RulesReply, StatsReply, TickCost, WakeReply,
};
pub use shard::{
    AdmitNow, AdmitNowReply, CheckReply, Drawn, DrawnReply, FillReply, GrantReply, HeartbeatReply,
    JoinReply, LeaveReply, Pong, ReleaseReply, RevokeReply, ShardRequest, StallReply,
};

/// One request as it travels to a Durable Object's `rpc` method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// Names the operation (`/join`, `/status/42`, …).
    pub path: String,
    /// The operation's fields as JSON, if it has any.
    pub body: Option<String>,
}

impl Wire {
    /// An operation whose path says it all (the heartbeat).
    fn bare(path: String) -> Wire {
        Wire { path, body: None }
    }

    /// An operation with fields.
    fn post<T: Serialize>(path: &str, body: &T) -> Wire {
        Wire {
            path: path.to_owned(),
            // Our own structs of integers, strings and floats: always serialisable.
            body: Some(serde_json::to_string(body).unwrap_or_default()),
        }
    }
}

/// A message that could not be decoded (a bug or a version skew between
/// the Worker and an object: never a citizen's input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("no operation at {0}")]
    UnknownPath(String),
    #[error("bad body for {path}: {message}")]
    BadBody { path: String, message: String },
    /// A refusal; `detail` is the start of what the object said (e.g. a
    /// shard that cannot restore says why), for the operator's log and
    /// dashboard.
    #[error("status {status} for {what}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Status {
        status: u16,
        what: String,
        detail: String,
    },
    #[error("bad reply for {what}: {message}")]
    BadReply { what: String, message: String },
}

/// One operation of a Durable Object: `R` is the object's request enum.
pub trait Call<R>: Into<R> {
    /// What the object answers.
    type Reply: Serialize + DeserializeOwned;
    /// The operation's name in errors.
    const NAME: &'static str;

    /// Decodes the object's answer (`status`, body). Most replies are the
    /// JSON of [`Call::Reply`] with status 200.
    fn decode_reply(status: u16, body: &str) -> Result<Self::Reply, ProtocolError> {
        if status != 200 {
            return Err(ProtocolError::Status {
                status,
                what: Self::NAME.to_owned(),
                detail: status_detail(body),
            });
        }
        decode_json(Self::NAME, body)
    }
}

/// At most 200 characters of an error body, one line.
pub fn status_detail(body: &str) -> String {
    body.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The JSON text of a reply.
pub fn encode_reply<T: Serialize>(reply: &T) -> String {
    serde_json::to_string(reply).unwrap_or_default()
}

fn decode_json<T: DeserializeOwned>(what: &str, body: &str) -> Result<T, ProtocolError> {
    serde_json::from_str(body).map_err(|e| ProtocolError::BadReply {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn body_of<T: DeserializeOwned>(path: &str, body: &str) -> Result<T, ProtocolError> {
    serde_json::from_str(body).map_err(|e| ProtocolError::BadBody {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
