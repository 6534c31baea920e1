//! Where a visitor stands in the line, and how the edge finds out.
//!
//! Each public queue route (`POST /queue/join`, `GET /queue/status`, any
//! page) walks the same small state machine: [`first_step`] says, from who
//! is asking, whether to answer at once, ask the citizen's shard for a
//! heartbeat, or take a new place; after a heartbeat, [`after_heartbeat`]
//! says whether a lost place is replaced by a new one. The shard's typed
//! answers become a [`Placement`], and the contract's JSON queue answer
//! (API.md) is [`Placement::view`].

use serde::Serialize;

use crate::operator::Refusal;
use crate::protocol::{HeartbeatReply, JoinReply};
use crate::queue::{JoinOutcome, Status};

/// The public route asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /queue/join`: keeps a live place, else takes a new one.
    Join,
    /// `GET /queue/status`: the heartbeat; never creates a place.
    Status,
    /// A page load: like a join (the waiting page holds a place).
    Page,
}

impl Route {
    fn creates_places(self) -> bool {
        matches!(self, Route::Join | Route::Page)
    }
}

/// Who asks, after the cookie's ticket was verified (a ticket that does
/// not verify is `Nobody`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Nobody,
    Waiting,
    Admitted,
}

/// What the edge does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Answer with this, no shard call.
    Answer(Placement),
    /// Heartbeat the ticket's entry, then see [`after_heartbeat`].
    Heartbeat,
    /// Take a new place (counted by the per-address limit first).
    Join,
}

pub fn first_step(route: Route, holder: Holder) -> Step {
    match holder {
        Holder::Admitted => Step::Answer(Placement::Admitted {
            session_expires_ms: None,
        }),
        Holder::Waiting => Step::Heartbeat,
        Holder::Nobody if route.creates_places() => Step::Join,
        Holder::Nobody => Step::Answer(Placement::Expired),
    }
}

/// A ticket whose place is gone gets a new place on the routes that create
/// places; otherwise the heartbeat's answer stands.
pub fn after_heartbeat(route: Route, heartbeat: Placement) -> Step {
    match heartbeat {
        Placement::Expired if route.creates_places() => Step::Join,
        other => Step::Answer(other),
    }
}

/// Where a visitor stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    /// In line, with a live position (`None`: counting the people ahead,
    /// about a tick after joining).
    Waiting {
        position: Option<u64>,
        queue_length: u64,
        eta_seconds: u64,
        poll_after_ms: u64,
        /// Until when the place is kept without polling ([`crate::hold`]).
        hold_until_ms: Option<u64>,
    },
    /// In the pre-queue: no position until the lottery at the event.
    PreQueue {
        queue_length: u64,
        /// Until the event starts (rounded up).
        eta_seconds: u64,
        poll_after_ms: u64,
    },
    /// Admitted. `session_expires_ms` is set when this very answer admits
    /// (the edge then turns the cookie into an admission ticket).
    Admitted { session_expires_ms: Option<u64> },
    /// No place (never had one, left, dropped for silence, session over).
    Expired,
    /// The per-address limit on new places refused a join.
    RateLimited,
    /// The door is shut: closed, not open yet, or full.
    Refused {
        reason: Refusal,
        /// When to come back, if known.
        reopen_at_ms: Option<u64>,
    },
}

/// A join answered with someone else's live session: a 52-bit entry id
/// collision, astronomically unlikely (the edge refuses politely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ticket id collision with a live session")]
pub struct Collision;

impl Placement {
    /// The standing of a shard's [`Status`]; in pre-queue a waiting entry
    /// has no position yet and counts down to `prequeue_until`.
    pub fn of_status(status: &Status, prequeue_until: Option<u64>, now_ms: u64) -> Placement {
        match *status {
            Status::Waiting(w) => {
                let queue_length = w.global_waiting.max(w.global_position.unwrap_or(0));
                match prequeue_until {
                    Some(t) => Placement::PreQueue {
                        queue_length,
                        eta_seconds: t.saturating_sub(now_ms).div_ceil(1000),
                        poll_after_ms: w.poll_after_ms,
                    },
                    None => Placement::Waiting {
                        position: w.global_position,
                        queue_length,
                        eta_seconds: w.eta_seconds,
                        poll_after_ms: w.poll_after_ms,
                        hold_until_ms: w.hold_until_ms,
                    },
                }
            }
            Status::Admitted { session_expires_ms } => Placement::Admitted {
                session_expires_ms: Some(session_expires_ms),
            },
            Status::Abandoned | Status::NotFound => Placement::Expired,
        }
    }

