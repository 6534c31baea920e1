//! Who is never queued: bypass paths (prefixes, and the subset forwarded to
//! the origin without a ticket), and the operator's bypass rules by client
//! address range, by a request header, or by country ([`BypassRules`]).
//!
//! The rules are for the room's own people and partners (the call centre's
//! tool sends a secret header, the office's address range, a country the
//! launch is not for), so each match says which rule kind let the request
//! through ([`BypassMatch`]): the edge counts "bypassed per minute" per kind
//! instead of letting a rule hide traffic. A rule that would let anyone
//! through by accident is refused: a `/0` range, a range with host bits set
//! (a typo for another range), a header value short enough to guess.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ConfigError;

/// Default bypass prefixes: never queued.
pub const DEFAULT_BYPASS_PATHS: &str = "/healthz,/.well-known/dcc/keys,/assets/";
/// Default prefixes forwarded to the origin without a ticket.
pub const DEFAULT_BYPASS_FORWARD: &str = "/.well-known/dcc/keys";

/// What a bypass path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    /// Not a bypass path: queue rules apply.
    No,
    /// Never queued; forwarded to the origin without a ticket.
    Origin,
    /// Never queued; answered by the edge (health, static files), never
    /// forwarded.
    Edge,
}

/// Whether `path` is under `prefix`: equal, or below it on a segment
/// boundary (`/healthz` covers `/healthz/x` but not `/healthzz`).
pub fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || !prefix.starts_with('/') {
        return false;
    }
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Parses a comma-separated prefix list (blank entries and entries not
/// starting with `/` dropped).
pub fn parse_prefixes(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| p.starts_with('/') && p.len() > 1)
        .map(str::to_owned)
        .collect()
}

/// Classifies `path` under the bypass prefixes and the subset allowed to
/// reach the origin without a ticket. An `allowed_to_origin` prefix that is
/// not also a bypass prefix does nothing: forwarding is an exception to
/// bypass, never to the queue.
pub fn classify_bypass(path: &str, bypass: &[String], allowed_to_origin: &[String]) -> Bypass {
    if !bypass.iter().any(|p| path_has_prefix(path, p)) {
        return Bypass::No;
    }
    if allowed_to_origin.iter().any(|p| path_has_prefix(path, p)) {
        Bypass::Origin
    } else {
        Bypass::Edge
    }
}

/// Most rules of each kind (a list to check on every request).
pub const MAX_BYPASS_RULES: usize = 32;
/// Shortest header value: a bypass header is a password.
pub const MIN_HEADER_VALUE_CHARS: usize = 16;
/// Longest header value (what every proxy passes on).
pub const MAX_HEADER_VALUE_CHARS: usize = 256;

/// The operator's bypass rules (`PUT /admin/config {"bypass_rules": …}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BypassRules {
    /// Client address ranges (`"203.0.113.0/24"`, `"2001:db8::/32"`).
    pub cidrs: Vec<IpNet>,
    /// Requests carrying this header with exactly this value.
    pub headers: Vec<HeaderRule>,
    /// ISO 3166-1 alpha-2 codes as the edge sees them (`request.cf.country`).
    pub countries: Vec<String>,
}

/// A header that lets a request bypass the queue. Its name is compared as
/// HTTP does (case-insensitively: the edge's lookup), its value exactly and
/// in constant time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    pub name: String,
    pub value: String,
}

/// Which kind of rule let a request through (the stats count per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BypassKind {
    Cidr,
    Header,
    Country,
}

impl BypassKind {
    pub const ALL: [BypassKind; 3] = [BypassKind::Cidr, BypassKind::Header, BypassKind::Country];

    /// The name in stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BypassKind::Cidr => "cidr",
            BypassKind::Header => "header",
            BypassKind::Country => "country",
        }
    }
}

/// The rule that matched: its kind and its index in that kind's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BypassMatch {
    pub kind: BypassKind,
    pub index: usize,
}

/// What the edge knows of a request, as the rules need it.
pub struct RequestFacts<'a> {
    /// The client's address (`CF-Connecting-IP`), if known.
    pub client_ip: Option<IpAddr>,
    /// `request.cf.country`, if known.
    pub country: Option<&'a str>,
    /// The value of a request header, by name (asked only for the names
    /// the rules use, so the edge need not copy every header).
    pub header: &'a dyn Fn(&str) -> Option<String>,
}

impl BypassRules {
    /// Whether any rule is set (the edge skips looking otherwise).
    pub fn is_empty(&self) -> bool {
        self.cidrs.is_empty() && self.headers.is_empty() && self.countries.is_empty()
    }

