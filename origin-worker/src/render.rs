//! The boundary between the job pipeline and the passport module
//! ([`crate::passport`], issue 7: PDF layout and EU DCC signing). This file
//! only adapts types, so the worker does not depend on rendering details.

use crate::{
    passport::{render_passport, DccSigner, Holder, VaccinationRecord},
    validate::PassportRequest,
};

/// CWT issuer country (`iss`) and the country in the UVCI.
pub const ISSUER_COUNTRY: &str = "NL";
/// How long a certificate is valid (`exp` - `iat`).
pub const VALID_FOR_DAYS: u32 = 365;

/// Renders passports; built once at start-up from `DCC_SIGNING_KEY`
/// (base64 PKCS#8 P-256; `origin-worker gen-dcc-key` makes one).
pub struct Renderer {
    signer: DccSigner,
}

impl Renderer {
    pub fn new(dcc_signing_key: &str) -> Result<Renderer, String> {
        Ok(Renderer {
            signer: DccSigner::from_pkcs8_base64(dcc_signing_key).map_err(|e| e.to_string())?,
        })
    }

    /// The public keys verifiers need, as `{kid: base64 SPKI DER}`.
    pub fn public_keys(&self) -> serde_json::Value {
        self.signer.public_keys_json()
    }

    /// The passport PDF. Errors carry no personal data.
    pub fn render(
        &self,
        req: &PassportRequest,
        doses: &[VaccinationRecord],
    ) -> Result<Vec<u8>, String> {
        let holder = Holder {
            given_name: req.given_name.clone(),
            family_name: req.family_name.clone(),
            date_of_birth: req.date_of_birth.clone(),
        };
        let now = (crate::now_ms() / 1000) as i64;
        render_passport(
            &holder,
            doses,
            &self.signer,
            ISSUER_COUNTRY,
            now,
            VALID_FOR_DAYS,
        )
        .map(|r| r.pdf)
        .map_err(|e| e.to_string())
    }
}
