//! Property tests: sign -> verify round-trips for arbitrary claims, and no
//! single-bit change of a valid ticket is ever accepted.

use proptest::prelude::*;
use waitroom_core::ticket::{
    sign, verify_admission, verify_waiting, AdmissionClaims, Claims, KeyRing, TicketError,
    UntrustedTicket, WaitingClaims, MAX_TICKET_LEN, NOT_BEFORE_LEEWAY_MS,
};

/// Fixed TEST keys, not secrets.
const RING: &str =
    "k2:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI,k1:ERERERERERERERERERERERERERERERERERERERERERE";
const OLD_ONLY: &str = "k1:ERERERERERERERERERERERERERERERERERERERERERE";

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

/// Claims plus a `now_ms` at which they are valid.
fn valid_claims() -> impl Strategy<Value = (Claims, u64)> {
    let times = (0u64..u64::MAX / 2, 1u64..10_000_000_000).prop_flat_map(|(nbf, life)| {
        let earliest = nbf.saturating_sub(NOT_BEFORE_LEEWAY_MS);
        (Just(nbf), Just(nbf + life), earliest..nbf + life)
    });
    let waiting = (
        id(),
        id(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        times.clone(),
    )
        .prop_map(
            |(ticket_id, room, shard, seq, arrived_ms, (nbf, exp, now))| {
                let claims = WaitingClaims {
                    ticket_id,
                    room,
                    shard,
                    seq,
                    arrived_ms,
                    issued_ms: nbf,
                    expires_ms: exp,
                    client: String::new(),
                };
                (Claims::Waiting(claims), now)
            },
        );
    let admission = (id(), id(), any::<u32>(), id(), times).prop_map(
        |(ticket_id, room, shard, session_id, (nbf, exp, now))| {
            let claims = AdmissionClaims {
                ticket_id,
                room,
                shard,
                session_id,
                not_before_ms: nbf,
                expires_ms: exp,
                client: String::new(),
            };
            (Claims::Admission(claims), now)
        },
    );
    prop_oneof![waiting, admission]
}

proptest! {
    #[test]
    fn sign_verify_round_trips((claims, now) in valid_claims()) {
        let ring = KeyRing::parse(RING).unwrap();
        let t = sign(&ring, &claims);
        prop_assert!(t.len() <= MAX_TICKET_LEN);
        let verified = UntrustedTicket::parse(&t).unwrap().verify(&ring, now, claims.room()).unwrap();
        prop_assert_eq!(verified.claims(), &claims);
        prop_assert_eq!(verified.kid(), "k2");
        match &claims {
            Claims::Waiting(c) => {
                prop_assert_eq!(verify_waiting(&ring, &t, now, &c.room), Ok(c.clone()));
                prop_assert_eq!(verify_admission(&ring, &t, now, &c.room), Err(TicketError::WrongKind));
            }
            Claims::Admission(c) => {
                prop_assert_eq!(verify_admission(&ring, &t, now, &c.room), Ok(c.clone()));
                prop_assert_eq!(verify_waiting(&ring, &t, now, &c.room), Err(TicketError::WrongKind));
            }
        }
        // Expired from expires_ms on, whatever the kind.
        let exp = claims.expires_ms();
        prop_assert_eq!(
            UntrustedTicket::parse(&t).unwrap().verify(&ring, exp, claims.room()).unwrap_err(),
            TicketError::Expired
        );
        // A ring that no longer holds the signing key refuses it.
        let old = KeyRing::parse(OLD_ONLY).unwrap();
        prop_assert_eq!(
            UntrustedTicket::parse(&t).unwrap().verify(&old, now, claims.room()).unwrap_err(),
            TicketError::UnknownKey
        );
    }

    #[test]
    fn any_single_bit_flip_is_rejected((claims, now) in valid_claims(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let ring = KeyRing::parse(RING).unwrap();
        let mut bytes = sign(&ring, &claims).into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // A flip that leaves UTF-8 cannot even reach a &str API (the fuzz
        // target covers raw bytes).
        if let Ok(t) = String::from_utf8(bytes) {
            let result = UntrustedTicket::parse(&t).and_then(|u| u.verify(&ring, now, claims.room()));
            prop_assert!(result.is_err(), "accepted a flipped ticket: {t}");
        }
    }

    #[test]
    fn arbitrary_strings_are_rejected(s in "v1\\.k[12]\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,50}|\\PC{0,600}") {
        let ring = KeyRing::parse(RING).unwrap();
        let result = UntrustedTicket::parse(&s).and_then(|u| u.verify(&ring, 0, "room"));
        prop_assert!(result.is_err());
    }
}
