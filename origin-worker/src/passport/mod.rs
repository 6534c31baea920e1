//! # The passport: a PDF carrying a real EU Digital COVID Certificate
//!
//! [`render_passport`] turns a holder and the vaccination records the
//! registry returned into an A4 PDF whose QR code is a signed EU DCC
//! ("hcert"), the format every EU verifier app reads:
//!
//! ```text
//! hcert v1.3 JSON ─► CWT claims {1 iss, 4 exp, 6 iat, -260 {1 hcert}} ─► CBOR
//!   ─► COSE_Sign1 (ES256, kid) ─► zlib ─► Base45 ─► "HC1:" ─► QR (ECC level Q)
//! ```
//!
//! # Layout
//!
//! - [`dcc`]: the certificate itself: [`DccSigner`] (the ES256 key and its
//!   `kid`), the hcert payload, the CWT, COSE_Sign1 signing, the UVCI.
//! - [`verify`]: the reverse path. [`verify::parse_hc1`] gives an
//!   [`verify::UntrustedDcc`]; only [`verify::UntrustedDcc::verify`] against a
//!   [`verify::KeyRing`] yields the [`verify::VerifiedDcc`] whose claims are
//!   meant to be trusted.
//! - [`valuesets`]: the EU value sets (release 2.12.0) compiled in; every
//!   coded field the origin signs comes from their active entries, and
//!   `verify` reports the codes of any certificate that do not.
//! - [`base45`]: RFC 9285, the QR-friendly text encoding after `HC1:`.
//! - [`translit`]: ICAO 9303 transliteration of names for `fnt`/`gnt`.
//! - [`qr`]: the QR module matrix (drawn as vector rectangles, no image).
//! - [`pdf`]: the page layout, the embedded DejaVu Sans font, metadata.
//! - [`cli`]: `origin-worker verify …` and `origin-worker gen-dcc-key`.
//!
//! # Codes
//!
//! The registry's records are recoded through [`valuesets`] before they are
//! signed or printed: `ma` and `vp` follow the vaccine encoding instructions
//! for the record's `mp` (a retired `vp` such as `J07BX03` is replaced), and
//! a product, disease or country without an active entry is refused
//! ([`PassportError::Uncodable`]).
//!
//! # One certificate, all records
//!
//! The EU DCC specification puts exactly one vaccination event in a
//! certificate (`v` holds one entry whose `dn`/`sd` say "dose n of m"). The
//! QR therefore certifies the most recent record (latest date, then highest
//! dose number); the page lists every record the registry returned and marks
//! the certified one.

pub mod base45;
pub mod cli;
pub mod dcc;
pub mod pdf;
pub mod qr;
pub mod translit;
pub mod valuesets;
pub mod verify;

use serde::{Deserialize, Serialize};

pub use dcc::DccSigner;

/// One vaccination event as the registry reports it. Field values are the
/// EU DCC value-set codes (SNOMED CT for disease and vaccine type, EMA
/// product numbers, EMA organisation ids).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VaccinationRecord {
    /// `tg`: disease or agent targeted, e.g. `"840539006"` (COVID-19).
    pub disease: String,
    /// `vp`: vaccine or prophylaxis, e.g. `"1119349007"` (mRNA vaccine).
    pub vaccine: String,
    /// `mp`: medicinal product, e.g. `"EU/1/20/1528"` (Comirnaty).
    pub product: String,
    /// `ma`: marketing authorisation holder, e.g. `"ORG-100030215"`.
    pub manufacturer: String,
    /// `dn`: number of this dose in the series (1-based).
    pub dose_number: u32,
    /// `sd`: total doses in the series.
    pub total_doses: u32,
    /// `dt`: date of vaccination, `YYYY-MM-DD`.
    pub date: String,
    /// `co`: member state of vaccination, ISO 3166-1 alpha-2.
    pub country: String,
    /// `is`: certificate issuer (the organisation, free text).
    pub issuer: String,
}

/// The person the certificate is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD` (the DCC also allows `YYYY-MM` and `YYYY`).
    pub date_of_birth: String,
}

/// A finished passport.
pub struct Rendered {
    /// The PDF file.
    pub pdf: Vec<u8>,
    /// The `HC1:` string encoded in the QR code.
    pub hc1: String,
    /// The unique vaccination certificate identifier, with its checksum.
    pub uvci: String,
}

impl std::fmt::Debug for Rendered {
    // The PDF and the HC1 string carry personal data: never log them whole.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("pdf_bytes", &self.pdf.len())
            .field("hc1_chars", &self.hc1.len())
            .field("uvci", &self.uvci)
            .finish()
    }
}

/// Why a passport could not be rendered. Messages carry no personal data.
#[derive(Debug, thiserror::Error)]
pub enum PassportError {
    #[error("invalid DCC signing key: {0}")]
    InvalidKey(String),
    #[error("no vaccination records to certify")]
    NoRecords,
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("record not codable with the EU value sets: {0}")]
    Uncodable(#[from] valuesets::CodingError),
    #[error("CBOR encoding failed: {0}")]
    Cbor(String),
    #[error("QR encoding failed: {0}")]
    Qr(String),
    #[error("PDF rendering failed: {0}")]
    Pdf(String),
}

/// Renders the passport PDF with its signed EU DCC.
///
/// `issued_at_unix` is the CWT `iat` (and the PDF creation date); the
/// certificate expires `valid_for_days` later (`exp`). `issuer_country` is
/// the CWT `iss` and the country in the UVCI.
pub fn render_passport(
    holder: &Holder,
    records: &[VaccinationRecord],
    signer: &DccSigner,
    issuer_country: &str,
    issued_at_unix: i64,
    valid_for_days: u32,
) -> Result<Rendered, PassportError> {
    let sets = valuesets::ValueSets::official();
    let records = records
        .iter()
        .map(|r| sets.code_vaccination(r))
        .collect::<Result<Vec<_>, _>>()?;
    let records = &records[..];
    let certified = dcc::certified_record(records).ok_or(PassportError::NoRecords)?;
    let uvci = dcc::new_uvci(issuer_country)?;
    let expires_at_unix = issued_at_unix + i64::from(valid_for_days) * 86_400;
    let claims = dcc::Claims {
        issuer_country,
        issued_at: issued_at_unix,
        expires_at: expires_at_unix,
        holder,
        record: certified,
        uvci: &uvci,
    };
    let hc1 = dcc::sign_hc1(&claims, signer)?;
    let matrix = qr::QrMatrix::encode(&hc1)?;
    let pdf = pdf::render(&pdf::Page {
        holder,
        records,
        certified,
        uvci: &uvci,
        issued_at_unix,
        expires_at_unix,
        qr: &matrix,
        hc1: &hc1,
    })?;
    Ok(Rendered { pdf, hc1, uvci })
}