    /// The first rule the request matches, checked by kind in the order of
    /// [`BypassKind::ALL`] (address, header, country).
    pub fn matches(&self, facts: &RequestFacts<'_>) -> Option<BypassMatch> {
        let found = |kind, index: Option<usize>| index.map(|index| BypassMatch { kind, index });
        if let Some(ip) = facts.client_ip {
            // An IPv4 client may show as `::ffff:a.b.c.d`.
            let v4 = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
                IpAddr::V4(_) => None,
            };
            let hit = self
                .cidrs
                .iter()
                .position(|net| net.contains(&ip) || v4.is_some_and(|v4| net.contains(&v4)));
            if hit.is_some() {
                return found(BypassKind::Cidr, hit);
            }
        }
        let hit = self.headers.iter().position(|rule| {
            (facts.header)(&rule.name).is_some_and(|got| same_secret(&got, &rule.value))
        });
        if hit.is_some() {
            return found(BypassKind::Header, hit);
        }
        let country = facts.country?;
        found(
            BypassKind::Country,
            self.countries
                .iter()
                .position(|c| c.eq_ignore_ascii_case(country)),
        )
    }

    /// Rejects rules that cannot be meant; errors name the rule
    /// (`bypass_rules.cidrs[1]`, `bypass_rules.headers[0].value`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: String, message: String| Err(ConfigError { field, message });
        for (kind, n) in [
            ("cidrs", self.cidrs.len()),
            ("headers", self.headers.len()),
            ("countries", self.countries.len()),
        ] {
            if n > MAX_BYPASS_RULES {
                return err(
                    format!("bypass_rules.{kind}"),
                    format!("at most {MAX_BYPASS_RULES} rules, got {n}"),
                );
            }
        }
        for (i, net) in self.cidrs.iter().enumerate() {
            let at = format!("bypass_rules.cidrs[{i}]");
            if net.prefix_len() == 0 {
                return err(
                    at,
                    "would bypass every address (use mode passthrough)".into(),
                );
            }
            if net.trunc() != *net {
                return err(
                    at,
                    format!("has host bits set: did you mean {}?", net.trunc()),
                );
            }
        }
        for (i, rule) in self.headers.iter().enumerate() {
            let at = format!("bypass_rules.headers[{i}]");
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if rule.name.is_empty() || rule.name.len() > 64 || !rule.name.chars().all(token) {
                return err(
                    format!("{at}.name"),
                    "must be an HTTP header name (1 to 64 letters, digits, - and _)".into(),
                );
            }
            let chars = rule.value.chars().count();
            if !(MIN_HEADER_VALUE_CHARS..=MAX_HEADER_VALUE_CHARS).contains(&chars)
                || !rule.value.chars().all(|c| c.is_ascii_graphic())
            {
                return err(
                    format!("{at}.value"),
                    format!(
                        "must be {MIN_HEADER_VALUE_CHARS} to {MAX_HEADER_VALUE_CHARS} visible ASCII characters (it is a password), got {chars}"
                    ),
                );
            }
        }
        for (i, c) in self.countries.iter().enumerate() {
            let b = c.as_bytes();
            if !(b.len() == 2 && b[0].is_ascii_uppercase() && b[1].is_ascii_alphanumeric()) {
                return err(
                    format!("bypass_rules.countries[{i}]"),
                    format!("{c:?} is not a country code (two capital letters, ISO 3166-1)"),
                );
            }
        }
        Ok(())
    }
}

