//! Secrets as they arrive from configuration (`wrangler secret`, origin env
//! vars): base64url without padding, at least [`MIN_SECRET_LEN`] bytes.
//!
//! Errors never echo the input: a secret that fails to decode must not end up
//! in a log line.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

/// 256 bits: the HMAC-SHA256 output size. A shorter key weakens every MAC
/// made with it, so it is refused at start-up rather than used.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret is not base64url without padding")]
    NotBase64Url,
    #[error("secret is {len} bytes; at least {MIN_SECRET_LEN} are required")]
    TooShort { len: usize },
}

/// Decodes a base64url (no padding) secret of at least [`MIN_SECRET_LEN`]
/// bytes.
///
/// Leading and trailing ASCII whitespace is ignored: secrets pasted into env
/// files and secret stores routinely pick up a trailing newline, and a newline
/// can never be part of a base64url secret anyway.
pub fn decode_secret(s: &str) -> Result<Vec<u8>, SecretError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim_ascii())
        .map_err(|_| SecretError::NotBase64Url)?;
    if bytes.len() < MIN_SECRET_LEN {
        return Err(SecretError::TooShort { len: bytes.len() });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_32_bytes_and_trims_newline() {
        let s = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(decode_secret(&s).unwrap(), vec![7u8; 32]);
        assert_eq!(decode_secret(&format!("{s}\n")).unwrap(), vec![7u8; 32]);
    }

    #[test]
    fn refuses_short_padded_and_foreign_alphabets() {
        let short = URL_SAFE_NO_PAD.encode([7u8; 31]);
        assert_eq!(
            decode_secret(&short),
            Err(SecretError::TooShort { len: 31 })
        );
        // 33 bytes -> 44 chars with one '=' of padding in standard base64.
        let padded = format!("{}=", URL_SAFE_NO_PAD.encode([7u8; 34]));
        assert_eq!(decode_secret(&padded), Err(SecretError::NotBase64Url));
        assert_eq!(
            decode_secret("++++++++++++++++++++++++++++++++++++++++++++"),
            Err(SecretError::NotBase64Url)
        );
        assert_eq!(decode_secret(""), Err(SecretError::TooShort { len: 0 }));
    }

    #[test]
    fn error_messages_never_contain_the_input() {
        let bad = "this-is-a-secret-that-is-not-valid!";
        let msg = decode_secret(bad).unwrap_err().to_string();
        assert!(!msg.contains(bad));
    }
}
