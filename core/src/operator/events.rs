//! Scheduled events: up to [`MAX_EVENTS`] launches in one room, each with
//! its own pre-queue, start, end, pace, active cap, mode and message,
//! overriding the room's settings while it runs (Cloudflare's model).
//!
//! An event *applies* over its window `[prequeue_start or start, end)`.
//! Windows never overlap ([`validate_events`]), so at any instant at most
//! one event applies, and [`effective`] gives the settings the room runs
//! under then: the room's own outside every window, the event's overrides
//! inside one. The override maps onto the settings the rest of the crate
//! already knows, so nothing downstream learns about events:
//! - the event's `prequeue_start` and `start` become the operator
//!   `prequeue_start` / `event_start`: the door, the pre-queue and its
//!   lottery ([`super::lottery`]) run for the event as for a room schedule.
//!   Those still waiting under the room's settings when an event's
//!   pre-queue opens stop moving with everyone and join its lottery: they
//!   arrived before the event's start, which is what the lottery shuffles
//!   ([`crate::queue::ShardQueue::shuffle_prequeue`]);
//! - an event without `prequeue_start` has no pre-queue and no lottery (its
//!   `event_start` is none): the overrides simply start at `start`. Giving
//!   it `event_start = start` instead would shuffle everyone already
//!   waiting under the room's settings;
//! - pace, cap, mode and message replace the room's when set, and the
//!   pacing floor is lowered to the event's pace when above it (a floor
//!   above the pace means nothing, and the room's floor is set for the
//!   room's pace).
//!
//! Events are identified by their `start` (unique, since windows do not
//! overlap): the report ([`super::report`]) groups by it, and editing
//! another event does not renumber them.

use serde::{Deserialize, Serialize};

use super::config::{time_opt, time_req, MAX_TIME_MS, MIN_TIME_MS};
use super::{Message, OperatorConfig, QueueMode};
use crate::config::{AdmissionConfig, ConfigError};
use crate::date::format_rfc3339;

/// Most events in one room: Cloudflare's limit too, and enough for a
/// launch with a few waves.
pub const MAX_EVENTS: usize = 5;
/// Longest event name, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 64;

/// One scheduled event. Unset overrides inherit the room's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// A label for the dashboard and the report (plain text, may be empty).
    #[serde(default)]
    pub name: String,
    /// The pre-queue opens (arrivals wait for the lottery at `start`).
    /// None: no pre-queue, no lottery.
    #[serde(default, with = "time_opt")]
    pub prequeue_start: Option<u64>,
    /// Admissions start (and the pre-queue is shuffled).
    #[serde(with = "time_req")]
    pub start: u64,
    /// The room's own settings return.
    #[serde(with = "time_req")]
    pub end: u64,
    /// Pace: admissions per minute.
    #[serde(default)]
    pub new_users_per_minute: Option<u32>,
    /// Active cap.
    #[serde(default)]
    pub total_active_users: Option<u32>,
    #[serde(default)]
    pub mode: Option<QueueMode>,
    /// Replaces the room's message while the event applies.
    #[serde(default)]
    pub message: Option<Message>,
}

impl Event {
    /// When the event starts to apply: its pre-queue, else its start.
    pub fn applies_from(&self) -> u64 {
        self.prequeue_start.unwrap_or(self.start)
    }

    /// Whether the event applies at `now_ms`.
    pub fn applies_at(&self, now_ms: u64) -> bool {
        (self.applies_from()..self.end).contains(&now_ms)
    }

    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        let err = |field: &str, message: String| {
            Err(ConfigError {
                field: format!("{at}.{field}"),
                message,
            })
        };
        let chars = self.name.chars().count();
        if chars > MAX_EVENT_NAME_CHARS || self.name.chars().any(char::is_control) {
            return err(
                "name",
                format!("must be one line of at most {MAX_EVENT_NAME_CHARS} characters"),
            );
        }
        for (field, t) in [
            ("prequeue_start", self.prequeue_start),
            ("start", Some(self.start)),
            ("end", Some(self.end)),
        ] {
            if t.is_some_and(|t| !(MIN_TIME_MS..MAX_TIME_MS).contains(&t)) {
                return err(field, "must be a time between 2000 and 2200".into());
            }
        }
        if let Some(p) = self.prequeue_start.filter(|&p| p > self.start) {
            return err(
                "prequeue_start",
                format!(
                    "must not be after start ({} > {})",
                    format_rfc3339(p),
                    format_rfc3339(self.start)
                ),
            );
        }
        if self.end <= self.start {
            return err(
                "end",
                format!(
                    "must be after start ({} <= {})",
                    format_rfc3339(self.end),
                    format_rfc3339(self.start)
                ),
            );
        }
        // The room's own ranges (`AdmissionConfig::validate`).
        if let Some(n) = self
            .new_users_per_minute
            .filter(|n| !(1..=1_000_000).contains(n))
        {
            return err(
                "new_users_per_minute",
                format!("must be between 1 and 1000000 users per minute, got {n}"),
            );
        }
        if let Some(n) = self
            .total_active_users
            .filter(|n| !(1..=10_000_000).contains(n))
        {
            return err(
                "total_active_users",
                format!("must be between 1 and 10000000 users, got {n}"),
            );
        }
        match &self.message {
            Some(m) => m.validate(&format!("{at}.message")),
            None => Ok(()),
        }
    }
}

