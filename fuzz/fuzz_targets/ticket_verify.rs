//! Random input must never be accepted as a ticket, and nothing may panic.
//!
//! Part 1: the raw input, verified against a key ring whose secrets the
//! fuzzer does not know, must be refused.
//! Part 2: inputs that pass the shape check are re-MACed with the real key
//! (as if the attacker knew it), to drive the post-MAC payload decoding and
//! claim checks with arbitrary bytes: no panic, and whatever is accepted
//! must satisfy the checks and round-trip through `sign`.
#![no_main]

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use waitroom_core::ticket::{
    sign, verify_admission, verify_waiting, KeyRing, UntrustedTicket, NOT_BEFORE_LEEWAY_MS,
};

/// Fuzz-only keys, deliberately different from tests/vectors/tickets.json so
/// that seeding the corpus with the vectors stays valid.
const K2: [u8; 32] = [0x5a; 32];
const K1: [u8; 32] = [0xa5; 32];
const NOW: u64 = 1_700_000_000_000;
const ROOM: &str = "passport";

fn ring() -> KeyRing {
    KeyRing::parse(&format!(
        "k2:{},k1:{}",
        URL_SAFE_NO_PAD.encode(K2),
        URL_SAFE_NO_PAD.encode(K1)
    ))
    .unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let ring = ring();

    // Part 1: never accepted.
    if let Ok(t) = UntrustedTicket::parse(raw) {
        assert!(t.verify(&ring, NOW, ROOM).is_err(), "accepted: {raw:?}");
    }
    assert!(verify_admission(&ring, raw, NOW, ROOM).is_err());
    assert!(verify_waiting(&ring, raw, NOW, ROOM).is_err());

    // Part 2: give the input a correct MAC and check what follows.
    let Ok(parsed) = UntrustedTicket::parse(raw) else {
        return;
    };
    let key: &[u8] = match parsed.kid() {
        "k2" => &K2,
        "k1" => &K1,
        _ => return,
    };
    let (signed, _) = raw.rsplit_once('.').unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(signed.as_bytes());
    let remaced = format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    let Ok(t) = UntrustedTicket::parse(&remaced) else {
        return; // the real MAC made it too long
    };
    if let Ok(verified) = t.verify(&ring, NOW, ROOM) {
        let claims = verified.claims().clone();
        assert_eq!(claims.room(), ROOM);
        assert!(NOW < claims.expires_ms());
        assert!(claims.not_before_ms() <= NOW + NOT_BEFORE_LEEWAY_MS);
        let resigned = sign(&ring, &claims);
        if let Ok(again) = UntrustedTicket::parse(&resigned) {
            assert_eq!(again.verify(&ring, NOW, ROOM).unwrap().claims(), &claims);
        }
    }
});