    pub fn of_heartbeat(reply: &HeartbeatReply, now_ms: u64) -> Placement {
        Placement::of_status(&reply.status, reply.prequeue_until, now_ms)
    }

    /// The standing after a join and, for a place, its arrival sequence
    /// number (for the waiting ticket).
    pub fn of_join(reply: &JoinReply, now_ms: u64) -> Result<(Placement, Option<u64>), Collision> {
        match reply {
            JoinReply::Refused {
                reason,
                reopen_at_ms,
            } => Ok((
                Placement::Refused {
                    reason: *reason,
                    reopen_at_ms: *reopen_at_ms,
                },
                None,
            )),
            JoinReply::Placed {
                outcome,
                status,
                prequeue_until,
                ..
            } => match *outcome {
                JoinOutcome::Joined { seq } | JoinOutcome::AlreadyWaiting { seq } => Ok((
                    Placement::of_status(status, *prequeue_until, now_ms),
                    Some(seq),
                )),
                JoinOutcome::AlreadyAdmitted { .. } => Err(Collision),
            },
        }
    }

    /// The contract's queue answer, for the standings that have one (a
    /// refusal and the rate limit answer with an error instead).
    pub fn view(&self) -> Option<QueueView> {
        let bare = |state| QueueView {
            state,
            position: 0,
            counting: false,
            hold_until_ms: None,
            queue_length: 0,
            eta_seconds: 0,
            poll_after_ms: 0,
        };
        Some(match *self {
            Placement::Waiting {
                position,
                queue_length,
                eta_seconds,
                poll_after_ms,
                hold_until_ms,
            } => QueueView {
                state: "waiting",
                position: position.unwrap_or(0),
                counting: position.is_none(),
                hold_until_ms,
                queue_length,
                eta_seconds,
                poll_after_ms,
            },
            Placement::PreQueue {
                queue_length,
                eta_seconds,
                poll_after_ms,
            } => QueueView {
                state: "prequeue",
                position: 0,
                counting: false,
                hold_until_ms: None,
                queue_length,
                eta_seconds,
                poll_after_ms,
            },
            Placement::Admitted { .. } => bare("admitted"),
            Placement::Expired => bare("expired"),
            Placement::RateLimited | Placement::Refused { .. } => return None,
        })
    }
}

