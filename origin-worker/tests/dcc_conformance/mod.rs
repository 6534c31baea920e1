//! An EU DCC checker written apart from `origin_worker::passport`: its own
//! Base45 decoder, COSE_Sign1 read and `Sig_structure` built with plain
//! `ciborium` (no `coset`, which the origin uses), ES256 checked with
//! `p256`, the payload validated against the official JSON schema 1.3.3
//! (`jsonschema`, formats asserted) and every coded field checked against
//! the active entries of the official value sets 2.12.0 and the vaccine
//! encoding instructions, read from the JSON files themselves. A bug shared
//! by our encoder and our decoder cannot hide from it.
//!
//! Used by every test that renders a passport (`assert_conformant`).

#![allow(dead_code)] // each test crate uses a part

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use ciborium::value::Value;
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use serde_json::Value as Json;

/// A file under the crate root (`data/dcc/...`, `tests/data/dcc/...`).
pub fn crate_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn read_json(rel: &str) -> Json {
    let path = crate_file(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// RFC 9285 Base45.
pub fn base45_decode(s: &str) -> Option<Vec<u8>> {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(3) {
        if chunk.len() < 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in chunk.iter().rev() {
            n = n * 45 + A.iter().position(|&a| a == c)? as u32;
        }
        if chunk.len() == 3 {
            out.extend_from_slice(&u16::try_from(n).ok()?.to_be_bytes());
        } else {
            out.push(u8::try_from(n).ok()?);
        }
    }
    Some(out)
}

/// A COSE_Sign1 taken apart with `ciborium`.
#[derive(Debug)]
pub struct Sign1 {
    /// The whole decompressed message.
    pub bytes: Vec<u8>,
    pub protected_bytes: Vec<u8>,
    pub protected: Vec<(Value, Value)>,
    pub unprotected: Vec<(Value, Value)>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Sign1 {
    /// Header `label`, protected first.
    pub fn header(&self, label: i64) -> Option<&Value> {
        get(&self.protected, label).or_else(|| get(&self.unprotected, label))
    }

    /// RFC 9052 §4.4, no external AAD.
    pub fn sig_structure(&self) -> Vec<u8> {
        let v = Value::Array(vec![
            Value::Text("Signature1".into()),
            Value::Bytes(self.protected_bytes.clone()),
            Value::Bytes(Vec::new()),
            Value::Bytes(self.payload.clone()),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    }

    pub fn verify(&self, key: &VerifyingKey) -> bool {
        Signature::from_slice(&self.signature)
            .and_then(|s| key.verify(&self.sig_structure(), &s))
            .is_ok()
    }

    /// The CWT claims.
    pub fn cwt(&self) -> Vec<(Value, Value)> {
        match ciborium::from_reader(&self.payload[..]).expect("CWT is CBOR") {
            Value::Map(m) => m,
            other => panic!("CWT is not a map: {other:?}"),
        }
    }

    /// CWT claim -260 / 1 as JSON.
    pub fn hcert_json(&self) -> Json {
        let cwt = self.cwt();
        let hcert = get(&cwt, -260).expect("claim -260");
        let Value::Map(hcert) = hcert else {
            panic!("claim -260 is not a map")
        };
        to_json(get(hcert, 1).expect("hcert 1"))
    }
}

pub fn get(map: &[(Value, Value)], label: i64) -> Option<&Value> {
    map.iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(label))
        .map(|(_, v)| v)
}

/// `HC1:` → Base45 → zlib → tag 18 → the four COSE_Sign1 parts.
pub fn decode(hc1: &str) -> Sign1 {
    let b45 = hc1.strip_prefix("HC1:").expect("HC1: prefix");
    let compressed = base45_decode(b45).expect("Base45");
    let mut bytes = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_end(&mut bytes)
        .expect("zlib");
    let Value::Tag(18, inner) = ciborium::from_reader(&bytes[..]).expect("CBOR") else {
        panic!("not tagged COSE_Sign1 (18)")
    };
    let Value::Array(parts) = *inner else {
        panic!("COSE_Sign1 is not an array")
    };
    let [Value::Bytes(protected_bytes), Value::Map(unprotected), Value::Bytes(payload), Value::Bytes(signature)] =
        <[Value; 4]>::try_from(parts).expect("four parts")
    else {
        panic!("COSE_Sign1 part types")
    };
    let Value::Map(protected) = ciborium::from_reader(&protected_bytes[..]).expect("header") else {
        panic!("protected header is not a map")
    };
    Sign1 {
        bytes,
        protected_bytes,
        protected,
        unprotected,
        payload,
        signature,
    }
}

/// CBOR → JSON for the hcert payload, which has only text keys, strings,
/// integers, arrays and maps; anything else fails the test.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Text(s) => Json::String(s.clone()),
        Value::Integer(i) => Json::from(i64::try_from(*i).expect("integer in i64")),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_text().expect("text key").to_owned(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected CBOR in the hcert payload: {other:?}"),
    }
}

fn schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema = read_json("tests/data/dcc/schema/DCC.combined-schema.json");
        jsonschema::options()
            .should_validate_formats(true)
            .with_format("date-time", ajv_date_time)
            .build(&schema)
            .expect("the official schema compiles")
    })
}

