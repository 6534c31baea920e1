//! `PUT /admin/config` in core: a JSON patch merged into the current
//! configuration, refused with the field named (`operator::apply_patch`).

use serde_json::{json, Map, Value};
use waitroom_core::coordinator::{AdmissionConfig, ConfigError};
use waitroom_core::operator::{apply_patch, config_json, OperatorConfig, Pacing, QueueMode};

const MAY_1_8H: u64 = 1_777_622_400_000;

fn patch(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn apply(v: Value) -> Result<(AdmissionConfig, OperatorConfig), ConfigError> {
    apply_patch(
        &AdmissionConfig::default(),
        &OperatorConfig::default(),
        &patch(v),
    )
}

fn refused_field(v: Value) -> String {
    match apply(v.clone()) {
        Err(e) => e.field,
        Ok(c) => panic!("{v} was accepted: {c:?}"),
    }
}

#[test]
fn an_empty_patch_changes_nothing() {
    let a = AdmissionConfig {
        paused: true,
        ..AdmissionConfig::default()
    };
    let o = OperatorConfig {
        mode: QueueMode::Random,
        event_start: Some(MAY_1_8H),
        ..OperatorConfig::default()
    };
    assert_eq!(apply_patch(&a, &o, &Map::new()), Ok((a, o)));
}

#[test]
fn a_valid_patch_changes_exactly_its_fields() {
    let (a, o) = apply(json!({
        "new_users_per_minute": 120,
        "paused": true,
        "mode": "random",
        "pacing": "fixed",
        "pacing_floor_per_minute": 10,
        "prequeue_start": "2026-05-01T07:00:00Z",
        "event_start": MAY_1_8H,
        "reopen_at": "2026-05-01T10:00:00+02:00",
    }))
    .unwrap();
    assert_eq!(
        a,
        AdmissionConfig {
            new_users_per_minute: 120,
            paused: true,
            ..AdmissionConfig::default()
        }
    );
    assert_eq!(
        o,
        OperatorConfig {
            mode: QueueMode::Random,
            pacing: Pacing::Fixed,
            pacing_floor_per_minute: 10,
            prequeue_start: Some(MAY_1_8H - 3_600_000),
            event_start: Some(MAY_1_8H),
            reopen_at: Some(MAY_1_8H),
            ..OperatorConfig::default()
        }
    );
    // The admin API shows both halves in one object, times as RFC 3339 UTC.
    let shown = config_json(&a, &o);
    assert_eq!(shown["event_start"], "2026-05-01T08:00:00Z");
    assert_eq!(shown["reopen_at"], "2026-05-01T08:00:00Z");
    assert_eq!(shown["new_users_per_minute"], 120);
    assert_eq!(shown["max_wait_minutes"], 0);
    assert_eq!(shown["pacing"], "fixed");
    // What it shows is a patch that reproduces it.
    assert_eq!(apply(Value::Object(shown)), Ok((a, o)));
}

#[test]
fn a_time_can_be_cleared_with_null_or_an_empty_string() {
    let o = OperatorConfig {
        reopen_at: Some(MAY_1_8H),
        ..OperatorConfig::default()
    };
    let a = AdmissionConfig::default();
    for cleared in [json!({"reopen_at": null}), json!({"reopen_at": ""})] {
        let (_, got) = apply_patch(&a, &o, &patch(cleared)).unwrap();
        assert_eq!(got.reopen_at, None);
    }
}

#[test]
fn an_unknown_field_is_named() {
    let e = apply(json!({"paused": true, "pasued": false})).unwrap_err();
    assert_eq!(e.field, "pasued");
    assert_eq!(e.message, "is not a configuration field");
    // Before any type error elsewhere in the patch.
    assert_eq!(refused_field(json!({"paused": "yes", "zzz": 1})), "zzz");
}

#[test]
fn a_value_of_the_wrong_type_is_named() {
    for (field, value) in [
        ("paused", json!("true")),
        ("paused", json!(1)),
        ("new_users_per_minute", json!("600")),
        ("new_users_per_minute", json!(-1)),
        ("new_users_per_minute", json!(1.5)),
        ("new_users_per_minute", json!(null)),
        ("total_active_users", json!(4_294_967_296u64)),
        ("max_wait_minutes", json!(-1)),
        ("mode", json!("lifo")),
        ("mode", json!(null)),
        ("pacing", json!("adaptive")),
        ("pacing", json!("Origin")),
        ("pacing", json!(null)),
        ("pacing", json!(1)),
        ("pacing_floor_per_minute", json!(-1)),
        ("pacing_floor_per_minute", json!("5")),
        ("event_start", json!(true)),
        ("event_start", json!(-5)),
        ("event_start", json!(1.5)),
        ("event_start", json!("soon")),
        ("reopen_at", json!([2026])),
    ] {
        let e = apply(json!({ field: value })).unwrap_err();
        assert_eq!(e.field, field, "{field}: {value}");
        assert!(
            e.message.starts_with("has an invalid value: "),
            "{}",
            e.message
        );
    }
}

#[test]
fn every_refused_form_of_a_time_names_its_field() {
    for field in ["prequeue_start", "event_start", "reopen_at"] {
        for bad in [
            // The Coordinator panicked on this one (byte slicing).
            "2026-05-01T08:00:00+€00",
            "2026-05-01T08:00:00€",
            "€026-05-01T08:00:00Z",
            "2026-05-01T08:00:00",
            "2026-05-01",
            "2026-02-30T08:00:00Z",
            "2026-05-01T08:00:00+25:00",
            "1969-12-31T23:59:59Z",
            "next tuesday",
        ] {
            let e = apply(json!({ field: bad })).unwrap_err();
            assert_eq!(e.field, field, "{bad}");
            assert!(e.message.contains("is not an RFC 3339 time"), "{e}");
        }
    }
}

#[test]
fn every_accepted_form_of_a_time() {
    for (text, ms) in [
        (json!("2026-05-01T08:00:00Z"), MAY_1_8H),
        (json!("2026-05-01T08:00:00.250Z"), MAY_1_8H + 250),
        (json!("2026-05-01T10:00:00+02:00"), MAY_1_8H),
        (json!("2026-05-01T06:00:00-02:00"), MAY_1_8H),
        (json!("2026-05-01 08:00:00Z"), MAY_1_8H),
        (json!(MAY_1_8H), MAY_1_8H),
        (json!(1_777_622_400_000.0), MAY_1_8H),
    ] {
        let (_, o) = apply(json!({ "event_start": text })).unwrap();
        assert_eq!(o.event_start, Some(ms), "{text}");
    }
}

#[test]
fn an_invalid_value_is_named_by_validation() {
    for (v, field) in [
        (json!({"new_users_per_minute": 0}), "new_users_per_minute"),
        (json!({"session_minutes": 0}), "session_minutes"),
        (json!({"max_wait_minutes": 100_000}), "max_wait_minutes"),
        // The floor is below the ceiling (the default ceiling is 600).
        (
            json!({"pacing_floor_per_minute": 601}),
            "pacing_floor_per_minute",
        ),
        (
            json!({"pacing_floor_per_minute": 100, "new_users_per_minute": 99}),
            "pacing_floor_per_minute",
        ),
        (
            json!({"pacing_floor_per_minute": 2_000_000}),
            "pacing_floor_per_minute",
        ),
        // Parses, but outside 2000..2200.
        (json!({"reopen_at": "1999-12-31T23:59:59Z"}), "reopen_at"),
        (json!({"event_start": 5}), "event_start"),
        (json!({"prequeue_start": MAY_1_8H}), "prequeue_start"),
        (
            json!({"prequeue_start": MAY_1_8H, "event_start": MAY_1_8H - 1}),
            "event_start",
        ),
    ] {
        assert_eq!(refused_field(v.clone()), field, "{v}");
    }
}