/// The contract's queue answer (API.md): `POST /queue/join` and
/// `GET /queue/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueView {
    pub state: &'static str,
    /// 0 while counting or in the pre-queue.
    pub position: u64,
    /// The position is being counted (the first second after joining):
    /// present only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub counting: bool,
    /// Until when (epoch ms) the place is kept without any poll: the
    /// citizen may leave the page. Present only when there is a hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_until_ms: Option<u64>,
    pub queue_length: u64,
    pub eta_seconds: u64,
    pub poll_after_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::WaitingStatus;

    const NOW: u64 = 1_700_000_000_000;

    fn waiting(position: u64, global_waiting: u64) -> Status {
        Status::Waiting(WaitingStatus {
            seq: 4,
            position: 2,
            shard_waiting: 3,
            global_position: Some(position),
            global_waiting,
            eta_seconds: 90,
            poll_after_ms: 5_000,
            persist_last_seen: false,
            hold_until_ms: None,
            persist_hold: false,
        })
    }

    fn json(p: Placement) -> String {
        serde_json::to_string(&p.view().unwrap()).unwrap()
    }

    #[test]
    fn who_asks_decides_the_first_step() {
        let admitted = Step::Answer(Placement::Admitted {
            session_expires_ms: None,
        });
        for route in [Route::Join, Route::Status, Route::Page] {
            assert_eq!(first_step(route, Holder::Admitted), admitted);
            assert_eq!(first_step(route, Holder::Waiting), Step::Heartbeat);
        }
        assert_eq!(first_step(Route::Join, Holder::Nobody), Step::Join);
        assert_eq!(first_step(Route::Page, Holder::Nobody), Step::Join);
        // The heartbeat never creates a place.
        assert_eq!(
            first_step(Route::Status, Holder::Nobody),
            Step::Answer(Placement::Expired)
        );
    }

    #[test]
    fn a_lost_place_is_replaced_only_where_places_are_made() {
        assert_eq!(after_heartbeat(Route::Join, Placement::Expired), Step::Join);
        assert_eq!(after_heartbeat(Route::Page, Placement::Expired), Step::Join);
        assert_eq!(
            after_heartbeat(Route::Status, Placement::Expired),
            Step::Answer(Placement::Expired)
        );
        let w = Placement::of_status(&waiting(3, 10), None, NOW);
        for route in [Route::Join, Route::Status, Route::Page] {
            assert_eq!(after_heartbeat(route, w), Step::Answer(w));
        }
    }

    #[test]
    fn the_waiting_view_is_the_contracts() {
        assert_eq!(
            json(Placement::of_status(&waiting(3, 10), None, NOW)),
            r#"{"state":"waiting","position":3,"queue_length":10,"eta_seconds":90,"poll_after_ms":5000}"#
        );
        // While counting: no position yet, and the JSON says so.
        let mut counting = waiting(3, 10);
        if let Status::Waiting(w) = &mut counting {
            w.global_position = None;
        }
        assert_eq!(
            json(Placement::of_status(&counting, None, NOW)),
            r#"{"state":"waiting","position":0,"counting":true,"queue_length":10,"eta_seconds":90,"poll_after_ms":5000}"#
        );
        // The shard's global count can lag its own position: never shorter
        // than the position.
        assert_eq!(
            json(Placement::of_status(&waiting(12, 10), None, NOW)),
            r#"{"state":"waiting","position":12,"queue_length":12,"eta_seconds":90,"poll_after_ms":5000}"#
        );
    }

    #[test]
    fn in_prequeue_there_is_a_countdown_not_a_position() {
        let p = Placement::of_status(&waiting(3, 10), Some(NOW + 60_001), NOW);
        assert_eq!(
            json(p),
            r#"{"state":"prequeue","position":0,"queue_length":10,"eta_seconds":61,"poll_after_ms":5000}"#
        );
        // Pre-queue only changes a waiting answer.
        let admitted = Status::Admitted {
            session_expires_ms: NOW + 1,
        };
        assert_eq!(
            Placement::of_status(&admitted, Some(NOW + 60_000), NOW),
            Placement::Admitted {
                session_expires_ms: Some(NOW + 1)
            }
        );
        assert_eq!(
            Placement::of_status(&Status::NotFound, Some(NOW + 60_000), NOW),
            Placement::Expired
        );
    }

    #[test]
    fn admitted_and_expired_views() {
        let admitted = Placement::of_status(
            &Status::Admitted {
                session_expires_ms: NOW,
            },
            None,
            NOW,
        );
        assert_eq!(
            json(admitted),
            r#"{"state":"admitted","position":0,"queue_length":0,"eta_seconds":0,"poll_after_ms":0}"#
        );
        for gone in [Status::Abandoned, Status::NotFound] {
            assert_eq!(
                json(Placement::of_status(&gone, None, NOW)),
                r#"{"state":"expired","position":0,"queue_length":0,"eta_seconds":0,"poll_after_ms":0}"#
            );
        }
        assert_eq!(Placement::RateLimited.view(), None);
    }

    #[test]
    fn a_join_reply_becomes_a_placement_and_a_sequence_number() {
        let refused = JoinReply::Refused {
            reason: Refusal::Closed,
            reopen_at_ms: Some(NOW + 3_600_000),
        };
        let (p, seq) = Placement::of_join(&refused, NOW).unwrap();
        assert_eq!(
            p,
            Placement::Refused {
                reason: Refusal::Closed,
                reopen_at_ms: Some(NOW + 3_600_000)
            }
        );
        assert_eq!((p.view(), seq), (None, None));

        for outcome in [
            JoinOutcome::Joined { seq: 4 },
            JoinOutcome::AlreadyWaiting { seq: 4 },
        ] {
            let placed = JoinReply::Placed {
                outcome,
                status: waiting(3, 10),
                prequeue_until: None,
                message: None,
            };
            let (p, seq) = Placement::of_join(&placed, NOW).unwrap();
            assert_eq!(seq, Some(4));
            assert!(matches!(
                p,
                Placement::Waiting {
                    position: Some(3),
                    ..
                }
            ));
        }
        let prequeue = JoinReply::Placed {
            outcome: JoinOutcome::Joined { seq: 4 },
            status: waiting(3, 10),
            prequeue_until: Some(NOW + 1_000),
            message: None,
        };
        assert!(matches!(
            Placement::of_join(&prequeue, NOW).unwrap().0,
            Placement::PreQueue { eta_seconds: 1, .. }
        ));
        let collision = JoinReply::Placed {
            outcome: JoinOutcome::AlreadyAdmitted {
                session_expires_ms: NOW,
            },
            status: Status::Admitted {
                session_expires_ms: NOW,
            },
            prequeue_until: None,
            message: None,
        };
        assert_eq!(Placement::of_join(&collision, NOW), Err(Collision));
    }
}
