//! The EU Digital COVID Certificate: hcert payload, CWT, COSE_Sign1 (ES256).
//!
//! References: "Electronic Health Certificate Container Format" (hcert) v1.x
//! and the DCC JSON schema v1.3.x of the eHealth Network; RFC 8392 (CWT);
//! RFC 9052 (COSE_Sign1, built with `coset`). Every coded field goes
//! through [`super::valuesets`] first.
//!
//! # `kid`
//!
//! The specification derives the key identifier from the Document Signer
//! Certificate: the first 8 bytes of SHA-256 over its DER encoding. We
//! publish a bare key, not an X.509 certificate, so we hash the DER
//! SubjectPublicKeyInfo instead (the same bytes `GET /.well-known/dcc/keys`
//! serves). Verifiers look keys up by `kid`, so this is consistent for anyone
//! using our key list; a national deployment would issue a DSC through its
//! CSCA and switch the hash input to that certificate.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ciborium::value::Value;
use coset::TaggedCborSerializable;
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;

use super::valuesets::ValueSets;
use super::{base45, translit, Holder, PassportError, VaccinationRecord};

/// The hcert schema version we emit.
pub const SCHEMA_VERSION: &str = "1.3.0";
/// CWT claim keys.
pub const CLAIM_ISS: i64 = 1;
pub const CLAIM_EXP: i64 = 4;
pub const CLAIM_IAT: i64 = 6;
pub const CLAIM_HCERT: i64 = -260;
/// Key of the EU DCC v1 inside the `hcert` claim.
pub const HCERT_EU_DCC_V1: i64 = 1;
/// The context prefix of the QR text.
pub const HC1_PREFIX: &str = "HC1:";

/// The ES256 signing key of the certificates, with its derived `kid`.
#[derive(Clone)]
pub struct DccSigner {
    key: SigningKey,
    spki_der: Vec<u8>,
    kid: [u8; 8],
}

impl std::fmt::Debug for DccSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("DccSigner")
            .field("kid", &B64.encode(self.kid))
            .finish_non_exhaustive()
    }
}

impl DccSigner {
    fn from_key(key: SigningKey) -> Self {
        let spki_der = key
            .verifying_key()
            .to_public_key_der()
            .expect("a P-256 public key always encodes")
            .as_bytes()
            .to_vec();
        let kid = kid_of_spki(&spki_der);
        Self { key, spki_der, kid }
    }

    /// Reads a base64 (standard alphabet) PKCS#8 DER P-256 private key, the
    /// format of the `DCC_SIGNING_KEY` setting.
    pub fn from_pkcs8_base64(s: &str) -> Result<Self, PassportError> {
        let der = B64
            .decode(s.trim())
            .map_err(|_| PassportError::InvalidKey("not base64".into()))?;
        let key = SigningKey::from_pkcs8_der(&der)
            .map_err(|_| PassportError::InvalidKey("not a PKCS#8 P-256 private key".into()))?;
        Ok(Self::from_key(key))
    }

    /// A fresh random key (operating system RNG).
    pub fn generate() -> Self {
        Self::from_key(SigningKey::generate())
    }

    /// The key as base64 PKCS#8 DER, the inverse of [`Self::from_pkcs8_base64`].
    pub fn to_pkcs8_base64(&self) -> String {
        let der = self
            .key
            .to_pkcs8_der()
            .expect("a P-256 private key always encodes");
        B64.encode(der.as_bytes())
    }

    /// First 8 bytes of SHA-256 over the SubjectPublicKeyInfo DER (see the
    /// module documentation on why not a certificate).
    pub fn kid(&self) -> [u8; 8] {
        self.kid
    }

    /// The DER SubjectPublicKeyInfo of the verifying key.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `{"<base64 kid>": "<base64 SPKI DER>"}`, the body of
    /// `GET /.well-known/dcc/keys`.
    pub fn public_keys_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert(
            B64.encode(self.kid),
            serde_json::Value::String(B64.encode(&self.spki_der)),
        );
        serde_json::Value::Object(map)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        // RFC 6979 deterministic ECDSA; COSE wants raw r || s, not DER.
        let sig: Signature = self.key.sign(message);
        sig.to_bytes().into()
    }
}

/// `kid` of a DER SubjectPublicKeyInfo.
pub fn kid_of_spki(spki_der: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(spki_der);
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&digest[..8]);
    kid
}

/// The record the certificate carries: the latest by date, then by dose.
pub fn certified_record(records: &[VaccinationRecord]) -> Option<&VaccinationRecord> {
    records
        .iter()
        .max_by(|a, b| (&a.date, a.dose_number).cmp(&(&b.date, b.dose_number)))
}

// ---------------------------------------------------------------- payload

