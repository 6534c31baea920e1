//! The operator configuration patch of `PUT /admin/config`
//! (`waitroom_core::operator::apply_patch`): no input panics (the
//! Coordinator once did on a non-ASCII time), and whatever it accepts
//! validates, is shown as a patch that reproduces it, and survives the
//! round trip through its stored JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waitroom_core::coordinator::AdmissionConfig;
use waitroom_core::operator::{apply_patch, config_json, OperatorConfig};

fuzz_target!(|data: &[u8]| {
    // The edge answers 400 to anything that is not a JSON object.
    let Ok(patch) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data)
    else {
        return;
    };
    let (admission, operator) = (AdmissionConfig::default(), OperatorConfig::default());
    let Ok((new, new_op)) = apply_patch(&admission, &operator, &patch) else {
        return;
    };
    assert!(new.validate().is_ok() && new_op.validate().is_ok());
    let shown = config_json(&new, &new_op);
    assert_eq!(
        apply_patch(&admission, &operator, &shown),
        Ok((new, new_op)),
        "the configuration shown does not reproduce itself"
    );
    let stored = serde_json::to_string(&new_op).unwrap();
    assert_eq!(
        serde_json::from_str::<OperatorConfig>(&stored).unwrap(),
        new_op
    );
});