/// Equality of a received header value and the secret, in constant time:
/// both are hashed first, so neither the content nor the length of the
/// secret shows in how long the comparison takes.
fn same_secret(got: &str, secret: &str) -> bool {
    let (a, b) = (
        Sha256::digest(got.as_bytes()),
        Sha256::digest(secret.as_bytes()),
    );
    a.as_slice().ct_eq(b.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_matches_on_segment_boundaries() {
        let bypass = parse_prefixes(DEFAULT_BYPASS_PATHS);
        let fwd = parse_prefixes(DEFAULT_BYPASS_FORWARD);
        assert_eq!(classify_bypass("/healthz", &bypass, &fwd), Bypass::Edge);
        assert_eq!(classify_bypass("/healthzz", &bypass, &fwd), Bypass::No);
        assert_eq!(
            classify_bypass("/assets/app.css", &bypass, &fwd),
            Bypass::Edge
        );
        assert_eq!(classify_bypass("/assets", &bypass, &fwd), Bypass::No);
        assert_eq!(
            classify_bypass("/.well-known/dcc/keys", &bypass, &fwd),
            Bypass::Origin
        );
        assert_eq!(classify_bypass("/api/passports", &bypass, &fwd), Bypass::No);
        assert_eq!(classify_bypass("/", &bypass, &fwd), Bypass::No);
        // Forwarding needs bypass too: it never skips the queue on its own.
        let only_fwd = parse_prefixes("/api/");
        assert_eq!(
            classify_bypass("/api/passports", &bypass, &only_fwd),
            Bypass::No
        );
        assert_eq!(parse_prefixes(" /a , ,b,/ ,/c/"), vec!["/a", "/c/"]);
    }

    const SECRET: &str = "call-centre-7f3a9c2e";

    fn rules() -> BypassRules {
        serde_json::from_value(serde_json::json!({
            "cidrs": ["203.0.113.0/24", "2001:db8::/32"],
            "headers": [{"name": "X-Call-Centre", "value": SECRET}],
            "countries": ["AQ"],
        }))
        .unwrap()
    }

    fn check(ip: Option<&str>, country: Option<&str>, header: Option<&str>) -> Option<BypassKind> {
        let value = header.map(str::to_owned);
        let lookup = move |name: &str| {
            // The edge's lookup is case-insensitive, as HTTP is.
            name.eq_ignore_ascii_case("x-call-centre")
                .then(|| value.clone())
                .flatten()
        };
        rules()
            .matches(&RequestFacts {
                client_ip: ip.map(|ip| ip.parse().unwrap()),
                country,
                header: &lookup,
            })
            .map(|m| m.kind)
    }

    #[test]
    fn each_rule_kind_matches_and_says_so() {
        use BypassKind::*;
        assert_eq!(check(Some("203.0.113.77"), None, None), Some(Cidr));
        assert_eq!(check(Some("::ffff:203.0.113.9"), None, None), Some(Cidr));
        assert_eq!(check(Some("2001:db8:1::5"), None, None), Some(Cidr));
        assert_eq!(check(Some("203.0.114.1"), None, None), None);
        assert_eq!(check(Some("2001:db9::1"), None, None), None);
        assert_eq!(check(None, None, Some(SECRET)), Some(Header));
        assert_eq!(check(None, None, Some("call-centre-7f3a9c2f")), None);
        assert_eq!(check(None, None, Some("call-centre-7f3a9c2e ")), None);
        assert_eq!(check(None, None, Some("")), None);
        assert_eq!(check(None, Some("AQ"), None), Some(Country));
        assert_eq!(check(None, Some("aq"), None), Some(Country));
        assert_eq!(check(Some("198.51.100.1"), Some("ES"), None), None);
        // The first kind in order wins, and the index is that kind's.
        let m = rules().matches(&RequestFacts {
            client_ip: Some("2001:db8::1".parse().unwrap()),
            country: Some("AQ"),
            header: &|_| None,
        });
        assert_eq!(
            m,
            Some(BypassMatch {
                kind: Cidr,
                index: 1
            })
        );
        assert!(BypassRules::default()
            .matches(&RequestFacts {
                client_ip: Some("203.0.113.1".parse().unwrap()),
                country: Some("AQ"),
                header: &|_| Some(SECRET.into()),
            })
            .is_none());
        assert_eq!(
            BypassKind::ALL.map(BypassKind::as_str),
            ["cidr", "header", "country"]
        );
    }

    fn refused(v: serde_json::Value) -> String {
        let r: BypassRules = serde_json::from_value(v).unwrap();
        r.validate().unwrap_err().field
    }

    #[test]
    fn rules_that_let_anyone_through_are_refused_by_name() {
        use serde_json::json;
        assert!(rules().validate().is_ok());
        assert_eq!(
            refused(json!({"cidrs": ["10.0.0.0/8", "0.0.0.0/0"]})),
            "bypass_rules.cidrs[1]"
        );
        assert_eq!(refused(json!({"cidrs": ["::/0"]})), "bypass_rules.cidrs[0]");
        assert_eq!(
            refused(json!({"cidrs": ["10.0.0.1/8"]})),
            "bypass_rules.cidrs[0]"
        );
        assert_eq!(
            refused(json!({"headers": [{"name": "X-A", "value": "short"}]})),
            "bypass_rules.headers[0].value"
        );
        assert_eq!(
            refused(json!({"headers": [{"name": "X A", "value": SECRET}]})),
            "bypass_rules.headers[0].name"
        );
        assert_eq!(
            refused(json!({"headers": [{"name": "X-A", "value": "é".repeat(20)}]})),
            "bypass_rules.headers[0].value"
        );
        assert_eq!(
            refused(json!({"countries": ["ES", "Spain"]})),
            "bypass_rules.countries[1]"
        );
        assert_eq!(
            refused(json!({"countries": ["es"]})),
            "bypass_rules.countries[0]"
        );
        let many: Vec<String> = (0..33).map(|i| format!("10.{i}.0.0/16")).collect();
        assert_eq!(refused(json!({ "cidrs": many })), "bypass_rules.cidrs");
        assert!(serde_json::from_value::<BypassRules>(json!({"cidrs": ["10.0.0.0/33"]})).is_err());
        assert!(serde_json::from_value::<BypassRules>(json!({"ips": []})).is_err());
    }
}
