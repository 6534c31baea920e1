//! Golden ticket vectors: `tests/vectors/tickets.json`.
//!
//! The same file is checked here (native), by the origin, and by the edge
//! running inside workerd (wasm), all through
//! `waitroom_core::ticket::vectors::check`, so wasm and native provably
//! agree. Regenerate it (deterministically, from the fixed TEST keys below)
//! with:
//!
//! ```text
//! cargo test -p waitroom-core --test ticket_vectors -- --ignored regenerate_ticket_vectors
//! ```
//!
//! # Schema (`"schema": "waitroom-ticket-vectors/1"`)
//!
//! ```text
//! {
//!   "schema":   "waitroom-ticket-vectors/1",
//!   "comment":  free text,
//!   "now_ms":   u64, the clock every case is checked at,
//!   "room":     the room every case is checked against,
//!   "key_ring": KeyRing::parse spec of TEST keys ("k2:...,k1:..."; k2 signs),
//!   "cases": [{
//!     "name":        unique snake_case id,
//!     "description": what the case pins,
//!     "verify_as":   "waiting" | "admission"
//!                    -> call verify_waiting / verify_admission(ring, ticket, now_ms, room),
//!     "ticket":      the raw ticket string,
//!     "expect":      "ok:waiting" | "ok:admission" | a TicketError variant name
//!                    ("Malformed", "UnsupportedVersion", "UnknownKey", "BadMac",
//!                     "Expired", "NotYetValid", "WrongRoom", "WrongKind"),
//!     "claims":      only for ok cases: the WaitingClaims / AdmissionClaims as
//!                    serde JSON (field names as in the Rust structs)
//!   }]
//! }
//! ```
//!
//! An ok ticket whose kid is the ring's signing kid must also be reproduced
//! byte for byte by `sign`. The expectations below are written by hand (the
//! intent); the generator refuses to write a file the implementation
//! disagrees with.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use waitroom_core::ticket::vectors::{self, Kind, VectorCase, VectorFile};
use waitroom_core::ticket::{KeyRing, TicketError, MAX_TICKET_LEN, NOT_BEFORE_LEEWAY_MS};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/tickets.json");

const NOW: u64 = 1_700_000_000_000;
const ROOM: &str = "passport";
const DAY_MS: u64 = 86_400_000;

/// Fixed TEST keys, not secrets: 32 repeated bytes each.
const K2: [u8; 32] = [0x22; 32]; // signing key
const K1: [u8; 32] = [0x11; 32]; // previous key, still accepted (rotation overlap)
const K0: [u8; 32] = [0x00; 32]; // retired key: no longer in the ring
const KZ: [u8; 32] = [0x99; 32]; // a key id that never existed

fn ring_spec() -> String {
    format!(
        "k2:{},k1:{}",
        URL_SAFE_NO_PAD.encode(K2),
        URL_SAFE_NO_PAD.encode(K1)
    )
}

