//! The signed EU DCC: our encode → decode round trip, and the same
//! certificate checked by an independent implementation (`coset` for COSE,
//! `ciborium` for the CWT, `p256` for ES256, a separate Base45 decoder), so a
//! bug shared by our encoder and our decoder cannot hide.

use std::io::Read;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ciborium::value::Value;
use coset::{iana, CborSerializable, CoseSign1, TaggedCborSerializable};
use origin_worker::passport::{
    render_passport, verify::parse_hc1, verify::KeyRing, verify::VerifyError, DccSigner, Holder,
    VaccinationRecord,
};
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

const ISSUED_AT: i64 = 1_622_548_800; // 2021-06-01T12:00:00Z
const VALID_DAYS: u32 = 365;

fn holder() -> Holder {
    Holder {
        given_name: "Łukasz".into(),
        family_name: "Żółć-Müller".into(),
        date_of_birth: "1984-02-29".into(),
    }
}

fn record(dose: u32, date: &str) -> VaccinationRecord {
    VaccinationRecord {
        disease: "840539006".into(),
        vaccine: "1119349007".into(),
        product: "EU/1/20/1528".into(),
        manufacturer: "ORG-100030215".into(),
        dose_number: dose,
        total_doses: 2,
        date: date.into(),
        country: "PL".into(),
        issuer: "Centrum e-Zdrowia".into(),
    }
}

fn records() -> Vec<VaccinationRecord> {
    vec![record(1, "2021-04-20"), record(2, "2021-05-18")]
}

fn render(signer: &DccSigner) -> origin_worker::passport::Rendered {
    render_passport(&holder(), &records(), signer, "PL", ISSUED_AT, VALID_DAYS).unwrap()
}

#[test]
fn round_trip_through_our_decoder() {
    let signer = DccSigner::generate();
    let out = render(&signer);
    assert!(out.hc1.starts_with("HC1:"));
    assert!(out.uvci.starts_with("URN:UVCI:01:PL:"));

    let verified = parse_hc1(&out.hc1)
        .unwrap()
        .verify(&KeyRing::from_signer(&signer))
        .unwrap();
    assert_eq!(verified.kid(), signer.kid());
    let c = verified.claims();
    assert_eq!(c.issuer_country, "PL");
    assert_eq!(c.issued_at, ISSUED_AT);
    assert_eq!(c.expires_at, ISSUED_AT + 365 * 86_400);
    assert_eq!(c.holder, holder());
    // One vaccination event per certificate: the latest dose.
    assert_eq!(c.records(), vec![record(2, "2021-05-18")]);
    assert_eq!(c.uvcis(), vec![out.uvci.as_str()]);
    assert_eq!(c.hcert.ver, "1.3.0");
    assert_eq!(c.hcert.nam.fnt, "ZOLC<MUELLER");
    assert_eq!(c.hcert.nam.gnt, "LUKASZ");
    assert!(!c.is_expired(ISSUED_AT));
    assert!(c.is_expired(ISSUED_AT + 366 * 86_400));
}

#[test]
fn key_survives_pkcs8_base64_and_keys_json() {
    let signer = DccSigner::generate();
    let reloaded = DccSigner::from_pkcs8_base64(&signer.to_pkcs8_base64()).unwrap();
    let out = render(&reloaded);
    let keys = KeyRing::from_json(&signer.public_keys_json()).unwrap();
    parse_hc1(&out.hc1).unwrap().verify(&keys).unwrap();
}

/// RFC 9285 Base45, written independently of `passport::base45`.
fn independent_base45_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| {
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
            .bytes()
            .position(|a| a == c)
            .expect("base45 character") as u32
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk.iter().rev().fold(0u32, |acc, &c| acc * 45 + val(c));
        if chunk.len() == 3 {
            out.push((n >> 8) as u8);
        }
        out.push((n & 0xFF) as u8);
    }
    out
}

fn map_get<'a>(map: &'a Value, key: &Value) -> &'a Value {
    map.as_map()
        .expect("a CBOR map")
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("key {key:?} missing"))
}

fn text(v: &Value) -> &str {
    v.as_text().expect("a CBOR text string")
}

