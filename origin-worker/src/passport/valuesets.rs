//! The EU DCC value sets (release 2.12.0, `data/dcc/`), compiled in.
//!
//! Two uses:
//! - [`ValueSets::code_vaccination`]: the origin takes the registry's record
//!   and picks every coded field (`tg`, `vp`, `mp`, `ma`, `co`) from ACTIVE
//!   value-set entries, following the vaccine encoding instructions (which
//!   fix `ma` and the allowed `vp` codes for each `mp`). A registry code the
//!   EU has retired (e.g. the ATC code `J07BX03`) is replaced by an allowed
//!   one; a product or country without an active entry is refused, so no
//!   certificate with codes verifiers reject is ever signed.
//! - [`ValueSets::problems`]: what `origin-worker verify` reports about any
//!   decoded certificate (vaccination, test and recovery entries).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::VaccinationRecord;

/// One value set file: `{valueSetId, valueSetDate, valueSetValues: {code: entry}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueSet {
    pub value_set_id: String,
    pub value_set_date: String,
    pub value_set_values: HashMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    pub display: String,
    pub active: bool,
}

impl ValueSet {
    fn parse(json: &str) -> Self {
        serde_json::from_str(json).expect("embedded value set parses (unit-tested)")
    }

    /// Why `code` may not go into a new certificate, if it may not.
    fn refusal(&self, code: &str) -> Option<String> {
        match self.value_set_values.get(code) {
            Some(e) if e.active => None,
            Some(e) => Some(format!(
                "{code:?} ({}) is inactive in {}",
                e.display,
                self.name()
            )),
            None => Some(format!("{code:?} is not in {}", self.name())),
        }
    }

    fn is_active(&self, code: &str) -> bool {
        self.refusal(code).is_none()
    }

    fn name(&self) -> String {
        format!("{} ({})", self.value_set_id, self.value_set_date)
    }
}

/// One entry of `vaccine-encoding-instructions.json`.
#[derive(Debug, Deserialize)]
pub struct EncodingInstruction {
    /// `mp`.
    #[serde(rename = "vaccine-code")]
    pub product: String,
    /// The `ma` to use with this `mp`.
    #[serde(rename = "vaccine-manufacturer")]
    pub manufacturer: String,
    /// The `vp` codes allowed with this `mp`.
    #[serde(rename = "sct-codes")]
    pub vaccine_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Instructions {
    #[serde(rename = "valueSetValues")]
    by_name: HashMap<String, EncodingInstruction>,
}

/// The instructions allow this SNOMED code ("COVID-19 vaccine") with every
/// product; the other allowed code names the platform (mRNA, viral vector,
/// ...), so we prefer that one when the registry's code is not allowed.
const GENERIC_VACCINE_TYPE: &str = "28531000087107";

/// The value sets a certificate's codes are checked against.
#[derive(Debug)]
pub struct ValueSets {
    pub disease: ValueSet,
    pub vaccine_type: ValueSet,
    pub product: ValueSet,
    pub manufacturer: ValueSet,
    pub country: ValueSet,
    pub test_type: ValueSet,
    pub test_result: ValueSet,
    /// By `mp`.
    pub instructions: HashMap<String, EncodingInstruction>,
}

static OFFICIAL: LazyLock<ValueSets> = LazyLock::new(|| {
    macro_rules! set {
        ($file:literal) => {
            ValueSet::parse(include_str!(concat!("../../data/dcc/valuesets/", $file)))
        };
    }
    let instructions: Instructions = serde_json::from_str(include_str!(
        "../../data/dcc/valuesets/vaccine-encoding-instructions.json"
    ))
    .expect("embedded encoding instructions parse (unit-tested)");
    ValueSets {
        disease: set!("disease-agent-targeted.json"),
        vaccine_type: set!("vaccine-prophylaxis.json"),
        product: set!("vaccine-medicinal-product.json"),
        manufacturer: set!("vaccine-mah-manf.json"),
        country: set!("country-2-codes.json"),
        test_type: set!("test-type.json"),
        test_result: set!("test-result.json"),
        instructions: instructions
            .by_name
            .into_values()
            .map(|i| (i.product.clone(), i))
            .collect(),
    }
});

/// Why a registry record cannot be put into a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CodingError {
    pub field: &'static str,
    pub reason: String,
}

