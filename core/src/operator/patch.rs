//! `PUT /admin/config`: a JSON patch merged into the current configuration.
//!
//! The three halves ([`AdmissionConfig`], [`OperatorConfig`] and
//! [`OperatorExtras`]) are one flat JSON object ([`settings_json`]); a patch
//! names some of its top-level fields and replaces each whole (a message or
//! an event list is set in one piece; `null` clears an optional one). The
//! first problem is refused with the field it is about ([`ConfigError`],
//! which the edge answers as `422 {"error":"invalid_field","field",…}`), in
//! this order: a field that does not exist, a value that does not parse as
//! its field's type (a number, `true`/`false`, a mode, an RFC 3339 time or
//! epoch milliseconds; inside a list or object the innermost field is
//! named, `events[2].end`), then the validation rules of every half.
//! Nothing is half-applied: the caller stores the result only if there is
//! one.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{OperatorConfig, OperatorExtras};
use crate::config::{AdmissionConfig, ConfigError};

/// Every operator setting: the three halves `PUT /admin/config` patches as
/// one flat object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub admission: AdmissionConfig,
    pub operator: OperatorConfig,
    pub extras: OperatorExtras,
}

/// The configuration as the admin API shows it: both halves in one object.
pub fn config_json(admission: &AdmissionConfig, operator: &OperatorConfig) -> Map<String, Value> {
    let mut merged = object(admission);
    merged.extend(object(operator));
    merged
}

impl Settings {
    /// The settings the room runs under at `now_ms`: the room's, with the
    /// overrides of the event applying then ([`super::events`]).
    pub fn effective(&self, now_ms: u64) -> super::Effective {
        super::effective(
            &self.admission,
            &self.operator,
            self.extras.message.as_ref(),
            &self.extras.events,
            now_ms,
        )
    }
}

/// [`config_json`] with the extras (message, events, bypass rules).
pub fn settings_json(settings: &Settings) -> Map<String, Value> {
    let mut merged = config_json(&settings.admission, &settings.operator);
    merged.extend(object(&settings.extras));
    merged
}

/// [`settings_json`] for logs (the `config_changed` line): bypass header
/// values are passwords, so they are replaced.
pub fn settings_log_json(settings: &Settings) -> Map<String, Value> {
    let mut redacted = settings.clone();
    for rule in &mut redacted.extras.bypass_rules.headers {
        rule.value = "(redacted)".into();
    }
    settings_json(&redacted)
}

fn object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        // Every half is a struct (of numbers, strings, lists, objects).
        other => unreachable!("a configuration half serialized to {other:?}"),
    }
}

fn refuse(field: &str, message: String) -> ConfigError {
    ConfigError {
        field: field.to_owned(),
        message,
    }
}

/// `T` from the merged object, or the error naming the innermost field it
/// is about (`events[2].end`, `message.en`), else the patched `field`.
fn parse<T: DeserializeOwned>(whole: &Value, field: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(whole).map_err(|e| {
        let path = e.path().to_string();
        let mut at = if path.is_empty() || path == "." || !path.starts_with(field) {
            field.to_owned()
        } else {
            path
        };
        let inner = e.into_inner().to_string();
        // serde reports a missing field at the object holding it.
        if let Some(missing) = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            at = format!("{at}.{missing}");
        }
        refuse(&at, format!("has an invalid value: {inner}"))
    })
}

/// The configuration after `patch`, or why not (see the module docs).
/// An empty patch returns the configuration unchanged.
pub fn apply_settings_patch(
    current: &Settings,
    patch: &Map<String, Value>,
) -> Result<Settings, ConfigError> {
    let admission_fields = object(&current.admission);
    let operator_fields = object(&current.operator);
    let mut merged = settings_json(current);
    if let Some(field) = patch.keys().find(|k| !merged.contains_key(*k)) {
        return Err(refuse(field, "is not a configuration field".into()));
    }
    let mut new = current.clone();
    // One field at a time: the current configuration parses, so when the
    // merge stops parsing, the field just merged is the one to name.
    for (field, value) in patch {
        merged.insert(field.clone(), value.clone());
        let whole = Value::Object(merged.clone());
        if admission_fields.contains_key(field) {
            new.admission = parse(&whole, field)?;
        } else if operator_fields.contains_key(field) {
            new.operator = parse(&whole, field)?;
        } else {
            new.extras = parse(&whole, field)?;
        }
    }
    new.admission.validate()?;
    new.operator.validate()?;
    new.extras.validate()?;
    if new.operator.pacing_floor_per_minute > new.admission.new_users_per_minute {
        return Err(refuse(
            "pacing_floor_per_minute",
            format!(
                "must not exceed new_users_per_minute ({} > {})",
                new.operator.pacing_floor_per_minute, new.admission.new_users_per_minute
            ),
        ));
    }
    Ok(new)
}

/// [`apply_settings_patch`] for the two `Copy` halves only: a field of the
/// extras is not a field here. For callers that store no extras.
pub fn apply_patch(
    admission: &AdmissionConfig,
    operator: &OperatorConfig,
    patch: &Map<String, Value>,
) -> Result<(AdmissionConfig, OperatorConfig), ConfigError> {
    let fields = config_json(admission, operator);
    if let Some(field) = patch.keys().find(|k| !fields.contains_key(*k)) {
        return Err(refuse(field, "is not a configuration field".into()));
    }
    let current = Settings {
        admission: *admission,
        operator: *operator,
        extras: OperatorExtras::default(),
    };
    apply_settings_patch(&current, patch).map(|s| (s.admission, s.operator))
}