/// `date-time` as the schema's own test suite checks it (its Makefile
/// validates with ajv-formats, whose full mode takes the offset as `Z`,
/// `+hh`, `+hhmm` or `+hh:mm`; the suite's `test_valid_T-rat-dates*` use all
/// of them): RFC 3339 once the offset is written `+hh:mm`.
fn ajv_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let sign_at = |i: usize| b.len() > i && matches!(b[b.len() - i], b'+' | b'-');
    let digits = |n: usize| b.len() >= n && b[b.len() - n..].iter().all(u8::is_ascii_digit);
    let normalised = if sign_at(3) && digits(2) {
        format!("{s}:00")
    } else if sign_at(5) && digits(4) {
        format!("{}:{}", &s[..s.len() - 2], &s[s.len() - 2..])
    } else {
        s.to_owned()
    };
    chrono::DateTime::parse_from_rfc3339(&normalised).is_ok()
}

/// Schema 1.3.3 violations of an hcert payload, as `path: message`.
pub fn schema_errors(hcert: &Json) -> Vec<String> {
    schema()
        .iter_errors(hcert)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn value_set(file: &str) -> &'static Json {
    static SETS: OnceLock<std::collections::HashMap<String, Json>> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        std::fs::read_dir(crate_file("data/dcc/valuesets"))
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                let json = read_json(&format!("data/dcc/valuesets/{name}"));
                (name, json)
            })
            .collect()
    });
    &sets[file]["valueSetValues"]
}

/// Codes of an hcert vaccination payload that are not active entries of
/// the value sets or break the encoding instructions.
pub fn value_set_errors(hcert: &Json) -> Vec<String> {
    let mut errors = Vec::new();
    let vs = hcert["v"].as_array().cloned().unwrap_or_default();
    assert!(
        hcert.get("t").is_none() && hcert.get("r").is_none(),
        "the origin only issues vaccination certificates"
    );
    for (i, v) in vs.iter().enumerate() {
        for (field, file) in [
            ("tg", "disease-agent-targeted.json"),
            ("vp", "vaccine-prophylaxis.json"),
            ("mp", "vaccine-medicinal-product.json"),
            ("ma", "vaccine-mah-manf.json"),
            ("co", "country-2-codes.json"),
        ] {
            let code = v[field].as_str().unwrap_or_default();
            if value_set(file)[code]["active"] != Json::Bool(true) {
                errors.push(format!(
                    "v[{i}].{field} {code:?}: no active entry in {file}"
                ));
            }
        }
        let instructions = value_set("vaccine-encoding-instructions.json")
            .as_object()
            .unwrap();
        let rule = instructions.values().find(|r| r["vaccine-code"] == v["mp"]);
        match rule {
            None => errors.push(format!("v[{i}].mp {}: no encoding instruction", v["mp"])),
            Some(rule) => {
                if rule["vaccine-manufacturer"] != v["ma"] {
                    errors.push(format!(
                        "v[{i}].ma {}: instructions say {}",
                        v["ma"], rule["vaccine-manufacturer"]
                    ));
                }
                if !rule["sct-codes"].as_array().unwrap().contains(&v["vp"]) {
                    errors.push(format!(
                        "v[{i}].vp {}: instructions allow {} for mp {}",
                        v["vp"], rule["sct-codes"], v["mp"]
                    ));
                }
            }
        }
    }
    errors
}

/// Decodes `hc1` independently and fails the test unless its payload is
/// schema-valid and every code is an active, consistent value-set code.
/// Returns the payload.
pub fn assert_conformant(hc1: &str) -> Json {
    let hcert = decode(hc1).hcert_json();
    let mut errors = schema_errors(&hcert);
    errors.extend(value_set_errors(&hcert));
    assert!(
        errors.is_empty(),
        "the DCC fails the official EU schema / value sets:\n  {}\npayload: {hcert:#}",
        errors.join("\n  ")
    );
    hcert
}

/// The distinct `mp` values of some payloads.
pub fn products(payloads: &[Json]) -> BTreeSet<String> {
    payloads
        .iter()
        .filter_map(|p| p["v"][0]["mp"].as_str().map(str::to_owned))
        .collect()
}