/// Refuses an event list that cannot be meant: more than [`MAX_EVENTS`],
/// an event that is wrong on its own (the error names it:
/// `events[2].end`), or two whose windows overlap (named by the one that
/// starts inside the other, at its first field).
pub fn validate_events(events: &[Event]) -> Result<(), ConfigError> {
    if events.len() > MAX_EVENTS {
        return Err(ConfigError {
            field: "events".into(),
            message: format!("at most {MAX_EVENTS} events, got {}", events.len()),
        });
    }
    for (i, e) in events.iter().enumerate() {
        e.validate(&format!("events[{i}]"))?;
    }
    let mut by_start: Vec<usize> = (0..events.len()).collect();
    by_start.sort_by_key(|&i| (events[i].applies_from(), i));
    for pair in by_start.windows(2) {
        let (a, b) = (&events[pair[0]], &events[pair[1]]);
        if b.applies_from() < a.end {
            let field = if b.prequeue_start.is_some() {
                "prequeue_start"
            } else {
                "start"
            };
            return Err(ConfigError {
                field: format!("events[{}].{field}", pair[1]),
                message: format!(
                    "overlaps events[{}] (which applies until {}); events must not overlap, pre-queues included",
                    pair[0],
                    format_rfc3339(a.end)
                ),
            });
        }
    }
    Ok(())
}

/// The event applying at `now_ms` (its index), if any. With a list that
/// [`validate_events`] accepted there is at most one.
pub fn event_at(events: &[Event], now_ms: u64) -> Option<usize> {
    events.iter().position(|e| e.applies_at(now_ms))
}

/// The next instant after `now_ms` at which [`effective`] may change (an
/// event's pre-queue, start or end), for the Coordinator's next wake-up.
pub fn next_change_ms(events: &[Event], now_ms: u64) -> Option<u64> {
    events
        .iter()
        .flat_map(|e| [e.prequeue_start, Some(e.start), Some(e.end)])
        .flatten()
        .filter(|&t| t > now_ms)
        .min()
}

/// The settings the room runs under at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub admission: AdmissionConfig,
    pub operator: OperatorConfig,
    /// The message to show (the event's, else the room's).
    pub message: Option<Message>,
    /// The event applying (index into the list), if any.
    pub event: Option<usize>,
    /// Its `start`: the event's id in the report.
    pub event_start_ms: Option<u64>,
}

