//! Reading an `HC1:` string back: parse, then verify, then read.
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
    protected: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
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
    // zlib streams start with 0x78 (deflate, 32 KiB window); the spec
    // allows verifiers to accept uncompressed COSE too.
    let cose = if compressed.first() == Some(&0x78) {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .take(MAX_COSE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|_| VerifyError::Decompress)?;
        if out.len() as u64 > MAX_COSE_BYTES {
            return Err(VerifyError::Decompress);
        }
        out
    } else {
        compressed
    };
    parse_cose_sign1(&cose)
}

fn parse_cose_sign1(bytes: &[u8]) -> Result<UntrustedDcc, VerifyError> {
    let value: Value =
        ciborium::from_reader(bytes).map_err(|_| VerifyError::NotCoseSign1("bad CBOR"))?;
    let value = match value {
        Value::Tag(dcc::COSE_SIGN1_TAG, inner) => *inner,
        Value::Tag(..) => return Err(VerifyError::NotCoseSign1("unexpected CBOR tag")),
        v => v,
    };
    let Value::Array(items) = value else {
        return Err(VerifyError::NotCoseSign1("not an array"));
    };
    let [protected, unprotected, payload, signature]: [Value; 4] = items
        .try_into()
        .map_err(|_| VerifyError::NotCoseSign1("not four elements"))?;
    let (
        Value::Bytes(protected),
        Value::Map(unprotected),
        Value::Bytes(payload),
        Value::Bytes(signature),
    ) = (protected, unprotected, payload, signature)
    else {
        return Err(VerifyError::NotCoseSign1("wrong element types"));
    };
    let protected_map = if protected.is_empty() {
        Vec::new()
    } else {
        match ciborium::from_reader::<Value, _>(&protected[..]) {
            Ok(Value::Map(m)) => m,
            _ => return Err(VerifyError::NotCoseSign1("protected header is not a map")),
        }
    };
    // The protected header wins; `kid` may sit in the unprotected one.
    let header = |label: i64| {
        lookup(&protected_map, label)
            .or_else(|| lookup(&unprotected, label))
            .cloned()
    };
    let alg = header(dcc::HEADER_ALG).and_then(|v| as_i64(&v));
    let kid = match header(dcc::HEADER_KID) {
        Some(Value::Bytes(k)) => Some(k),
        _ => None,
    };
    Ok(UntrustedDcc {
        protected,
        payload,
        signature,
        alg,
        kid,
    })
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
            Some(dcc::COSE_ALG_ES256) => {}
            Some(other) => return Err(VerifyError::UnsupportedAlgorithm(other)),
            None => return Err(VerifyError::NotCoseSign1("no alg header")),
        }
        let kid = self.kid.as_ref().ok_or(VerifyError::MissingKid)?;
        let key = keys
            .keys
            .get(kid)
            .ok_or_else(|| VerifyError::UnknownKid(B64.encode(kid)))?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| VerifyError::BadSignature)?;
        key.verify(
            &dcc::sig_structure(&self.protected, &self.payload),
            &signature,
        )
        .map_err(|_| VerifyError::BadSignature)?;
        Ok(VerifiedDcc {
            kid: kid.clone(),
            claims: decode_claims(&self.payload)?,
        })
    }

    /// The claims WITHOUT any signature check: for showing what an invalid
    /// certificate claims, never for trusting it.
    pub fn claims_unverified(&self) -> Result<DccClaims, VerifyError> {
        decode_claims(&self.payload)
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
    })
}
