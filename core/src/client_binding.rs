//! Binding a place (and the admission it earns) to the browser that took it.
//!
//! A ticket alone is a bearer token: whoever holds a copy of the
//! `__Host-waitroom` cookie would hold the place, be admitted and submit.
//! So a new place comes with a second cookie, [`CLIENT_COOKIE`], holding a
//! random secret of the browser's (HttpOnly, so no script, ours included,
//! ever reads it), and the ticket carries only a hash of it
//! ([`binding_of`]). The edge accepts a ticket only together with the
//! secret whose hash it carries ([`matches()`]); the admission's session id
//! is derived from the secret too ([`session_of`]), so it cannot be learnt
//! from the ticket.
//!
//! What this protects: a ticket copied on its own (a log line, a shared
//! screenshot of the cookie, a leaked `Cookie` header of one request, a
//! place "sold" by handing over the ticket) is no ticket: the edge answers
//! as if there were none. What it does not: whoever copies *both* cookies
//! (malware in the browser, the whole cookie jar) is that browser as far
//! as any web server can tell. The secret never reaches the origin (the
//! edge strips it) and is never stored by the edge.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The browser secret's cookie. `__Host-`: Secure, Path=/, no Domain.
pub const CLIENT_COOKIE: &str = "__Host-waitroom-key";
/// Bytes of randomness in a secret (the edge draws them).
pub const SECRET_BYTES: usize = 16;
/// Characters of a hash kept in a ticket (16 bytes, base64url).
const HASH_CHARS: usize = 22;

/// The secret's text form: base64url of [`SECRET_BYTES`] random bytes.
pub fn encode_secret(random: &[u8; SECRET_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether a cookie value can be a secret we made (so garbage of any length
/// costs no hashing).
pub fn is_well_formed(secret: &str) -> bool {
    secret.len() == HASH_CHARS && URL_SAFE_NO_PAD.decode(secret).is_ok()
}

fn hash(domain: &[u8], secret: &str) -> String {
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(secret.as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// What a ticket carries of the secret.
pub fn binding_of(secret: &str) -> String {
    hash(b"waitroom/client-binding/v1\n", secret)
}

/// The admission's session id: stable for the browser (a re-issued
/// admission keeps its session), unrelated to the binding and the ticket id.
pub fn session_of(secret: &str) -> String {
    hash(b"waitroom/session/v1\n", secret)
}

/// Whether `secret` (the [`CLIENT_COOKIE`] sent, if any) is the one
/// `binding` was made from. Constant time in the hash; an empty binding
/// (a ticket made without one) never matches.
pub fn matches(secret: Option<&str>, binding: &str) -> bool {
    let Some(secret) = secret.filter(|s| is_well_formed(s)) else {
        return false;
    };
    !binding.is_empty() && bool::from(binding_of(secret).as_bytes().ct_eq(binding.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(n: u8) -> String {
        encode_secret(&[n; SECRET_BYTES])
    }

    #[test]
    fn only_the_secret_the_binding_was_made_from_matches() {
        let s = secret(7);
        let b = binding_of(&s);
        assert_eq!(b.len(), HASH_CHARS);
        assert!(matches(Some(&s), &b));
        assert!(!matches(Some(&secret(8)), &b));
        assert!(!matches(None, &b));
        assert!(!matches(Some(""), &b));
        assert!(!matches(Some(&s), ""), "an unbound ticket never matches");
        // The binding itself is not the secret.
        assert!(!matches(Some(&b), &b));
    }

    #[test]
    fn garbage_is_not_a_secret() {
        assert!(is_well_formed(&secret(1)));
        for bad in [
            "",
            "short",
            &"A".repeat(23),
            &"*".repeat(22),
            &"A".repeat(200),
        ] {
            assert!(!is_well_formed(bad), "{bad}");
            assert!(!matches(Some(bad), &binding_of(bad)), "{bad}");
        }
    }

    #[test]
    fn binding_and_session_are_unrelated_and_stable() {
        let s = secret(3);
        assert_eq!(binding_of(&s), binding_of(&s));
        assert_eq!(session_of(&s), session_of(&s));
        assert_ne!(binding_of(&s), session_of(&s));
        assert_ne!(session_of(&s), session_of(&secret(4)));
    }
}
