//! Reading an `HC1:` string back: parse, then verify, then read. The
//! COSE_Sign1 is parsed by `coset`; the CWT claims by `ciborium`.
//!
//! [`parse_hc1`] only undoes the transport encodings (prefix, Base45, zlib,
//! COSE framing) and yields an [`UntrustedDcc`]. Its claims are reachable
//! only through [`UntrustedDcc::verify`], which checks the ES256 signature
//! against a [`KeyRing`] first, or through the explicitly named
//! [`UntrustedDcc::claims_unverified`] (the CLI uses it to show what a
//! forged certificate claims, labelled as such).

use std::collections::HashMap;
use std::io::Read;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ciborium::value::Value;
use coset::iana::{self, EnumI64};
use coset::{AsCborValue, CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable};
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::dcc::{self, HcertPayload};
use super::{base45, DccSigner, Holder, VaccinationRecord};

/// Largest decompressed COSE message we accept. A real DCC is well under
/// 2 KB; the bound stops a zlib bomb.
pub const MAX_COSE_BYTES: u64 = 64 * 1024;

/// Why an HC1 string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing \"HC1:\" prefix")]
    MissingPrefix,
    #[error("invalid base45: {0}")]
    Base45(#[from] base45::Base45Error),
    #[error("invalid zlib data")]
    Decompress,
    #[error("not a COSE_Sign1 message: {0}")]
    NotCoseSign1(&'static str),
    #[error("unsupported COSE algorithm {0} (only ES256, -7)")]
    UnsupportedAlgorithm(i64),
    #[error("no kid in the COSE headers")]
    MissingKid,
    #[error("unknown kid {0}")]
    UnknownKid(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("invalid CWT claims: {0}")]
    InvalidClaims(String),
    #[error("invalid key list: {0}")]
    InvalidKeys(String),
}

/// Public keys by `kid`, as served at `GET /.well-known/dcc/keys`.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: HashMap<Vec<u8>, VerifyingKey>,
}

impl KeyRing {
    /// From `{"<base64 kid>": "<base64 SPKI DER>", ...}`.
    pub fn from_json(json: &serde_json::Value) -> Result<Self, VerifyError> {
        let obj = json
            .as_object()
            .ok_or_else(|| VerifyError::InvalidKeys("expected a JSON object".into()))?;
        let mut keys = HashMap::new();
        for (kid, spki) in obj {
            let kid = B64
                .decode(kid)
                .map_err(|_| VerifyError::InvalidKeys(format!("kid {kid:?} is not base64")))?;
            let der = spki
                .as_str()
                .and_then(|s| B64.decode(s).ok())
                .ok_or_else(|| VerifyError::InvalidKeys("key is not a base64 string".into()))?;
            let key = VerifyingKey::from_public_key_der(&der)
                .map_err(|_| VerifyError::InvalidKeys("key is not a P-256 SPKI".into()))?;
            keys.insert(kid, key);
        }
        Ok(Self { keys })
    }

    /// The one public key of `signer`.
    pub fn from_signer(signer: &DccSigner) -> Self {
        Self::from_json(&signer.public_keys_json()).expect("our own key list parses")
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A structurally valid COSE_Sign1 whose signature has not been checked.
#[derive(Debug, Clone)]
pub struct UntrustedDcc {
    /// Parsed by `coset`; the protected header keeps its original bytes,
    /// which is what the signature covers.
    sign1: CoseSign1,
    alg: Option<i64>,
    kid: Option<Vec<u8>>,
}

/// The claims of a certificate whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct DccClaims {
    /// CWT `iss`: the issuing country.
    pub issuer_country: String,
    /// CWT `iat`, Unix seconds.
    pub issued_at: i64,
    /// CWT `exp`, Unix seconds.
    pub expires_at: i64,
    pub holder: Holder,
    /// The hcert structure as signed (names, transliterations, UVCIs).
    pub hcert: HcertPayload,
    /// The same claim as JSON, with test (`t`) and recovery (`r`) entries
    /// too (for the value-set check of foreign certificates).
    pub hcert_json: serde_json::Value,
}

impl DccClaims {
    /// The vaccination entries as [`VaccinationRecord`]s.
    pub fn records(&self) -> Vec<VaccinationRecord> {
        self.hcert
            .v
            .iter()
            .map(|v| VaccinationRecord {
                disease: v.tg.clone(),
                vaccine: v.vp.clone(),
                product: v.mp.clone(),
                manufacturer: v.ma.clone(),
                dose_number: v.dn,
                total_doses: v.sd,
                date: v.dt.clone(),
                country: v.co.clone(),
                issuer: v.is.clone(),
            })
            .collect()
    }