/// MAC computed independently of the crate under test.
fn mac(key: &[u8], signed: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(signed.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// `<version>.<kid>.<b64(json)>.<b64(mac)>`, built by hand.
fn ticket_v(version: &str, kid: &str, key: &[u8], json: &str) -> String {
    let signed = format!("{version}.{kid}.{}", URL_SAFE_NO_PAD.encode(json));
    let tag = URL_SAFE_NO_PAD.encode(mac(key, &signed));
    format!("{signed}.{tag}")
}

fn ticket(kid: &str, key: &[u8], json: &str) -> String {
    ticket_v("v1", kid, key, json)
}

/// Wire JSON (field order as `sign` writes it) and serde claims JSON.
fn waiting(room: &str, issued: u64, exp: u64) -> (String, serde_json::Value) {
    let wire = format!(
        r#"{{"k":"w","id":"wt-7f3a","r":"{room}","sh":5,"sq":41234,"arr":{},"iat":{issued},"exp":{exp}}}"#,
        NOW - 60_000
    );
    let claims = serde_json::json!({
        "ticket_id": "wt-7f3a", "room": room, "shard": 5, "seq": 41234,
        "arrived_ms": NOW - 60_000, "issued_ms": issued, "expires_ms": exp,
    });
    (wire, claims)
}

fn admission(room: &str, nbf: u64, exp: u64) -> (String, serde_json::Value) {
    let wire = format!(
        r#"{{"k":"a","id":"wt-7f3a","r":"{room}","sh":5,"sid":"sess-c0ffee","nbf":{nbf},"exp":{exp}}}"#
    );
    let claims = serde_json::json!({
        "ticket_id": "wt-7f3a", "room": room, "shard": 5, "session_id": "sess-c0ffee",
        "not_before_ms": nbf, "expires_ms": exp,
    });
    (wire, claims)
}

fn split_mac(t: &str) -> (&str, &str) {
    t.rsplit_once('.').unwrap()
}

fn case(
    name: &str,
    description: &str,
    verify_as: Kind,
    ticket: String,
    expect: &str,
) -> VectorCase {
    VectorCase {
        name: name.into(),
        description: description.into(),
        verify_as,
        ticket,
        expect: expect.into(),
        claims: None,
    }
}

fn ok(
    name: &str,
    description: &str,
    verify_as: Kind,
    ticket: String,
    claims: serde_json::Value,
) -> VectorCase {
    let expect = match verify_as {
        Kind::Waiting => "ok:waiting",
        Kind::Admission => "ok:admission",
    };
    VectorCase {
        claims: Some(claims),
        ..case(name, description, verify_as, ticket, expect)
    }
}

fn generate() -> VectorFile {
    use Kind::{Admission as A, Waiting as W};
    let adm_exp = NOW + 600_000;
    let (w_json, w_claims) = waiting(ROOM, NOW - 60_000, NOW + DAY_MS);
    let (a_json, a_claims) = admission(ROOM, NOW - 1_000, adm_exp);
    let good_w = ticket("k2", &K2, &w_json);
    let good_a = ticket("k2", &K2, &a_json);
    let (a_signed, a_mac) = split_mac(&good_a);
    let a_tag = URL_SAFE_NO_PAD.decode(a_mac).unwrap();
    let (_, a_payload) = a_signed.rsplit_once('.').unwrap();

    let mut cases = vec![
        ok("valid_waiting", "A waiting ticket signed with the signing key.", W, good_w.clone(), w_claims.clone()),
        ok("valid_admission", "An admission ticket signed with the signing key.", A, good_a.clone(), a_claims.clone()),
        ok(
            "valid_admission_previous_key",
            "Signed with k1, the previous key still in the ring (rotation overlap).",
            A,
            ticket("k1", &K1, &a_json),
            a_claims.clone(),
        ),
        case("retired_kid", "Signed with k0, a key that has been removed from the ring.", A, ticket("k0", &K0, &a_json), "UnknownKey"),
        case("unknown_kid", "A key id that never existed.", A, ticket("zz", &KZ, &a_json), "UnknownKey"),
        case("unknown_kid_signed_with_a_ring_key", "Kid not in the ring even though the MAC uses k2's secret.", A, ticket("k9", &K2, &a_json), "UnknownKey"),
        case("wrong_key_for_kid", "Claims kid k2 but MACed with k1's secret.", A, ticket("k2", &K1, &a_json), "BadMac"),
        case("waiting_as_admission", "A valid waiting ticket presented where an admission ticket is required.", A, good_w.clone(), "WrongKind"),
        case("admission_as_waiting", "A valid admission ticket presented as a waiting ticket.", W, good_a.clone(), "WrongKind"),
        case("other_room", "A valid admission ticket for another room.", A, ticket("k2", &K2, &admission("other-room", NOW - 1_000, adm_exp).0), "WrongRoom"),
        case("other_room_waiting", "A valid waiting ticket for another room.", W, ticket("k2", &K2, &waiting("other-room", NOW - 60_000, NOW + DAY_MS).0), "WrongRoom"),
        case("exp_equals_now", "expires_ms == now_ms: expired (no leeway; expires_ms is the first invalid millisecond).", A, ticket("k2", &K2, &admission(ROOM, NOW - 1_000, NOW).0), "Expired"),
        case("exp_now_minus_1", "expires_ms == now_ms - 1: expired.", A, ticket("k2", &K2, &admission(ROOM, NOW - 1_000, NOW - 1).0), "Expired"),
        {
            let (j, c) = admission(ROOM, NOW - 1_000, NOW + 1);
            ok("exp_now_plus_1", "expires_ms == now_ms + 1: still valid for one millisecond.", A, ticket("k2", &K2, &j), c)
        },
        case("waiting_exp_equals_now", "Waiting tickets expire too, with no leeway.", W, ticket("k2", &K2, &waiting(ROOM, NOW - 60_000, NOW).0), "Expired"),
        {
            let (j, c) = admission(ROOM, NOW + NOT_BEFORE_LEEWAY_MS, adm_exp);
            ok("nbf_at_leeway", "not_before_ms == now_ms + 30 s: accepted (leeway is inclusive).", A, ticket("k2", &K2, &j), c)
        },
        case("nbf_past_leeway", "not_before_ms == now_ms + 30 s + 1: not valid yet.", A, ticket("k2", &K2, &admission(ROOM, NOW + NOT_BEFORE_LEEWAY_MS + 1, adm_exp).0), "NotYetValid"),
        case("waiting_issued_in_future", "A waiting ticket's issued_ms is its not-before: past the leeway it is not valid yet.", W, ticket("k2", &K2, &waiting(ROOM, NOW + NOT_BEFORE_LEEWAY_MS + 1, NOW + DAY_MS).0), "NotYetValid"),
    ];

    // A single flipped bit in the payload text (to another base64url char).
    let flipped_payload = {
        let mut bytes = good_a.clone().into_bytes();
        let start = "v1.k2.".len() + a_payload.len() / 2;
        let i = (start..)
            .find(|&i| bytes[i].is_ascii_alphanumeric() && (bytes[i] ^ 1).is_ascii_alphanumeric())
            .unwrap();
        bytes[i] ^= 1;
        String::from_utf8(bytes).unwrap()
    };
    let with_tag = |tag: &[u8]| format!("{a_signed}.{}", URL_SAFE_NO_PAD.encode(tag));
    let mut flipped_tag = a_tag.clone();
    flipped_tag[7] ^= 0x10;
    let mut tag33 = a_tag.clone();
    tag33.push(0);
    // The 43rd character of a 32-byte MAC carries 2 padding bits that must be
    // zero: setting one gives a non-canonical encoding of the same bytes.
    let noncanonical_mac = {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut m = a_mac.as_bytes().to_vec();
        let last = ALPHABET.iter().position(|&c| c == m[42]).unwrap();
        m[42] = ALPHABET[last | 1];
        format!("{a_signed}.{}", String::from_utf8(m).unwrap())
    };
    // The same JSON, re-encoded differently, keeping the original MAC.
    let reencoded_json = a_json.replace(",\"r\"", ", \"r\"");
    let reencoded = format!("v1.k2.{}.{a_mac}", URL_SAFE_NO_PAD.encode(&reencoded_json));
    let reencoded_padded = format!(
        "v1.k2.{}.{a_mac}",
        base64::engine::general_purpose::URL_SAFE.encode(&a_json)
    );
    let v2 = ticket_v("v2", "k2", &K2, &a_json);
    let too_long = {
        let long = "x".repeat(MAX_TICKET_LEN);
        let (j, _) = admission(ROOM, NOW - 1_000, adm_exp);
        let j = j.replace("sess-c0ffee", &long);
        ticket("k2", &K2, &j)
    };

    cases.extend([
        case(
            "payload_bit_flip",
            "One bit of the payload text flipped (still base64url).",
            A,
            flipped_payload,
            "BadMac",
        ),
        case(
            "mac_bit_flip",
            "One bit of the decoded MAC flipped.",
            A,
            with_tag(&flipped_tag),
            "BadMac",
        ),
        case(
            "mac_truncated_0",
            "MAC segment empty (0 bytes).",
            A,
            with_tag(&[]),
            "BadMac",
        ),
        case(
            "mac_truncated_1",
            "MAC truncated to its first byte.",
            A,
            with_tag(&a_tag[..1]),
            "BadMac",
        ),
        case(
            "mac_truncated_31",
            "MAC truncated to 31 bytes.",
            A,
            with_tag(&a_tag[..31]),
            "BadMac",
        ),
        case(
            "mac_extended_33",
            "MAC extended to 33 bytes.",
            A,
            with_tag(&tag33),
            "BadMac",
        ),
        case(
            "mac_noncanonical_base64",
            "MAC text with a non-zero padding bit: not canonical base64url.",
            A,
            noncanonical_mac,
            "Malformed",
        ),
        case(
            "payload_reencoded_original_mac",
            "Same claims, JSON re-serialized with a space, original MAC: the MAC covers the bytes.",
            A,
            reencoded,
            "BadMac",
        ),
        case(
            "payload_padded_original_mac",
            "Same JSON, base64 with '=' padding, original MAC.",
            A,
            reencoded_padded,
            "Malformed",
        ),
        case(
            "unsupported_version",
            "A correctly MACed v2 ticket.",
            A,
            v2,
            "UnsupportedVersion",
        ),
        case(
            "too_long",
            "A correctly MACed ticket longer than 512 bytes.",
            A,
            too_long,
            "Malformed",
        ),
        case("empty", "The empty string.", A, String::new(), "Malformed"),
        case(
            "three_segments",
            "Kid missing.",
            A,
            format!("v1.{a_payload}.{a_mac}"),
            "Malformed",
        ),
        case(
            "five_segments",
            "An extra segment.",
            A,
            format!("{good_a}.AAAA"),
            "Malformed",
        ),
        case(
            "bad_kid_character",
            "Kid with a character outside [A-Za-z0-9_-].",
            A,
            good_a.replacen("v1.k2.", "v1.k*2.", 1),
            "Malformed",
        ),
        case(
            "payload_not_base64url",
            "'+' in the payload (standard, not URL-safe, base64).",
            A,
            good_a.replacen("v1.k2.e", "v1.k2.+", 1),
            "Malformed",
        ),
        case(
            "empty_payload",
            "Payload segment empty, correctly MACed.",
            A,
            format!("v1.k2..{}", URL_SAFE_NO_PAD.encode(mac(&K2, "v1.k2."))),
            "Malformed",
        ),
        case(
            "payload_not_json",
            "Correctly MACed payload that is not JSON.",
            A,
            ticket("k2", &K2, "not json"),
            "Malformed",
        ),
        case(
            "payload_unknown_kind",
            "Correctly MACed JSON with an unknown kind tag.",
            A,
            ticket("k2", &K2, &a_json.replace(r#""k":"a""#, r#""k":"x""#)),
            "Malformed",
        ),
        case(
            "payload_unknown_field",
            "Correctly MACed JSON with an extra field.",
            A,
            ticket(
                "k2",
                &K2,
                &a_json.replace(r#""k":"a","#, r#""k":"a","admin":true,"#),
            ),
            "Malformed",
        ),
        case(
            "payload_missing_field",
            "Correctly MACed JSON without the expiry.",
            A,
            ticket(
                "k2",
                &K2,
                &a_json.replace(&format!(r#","exp":{adm_exp}"#), ""),
            ),
            "Malformed",
        ),
        case(
            "payload_long_field_names",
            "Correctly MACed JSON using the Rust field names instead of the wire names.",
            A,
            ticket(
                "k2",
                &K2,
                &format!(
                    r#"{{"k":"a",{}}}"#,
                    a_claims
                        .to_string()
                        .trim_start_matches('{')
                        .trim_end_matches('}')
                ),
            ),
            "Malformed",
        ),
    ]);

    VectorFile {
        schema: vectors::SCHEMA.into(),
        comment: "Golden vectors for waitroom tickets. The keys in key_ring are fixed TEST keys, not secrets. Schema: core/tests/ticket_vectors.rs.".into(),
        now_ms: NOW,
        room: ROOM.into(),
        key_ring: ring_spec(),
        cases,
    }
}

#[test]
#[ignore = "rewrites tests/vectors/tickets.json"]
fn regenerate_ticket_vectors() {
    let file = generate();
    let ring = KeyRing::parse(&file.key_ring).unwrap();
    for c in &file.cases {
        vectors::check_case(&ring, &file, c).unwrap();
    }
    let json = serde_json::to_string_pretty(&file).unwrap() + "\n";
    std::fs::create_dir_all(std::path::Path::new(VECTORS).parent().unwrap()).unwrap();
    std::fs::write(VECTORS, json).unwrap();
}

fn read_vectors() -> String {
    std::fs::read_to_string(VECTORS)
        .expect("tests/vectors/tickets.json (see the module docs to regenerate)")
}

#[test]
fn every_vector_passes() {
    match vectors::check(&read_vectors()) {
        Ok(n) => assert!(n >= 30, "only {n} cases"),
        Err(failures) => panic!(
            "{} failing vectors:\n{}",
            failures.len(),
            failures.join("\n")
        ),
    }
}

#[test]
fn vectors_cover_every_outcome() {
    let file: VectorFile = serde_json::from_str(&read_vectors()).unwrap();
    let mut wanted: Vec<&str> = TicketError::ALL.iter().map(|e| e.code()).collect();
    wanted.extend(["ok:waiting", "ok:admission"]);
    for w in wanted {
        assert!(
            file.cases.iter().any(|c| c.expect == w),
            "no vector expects {w}"
        );
    }
    let mut names: Vec<&str> = file.cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), file.cases.len(), "duplicate case names");
}

#[test]
fn vectors_file_is_what_the_generator_writes() {
    let expected = serde_json::to_value(generate()).unwrap();
    let actual: serde_json::Value = serde_json::from_str(&read_vectors()).unwrap();
    assert!(
        expected == actual,
        "tests/vectors/tickets.json is stale: regenerate it (see module docs)"
    );
}
