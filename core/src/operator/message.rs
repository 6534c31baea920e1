//! The live message: a short plain-text note from the operator to everyone
//! waiting (`PUT /admin/config {"message": {"en": "…", "es": "…"}}`), one
//! text per page language; `null` removes it.
//!
//! Plain text, never markup: the pages put it in with
//! [`crate::page::escape_html`] (a `{{message}}` template variable is
//! escaped already; [`Message::html`] is for any other place), and the JSON
//! answers carry it as a string. What is refused here is what no escaping
//! fixes: a text too long for the banner of a phone, control characters
//! (a newline or a NUL means the text was pasted from somewhere it should
//! not have been) and the bidirectional overrides that make a text read
//! differently from how it is stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::page::{escape_html, Lang};

/// Longest text of one language, in characters (not bytes: a Spanish or
/// an emoji text gets as many as an English one). About two lines on a
/// phone, and the length of a short social post, which operators know.
pub const MAX_MESSAGE_CHARS: usize = 280;

/// The operator's message, by language code (`"en"`, `"es"`: the
/// languages of [`Lang`]). In JSON, an object of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Message(pub BTreeMap<String, String>);

impl Message {
    /// Refuses a message the pages cannot show as meant. `field` is where
    /// it sits in the configuration (`message`, `events[1].message`); an
    /// error names the language too (`message.en`).
    pub fn validate(&self, field: &str) -> Result<(), ConfigError> {
        let err = |field: String, message: String| Err(ConfigError { field, message });
        if self.0.is_empty() {
            return err(
                field.to_owned(),
                "needs a text for at least one language (null removes the message)".into(),
            );
        }
        for (lang, text) in &self.0 {
            let at = format!("{field}.{lang}");
            if !Lang::ALL.iter().any(|l| l.code() == lang) {
                let codes: Vec<&str> = Lang::ALL.iter().map(|l| l.code()).collect();
                return err(at, format!("is not a page language ({})", codes.join(", ")));
            }
            let chars = text.chars().count();
            if text.trim().is_empty() {
                return err(at, "is empty (null removes the message)".into());
            }
            if chars > MAX_MESSAGE_CHARS {
                return err(
                    at,
                    format!("must be at most {MAX_MESSAGE_CHARS} characters, got {chars}"),
                );
            }
            if let Some(c) = text.chars().find(|&c| refused_char(c)) {
                return err(
                    at,
                    format!(
                        "must be plain text on one line: U+{:04X} is not allowed",
                        u32::from(c)
                    ),
                );
            }
        }
        Ok(())
    }

    /// The text for a page in `lang`: that language's, else English, else
    /// any (a message set in one language only is shown to everyone rather
    /// than to nobody).
    pub fn text(&self, lang: Lang) -> Option<&str> {
        self.0
            .get(lang.code())
            .or_else(|| self.0.get(Lang::En.code()))
            .or_else(|| self.0.values().next())
            .map(String::as_str)
    }

    /// [`Message::text`], escaped for HTML content or a quoted attribute.
    pub fn html(&self, lang: Lang) -> Option<String> {
        self.text(lang).map(escape_html)
    }
}

/// Control characters (C0, DEL, C1: newlines and tabs too) and the Unicode
/// bidirectional embeddings, overrides and isolates.
fn refused_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(pairs: &[(&str, &str)]) -> Message {
        Message(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn field_of(m: &Message) -> String {
        m.validate("message").unwrap_err().field
    }

    #[test]
    fn plain_texts_in_page_languages_pass() {
        let m = msg(&[
            ("en", "Doors open at 9 <sharp> & on time"),
            ("es", "¡Abrimos a las 9!"),
        ]);
        assert!(m.validate("message").is_ok());
        assert_eq!(m.text(Lang::Es), Some("¡Abrimos a las 9!"));
        assert_eq!(
            m.html(Lang::En).unwrap(),
            "Doors open at 9 &lt;sharp&gt; &amp; on time"
        );
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"en":"Doors open at 9 <sharp> & on time","es":"¡Abrimos a las 9!"}"#
        );
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), m);
    }

    #[test]
    fn one_language_is_shown_to_everyone() {
        let m = msg(&[("es", "Hola")]);
        assert_eq!(m.text(Lang::En), Some("Hola"));
        let m = msg(&[("en", "Hi"), ("es", "Hola")]);
        assert_eq!(m.text(Lang::En), Some("Hi"));
    }

    #[test]
    fn refusals_name_the_language() {
        assert_eq!(field_of(&msg(&[])), "message");
        assert_eq!(field_of(&msg(&[("en", "ok"), ("fr", "non")])), "message.fr");
        assert_eq!(field_of(&msg(&[("es", "  ")])), "message.es");
        assert_eq!(field_of(&msg(&[("en", "two\nlines")])), "message.en");
        assert_eq!(field_of(&msg(&[("en", "nul\0")])), "message.en");
        assert_eq!(field_of(&msg(&[("en", "tab\there")])), "message.en");
        assert_eq!(field_of(&msg(&[("en", "c1\u{85}")])), "message.en");
        assert_eq!(field_of(&msg(&[("en", "abc\u{202E}fed")])), "message.en");
        assert_eq!(
            msg(&[("en", "x\r")])
                .validate("events[3].message")
                .unwrap_err()
                .field,
            "events[3].message.en"
        );
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let full = "ñ".repeat(MAX_MESSAGE_CHARS);
        assert!(full.len() > MAX_MESSAGE_CHARS);
        assert!(msg(&[("es", &full)]).validate("message").is_ok());
        let over = "a".repeat(MAX_MESSAGE_CHARS + 1);
        let e = msg(&[("en", &over)]).validate("message").unwrap_err();
        assert_eq!(e.field, "message.en");
        assert!(e.message.contains("281"), "{}", e.message);
    }

    proptest! {
        /// Whatever passes contains nothing HTML could read as markup once
        /// escaped, and no control character.
        #[test]
        fn accepted_texts_escape_to_inert_html(text in "\\PC{1,300}") {
            let m = msg(&[("en", &text)]);
            if m.validate("message").is_ok() {
                prop_assert!(text.chars().count() <= MAX_MESSAGE_CHARS);
                prop_assert!(!text.chars().any(char::is_control));
                let html = m.html(Lang::En).unwrap();
                prop_assert!(!html.contains('<') && !html.contains('>') && !html.contains('"'));
            }
        }
    }
}
