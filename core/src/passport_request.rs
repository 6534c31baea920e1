//! The passport request body, checked field by field (pure: the origin
//! calls it, and a fuzz target hammers it).
//!
//! Rules (error `422 {"error":"invalid_field","field":…}`, first bad field in
//! the order below):
//! - `given_name`, `family_name`: trimmed; 1–100 characters; Unicode letters
//!   (plus combining marks, so decomposed accents work), spaces, hyphens and
//!   apostrophes (`'` and `’`); at least one letter; no control characters.
//! - `date_of_birth`: `YYYY-MM-DD`, a real calendar date, strictly before
//!   today (UTC), not before 1900-01-01.
//! - `national_id`: surrounding whitespace is trimmed, then it must match
//!   `^[A-Z0-9]{6,12}$` (no case folding: the registry's ids are upper case).
//! - `email`: trimmed, at most 254 characters, `local@domain` with a
//!   printable ASCII local part of at most 64 characters and a domain of
//!   dot-separated labels (`[A-Za-z0-9-]`, not starting or ending with `-`),
//!   at least two labels.
//!
//! Error messages never echo the submitted value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

// `utc_date` gives the origin its `today`; it lived here before `date`.
use crate::date::is_calendar_date;
pub use crate::date::utc_date;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_LEN: usize = 254;
/// The earliest accepted date of birth, as (year, month, day).
pub const EARLIEST_BIRTH: (i32, u32, u32) = (1900, 1, 1);

/// A request that passed every rule. Only this type reaches the store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassportRequest {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: String,
    pub national_id: String,
    pub email: String,
}

impl std::fmt::Debug for PassportRequest {
    // Personal data never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassportRequest { .. }")
    }
}

/// Why a body was refused. The origin maps it to HTTP in one place
/// (`MalformedJson` → 400, `InvalidField` → 422 naming the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON at all.
    #[error("the body is not valid JSON")]
    MalformedJson,
    /// A field breaks a rule (the message never echoes the value).
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: &'static str,
    },
}

fn invalid(field: &'static str, message: &'static str) -> RequestError {
    RequestError::InvalidField { field, message }
}

/// Parses and validates a JSON body; `today` is (year, month, day) in UTC.
pub fn parse_request(body: &[u8], today: (i32, u32, u32)) -> Result<PassportRequest, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| RequestError::MalformedJson)?;
    let obj = value
        .as_object()
        .ok_or(invalid("body", "the body must be a JSON object"))?;
    let text = |field: &'static str| -> Result<&str, RequestError> {
        match obj.get(field) {
            None | Some(Value::Null) => Err(invalid(field, "this field is required")),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(invalid(field, "this field must be a string")),
        }
    };
    Ok(PassportRequest {
        given_name: name("given_name", text("given_name")?)?,
        family_name: name("family_name", text("family_name")?)?,
        date_of_birth: date_of_birth(text("date_of_birth")?, today)?,
        national_id: national_id(text("national_id")?)?,
        email: email(text("email")?)?,
    })
}

fn name(field: &'static str, raw: &str) -> Result<String, RequestError> {
    if raw.chars().any(char::is_control) {
        return Err(invalid(field, "control characters are not allowed"));
    }
    let s = raw.trim();
    let n = s.chars().count();
    if n == 0 {
        return Err(invalid(field, "this field is required"));
    }
    if n > MAX_NAME_CHARS {
        return Err(invalid(field, "at most 100 characters"));
    }
    let allowed = |c: char| {
        c.is_alphabetic()
            || matches!(c, ' ' | '-' | '\'' | '\u{2019}')
            || ('\u{0300}'..='\u{036F}').contains(&c)
    };
    if !s.chars().all(allowed) || !s.chars().any(char::is_alphabetic) {
        return Err(invalid(
            field,
            "only letters, spaces, hyphens and apostrophes are allowed",
        ));
    }
    Ok(s.to_owned())
}

fn date_of_birth(raw: &str, today: (i32, u32, u32)) -> Result<String, RequestError> {
    const FIELD: &str = "date_of_birth";
    let d = parse_date(raw).ok_or(invalid(FIELD, "a real date as YYYY-MM-DD"))?;
    if d < EARLIEST_BIRTH {
        return Err(invalid(FIELD, "dates before 1900-01-01 are not accepted"));
    }
    if d >= today {
        return Err(invalid(FIELD, "the date of birth must be in the past"));
    }
    Ok(raw.to_owned())
}

