//! The operator's bearer token (`Authorization: Bearer …` on `/admin/*`).
//!
//! The token is the only thing between the internet and the operator API,
//! so it must be long enough that guessing is hopeless even without the
//! edge's per-address throttling of failures: at least
//! [`MIN_TOKEN_BYTES`] bytes (`openssl rand -base64 32` gives 44). The
//! edge refuses to serve with a shorter one ([`check_configured`]).

use subtle::ConstantTimeEq;

/// Shortest `ADMIN_TOKEN` the edge accepts, in bytes.
pub const MIN_TOKEN_BYTES: usize = 32;

/// Why a configured `ADMIN_TOKEN` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ADMIN_TOKEN is {0} bytes; it must be at least 32 (openssl rand -base64 32)")]
pub struct TooShort(pub usize);

/// Whether `token` may be the configured operator token.
pub fn check_configured(token: &str) -> Result<(), TooShort> {
    let len = token.trim().len();
    if len < MIN_TOKEN_BYTES {
        return Err(TooShort(len));
    }
    Ok(())
}

/// Whether an `Authorization` header value carries the operator token.
pub fn authorizes(authorization: &str, expected: &str) -> bool {
    match authorization.strip_prefix("Bearer ") {
        Some(token) => token_matches(token.trim().as_bytes(), expected.as_bytes()),
        None => false,
    }
}

/// Constant time in the token's bytes, so response timing says nothing of
/// where the first difference is. A token of another length is refused (its
/// length is all that leaks), and so is everything when the configured token
/// is empty: an unset-looking secret must not open the admin API.
pub fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    !expected.is_empty() && bool::from(given.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-operator-token";

    #[test]
    fn only_the_exact_bearer_token_authorizes() {
        assert!(authorizes("Bearer s3cret-operator-token", TOKEN));
        // Surrounding spaces of the token itself are forgiven.
        assert!(authorizes("Bearer  s3cret-operator-token ", TOKEN));
        for wrong in [
            "",
            "s3cret-operator-token",
            "Basic s3cret-operator-token",
            "bearer s3cret-operator-token",
            "Bearer",
            "Bearer ",
            "Bearer s3cret-operator-tokeN",
            "Bearer s3cret-operator-toke",
            "Bearer s3cret-operator-token2",
        ] {
            assert!(!authorizes(wrong, TOKEN), "{wrong:?}");
        }
    }

    #[test]
    fn a_short_configured_token_is_refused() {
        assert_eq!(check_configured(""), Err(TooShort(0)));
        assert_eq!(check_configured(TOKEN), Err(TooShort(21)));
        assert_eq!(check_configured(&"a".repeat(31)), Err(TooShort(31)));
        assert_eq!(
            check_configured(&format!("  {}  ", "a".repeat(31))),
            Err(TooShort(31))
        );
        assert_eq!(check_configured(&"a".repeat(32)), Ok(()));
    }

    #[test]
    fn an_empty_configured_token_opens_nothing() {
        assert!(!authorizes("Bearer ", ""));
        assert!(!authorizes("Bearer", ""));
        assert!(!token_matches(b"", b""));
    }
}
