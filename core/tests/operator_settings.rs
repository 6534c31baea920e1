//! `PUT /admin/config` with the extras (message, events, bypass rules):
//! each set, shown and cleared through `apply_settings_patch`, and every
//! refusal names the nested field it is about.

use serde_json::{json, Map, Value};
use waitroom_core::operator::{apply_patch, apply_settings_patch, settings_json, Settings};

fn patch(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn apply_to(current: &Settings, v: Value) -> Settings {
    apply_settings_patch(current, &patch(v.clone()))
        .unwrap_or_else(|e| panic!("{v} was refused: {e}"))
}

fn refused(current: &Settings, v: Value) -> String {
    match apply_settings_patch(current, &patch(v.clone())) {
        Err(e) => e.field,
        Ok(s) => panic!("{v} was accepted: {s:?}"),
    }
}

/// What the admin API shows patches back to the same settings.
fn round_trips(s: &Settings) {
    let shown = Value::Object(settings_json(s));
    assert_eq!(&apply_to(&Settings::default(), shown), s);
}

#[test]
fn the_message_is_set_shown_and_removed_by_null() {
    let base = Settings::default();
    assert_eq!(settings_json(&base)["message"], Value::Null);
    let s = apply_to(
        &base,
        json!({"message": {"en": "Tickets at 9 <b>sharp</b>", "es": "Entradas a las 9"}}),
    );
    let m = s.extras.message.as_ref().unwrap();
    assert_eq!(m.0["es"], "Entradas a las 9");
    assert_eq!(
        settings_json(&s)["message"]["en"],
        "Tickets at 9 <b>sharp</b>"
    );
    round_trips(&s);
    // A new message replaces the whole object (the other language goes).
    let only_es = apply_to(&s, json!({"message": {"es": "Hola"}}));
    assert_eq!(only_es.extras.message.unwrap().0.len(), 1);
    let cleared = apply_to(&s, json!({"message": null}));
    assert_eq!(cleared.extras.message, None);
    assert_eq!(cleared, base);
}

#[test]
fn bad_messages_are_refused_naming_the_language() {
    let s = Settings::default();
    let long = "x".repeat(281);
    assert_eq!(refused(&s, json!({"message": {"en": long}})), "message.en");
    assert_eq!(
        refused(&s, json!({"message": {"es": "a\u{7}"}})),
        "message.es"
    );
    assert_eq!(refused(&s, json!({"message": {"en": 5}})), "message.en");
    assert_eq!(
        refused(&s, json!({"message": {"de": "Hallo"}})),
        "message.de"
    );
    assert_eq!(refused(&s, json!({"message": "hello"})), "message");
    assert_eq!(refused(&s, json!({"message": {}})), "message");
    // The first bad field of a patch is the one named, and the rest of
    // the patch is not applied either (the function returns no settings).
    assert_eq!(
        refused(&s, json!({"paused": true, "message": {"en": ""}})),
        "message.en"
    );
}

#[test]
fn the_two_half_patch_still_refuses_the_extras() {
    use waitroom_core::coordinator::AdmissionConfig;
    use waitroom_core::operator::OperatorConfig;
    let e = apply_patch(
        &AdmissionConfig::default(),
        &OperatorConfig::default(),
        &patch(json!({"message": {"en": "hi"}})),
    )
    .unwrap_err();
    assert_eq!(e.field, "message");
}

const T: u64 = 1_800_000_000_000;
const MIN: u64 = 60_000;

fn wave(start_min: u64, end_min: u64) -> Value {
    json!({
        "name": format!("wave at {start_min}"),
        "prequeue_start": T + (start_min - 10) * MIN,
        "start": T + start_min * MIN,
        "end": T + end_min * MIN,
        "new_users_per_minute": 50,
        "mode": "fifo",
    })
}

#[test]
fn events_are_set_shown_and_run_in_their_window() {
    let base = Settings::default();
    let s = apply_to(
        &base,
        json!({
            "message": {"en": "room"},
            "events": [wave(100, 160), wave(20, 60), {
                "start": "2027-01-16T08:00:00Z", "end": "2027-01-16T09:00:00Z",
                "message": {"en": "wave three"}, "total_active_users": 10,
            }],
        }),
    );
    assert_eq!(s.extras.events.len(), 3);
    assert_eq!(
        settings_json(&s)["events"][1]["start"],
        "2027-01-15T08:20:00Z"
    );
    round_trips(&s);

    let pre = s.effective(T + 15 * MIN);
    assert_eq!(pre.event, Some(1));
    assert_eq!(pre.admission.new_users_per_minute, 50);
    assert_eq!(pre.operator.event_start, Some(T + 20 * MIN));
    assert_eq!(pre.message.unwrap().0["en"], "room");
    let outside = s.effective(T + 70 * MIN);
    assert_eq!(outside.event, None);
    assert_eq!(
        (outside.admission, outside.operator),
        (s.admission, s.operator)
    );
    assert_eq!(apply_to(&s, json!({"events": []})).extras.events, vec![]);
}

#[test]
fn bad_events_are_refused_naming_the_event_and_field() {
    let s = Settings::default();
    let mut late = wave(20, 60);
    late["end"] = json!("soon");
    assert_eq!(
        refused(&s, json!({"events": [wave(100, 120), late]})),
        "events[1].end"
    );
    let mut endless = wave(20, 60);
    endless.as_object_mut().unwrap().remove("end");
    assert_eq!(refused(&s, json!({"events": [endless]})), "events[0].end");
    let mut typo = wave(20, 60);
    typo["pace"] = json!(3);
    assert!(refused(&s, json!({"events": [typo]})).starts_with("events[0]"));
    assert_eq!(
        refused(&s, json!({"events": [wave(20, 60), wave(90, 80)]})),
        "events[1].end"
    );
    // The second pre-queue opens (at 55) before the first event ends (60).
    assert_eq!(
        refused(&s, json!({"events": [wave(20, 60), wave(65, 90)]})),
        "events[1].prequeue_start"
    );
    let mut early = wave(20, 60);
    early["prequeue_start"] = json!(T + 30 * MIN);
    assert_eq!(
        refused(&s, json!({"events": [early]})),
        "events[0].prequeue_start"
    );
    let six: Vec<Value> = (0..6).map(|i| wave(20 + i * 100, 60 + i * 100)).collect();
    assert_eq!(refused(&s, json!({ "events": six })), "events");
    assert_eq!(refused(&s, json!({"events": {"start": T}})), "events");
    let mut bad_msg = wave(20, 60);
    bad_msg["message"] = json!({"en": "x".repeat(300)});
    assert_eq!(
        refused(&s, json!({"events": [bad_msg]})),
        "events[0].message.en"
    );
}

#[test]
fn bypass_rules_are_set_cleared_and_refused_by_name() {
    let base = Settings::default();
    let s = apply_to(
        &base,
        json!({"bypass_rules": {
            "cidrs": ["198.51.100.0/24"],
            "headers": [{"name": "X-Call-Centre", "value": "0123456789abcdef"}],
            "countries": ["AQ"],
        }}),
    );
    assert_eq!(s.extras.bypass_rules.cidrs.len(), 1);
    assert_eq!(
        settings_json(&s)["bypass_rules"]["cidrs"][0],
        "198.51.100.0/24"
    );
    round_trips(&s);
    assert_eq!(apply_to(&s, json!({"bypass_rules": {}})), base);
    assert_eq!(
        refused(
            &base,
            json!({"bypass_rules": {"cidrs": ["198.51.100.0/24", "nonsense"]}})
        ),
        "bypass_rules.cidrs[1]"
    );
    assert_eq!(
        refused(
            &base,
            json!({"bypass_rules": {"headers": [{"name": "X-A"}]}})
        ),
        "bypass_rules.headers[0].value"
    );
    assert_eq!(
        refused(&base, json!({"bypass_rules": {"countries": ["XYZ"]}})),
        "bypass_rules.countries[0]"
    );
    assert!(refused(&base, json!({"bypass_rules": {"paths": []}})).starts_with("bypass_rules"));
}

#[test]
fn logs_do_not_show_bypass_header_values() {
    use waitroom_core::operator::settings_log_json;
    let s = apply_to(
        &Settings::default(),
        json!({"bypass_rules": {"headers": [{"name": "X-A", "value": "0123456789abcdef"}]}}),
    );
    let logged = Value::Object(settings_log_json(&s)).to_string();
    assert!(!logged.contains("0123456789abcdef"), "{logged}");
    assert!(logged.contains("X-A"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// JSON of the shapes the extras have, with values near the limits.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            prop_oneof![Just(0u64), Just(T), Just(T + 3_600_000), 0u64..2_000_000]
                .prop_map(Value::from),
            prop_oneof![
                Just("en".to_string()),
                Just("2027-01-15T08:00:00Z".to_string()),
                Just("10.0.0.0/8".to_string()),
                Just("0123456789abcdef".to_string()),
                "\\PC{0,20}",
            ]
            .prop_map(Value::from),
        ];
        let keys = prop_oneof![
            Just("en"),
            Just("es"),
            Just("start"),
            Just("end"),
            Just("prequeue_start"),
            Just("mode"),
            Just("message"),
            Just("cidrs"),
            Just("headers"),
            Just("name"),
            Just("value"),
            Just("countries"),
            Just("new_users_per_minute"),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(keys.clone(), inner, 0..4).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        /// No patch panics; a refusal names a field under the one patched;
        /// what is accepted is shown so that it patches back to itself.
        #[test]
        fn patches_of_the_extras_are_refused_by_name_or_round_trip(
            field in prop_oneof![Just("message"), Just("events"), Just("bypass_rules")],
            value in arb_json(),
        ) {
            let mut p = Map::new();
            p.insert(field.to_string(), value);
            match apply_settings_patch(&Settings::default(), &p) {
                Err(e) => prop_assert!(e.field.starts_with(field), "{} for {}", e.field, field),
                Ok(s) => {
                    let shown = settings_json(&s);
                    prop_assert_eq!(apply_settings_patch(&Settings::default(), &shown), Ok(s));
                }
            }
        }
    }
}
