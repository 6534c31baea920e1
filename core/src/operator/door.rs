//! The door: where the schedule stands ([`Phase`]) and what a new arrival
//! gets ([`Door`]): a place, a place in the pre-queue, or a [`Refusal`].

use serde::{Deserialize, Serialize};

use super::{OperatorConfig, QueueMode};

/// Where the room stands on its schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Before `prequeue_start`.
    NotOpen { prequeue_start_ms: u64 },
    /// Between `prequeue_start` and `event_start`: join, nobody admitted.
    PreQueue { event_start_ms: u64 },
    /// Admitting (no schedule, or after `event_start`).
    #[default]
    Open,
}

/// Why a new arrival gets no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Before the pre-queue opens.
    NotOpen,
    /// `reject` mode.
    Closed,
    /// The estimated wait exceeds `max_wait_minutes`.
    Full,
}

impl Refusal {
    /// The closed page's string key for this reason.
    pub fn string_key(self) -> &'static str {
        match self {
            Refusal::NotOpen => "c.reason_not_open",
            Refusal::Closed => "c.reason_closed",
            Refusal::Full => "c.reason_full",
        }
    }
}

/// What happens to a new arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "door", rename_all = "snake_case")]
pub enum Door {
    /// A place in line.
    Open,
    /// A place in the pre-queue; the lottery runs at `event_start_ms`.
    PreQueue { event_start_ms: u64 },
    /// No place.
    Refused {
        reason: Refusal,
        /// When to come back, if known.
        reopen_at_ms: Option<u64>,
    },
}

impl Door {
    /// `Retry-After` seconds for a refusal: until `reopen_at` (at least a
    /// minute, at most a day), or five minutes when unknown.
    pub fn retry_after_seconds(reopen_at_ms: Option<u64>, now_ms: u64) -> u64 {
        match reopen_at_ms {
            Some(t) => (t.saturating_sub(now_ms).div_ceil(1000)).clamp(60, 86_400),
            None => 300,
        }
    }
}

impl OperatorConfig {
    /// Where the schedule stands at `now_ms`.
    pub fn phase(&self, now_ms: u64) -> Phase {
        match (self.prequeue_start, self.event_start) {
            (Some(p), Some(_)) if now_ms < p => Phase::NotOpen {
                prequeue_start_ms: p,
            },
            (_, Some(e)) if now_ms < e => Phase::PreQueue { event_start_ms: e },
            _ => Phase::Open,
        }
    }

    /// What a new arrival gets, given the estimated wait of a new arrival
    /// (`eta_new_s`, the back of the line).
    pub fn door(&self, now_ms: u64, eta_new_s: u64) -> Door {
        match self.phase(now_ms) {
            Phase::NotOpen { prequeue_start_ms } => Door::Refused {
                reason: Refusal::NotOpen,
                reopen_at_ms: Some(prequeue_start_ms),
            },
            _ if self.mode == QueueMode::Reject => Door::Refused {
                reason: Refusal::Closed,
                reopen_at_ms: self.reopen_at,
            },
            // Nobody waits "too long" before the lottery has even run.
            Phase::PreQueue { event_start_ms } => Door::PreQueue { event_start_ms },
            Phase::Open => {
                let max_s = u64::from(self.max_wait_minutes) * 60;
                if max_s > 0 && self.mode != QueueMode::Passthrough && eta_new_s > max_s {
                    // Come back when the line ahead would have shrunk enough.
                    Door::Refused {
                        reason: Refusal::Full,
                        reopen_at_ms: Some(now_ms + (eta_new_s - max_s) * 1000),
                    }
                } else {
                    Door::Open
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_follows_schedule_mode_and_max_wait() {
        let p = 1_000_000_000_000;
        let e = p + 3_600_000;
        let c = OperatorConfig {
            prequeue_start: Some(p),
            event_start: Some(e),
            max_wait_minutes: 10,
            ..OperatorConfig::default()
        };
        assert_eq!(
            c.door(p - 1, 0),
            Door::Refused {
                reason: Refusal::NotOpen,
                reopen_at_ms: Some(p)
            }
        );
        assert_eq!(c.door(p, 99_999), Door::PreQueue { event_start_ms: e });
        assert_eq!(c.door(e, 600), Door::Open);
        assert_eq!(
            c.door(e, 660),
            Door::Refused {
                reason: Refusal::Full,
                reopen_at_ms: Some(e + 60_000)
            }
        );
        let pass = OperatorConfig {
            mode: QueueMode::Passthrough,
            ..c
        };
        assert_eq!(pass.door(e, 99_999), Door::Open);
        let reject = OperatorConfig {
            mode: QueueMode::Reject,
            reopen_at: Some(e + 5),
            ..c
        };
        assert_eq!(
            reject.door(e, 0),
            Door::Refused {
                reason: Refusal::Closed,
                reopen_at_ms: Some(e + 5)
            }
        );
        assert_eq!(OperatorConfig::default().door(0, u64::MAX), Door::Open);
        assert_eq!(Door::retry_after_seconds(None, 0), 300);
        assert_eq!(Door::retry_after_seconds(Some(10_000), 0), 60);
        assert_eq!(Door::retry_after_seconds(Some(7_200_000), 0), 7_200);
    }
}
