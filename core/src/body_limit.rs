//! How much of a request body the edge takes in before refusing it.
//!
//! An isolate has 128 MB: reading a body whole and only then measuring it
//! lets a few admitted clients exhaust it. So the edge decides from the
//! declared `Content-Length` before reading a byte, and, for a body without
//! one (chunked), again after every chunk, holding at most the limit plus
//! one chunk.

/// Whether the edge may go on reading a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit so far: keep reading.
    Accept,
    /// Larger than the limit: answer 413 and stop reading.
    TooLarge,
}

/// The declared length of a `Content-Length` header value; `None` when it
/// is absent or not a plain decimal length (the runtime refuses malformed
/// framing itself; a body without a usable length is still capped while
/// it streams).
pub fn declared_length(header: Option<&str>) -> Option<u64> {
    let value = header?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More digits than u64 holds is certainly too large.
    Some(value.parse().unwrap_or(u64::MAX))
}

/// The verdict for a body that declared `declared` bytes (if it did) and of
/// which `received` bytes have arrived, against a limit of `limit` bytes.
pub fn verdict(declared: Option<u64>, received: u64, limit: u64) -> Verdict {
    if declared.is_some_and(|d| d > limit) || received > limit {
        Verdict::TooLarge
    } else {
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 16 * 1024;

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_any_byte() {
        assert_eq!(verdict(Some(LIMIT + 1), 0, LIMIT), Verdict::TooLarge);
        assert_eq!(verdict(Some(100_000_000), 0, LIMIT), Verdict::TooLarge);
        assert_eq!(verdict(Some(u64::MAX), 0, LIMIT), Verdict::TooLarge);
    }

    #[test]
    fn a_declared_length_up_to_the_limit_is_read() {
        assert_eq!(verdict(Some(LIMIT), 0, LIMIT), Verdict::Accept);
        assert_eq!(verdict(Some(LIMIT), LIMIT, LIMIT), Verdict::Accept);
        assert_eq!(verdict(Some(0), 0, LIMIT), Verdict::Accept);
    }

    #[test]
    fn an_undeclared_body_is_refused_once_more_than_the_limit_arrived() {
        assert_eq!(verdict(None, 0, LIMIT), Verdict::Accept);
        assert_eq!(verdict(None, LIMIT, LIMIT), Verdict::Accept);
        assert_eq!(verdict(None, LIMIT + 1, LIMIT), Verdict::TooLarge);
        assert_eq!(verdict(None, 1 << 20, LIMIT), Verdict::TooLarge);
    }

    #[test]
    fn a_body_longer_than_it_declared_is_still_capped() {
        assert_eq!(verdict(Some(10), LIMIT + 1, LIMIT), Verdict::TooLarge);
    }

    #[test]
    fn content_length_is_a_plain_decimal_or_nothing() {
        assert_eq!(declared_length(None), None);
        assert_eq!(declared_length(Some("")), None);
        assert_eq!(declared_length(Some("16384")), Some(16384));
        assert_eq!(declared_length(Some(" 42 ")), Some(42));
        assert_eq!(declared_length(Some("0")), Some(0));
        assert_eq!(declared_length(Some("-1")), None);
        assert_eq!(declared_length(Some("+5")), None);
        assert_eq!(declared_length(Some("1e9")), None);
        assert_eq!(declared_length(Some("12, 12")), None);
        assert_eq!(
            declared_length(Some("99999999999999999999999")),
            Some(u64::MAX),
            "too many digits for u64 is too large, not absent"
        );
    }
}