    /// The certificate identifiers (`ci`) of the entries.
    pub fn uvcis(&self) -> Vec<&str> {
        self.hcert.v.iter().map(|v| v.ci.as_str()).collect()
    }

    pub fn is_expired(&self, now_unix: i64) -> bool {
        now_unix >= self.expires_at
    }

    /// Issued at or before `now_unix` and not expired.
    pub fn is_valid_at(&self, now_unix: i64) -> bool {
        self.issued_at <= now_unix && !self.is_expired(now_unix)
    }
}

/// A certificate whose ES256 signature verified against a [`KeyRing`].
#[derive(Debug, Clone)]
pub struct VerifiedDcc {
    kid: Vec<u8>,
    claims: DccClaims,
}

impl VerifiedDcc {
    pub fn claims(&self) -> &DccClaims {
        &self.claims
    }

    pub fn kid(&self) -> &[u8] {
        &self.kid
    }
}

/// Undoes `HC1:` → Base45 → zlib → COSE_Sign1 framing. Checks no signature.
pub fn parse_hc1(text: &str) -> Result<UntrustedDcc, VerifyError> {
    let b45 = text
        .trim()
        .strip_prefix(dcc::HC1_PREFIX)
        .ok_or(VerifyError::MissingPrefix)?;
    let compressed = base45::decode(b45)?;
    // hcert: the COSE message MUST be zlib-compressed; the EU test vector
    // `common_Z2` (an uncompressed one) is expected to fail.
    let mut cose = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .take(MAX_COSE_BYTES + 1)
        .read_to_end(&mut cose)
        .map_err(|_| VerifyError::Decompress)?;
    if cose.len() as u64 > MAX_COSE_BYTES {
        return Err(VerifyError::Decompress);
    }
    parse_cose_sign1(&cose)
}

fn parse_cose_sign1(bytes: &[u8]) -> Result<UntrustedDcc, VerifyError> {
    let value: Value =
        ciborium::from_reader(bytes).map_err(|_| VerifyError::NotCoseSign1("bad CBOR"))?;
    // Issuers may wrap the COSE_Sign1 tag (18) in the CWT tag (61), or send
    // it untagged (EU test vector `common_CO28`).
    let value = match value {
        Value::Tag(t, inner) if t == iana::CborTag::Cwt as u64 => *inner,
        v => v,
    };
    let value = match value {
        Value::Tag(t, inner) if t == CoseSign1::TAG => *inner,
        Value::Tag(..) => return Err(VerifyError::NotCoseSign1("unexpected CBOR tag")),
        v => v,
    };
    let sign1 = CoseSign1::from_cbor_value(value)
        .map_err(|_| VerifyError::NotCoseSign1("not a COSE_Sign1 structure"))?;
    if sign1.payload.is_none() {
        return Err(VerifyError::NotCoseSign1("detached payload"));
    }
    // The protected header wins; `alg` and `kid` may sit in the unprotected
    // one (EU test vectors `common_CO19`..`CO23`).
    let (protected, unprotected) = (&sign1.protected.header, &sign1.unprotected);
    let alg = match protected.alg.as_ref().or(unprotected.alg.as_ref()) {
        None => None,
        Some(RegisteredLabelWithPrivate::Assigned(a)) => Some(a.to_i64()),
        Some(RegisteredLabelWithPrivate::PrivateUse(i)) => Some(*i),
        Some(RegisteredLabelWithPrivate::Text(_)) => {
            return Err(VerifyError::NotCoseSign1("text algorithm label"))
        }
    };
    let kid = [&protected.key_id, &unprotected.key_id]
        .into_iter()
        .find(|k| !k.is_empty())
        .cloned();
    Ok(UntrustedDcc { sign1, alg, kid })
}

fn lookup(map: &[(Value, Value)], label: i64) -> Option<&Value> {
    map.iter()
        .find(|(k, _)| as_i64(k) == Some(label))
        .map(|(_, v)| v)
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

impl UntrustedDcc {
    /// The `kid` header, if any.
    pub fn kid(&self) -> Option<&[u8]> {
        self.kid.as_deref()
    }

    /// Checks the ES256 signature, then decodes the claims.
    pub fn verify(&self, keys: &KeyRing) -> Result<VerifiedDcc, VerifyError> {
        match self.alg {
            Some(alg) if alg == iana::Algorithm::ES256.to_i64() => {}
            Some(other) => return Err(VerifyError::UnsupportedAlgorithm(other)),
            None => return Err(VerifyError::NotCoseSign1("no alg header")),
        }
        let kid = self.kid.as_ref().ok_or(VerifyError::MissingKid)?;
        let key = keys
            .keys
            .get(kid)
            .ok_or_else(|| VerifyError::UnknownKid(B64.encode(kid)))?;
        self.sign1
            .verify_signature(b"", |signature, tbs| {
                Signature::from_slice(signature).and_then(|s| key.verify(tbs, &s))
            })
            .map_err(|_| VerifyError::BadSignature)?;
        Ok(VerifiedDcc {
            kid: kid.clone(),
            claims: decode_claims(self.payload())?,
        })
    }

    /// The claims WITHOUT any signature check: for showing what an invalid
    /// certificate claims, never for trusting it.
    pub fn claims_unverified(&self) -> Result<DccClaims, VerifyError> {
        decode_claims(self.payload())
    }

    fn payload(&self) -> &[u8] {
        self.sign1
            .payload
            .as_deref()
            .expect("parse_cose_sign1 refuses detached payloads")
    }
}

fn decode_claims(payload: &[u8]) -> Result<DccClaims, VerifyError> {
    let bad = |m: &str| VerifyError::InvalidClaims(m.to_string());
    let Value::Map(cwt) =
        ciborium::from_reader::<Value, _>(payload).map_err(|_| bad("bad CBOR"))?
    else {
        return Err(bad("not a map"));
    };
    let issuer_country = match lookup(&cwt, dcc::CLAIM_ISS) {
        Some(Value::Text(s)) => s.clone(),
        _ => return Err(bad("missing iss")),
    };
    let int_claim = |label, name| {
        lookup(&cwt, label)
            .and_then(as_i64)
            .ok_or_else(|| bad(name))
    };
    let issued_at = int_claim(dcc::CLAIM_IAT, "missing iat")?;
    let expires_at = int_claim(dcc::CLAIM_EXP, "missing exp")?;
    let Some(Value::Map(hcert)) = lookup(&cwt, dcc::CLAIM_HCERT) else {
        return Err(bad("missing hcert (-260)"));
    };
    let dcc_value = lookup(hcert, dcc::HCERT_EU_DCC_V1).ok_or_else(|| bad("missing hcert 1"))?;
    let hcert: HcertPayload = dcc_value
        .deserialized()
        .map_err(|e| VerifyError::InvalidClaims(format!("hcert structure: {e}")))?;
    let hcert_json = untagged(dcc_value.clone())
        .deserialized()
        .map_err(|e| VerifyError::InvalidClaims(format!("hcert as JSON: {e}")))?;
    Ok(DccClaims {
        issuer_country,
        issued_at,
        expires_at,
        holder: Holder {
            given_name: hcert.nam.gn.clone(),
            family_name: hcert.nam.family.clone(),
            date_of_birth: hcert.dob.clone(),
        },
        hcert,
        hcert_json,
    })
}

/// `v` without CBOR tags: some issuers tag date-times (tag 0, EU test
/// vector `SE_2`), which have no JSON form; the tagged value is kept.
fn untagged(v: Value) -> Value {
    match v {
        Value::Tag(_, inner) => untagged(*inner),
        Value::Array(a) => Value::Array(a.into_iter().map(untagged).collect()),
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| (untagged(k), untagged(v)))
                .collect(),
        ),
        v => v,
    }
}
