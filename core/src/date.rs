//! Dates, through one calendar (the `time` crate) for the whole room: the
//! operator's RFC 3339 instants and the passport's calendar dates.
//!
//! Pure like the rest of core: `time` is built without its `std` feature,
//! which is what brings the clock (`OffsetDateTime::now_utc`), so nothing
//! here can read it. Times are milliseconds since the Unix epoch.

use time::{format_description::well_known::Rfc3339, Date, Month, OffsetDateTime};

/// `2026-05-01T08:00:00Z` (milliseconds shown only when not zero); `None`
/// past the calendar's end (year 9999).
pub fn rfc3339(ms: u64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Some(match t.millisecond() {
        0 => format!("{base}Z"),
        frac => format!("{base}.{frac:03}Z"),
    })
}

/// [`rfc3339`], or the bare milliseconds past year 9999 (never the case for
/// a validated configuration, which stays within 2000..2200; a number
/// rather than a panic for anything else).
pub fn format_rfc3339(ms: u64) -> String {
    rfc3339(ms).unwrap_or_else(|| ms.to_string())
}

/// Parses an RFC 3339 time (`Z` or a numeric `±hh:mm` offset, optional
/// fraction, truncated to milliseconds; surrounding whitespace ignored) into
/// epoch milliseconds. Dates before 1970 are refused. A second `60` is
/// accepted only where a leap second can be (the end of a UTC day), and
/// counts as `59.999`.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    // `time` takes any byte between date and time; RFC 3339 names `T` (either
    // case) and allows a space.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(secs * 1000 + u64::from(t.millisecond()))
}

/// Whether (year, month, day) is a date of the proleptic Gregorian calendar.
pub fn is_calendar_date(year: i32, month: u32, day: u32) -> bool {
    let (Some(month), Ok(day)) = (
        u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok()),
        u8::try_from(day),
    ) else {
        return false;
    };
    Date::from_calendar_date(year, month, day).is_ok()
}

/// The UTC calendar date of `now_ms` as (year, month, day); the calendar's
/// last day past year 9999.
pub fn utc_date(now_ms: u64) -> (i32, u32, u32) {
    let date = i64::try_from(now_ms / 1000)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .map_or(Date::MAX, OffsetDateTime::date);
    (
        date.year(),
        u32::from(u8::from(date.month())),
        u32::from(date.day()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_1_8H: u64 = 1_777_622_400_000;

    #[test]
    fn rfc3339_accepts_utc_offsets_fractions_and_the_allowed_separators() {
        for (text, ms) in [
            ("2026-05-01T08:00:00Z", MAY_1_8H),
            ("2026-05-01t08:00:00z", MAY_1_8H),
            ("2026-05-01 08:00:00Z", MAY_1_8H),
            ("  2026-05-01T08:00:00Z\n", MAY_1_8H),
            ("2026-05-01T10:00:00+02:00", MAY_1_8H),
            ("2026-05-01T03:30:00-04:30", MAY_1_8H),
            ("2026-05-01T08:00:00+00:00", MAY_1_8H),
            ("2026-05-01T08:00:00.250Z", MAY_1_8H + 250),
            ("2026-05-01T08:00:00.2Z", MAY_1_8H + 200),
            ("2026-05-01T08:00:00.123456789Z", MAY_1_8H + 123),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
            ("1970-01-01T00:00:00Z", 0),
            ("2016-12-31T23:59:60Z", 1_483_228_799_999),
        ] {
            assert_eq!(parse_rfc3339(text), Some(ms), "{text:?}");
        }
    }

    #[test]
    fn rfc3339_refuses_nonsense_without_panicking() {
        for bad in [
            "",
            "2026",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-05-01 08:00",
            "2026-05-01X08:00:00Z",
            "tomorrow",
            "2026-05-01T08:00:00",
            "2026-05-01T24:00:00Z",
            "2026-05-01T08:60:00Z",
            "2026-05-01T08:00:60Z",
            "2026-05-01T08:00:00.Z",
            "2026-05-01T08:00:00+2:00",
            "2026-05-01T08:00:00+02:60",
            "2026-05-01T08:00:00+24:00",
            "2026-05-01T08:00:00+0200",
            "2026-05-01T08:00:00Z junk",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "+12026-05-01T08:00:00Z",
            // Multi-byte characters where the old hand-written parser sliced
            // bytes (the Coordinator panicked on the first one).
            "2026-05-01T08:00:00+€00",
            "2026-05-01T08:00:00+0€0",
            "2026-05-01T08:00:00€",
            "2026-05-01€08:00:00Z",
            "2026-05-0€T08:00:00Z",
            "€026-05-01T08:00:00Z",
            "2026-05-01T08:00:00.5€",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_formats_milliseconds_only_when_present_and_round_trips() {
        assert_eq!(format_rfc3339(MAY_1_8H), "2026-05-01T08:00:00Z");
        assert_eq!(format_rfc3339(MAY_1_8H + 250), "2026-05-01T08:00:00.250Z");
        assert_eq!(format_rfc3339(MAY_1_8H + 7), "2026-05-01T08:00:00.007Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        for ms in [
            0u64,
            86_399_999,
            951_782_400_000,
            4_102_444_800_000,
            7_258_118_399_999,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
        // Past the calendar: digits, not a panic.
        assert_eq!(rfc3339(u64::MAX), None);
        assert_eq!(format_rfc3339(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn calendar_dates_and_utc_days() {
        assert!(is_calendar_date(2024, 2, 29));
        assert!(is_calendar_date(2000, 2, 29));
        assert!(!is_calendar_date(1900, 2, 29));
        assert!(!is_calendar_date(2026, 2, 29));
        assert!(!is_calendar_date(2026, 4, 31));
        assert!(!is_calendar_date(2026, 0, 1));
        assert!(!is_calendar_date(2026, 13, 1));
        assert!(!is_calendar_date(2026, 1, 0));
        assert!(!is_calendar_date(2026, 257, 1));
        assert_eq!(utc_date(0), (1970, 1, 1));
        assert_eq!(utc_date(951_782_400_000), (2000, 2, 29));
        assert_eq!(utc_date(1_700_000_000_000), (2023, 11, 14));
        assert_eq!(utc_date(MAY_1_8H - 8 * 3_600_000 - 1), (2026, 4, 30));
        assert_eq!(utc_date(u64::MAX), (9999, 12, 31));
    }
}