/// `YYYY-MM-DD` exactly (ASCII digits, no sign), and a date
/// that exists.
pub fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse().ok())
            .flatten()
    };
    let (y, m, d) = (digits(0..4)? as i32, digits(5..7)?, digits(8..10)?);
    is_calendar_date(y, m, d).then_some((y, m, d))
}

fn national_id(raw: &str) -> Result<String, RequestError> {
    let s = raw.trim();
    let ok = (6..=12).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(invalid(
            "national_id",
            "6 to 12 characters, upper-case letters A-Z and digits only",
        ))
    }
}

fn email(raw: &str) -> Result<String, RequestError> {
    const FIELD: &str = "email";
    let s = raw.trim();
    if s.len() > MAX_EMAIL_LEN {
        return Err(invalid(FIELD, "at most 254 characters"));
    }
    let bad = || invalid(FIELD, "a valid e-mail address");
    let (local, domain) = s.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>[]\\,;:\"@".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if local_ok && domain_ok {
        Ok(s.to_owned())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (i32, u32, u32) = (2026, 6, 1);

    fn body(field: &str, value: Value) -> Vec<u8> {
        let mut v = serde_json::json!({"given_name":"Ana","family_name":"López",
            "date_of_birth":"1980-02-29","national_id":"X1234567","email":"ana@example.org"});
        v[field] = value;
        serde_json::to_vec(&v).unwrap()
    }

    fn field_of(r: Result<PassportRequest, RequestError>) -> &'static str {
        match r {
            Err(RequestError::InvalidField { field, .. }) => field,
            other => panic!("expected invalid_field, got {other:?}"),
        }
    }

    #[test]
    fn good_request() {
        let r = parse_request(&body("given_name", "  Zoë O'Brien-Łukasz ".into()), TODAY).unwrap();
        assert_eq!(r.given_name, "Zoë O'Brien-Łukasz");
        assert!(parse_request(&body("family_name", "Παπαδόπουλος".into()), TODAY).is_ok());
        assert!(parse_request(&body("national_id", " AB123456 ".into()), TODAY).is_ok());
        for dob in ["1900-01-01", "2000-02-29", "2026-05-31"] {
            assert!(parse_request(&body("date_of_birth", dob.into()), TODAY).is_ok());
        }
    }

    #[test]
    fn bad_fields() {
        for (f, v) in [
            ("given_name", Value::from("")),
            ("given_name", Value::from("A".repeat(101))),
            ("given_name", Value::from("Ana\u{0007}")),
            ("given_name", Value::from("R2D2")),
            ("given_name", Value::from("' -")),
            ("family_name", Value::from(12)),
            ("family_name", Value::Null),
            ("date_of_birth", Value::from("1980-02-30")),
            ("date_of_birth", Value::from("1981-02-29")),
            ("date_of_birth", Value::from("1899-12-31")),
            ("date_of_birth", Value::from("2999-01-01")),
            ("date_of_birth", Value::from("2026-06-01")),
            ("date_of_birth", Value::from("1980-2-3")),
            ("date_of_birth", Value::from("1900-02-29")),
            ("date_of_birth", Value::from("1980-00-10")),
            ("date_of_birth", Value::from("1980-01-32")),
            ("date_of_birth", Value::from("+980-01-01")),
            ("date_of_birth", Value::from("1980-01-01T00:00:00Z")),
            ("date_of_birth", Value::from("1€-01-01")),
            ("date_of_birth", Value::from("1980-1-€")),
            ("national_id", Value::from("ab123456")),
            ("national_id", Value::from("A1")),
            ("national_id", Value::from("A1234567890123")),
            ("email", Value::from("no-at-sign")),
            ("email", Value::from("a@b")),
            (
                "email",
                Value::from(format!("{}@example.org", "a".repeat(250))),
            ),
        ] {
            assert_eq!(
                field_of(parse_request(&body(f, v.clone()), TODAY)),
                f,
                "{v}"
            );
        }
        assert!(matches!(
            parse_request(b"{nope", TODAY),
            Err(RequestError::MalformedJson)
        ));
        assert_eq!(field_of(parse_request(b"[1]", TODAY)), "body");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), (1970, 1, 1));
        assert_eq!(utc_date(951_782_400_000), (2000, 2, 29));
        assert_eq!(utc_date(1_700_000_000_000), (2023, 11, 14));
    }
}