/// The hcert v1.3 JSON structure (vaccination certificates only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HcertPayload {
    pub ver: String,
    pub nam: HcertName,
    pub dob: String,
    #[serde(default)]
    pub v: Vec<HcertVaccination>,
}

/// `nam`: names as printed and ICAO 9303-transliterated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HcertName {
    #[serde(rename = "fn", default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    pub fnt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gnt: String,
}

/// One entry of `v`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HcertVaccination {
    pub tg: String,
    pub vp: String,
    pub mp: String,
    pub ma: String,
    pub dn: u32,
    pub sd: u32,
    pub dt: String,
    pub co: String,
    pub is: String,
    pub ci: String,
}

/// Everything that goes into one signed certificate.
pub struct Claims<'a> {
    pub issuer_country: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
    pub holder: &'a Holder,
    pub record: &'a VaccinationRecord,
    pub uvci: &'a str,
}

impl Claims<'_> {
    fn hcert(&self) -> Result<HcertPayload, PassportError> {
        // Whoever builds the claims, only value-set codes get signed.
        let r = &ValueSets::official().code_vaccination(self.record)?;
        Ok(HcertPayload {
            ver: SCHEMA_VERSION.into(),
            nam: HcertName {
                family: self.holder.family_name.clone(),
                fnt: translit::icao9303(&self.holder.family_name),
                gn: self.holder.given_name.clone(),
                gnt: translit::icao9303(&self.holder.given_name),
            },
            dob: self.holder.date_of_birth.clone(),
            v: vec![HcertVaccination {
                tg: r.disease.clone(),
                vp: r.vaccine.clone(),
                mp: r.product.clone(),
                ma: r.manufacturer.clone(),
                dn: r.dose_number,
                sd: r.total_doses,
                dt: r.date.clone(),
                co: r.country.clone(),
                is: r.issuer.clone(),
                ci: self.uvci.into(),
            }],
        })
    }

    /// The CWT claims set, CBOR-encoded.
    pub fn to_cwt(&self) -> Result<Vec<u8>, PassportError> {
        let hcert = Value::serialized(&self.hcert()?).map_err(cbor_err)?;
        let cwt = Value::Map(vec![
            (int(CLAIM_ISS), Value::Text(self.issuer_country.into())),
            (int(CLAIM_EXP), int(self.expires_at)),
            (int(CLAIM_IAT), int(self.issued_at)),
            (
                int(CLAIM_HCERT),
                Value::Map(vec![(int(HCERT_EU_DCC_V1), hcert)]),
            ),
        ]);
        to_cbor(&cwt)
    }
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn cbor_err(e: impl std::fmt::Display) -> PassportError {
    PassportError::Cbor(e.to_string())
}

fn to_cbor(v: &Value) -> Result<Vec<u8>, PassportError> {
    let mut out = Vec::with_capacity(512);
    ciborium::into_writer(v, &mut out).map_err(cbor_err)?;
    Ok(out)
}

/// Signs the claims and returns the `HC1:` string.
pub fn sign_hc1(claims: &Claims<'_>, signer: &DccSigner) -> Result<String, PassportError> {
    let payload = claims.to_cwt()?;
    let cose = sign1(&payload, signer)?;
    Ok(encode_hc1(&cose))
}

/// COSE_Sign1 (tag 18) over `payload`, protected header `{1: -7, 4: kid}`,
/// no external AAD (RFC 9052 §4.4).
pub fn sign1(payload: &[u8], signer: &DccSigner) -> Result<Vec<u8>, PassportError> {
    let protected = coset::HeaderBuilder::new()
        .algorithm(coset::iana::Algorithm::ES256)
        .key_id(signer.kid().to_vec())
        .build();
    coset::CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.to_vec())
        .create_signature(b"", |tbs| signer.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .map_err(cbor_err)
}

/// zlib → Base45 → `HC1:`.
pub fn encode_hc1(cose: &[u8]) -> String {
    let mut z = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(cose.len()),
        flate2::Compression::best(),
    );
    z.write_all(cose).expect("writing to a Vec cannot fail");
    let compressed = z.finish().expect("writing to a Vec cannot fail");
    let mut out = String::from(HC1_PREFIX);
    out.push_str(&base45::encode(&compressed));
    out
}

// ---------------------------------------------------------------- UVCI

/// Characters of the Luhn mod N checksum, in code-point order, as the DCC
/// schema FAQ ("UVCI checksum") defines them: N = 38.
const LUHN_ALPHABET: &[u8; 38] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:";
/// Random bytes in the unique part: 80 bits, 16 base32 characters.
const UVCI_RANDOM_BYTES: usize = 10;

