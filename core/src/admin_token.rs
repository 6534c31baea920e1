//! The operator's bearer token (`Authorization: Bearer …` on `/admin/*`).

use subtle::ConstantTimeEq;

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
    fn an_empty_configured_token_opens_nothing() {
        assert!(!authorizes("Bearer ", ""));
        assert!(!authorizes("Bearer", ""));
        assert!(!token_matches(b"", b""));
    }
}
