//! The operator settings of `PUT /admin/config` beside
//! [`crate::config::AdmissionConfig`]: the mode, the schedule, the
//! longest acceptable wait, and the rules that refuse what cannot be meant.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{validate_events, BypassRules, Event, Message};
use crate::config::ConfigError;
use crate::date::{format_rfc3339, parse_rfc3339, rfc3339};

/// Earliest and latest instants accepted in the configuration (2000..2200).
pub(crate) const MIN_TIME_MS: u64 = 946_684_800_000;
pub(crate) const MAX_TIME_MS: u64 = 7_258_118_400_000;
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

/// Where the admission rate comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// `new_users_per_minute`, as set.
    Fixed,
    /// What the origin can serve (its signed capacity report), never above
    /// `new_users_per_minute` (`crate::capacity`). The default; without a
    /// fresh report the room paces as `fixed`.
    #[default]
    Origin,
}

/// Highest `pacing_floor_per_minute`.
pub const MAX_PACING_FLOOR_PER_MINUTE: u32 = 1_000_000;

/// The operator settings beside [`crate::config::AdmissionConfig`]
/// (the same `PUT /admin/config` object). Times are milliseconds since the
/// epoch; in JSON they are shown as RFC 3339 UTC strings
/// (`"2026-05-01T08:00:00Z"`) and read as RFC 3339 with any offset, or as
/// epoch milliseconds ([`crate::date::parse_rfc3339`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Where the admission rate comes from.
    pub pacing: Pacing,
    /// With `pacing: "origin"`, admissions per minute the loop never goes
    /// below while the registry answers (at most `new_users_per_minute`).
    pub pacing_floor_per_minute: u32,
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
        if self.pacing_floor_per_minute > MAX_PACING_FLOOR_PER_MINUTE {
            return err(
                "pacing_floor_per_minute",
                format!(
                    "must be between 0 and {MAX_PACING_FLOOR_PER_MINUTE} users per minute, got {}",
                    self.pacing_floor_per_minute
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
}

/// The operator settings that are text or lists, beside the
/// [`OperatorConfig`] (which stays `Copy`: every shard carries one in its
/// meta row and grants send it when it changed). Patched by the same
/// `PUT /admin/config` ([`super::patch`]), stored by the Coordinator under
/// its own key; whoever needs one of these at a tick gets the value, not the
/// whole list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorExtras {
    /// The live message ([`super::message`]); `null` removes it.
    pub message: Option<Message>,
    /// Scheduled events ([`super::events`]), in any order.
    pub events: Vec<Event>,
    /// Bypass by address range, header or country ([`super::bypass`]).
    pub bypass_rules: BypassRules,
}

impl OperatorExtras {
    /// Rejects settings that cannot be meant, naming the nested field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(m) = &self.message {
            m.validate("message")?;
        }
        validate_events(&self.events)?;
        self.bypass_rules.validate()
    }
}

/// Serde for `Option<u64>` times: RFC 3339 out; RFC 3339 or epoch ms in.
pub(crate) mod time_opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            // Past the calendar's end (only an unvalidated value): the
            // number, which reads back as epoch milliseconds.
            Some(ms) => match rfc3339(*ms) {
                Some(text) => s.serialize_some(&text),
                None => s.serialize_some(ms),
            },
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
                .ok_or_else(|| D::Error::custom(format!("{t:?} is not an RFC 3339 time"))),
        }
    }
}

/// Serde for a required `u64` time, shown and read as [`time_opt`] does.
pub(crate) mod time_req {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        time_opt::serialize(&Some(*v), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        use serde::de::Error;
        time_opt::deserialize(d)?.ok_or_else(|| D::Error::custom("a time is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