/// The settings at `now_ms`: the room's, with the overrides of the event
/// applying then (see the module docs).
pub fn effective(
    admission: &AdmissionConfig,
    operator: &OperatorConfig,
    message: Option<&Message>,
    events: &[Event],
    now_ms: u64,
) -> Effective {
    let Some(i) = event_at(events, now_ms) else {
        return Effective {
            admission: *admission,
            operator: *operator,
            message: message.cloned(),
            event: None,
            event_start_ms: None,
        };
    };
    let e = &events[i];
    let mut a = *admission;
    a.new_users_per_minute = e.new_users_per_minute.unwrap_or(a.new_users_per_minute);
    a.total_active_users = e.total_active_users.unwrap_or(a.total_active_users);
    let op = OperatorConfig {
        mode: e.mode.unwrap_or(operator.mode),
        prequeue_start: e.prequeue_start,
        event_start: e.prequeue_start.map(|_| e.start),
        pacing_floor_per_minute: operator.pacing_floor_per_minute.min(a.new_users_per_minute),
        ..*operator
    };
    Effective {
        admission: a,
        operator: op,
        message: e.message.as_ref().or(message).cloned(),
        event: Some(i),
        event_start_ms: Some(e.start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Phase;
    use proptest::prelude::*;

    const T: u64 = 1_800_000_000_000;
    const MIN: u64 = 60_000;

    fn ev(pq: Option<u64>, start: u64, end: u64) -> Event {
        Event {
            name: String::new(),
            prequeue_start: pq,
            start,
            end,
            new_users_per_minute: None,
            total_active_users: None,
            mode: None,
            message: None,
        }
    }

    fn field(events: &[Event]) -> String {
        validate_events(events).unwrap_err().field
    }

    #[test]
    fn json_reads_times_both_ways_and_refuses_unknown_fields() {
        let e: Event = serde_json::from_str(
            r#"{"name":"Wave 1","prequeue_start":"2027-01-15T08:00:00Z","start":"2027-01-15T09:00:00+01:00",
                "end":1800000000000,"new_users_per_minute":300,"mode":"random","message":{"en":"Hi"}}"#,
        )
        .unwrap();
        assert_eq!(e.start, e.prequeue_start.unwrap());
        assert_eq!(e.mode, Some(QueueMode::Random));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["start"], "2027-01-15T08:00:00Z");
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        assert!(serde_json::from_str::<Event>(r#"{"start":1,"end":2,"pace":3}"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"start":1}"#).is_err());
    }

    #[test]
    fn refusals_name_the_event_and_field() {
        let ok = ev(Some(T), T + 10 * MIN, T + 60 * MIN);
        assert!(validate_events(std::slice::from_ref(&ok)).is_ok());
        assert_eq!(
            field(&[ok.clone(), ev(None, T + 90 * MIN, T + 80 * MIN)]),
            "events[1].end"
        );
        assert_eq!(field(&[ev(None, T, T)]), "events[0].end");
        assert_eq!(
            field(&[ev(Some(T + MIN), T, T + MIN)]),
            "events[0].prequeue_start"
        );
        assert_eq!(field(&[ev(None, 5, T)]), "events[0].start");
        let fast = Event {
            new_users_per_minute: Some(0),
            ..ok.clone()
        };
        assert_eq!(field(&[fast]), "events[0].new_users_per_minute");
        let capped = Event {
            total_active_users: Some(10_000_001),
            ..ok.clone()
        };
        assert_eq!(field(&[capped]), "events[0].total_active_users");
        let said = Event {
            message: Some(Message([("en".to_string(), "a\nb".to_string())].into())),
            ..ok.clone()
        };
        assert_eq!(field(&[said]), "events[0].message.en");
        let named = Event {
            name: "x".repeat(MAX_EVENT_NAME_CHARS + 1),
            ..ok.clone()
        };
        assert_eq!(field(&[named]), "events[0].name");
        let six: Vec<Event> = (0..6)
            .map(|i| ev(None, T + i * 10 * MIN, T + i * 10 * MIN + MIN))
            .collect();
        assert_eq!(field(&six), "events");
        assert!(validate_events(&six[..5]).is_ok());
    }

    #[test]
    fn overlaps_are_refused_pre_queues_included() {
        let a = ev(None, T, T + 60 * MIN);
        // Its pre-queue starts before `a` ends.
        let b = ev(Some(T + 30 * MIN), T + 90 * MIN, T + 120 * MIN);
        assert_eq!(field(&[a.clone(), b.clone()]), "events[1].prequeue_start");
        // Listed in any order: named by the later one.
        assert_eq!(field(&[b, a.clone()]), "events[0].prequeue_start");
        let c = ev(None, T + 59 * MIN, T + 61 * MIN);
        assert_eq!(field(&[c, a.clone()]), "events[0].start");
        // Touching is fine: one ends as the next begins.
        let d = ev(Some(T + 60 * MIN), T + 70 * MIN, T + 80 * MIN);
        assert!(validate_events(&[d, a]).is_ok());
    }

    #[test]
    fn an_event_overrides_the_room_while_it_applies() {
        let room = AdmissionConfig::default();
        let op = OperatorConfig {
            pacing_floor_per_minute: 500,
            ..OperatorConfig::default()
        };
        let hello = Message([("en".to_string(), "room".to_string())].into());
        let wave = Event {
            new_users_per_minute: Some(100),
            total_active_users: Some(50),
            mode: Some(QueueMode::Random),
            message: Some(Message([("en".to_string(), "wave".to_string())].into())),
            ..ev(Some(T), T + 10 * MIN, T + 60 * MIN)
        };
        let plain = ev(None, T + 120 * MIN, T + 180 * MIN);
        let events = [plain, wave];
        let at = |now| effective(&room, &op, Some(&hello), &events, now);

        let before = at(T - 1);
        assert_eq!(
            (before.admission, before.operator, before.event),
            (room, op, None)
        );
        assert_eq!(before.message, Some(hello.clone()));

        let pre = at(T);
        assert_eq!(pre.event, Some(1));
        assert_eq!(pre.event_start_ms, Some(T + 10 * MIN));
        assert_eq!(
            pre.operator.phase(T),
            Phase::PreQueue {
                event_start_ms: T + 10 * MIN
            }
        );
        assert_eq!(pre.admission.new_users_per_minute, 100);
        assert_eq!(pre.admission.total_active_users, 50);
        assert_eq!(pre.operator.mode, QueueMode::Random);
        assert_eq!(pre.operator.pacing_floor_per_minute, 100);
        assert_eq!(pre.message.unwrap().0["en"], "wave");
        assert_eq!(at(T + 10 * MIN).operator.phase(T + 10 * MIN), Phase::Open);

        let back = at(T + 60 * MIN);
        assert_eq!(
            (back.admission, back.operator, back.event),
            (room, op, None)
        );

        // No pre-queue: no lottery, the room's message, the room's pace.
        let second = at(T + 120 * MIN);
        assert_eq!(second.event, Some(0));
        assert_eq!(second.operator.event_start, None);
        assert_eq!(second.admission, room);
        assert_eq!(second.message, Some(hello));

        assert_eq!(next_change_ms(&events, T - 1), Some(T));
        assert_eq!(next_change_ms(&events, T), Some(T + 10 * MIN));
        assert_eq!(next_change_ms(&events, T + 180 * MIN), None);
    }

    /// Up to 7 events (so some lists are too long) with windows in minutes
    /// from `T`, overlapping or not.
    fn arb_events() -> impl Strategy<Value = Vec<Event>> {
        let one = (
            0u64..600,
            proptest::option::of(0u64..60),
            1u64..120,
            1u32..2000,
        )
            .prop_map(|(start, pq, len, pace)| Event {
                new_users_per_minute: Some(pace),
                ..ev(
                    pq.map(|p| T + start.saturating_sub(p) * MIN),
                    T + start * MIN,
                    T + (start + len) * MIN,
                )
            });
        proptest::collection::vec(one, 0..7)
    }

    proptest! {
        #[test]
        fn at_most_one_event_applies_and_outside_the_room_rules(
            events in arb_events(),
            probes in proptest::collection::vec(0u64..800 * MIN, 1..40),
        ) {
            let room = AdmissionConfig::default();
            let op = OperatorConfig::default();
            let accepted = validate_events(&events).is_ok();
            for dt in probes {
                let now = T - 60 * MIN + dt;
                let applying = events.iter().filter(|e| e.applies_at(now)).count();
                if accepted {
                    prop_assert!(applying <= 1, "{applying} events at {now}");
                }
                let eff = effective(&room, &op, None, &events, now);
                if applying == 0 {
                    prop_assert_eq!(eff.event, None);
                    prop_assert_eq!(eff.admission, room);
                    prop_assert_eq!(eff.operator, op);
                    prop_assert_eq!(eff.message, None);
                } else {
                    let e = &events[eff.event.unwrap()];
                    prop_assert!(e.applies_at(now));
                    prop_assert_eq!(Some(eff.admission.new_users_per_minute), e.new_users_per_minute);
                }
            }
        }

        /// Accepted lists have pairwise disjoint windows (the check is not
        /// fooled by the order they are listed in).
        #[test]
        fn accepted_lists_never_overlap(events in arb_events()) {
            if validate_events(&events).is_ok() {
                prop_assert!(events.len() <= MAX_EVENTS);
                for (i, a) in events.iter().enumerate() {
                    for b in &events[i + 1..] {
                        prop_assert!(a.end <= b.applies_from() || b.end <= a.applies_from());
                    }
                }
            }
        }
    }
}
