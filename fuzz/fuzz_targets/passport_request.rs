//! The passport request parsing the origin uses (`waitroom_core::passport_request`): no
//! input panics, and whatever it accepts obeys the documented rules and
//! parses again to itself (validation is idempotent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waitroom_core::passport_request::{parse_date, parse_request, MAX_EMAIL_LEN, MAX_NAME_CHARS};

const TODAY: (i32, u32, u32) = (2026, 6, 1);

fuzz_target!(|data: &[u8]| {
    let Ok(r) = parse_request(data, TODAY) else {
        return;
    };
    for name in [&r.given_name, &r.family_name] {
        let n = name.chars().count();
        assert!((1..=MAX_NAME_CHARS).contains(&n), "name length {n}");
        assert!(!name.chars().any(char::is_control), "control character");
        assert_eq!(name.trim(), name.as_str(), "untrimmed name");
    }
    let dob = parse_date(&r.date_of_birth).expect("accepted date parses");
    assert!(
        dob >= (1900, 1, 1) && dob < TODAY,
        "date out of range {dob:?}"
    );
    assert!((6..=12).contains(&r.national_id.len()));
    assert!(r
        .national_id
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert!(r.email.len() <= MAX_EMAIL_LEN && r.email.contains('@'));
    let again = serde_json::to_vec(&r).unwrap();
    assert!(
        parse_request(&again, TODAY).ok() == Some(r),
        "an accepted request does not validate again"
    );
});