#[test]
fn independent_implementation_verifies_and_reads_it() {
    let signer = DccSigner::generate();
    let out = render(&signer);

    // HC1: → Base45 → zlib
    let compressed = independent_base45_decode(out.hc1.strip_prefix("HC1:").unwrap());
    let mut cose = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_end(&mut cose)
        .unwrap();

    // COSE_Sign1 with tag 18, parsed by coset.
    let sign1 = CoseSign1::from_tagged_slice(&cose).expect("a tagged COSE_Sign1");
    let protected = &sign1.protected.header;
    assert_eq!(
        protected.alg,
        Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::ES256
        ))
    );
    assert_eq!(protected.key_id, signer.kid().to_vec());
    assert_eq!(sign1.signature.len(), 64, "raw r||s, not DER");

    // kid = first 8 bytes of SHA-256 of the SPKI published at /.well-known/dcc/keys.
    let keys = signer.public_keys_json();
    let (kid_b64, spki_b64) = keys.as_object().unwrap().iter().next().unwrap();
    let spki = B64.decode(spki_b64.as_str().unwrap()).unwrap();
    use sha2::Digest;
    assert_eq!(
        B64.decode(kid_b64).unwrap(),
        &sha2::Sha256::digest(&spki)[..8]
    );

    // ES256 over coset's own Sig_structure, checked with p256 directly.
    let key = VerifyingKey::from_public_key_der(&spki).unwrap();
    sign1
        .verify_signature(b"", |sig, data| {
            key.verify(data, &Signature::from_slice(sig).unwrap())
        })
        .expect("signature verifies");

    // CWT claims, read with ciborium.
    let payload = sign1.payload.as_ref().expect("embedded payload");
    let cwt: Value = ciborium::from_reader(&payload[..]).unwrap();
    let int = |i: i64| Value::Integer(i.into());
    let txt = |s: &str| Value::Text(s.into());
    assert_eq!(text(map_get(&cwt, &int(1))), "PL");
    assert_eq!(map_get(&cwt, &int(6)), &int(ISSUED_AT));
    assert_eq!(
        map_get(&cwt, &int(4)),
        &int(ISSUED_AT + i64::from(VALID_DAYS) * 86_400)
    );
    let dcc = map_get(map_get(&cwt, &int(-260)), &int(1));
    assert_eq!(text(map_get(dcc, &txt("ver"))), "1.3.0");
    assert_eq!(text(map_get(dcc, &txt("dob"))), "1984-02-29");
    let nam = map_get(dcc, &txt("nam"));
    assert_eq!(text(map_get(nam, &txt("fn"))), "Żółć-Müller");
    assert_eq!(text(map_get(nam, &txt("fnt"))), "ZOLC<MUELLER");
    assert_eq!(text(map_get(nam, &txt("gn"))), "Łukasz");
    assert_eq!(text(map_get(nam, &txt("gnt"))), "LUKASZ");
    let v = map_get(dcc, &txt("v")).as_array().unwrap();
    assert_eq!(v.len(), 1);
    let v = &v[0];
    for (field, want) in [
        ("tg", "840539006"),
        ("vp", "1119349007"),
        ("mp", "EU/1/20/1528"),
        ("ma", "ORG-100030215"),
        ("dt", "2021-05-18"),
        ("co", "PL"),
        ("is", "Centrum e-Zdrowia"),
        ("ci", out.uvci.as_str()),
    ] {
        assert_eq!(text(map_get(v, &txt(field))), want, "{field}");
    }
    assert_eq!(map_get(v, &txt("dn")), &int(2));
    assert_eq!(map_get(v, &txt("sd")), &int(2));

    // And coset re-serialises it byte for byte (canonical framing).
    assert_eq!(sign1.clone().to_tagged_vec().unwrap(), cose);
    let _ = CoseSign1::from_slice(&cose[1..]).expect("untagged form parses too");
}

#[test]
fn one_changed_character_never_verifies() {
    let signer = DccSigner::generate();
    let keys = KeyRing::from_signer(&signer);
    let out = render(&signer);
    let body = out.hc1.strip_prefix("HC1:").unwrap();
    let mut checked = 0;
    for (i, c) in body.char_indices() {
        let replacement = if c == 'A' { 'B' } else { 'A' };
        let tampered = format!("HC1:{}{replacement}{}", &body[..i], &body[i + 1..]);
        let result = parse_hc1(&tampered).and_then(|u| u.verify(&keys));
        assert!(result.is_err(), "tampered at {i} still verifies");
        checked += 1;
    }
    assert_eq!(checked, body.len());
}

#[test]
fn rejects_other_keys_and_garbage() {
    let out = render(&DccSigner::generate());
    let stranger = KeyRing::from_signer(&DccSigner::generate());
    assert!(matches!(
        parse_hc1(&out.hc1).unwrap().verify(&stranger),
        Err(VerifyError::UnknownKid(_))
    ));
    assert_eq!(
        parse_hc1("HC2:ABC").unwrap_err(),
        VerifyError::MissingPrefix
    );
    assert!(parse_hc1("HC1:").is_err());
    assert!(parse_hc1("HC1:A").is_err());
    assert!(parse_hc1("HC1:ABC").is_err());
}

#[test]
fn render_refuses_bad_input() {
    let signer = DccSigner::generate();
    assert!(render_passport(&holder(), &[], &signer, "PL", ISSUED_AT, 1).is_err());
    assert!(render_passport(&holder(), &records(), &signer, "Poland", ISSUED_AT, 1).is_err());
}