impl ValueSets {
    /// Release 2.12.0, as shipped in `data/dcc/valuesets/`.
    pub fn official() -> &'static ValueSets {
        &OFFICIAL
    }

    /// The display name of a vaccination code (`tg`, `vp`, `mp`, `ma`), for
    /// the printed page.
    pub fn display(&self, code: &str) -> Option<&str> {
        [
            &self.disease,
            &self.vaccine_type,
            &self.product,
            &self.manufacturer,
        ]
        .into_iter()
        .find_map(|set| set.value_set_values.get(code))
        .map(|e| e.display.as_str())
    }

    /// The record with every coded field taken from active value-set
    /// entries and consistent with the encoding instructions.
    pub fn code_vaccination(
        &self,
        record: &VaccinationRecord,
    ) -> Result<VaccinationRecord, CodingError> {
        let refuse = |field, reason| Err(CodingError { field, reason });
        if let Some(why) = self.disease.refusal(&record.disease) {
            return refuse("tg", why);
        }
        if let Some(why) = self.product.refusal(&record.product) {
            return refuse("mp", why);
        }
        if let Some(why) = self.country.refusal(&record.country) {
            return refuse("co", why);
        }
        let Some(rule) = self.instructions.get(&record.product) else {
            return refuse(
                "mp",
                format!("{:?} has no vaccine encoding instruction", record.product),
            );
        };
        if let Some(why) = self.manufacturer.refusal(&rule.manufacturer) {
            return refuse("ma", why);
        }
        let allowed: Vec<&str> = rule
            .vaccine_types
            .iter()
            .map(String::as_str)
            .filter(|c| self.vaccine_type.is_active(c))
            .collect();
        let vaccine = if allowed.contains(&record.vaccine.as_str()) {
            record.vaccine.as_str()
        } else if let Some(&specific) = allowed.iter().find(|&&c| c != GENERIC_VACCINE_TYPE) {
            specific
        } else if let Some(&first) = allowed.first() {
            first
        } else {
            return refuse(
                "vp",
                format!("no active code allowed for {:?}", record.product),
            );
        };
        Ok(VaccinationRecord {
            vaccine: vaccine.to_owned(),
            manufacturer: rule.manufacturer.clone(),
            ..record.clone()
        })
    }

    /// Every coded field of a decoded hcert payload (the JSON form of CWT
    /// claim -260/1) that an issuer must not put into a new certificate,
    /// as `path: reason` lines. Empty when all codes are fine.
    pub fn problems(&self, hcert: &serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        let mut check =
            |path: String, value: Option<&serde_json::Value>, set: &ValueSet| match value
                .and_then(|v| v.as_str())
            {
                Some(code) => {
                    if let Some(why) = set.refusal(code) {
                        out.push(format!("{path}: {why}"));
                    }
                }
                None => out.push(format!("{path}: missing")),
            };
        let entries = |group: &str| -> Vec<serde_json::Value> {
            hcert
                .get(group)
                .and_then(|g| g.as_array())
                .cloned()
                .unwrap_or_default()
        };
        let v = entries("v");
        for (i, e) in v.iter().enumerate() {
            let at = |f: &str| format!("v[{i}].{f}");
            check(at("tg"), e.get("tg"), &self.disease);
            check(at("vp"), e.get("vp"), &self.vaccine_type);
            check(at("mp"), e.get("mp"), &self.product);
            check(at("ma"), e.get("ma"), &self.manufacturer);
            check(at("co"), e.get("co"), &self.country);
        }
        for (i, e) in entries("t").iter().enumerate() {
            let at = |f: &str| format!("t[{i}].{f}");
            check(at("tg"), e.get("tg"), &self.disease);
            check(at("tt"), e.get("tt"), &self.test_type);
            check(at("tr"), e.get("tr"), &self.test_result);
            check(at("co"), e.get("co"), &self.country);
        }
        for (i, e) in entries("r").iter().enumerate() {
            let at = |f: &str| format!("r[{i}].{f}");
            check(at("tg"), e.get("tg"), &self.disease);
            check(at("co"), e.get("co"), &self.country);
        }
        // The encoding instructions tie `ma` and `vp` to `mp`.
        for (i, e) in v.iter().enumerate() {
            let field = |f: &str| e.get(f).and_then(|v| v.as_str()).unwrap_or_default();
            let (mp, ma, vp) = (field("mp"), field("ma"), field("vp"));
            let Some(rule) = self.instructions.get(mp) else {
                out.push(format!(
                    "v[{i}].mp: {mp:?} has no vaccine encoding instruction"
                ));
                continue;
            };
            if ma != rule.manufacturer {
                out.push(format!(
                    "v[{i}].ma: {ma:?}, but the encoding instructions give {:?} for mp {mp:?}",
                    rule.manufacturer
                ));
            }
            if !rule.vaccine_types.iter().any(|c| c == vp) {
                out.push(format!(
                    "v[{i}].vp: {vp:?} is not allowed for mp {mp:?} by the encoding instructions (allowed: {})",
                    rule.vaccine_types.join(", ")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_codes_as_the_value_sets_do() {
        let sets = ValueSets::official();
        // The platform code a retired J07BX03 becomes, and Jcovden's current name.
        assert_eq!(
            sets.display("29061000087103"),
            Some("COVID-19 non-replicating viral vector vaccine")
        );
        assert_eq!(sets.display("EU/1/20/1525"), Some("Jcovden"));
        assert_eq!(
            sets.display("ORG-100030215"),
            Some("Biontech Manufacturing GmbH")
        );
        assert_eq!(sets.display("no such code"), None);
    }

    fn record(vaccine: &str, product: &str, manufacturer: &str) -> VaccinationRecord {
        VaccinationRecord {
            disease: "840539006".into(),
            vaccine: vaccine.into(),
            product: product.into(),
            manufacturer: manufacturer.into(),
            dose_number: 1,
            total_doses: 2,
            date: "2021-05-01".into(),
            country: "NL".into(),
            issuer: "x".into(),
        }
    }

    #[test]
    fn embedded_sets_parse_with_their_release_dates() {
        let s = ValueSets::official();
        assert_eq!(s.vaccine_type.value_set_date, "2023-01-25");
        assert_eq!(s.product.value_set_id, "vaccines-covid-19-names");
        assert_eq!(s.country.value_set_values.len(), 250);
        assert!(s.instructions.contains_key("EU/1/21/1529"));
    }

    #[test]
    fn allowed_registry_code_is_kept() {
        let s = ValueSets::official();
        let r = record("1119349007", "EU/1/20/1528", "ORG-100030215");
        assert_eq!(s.code_vaccination(&r).unwrap(), r);
    }

    #[test]
    fn retired_atc_code_becomes_the_platform_code() {
        // Issue 22: Vaxzevria came with the deprecated J07BX03.
        let s = ValueSets::official();
        let r = record("J07BX03", "EU/1/21/1529", "ORG-100001699");
        let coded = s.code_vaccination(&r).unwrap();
        assert_eq!(coded.vaccine, "29061000087103");
        assert_eq!(coded.manufacturer, "ORG-100001699");
        assert!(s.problems(&hcert_of(&coded)).is_empty());
    }

    #[test]
    fn manufacturer_follows_the_instructions() {
        let s = ValueSets::official();
        let r = record("1119349007", "EU/1/20/1507", "ORG-100030215");
        assert_eq!(
            s.code_vaccination(&r).unwrap().manufacturer,
            "ORG-100031184"
        );
    }

    #[test]
    fn refuses_what_has_no_active_entry() {
        let s = ValueSets::official();
        let field = |r: VaccinationRecord| s.code_vaccination(&r).unwrap_err().field;
        // Inactive product, unknown product, unknown disease, unknown country.
        assert_eq!(
            field(record("1162643001", "NVX-CoV2373", "ORG-100032020")),
            "mp"
        );
        assert_eq!(field(record("1119349007", "EU/9/99/9999", "x")), "mp");
        let mut r = record("1119349007", "EU/1/20/1528", "ORG-100030215");
        r.disease = "12345".into();
        assert_eq!(field(r.clone()), "tg");
        r.disease = "840539006".into();
        r.country = "XX".into();
        assert_eq!(field(r), "co");
    }

    fn hcert_of(r: &VaccinationRecord) -> serde_json::Value {
        serde_json::json!({"v": [{
            "tg": r.disease, "vp": r.vaccine, "mp": r.product,
            "ma": r.manufacturer, "co": r.country,
        }]})
    }

    #[test]
    fn problems_name_inactive_and_inconsistent_codes() {
        let s = ValueSets::official();
        let bad = hcert_of(&record("J07BX03", "EU/1/21/1529", "ORG-100001699"));
        let p = s.problems(&bad);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("v[0].vp: \"J07BX03\""), "{p:?}");
        assert!(p[0].contains("inactive"), "{p:?}");
        assert!(
            p[1].contains("not allowed for mp \"EU/1/21/1529\""),
            "{p:?}"
        );

        let test = serde_json::json!({"t": [{"tg": "840539006", "tt": "LP6464-4", "tr": "1", "co": "NL"}]});
        assert_eq!(
            s.problems(&test),
            ["t[0].tr: \"1\" is not in covid-19-lab-result (2021-04-27)"]
        );
        let rec = serde_json::json!({"r": [{"tg": "840539006"}]});
        assert_eq!(s.problems(&rec), ["r[0].co: missing"]);
    }
}
