//! `PUT /admin/config`: a JSON patch merged into the current configuration.
//!
//! Both halves ([`AdmissionConfig`] and [`OperatorConfig`]) are one flat
//! JSON object ([`config_json`]); a patch names some of its fields. The
//! first problem is refused with the field it is about ([`ConfigError`],
//! which the edge answers as `422 {"error":"invalid_field","field",…}`), in
//! this order: a field that does not exist, a value that does not parse as
//! its field's type (a number, `true`/`false`, a mode, an RFC 3339 time or
//! epoch milliseconds), then the validation rules of both halves. Nothing is
//! half-applied: the caller stores the result only if there is one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::OperatorConfig;
use crate::config::{AdmissionConfig, ConfigError};

/// The configuration as the admin API shows it: both halves in one object.
pub fn config_json(admission: &AdmissionConfig, operator: &OperatorConfig) -> Map<String, Value> {
    let mut merged = object(admission);
    merged.extend(object(operator));
    merged
}

fn object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        // Both halves are structs of numbers, booleans, strings and nulls.
        other => unreachable!("a configuration half serialized to {other:?}"),
    }
}

fn refuse(field: &str, message: String) -> ConfigError {
    ConfigError {
        field: field.to_owned(),
        message,
    }
}

/// The configuration after `patch`, or why not (see the module docs).
/// An empty patch returns the configuration unchanged.
pub fn apply_patch(
    admission: &AdmissionConfig,
    operator: &OperatorConfig,
    patch: &Map<String, Value>,
) -> Result<(AdmissionConfig, OperatorConfig), ConfigError> {
    let admission_fields = object(admission);
    let mut merged = config_json(admission, operator);
    if let Some(field) = patch.keys().find(|k| !merged.contains_key(*k)) {
        return Err(refuse(field, "is not a configuration field".into()));
    }
    let (mut new, mut new_op) = (*admission, *operator);
    // One field at a time: the current configuration parses, so when the
    // merge stops parsing, the field just merged is the one to name.
    for (field, value) in patch {
        merged.insert(field.clone(), value.clone());
        let whole = Value::Object(merged.clone());
        let parsed = if admission_fields.contains_key(field) {
            AdmissionConfig::deserialize(&whole).map(|c| new = c)
        } else {
            OperatorConfig::deserialize(&whole).map(|c| new_op = c)
        };
        parsed.map_err(|e| refuse(field, format!("has an invalid value: {e}")))?;
    }
    new.validate().and_then(|()| new_op.validate())?;
    Ok((new, new_op))
}