/// A fresh `URN:UVCI:01:<CC>:<unique>#<checksum>`.
///
/// - `01`: UVCI schema version 1 (the guidelines' only one).
/// - `<unique>`: 80 random bits in RFC 4648 base32 (A–Z, 2–7), so two
///   certificates never share an identifier and the identifier reveals
///   nothing about the holder.
/// - `#<checksum>`: Luhn mod N (N = 38, `LUHN_ALPHABET`) over the whole
///   string before `#`, as the eHealth Network guidelines suggest.
pub fn new_uvci(country: &str) -> Result<String, PassportError> {
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(PassportError::InvalidInput(
            "issuer country must be ISO 3166-1 alpha-2 upper case",
        ));
    }
    let mut random = [0u8; UVCI_RANDOM_BYTES];
    p256::elliptic_curve::common::getrandom::fill(&mut random)
        .map_err(|_| PassportError::InvalidInput("operating system RNG unavailable"))?;
    let body = format!("URN:UVCI:01:{country}:{}", base32(&random));
    let check = luhn_mod_n(&body).expect("body uses only the UVCI alphabet");
    Ok(format!("{body}#{check}"))
}

/// Luhn mod N check character of `s`; `None` if `s` has a character outside
/// `LUHN_ALPHABET`.
pub fn luhn_mod_n(s: &str) -> Option<char> {
    let n = LUHN_ALPHABET.len() as u32;
    let mut factor = 2;
    let mut sum = 0u32;
    for c in s.bytes().rev() {
        let code = LUHN_ALPHABET.iter().position(|&a| a == c)? as u32;
        let addend = factor * code;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / n + addend % n;
    }
    let check = (n - sum % n) % n;
    Some(char::from(LUHN_ALPHABET[check as usize]))
}

/// Whether a UVCI's `#` checksum is right.
pub fn uvci_checksum_ok(uvci: &str) -> bool {
    match uvci.rsplit_once('#') {
        Some((body, check)) => {
            check.len() == 1 && luhn_mod_n(body).map(String::from).as_deref() == Some(check)
        }
        None => false,
    }
}

fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(A[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(A[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_pkcs8() {
        let a = DccSigner::generate();
        let b = DccSigner::from_pkcs8_base64(&a.to_pkcs8_base64()).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.public_key_der(), b.public_key_der());
        assert_eq!(a.kid(), kid_of_spki(a.public_key_der()));
        assert!(DccSigner::from_pkcs8_base64("bm90IGEga2V5").is_err());
        assert!(DccSigner::from_pkcs8_base64("%%%").is_err());
        assert!(!format!("{a:?}").contains(&a.to_pkcs8_base64()));
    }

    #[test]
    fn public_keys_json_shape() {
        let s = DccSigner::generate();
        let json = s.public_keys_json();
        let obj = json.as_object().unwrap();
        assert_eq!(obj.len(), 1);
        let (kid, spki) = obj.iter().next().unwrap();
        assert_eq!(B64.decode(kid).unwrap(), s.kid());
        assert_eq!(
            B64.decode(spki.as_str().unwrap()).unwrap(),
            s.public_key_der()
        );
    }

    #[test]
    fn uvci_format_and_checksum() {
        let u = new_uvci("DE").unwrap();
        assert!(u.starts_with("URN:UVCI:01:DE:"), "{u}");
        assert!(uvci_checksum_ok(&u), "{u}");
        // Any single-character change is caught (Luhn mod N's promise).
        let (body, check) = u.rsplit_once('#').unwrap();
        let mut bad = body.to_string();
        bad.replace_range(15..16, if &body[15..16] == "A" { "B" } else { "A" });
        assert!(!uvci_checksum_ok(&format!("{bad}#{check}")));
        assert_ne!(new_uvci("DE").unwrap(), u);
        assert!(new_uvci("de").is_err());
        assert!(new_uvci("DEU").is_err());
    }

    #[test]
    fn luhn_mod_n_known_value() {
        // Hand-computed: "A" has code 0 → sum 0 → check "A"; "B" (1, doubled
        // to 2) → check 38-2 = 36 → "/".
        assert_eq!(luhn_mod_n("A"), Some('A'));
        assert_eq!(luhn_mod_n("B"), Some('/'));
        assert_eq!(luhn_mod_n("a"), None);
    }

    #[test]
    fn base32_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn certified_record_is_latest() {
        let mk = |dn, dt: &str| VaccinationRecord {
            disease: "840539006".into(),
            vaccine: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: dn,
            total_doses: 2,
            date: dt.into(),
            country: "DE".into(),
            issuer: "x".into(),
        };
        let recs = [
            mk(1, "2021-05-01"),
            mk(2, "2021-06-01"),
            mk(1, "2021-04-01"),
        ];
        assert_eq!(certified_record(&recs).unwrap().dose_number, 2);
        assert!(certified_record(&[]).is_none());
    }
}
