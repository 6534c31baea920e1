//! Reading back what the Coordinator stored under one key.

/// A value the Coordinator keeps under one storage key, as read back.
///
/// The controller and the operator settings are stored as JSON text, not as
/// structured values: the controller holds 64-bit seeds, which a JS number
/// (what the storage API's structured values become) cannot represent
/// exactly.
#[derive(Debug, PartialEq)]
pub enum Stored<T> {
    /// Nothing stored yet.
    Absent,
    Found(T),
    /// What this version cannot read: a structured value an earlier version
    /// wrote (the controller once was one), or text that no longer parses.
    /// The Coordinator logs it and starts that value afresh, instead of
    /// failing every tick and every `/admin/stats`.
    Unreadable,
}

impl<T: serde::de::DeserializeOwned> Stored<T> {
    /// What the storage API returned for the key.
    pub fn decode(raw: Option<serde_json::Value>) -> Self {
        match raw {
            None => Stored::Absent,
            Some(serde_json::Value::String(text)) => {
                serde_json::from_str(&text).map_or(Stored::Unreadable, Stored::Found)
            }
            Some(_) => Stored::Unreadable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::AdmissionController;

    #[test]
    fn stored_values_are_json_text_and_anything_else_starts_afresh() {
        let mut controller = AdmissionController::new();
        controller.ensure_seed(u64::MAX - 1);
        let text = serde_json::to_string(&controller).unwrap();
        assert_eq!(
            Stored::decode(Some(serde_json::Value::String(text))),
            Stored::Found(controller.clone())
        );
        assert_eq!(Stored::<AdmissionController>::decode(None), Stored::Absent);
        // What a build before the JSON-text format stored: the structured value.
        let structured = serde_json::to_value(&controller).unwrap();
        assert_eq!(
            Stored::<AdmissionController>::decode(Some(structured)),
            Stored::Unreadable
        );
        for text in ["", "{", "[1,2]", "\"text\""] {
            assert_eq!(
                Stored::<AdmissionController>::decode(Some(text.into())),
                Stored::Unreadable,
                "{text:?}"
            );
        }
    }
}
