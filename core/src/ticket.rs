//! Signed waiting and admission tickets.
//!
//! # Format
//!
//! ```text
//! v1.<kid>.<payload>.<mac>
//! ```
//!
//! - `kid`: which key of the [`KeyRing`] signed it, `[A-Za-z0-9_-]{1,16}`.
//! - `payload`: base64url (no padding) of compact JSON with a kind tag,
//!   `{"k":"w",...}` for a waiting ticket, `{"k":"a",...}` for an admission
//!   ticket (field names are short to keep the cookie small; see the private `Wire` enum below).
//! - `mac`: base64url (no padding) of HMAC-SHA256 over the exact received
//!   bytes `v1.<kid>.<payload>`.
//!
//! The whole ticket is at most [`MAX_TICKET_LEN`] bytes, and uses only
//! cookie-safe characters.
//!
//! # Order of checks
//!
//! The types enforce it: [`UntrustedTicket::parse`] looks only at the shape;
//! [`UntrustedTicket::verify`] finds the key, checks the MAC in constant time
//! over the bytes as received, and only then decodes the payload, checks the
//! room, the expiry and the not-before time. Only a [`VerifiedTicket`]
//! exposes claims; the kind (waiting vs admission) is checked when the caller
//! says which one it wants ([`VerifiedTicket::into_admission`],
//! [`verify_admission`]).
//!
//! # Time
//!
//! - Expiry has **no leeway**: a ticket is expired when
//!   `now_ms >= expires_ms`, i.e. `expires_ms` is the first millisecond at
//!   which it is no longer valid. The signer controls the lifetime, so any
//!   leeway would only be a silent extension of it.
//! - Not-before has [`NOT_BEFORE_LEEWAY_MS`] of leeway (valid when
//!   `not_before_ms <= now_ms + 30 s`), because a ticket minted at the edge
//!   may be checked a moment later on an origin whose clock is slightly
//!   behind. For a waiting ticket the not-before time is its `issued_ms`.
//!
//! # Errors
//!
//! [`TicketError`] says exactly which check failed, for logs and tests. The
//! adapters (edge, origin) must not pass that detail on to clients.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secret::{decode_secret, SecretError};

type HmacSha256 = Hmac<Sha256>;

/// Longest ticket accepted (and produced, for sane claims). Well under the
/// 4 KiB cookie limit, and it bounds the work an attacker can ask for.
pub const MAX_TICKET_LEN: usize = 512;
/// How far in the future a not-before time may be and still be accepted.
pub const NOT_BEFORE_LEEWAY_MS: u64 = 30_000;
/// The only format version this code signs and accepts.
pub const VERSION: &str = "v1";
/// Longest key id.
pub const MAX_KID_LEN: usize = 16;

/// Why a ticket was refused. Precise on purpose: for logs and tests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not the shape of a ticket: too long, wrong number of segments, bad
    /// characters, undecodable base64, or (after the MAC) a payload that is
    /// not the claims JSON.
    #[error("ticket is malformed")]
    Malformed,
    /// Shaped like `vN.` with a version other than `v1`.
    #[error("ticket version is not supported")]
    UnsupportedVersion,
    /// The `kid` is not in the key ring (never existed, or retired).
    #[error("ticket key id is not in the key ring")]
    UnknownKey,
    /// The MAC does not match (including a MAC of the wrong length).
    #[error("ticket MAC does not match")]
    BadMac,
    /// `now_ms >= expires_ms`.
    #[error("ticket has expired")]
    Expired,
    /// The not-before time is more than the leeway in the future.
    #[error("ticket is not valid yet")]
    NotYetValid,
    /// Signed for another room.
    #[error("ticket is for another room")]
    WrongRoom,
    /// A waiting ticket where an admission ticket is required, or vice versa.
    #[error("ticket is of the wrong kind")]
    WrongKind,
}

impl TicketError {
    /// Every variant, in declaration order.
    pub const ALL: [TicketError; 8] = [
        TicketError::Malformed,
        TicketError::UnsupportedVersion,
        TicketError::UnknownKey,
        TicketError::BadMac,
        TicketError::Expired,
        TicketError::NotYetValid,
        TicketError::WrongRoom,
        TicketError::WrongKind,
    ];

    /// The variant's name, as used in `tests/vectors/tickets.json` and logs.
    pub fn code(self) -> &'static str {
        match self {
            TicketError::Malformed => "Malformed",
            TicketError::UnsupportedVersion => "UnsupportedVersion",
            TicketError::UnknownKey => "UnknownKey",
            TicketError::BadMac => "BadMac",
            TicketError::Expired => "Expired",
            TicketError::NotYetValid => "NotYetValid",
            TicketError::WrongRoom => "WrongRoom",
            TicketError::WrongKind => "WrongKind",
        }
    }
}

/// Why a key ring spec was refused. Never contains secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("key ring is empty")]
    Empty,
    #[error("key ring entry {index} is not `kid:secret`")]
    MalformedEntry { index: usize },
    #[error("key ring entry {index}: kid must be 1 to 16 characters of [A-Za-z0-9_-]")]
    BadKid { index: usize },
    #[error("key ring entry {index}: kid is listed twice")]
    DuplicateKid { index: usize },
    #[error("key ring entry {index}: {source}")]
    BadSecret { index: usize, source: SecretError },
}

struct RingKey {
    kid: String,
    /// HMAC state already keyed with the secret: cloning it skips the key
    /// schedule on every sign and verify.
    mac: HmacSha256,
}

/// The keys tickets are signed and verified with, by key id.
///
/// The first key signs; every listed key verifies (rotation overlap). A key
/// removed from the spec is retired: its tickets get [`TicketError::UnknownKey`].
///
/// Rotation: deploy `new:S2,old:S1` (new tickets use `new`, old ones still
/// verify), wait for the longest ticket lifetime, then deploy `new:S2`.
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Parses `"kid1:BASE64URL_SECRET,kid0:BASE64URL_SECRET"` (a secret
    /// from configuration). The first entry is the signing key. Whitespace
    /// around entries is ignored. Secrets must be at least
    /// [`crate::secret::MIN_SECRET_LEN`] bytes.
    pub fn parse(spec: &str) -> Result<KeyRing, KeyRingError> {
        let spec = spec.trim_ascii();
        if spec.is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut keys: Vec<RingKey> = Vec::new();
        for (index, entry) in spec.split(',').enumerate() {
            let (kid, secret) = entry
                .trim_ascii()
                .split_once(':')
                .ok_or(KeyRingError::MalformedEntry { index })?;
            if !is_valid_kid(kid) {
                return Err(KeyRingError::BadKid { index });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeyRingError::DuplicateKid { index });
            }
            let secret = decode_secret(secret)
                .map_err(|source| KeyRingError::BadSecret { index, source })?;
            let mac = HmacSha256::new_from_slice(&secret).expect("HMAC accepts keys of any length");
            keys.push(RingKey {
                kid: kid.to_owned(),
                mac,
            });
        }
        Ok(KeyRing { keys })
    }

    /// The key id new tickets are signed with.
    pub fn signing_kid(&self) -> &str {
        &self.signing_key().kid
    }

    /// Every key id accepted for verification, signing key first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    fn signing_key(&self) -> &RingKey {
        // `parse` refuses an empty ring.
        &self.keys[0]
    }

    fn find(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

fn is_valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A place in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingClaims {
    pub ticket_id: String,
    pub room: String,
    /// The QueueShard that holds this entry.
    pub shard: u32,
    /// Arrival sequence number within the shard.
    pub seq: u64,
    pub arrived_ms: u64,
    pub issued_ms: u64,
    pub expires_ms: u64,
    /// The hash of the browser's secret ([`crate::client_binding`]); empty
    /// in a ticket made without one, which the edge refuses.
    #[serde(default)]
    pub client: String,
}

/// Admitted: may use the protected application until `expires_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionClaims {
    pub ticket_id: String,
    pub room: String,
    pub shard: u32,
    /// Binds the ticket to one browser session.
    pub session_id: String,
    pub not_before_ms: u64,
    pub expires_ms: u64,
    /// As in [`WaitingClaims::client`].
    #[serde(default)]
    pub client: String,
}

/// The claims of either kind of ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claims {
    Waiting(WaitingClaims),
    Admission(AdmissionClaims),
}

impl Claims {
    pub fn room(&self) -> &str {
        match self {
            Claims::Waiting(c) => &c.room,
            Claims::Admission(c) => &c.room,
        }
    }

    pub fn ticket_id(&self) -> &str {
        match self {
            Claims::Waiting(c) => &c.ticket_id,
            Claims::Admission(c) => &c.ticket_id,
        }
    }

    pub fn expires_ms(&self) -> u64 {
        match self {
            Claims::Waiting(c) => c.expires_ms,
            Claims::Admission(c) => c.expires_ms,
        }
    }

    /// The browser binding ([`crate::client_binding`]).
    pub fn client(&self) -> &str {
        match self {
            Claims::Waiting(c) => &c.client,
            Claims::Admission(c) => &c.client,
        }
    }

    /// When the ticket starts being valid (before leeway): `issued_ms` for a
    /// waiting ticket, `not_before_ms` for an admission ticket.
    pub fn not_before_ms(&self) -> u64 {
        match self {
            Claims::Waiting(c) => c.issued_ms,
            Claims::Admission(c) => c.not_before_ms,
        }
    }
}

/// The JSON inside a ticket. Short names keep tickets well under
/// [`MAX_TICKET_LEN`]; unknown fields are refused (the format is versioned,
/// so there is nothing to be lenient about).
///
/// | kind | JSON | claims field |
/// |---|---|---|
/// | both | `k` | `"w"` waiting, `"a"` admission |
/// | both | `id`, `r`, `sh`, `exp` | `ticket_id`, `room`, `shard`, `expires_ms` |
/// | waiting | `sq`, `arr`, `iat` | `seq`, `arrived_ms`, `issued_ms` |
/// | admission | `sid`, `nbf` | `session_id`, `not_before_ms` |
/// | both, optional | `cl` | `client` (absent when empty) |
#[derive(Serialize, Deserialize)]
#[serde(tag = "k", deny_unknown_fields)]
enum Wire {
    #[serde(rename = "w")]
    Waiting {
        id: String,
        r: String,
        sh: u32,
        sq: u64,
        arr: u64,
        iat: u64,
        exp: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        cl: String,
    },
    #[serde(rename = "a")]
    Admission {
        id: String,
        r: String,
        sh: u32,
        sid: String,
        nbf: u64,
        exp: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        cl: String,
    },
}

impl From<&Claims> for Wire {
    fn from(claims: &Claims) -> Wire {
        match claims.clone() {
            Claims::Waiting(c) => Wire::Waiting {
                id: c.ticket_id,
                r: c.room,
                sh: c.shard,
                sq: c.seq,
                arr: c.arrived_ms,
                iat: c.issued_ms,
                exp: c.expires_ms,
                cl: c.client,
            },
            Claims::Admission(c) => Wire::Admission {
                id: c.ticket_id,
                r: c.room,
                sh: c.shard,
                sid: c.session_id,
                nbf: c.not_before_ms,
                exp: c.expires_ms,
                cl: c.client,
            },
        }
    }
}

impl From<Wire> for Claims {
    fn from(wire: Wire) -> Claims {
        match wire {
            Wire::Waiting {
                id,
                r,
                sh,
                sq,
                arr,
                iat,
                exp,
                cl,
            } => Claims::Waiting(WaitingClaims {
                ticket_id: id,
                room: r,
                shard: sh,
                seq: sq,
                arrived_ms: arr,
                issued_ms: iat,
                expires_ms: exp,
                client: cl,
            }),
            Wire::Admission {
                id,
                r,
                sh,
                sid,
                nbf,
                exp,
                cl,
            } => Claims::Admission(AdmissionClaims {
                ticket_id: id,
                room: r,
                shard: sh,
                session_id: sid,
                not_before_ms: nbf,
                expires_ms: exp,
                client: cl,
            }),
        }
    }
}

/// Signs `claims` with the ring's signing key: `v1.<kid>.<payload>.<mac>`.
///
/// Keep ids, room and session id short (a few dozen ASCII characters each):
/// a ticket longer than [`MAX_TICKET_LEN`] would be refused by
/// [`UntrustedTicket::parse`]. With fields of up to 64 ASCII characters the
/// longest ticket is well under the limit (tested).
pub fn sign(ring: &KeyRing, claims: &Claims) -> String {
    let key = ring.signing_key();
    let json = serde_json::to_vec(&Wire::from(claims)).expect("claims always serialize to JSON");
    let mut ticket = String::with_capacity(MAX_TICKET_LEN);
    ticket.push_str(VERSION);
    ticket.push('.');
    ticket.push_str(&key.kid);
    ticket.push('.');
    URL_SAFE_NO_PAD.encode_string(&json, &mut ticket);
    let mut mac = key.mac.clone();
    mac.update(ticket.as_bytes());
    let tag = mac.finalize().into_bytes();
    ticket.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut ticket);
    debug_assert!(
        ticket.len() <= MAX_TICKET_LEN,
        "signed a ticket that verify will refuse as too long"
    );
    ticket
}

/// A ticket as received: only its shape has been checked. Exposes no claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntrustedTicket<'a> {
    /// `v1.<kid>.<payload>`: exactly the bytes the MAC covers.
    signed: &'a str,
    kid: &'a str,
    payload: &'a str,
    mac: &'a str,
}

impl<'a> UntrustedTicket<'a> {
    /// Checks the shape only: length, version, four `.`-separated segments,
    /// a well-formed kid, and base64url characters in payload and MAC.
    /// Decodes nothing.
    ///
    /// A first segment of the form `v<digits>` other than `v1` is
    /// [`TicketError::UnsupportedVersion`]; anything else unexpected is
    /// [`TicketError::Malformed`].
    pub fn parse(raw: &'a str) -> Result<Self, TicketError> {
        if raw.len() > MAX_TICKET_LEN {
            return Err(TicketError::Malformed);
        }
        let (version, rest) = raw.split_once('.').ok_or(TicketError::Malformed)?;
        if version != VERSION {
            return Err(if looks_like_version(version) {
                TicketError::UnsupportedVersion
            } else {
                TicketError::Malformed
            });
        }
        let mut segments = rest.split('.');
        let (Some(kid), Some(payload), Some(mac), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(TicketError::Malformed);
        };
        // An empty MAC is allowed through here so that it is reported like
        // any other MAC of the wrong length (BadMac).
        if !is_valid_kid(kid) || payload.is_empty() || !is_base64url(payload) || !is_base64url(mac)
        {
            return Err(TicketError::Malformed);
        }
        Ok(UntrustedTicket {
            signed: &raw[..raw.len() - mac.len() - 1],
            kid,
            payload,
            mac,
        })
    }

    /// The key id the ticket claims to be signed with (not yet verified).
    pub fn kid(&self) -> &'a str {
        self.kid
    }

    /// Verifies the MAC (constant time, before anything else is decoded),
    /// then the room, the expiry (no leeway) and the not-before time
    /// ([`NOT_BEFORE_LEEWAY_MS`]). Does not check the kind.
    pub fn verify(
        &self,
        ring: &KeyRing,
        now_ms: u64,
        room: &str,
    ) -> Result<VerifiedTicket, TicketError> {
        let key = ring.find(self.kid).ok_or(TicketError::UnknownKey)?;

        // The MAC segment is at most MAX_TICKET_LEN characters, so it
        // decodes into this buffer; only its length decides BadMac.
        let mut tag = [0u8; MAX_TICKET_LEN];
        let tag_len = URL_SAFE_NO_PAD
            .decode_slice(self.mac, &mut tag)
            .map_err(|_| TicketError::Malformed)?;
        let mut mac = key.mac.clone();
        mac.update(self.signed.as_bytes());
        mac.verify_slice(&tag[..tag_len])
            .map_err(|_| TicketError::BadMac)?;

        // Same bound as above: decoding on the stack saves an allocation.
        let mut json = [0u8; MAX_TICKET_LEN];
        let json_len = URL_SAFE_NO_PAD
            .decode_slice(self.payload, &mut json)
            .map_err(|_| TicketError::Malformed)?;
        let wire: Wire =
            serde_json::from_slice(&json[..json_len]).map_err(|_| TicketError::Malformed)?;
        let claims = Claims::from(wire);

        if claims.room() != room {
            return Err(TicketError::WrongRoom);
        }
        if now_ms >= claims.expires_ms() {
            return Err(TicketError::Expired);
        }
        if claims.not_before_ms() > now_ms.saturating_add(NOT_BEFORE_LEEWAY_MS) {
            return Err(TicketError::NotYetValid);
        }
        Ok(VerifiedTicket {
            kid: key.kid.clone(),
            claims,
        })
    }
}

fn looks_like_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A ticket whose MAC, room and validity window have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTicket {
    kid: String,
    claims: Claims,
}

impl VerifiedTicket {
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The key that signed it. When it differs from
    /// [`KeyRing::signing_kid`], the adapter may re-issue the ticket so
    /// that the old key can be retired sooner.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn into_waiting(self) -> Result<WaitingClaims, TicketError> {
        match self.claims {
            Claims::Waiting(c) => Ok(c),
            Claims::Admission(_) => Err(TicketError::WrongKind),
        }
    }

    pub fn into_admission(self) -> Result<AdmissionClaims, TicketError> {
        match self.claims {
            Claims::Admission(c) => Ok(c),
            Claims::Waiting(_) => Err(TicketError::WrongKind),
        }
    }
}

/// Parse, verify, and require an admission ticket.
pub fn verify_admission(
    ring: &KeyRing,
    raw: &str,
    now_ms: u64,
    room: &str,
) -> Result<AdmissionClaims, TicketError> {
    UntrustedTicket::parse(raw)?
        .verify(ring, now_ms, room)?
        .into_admission()
}

/// Parse, verify, and require a waiting ticket.
pub fn verify_waiting(
    ring: &KeyRing,
    raw: &str,
    now_ms: u64,
    room: &str,
) -> Result<WaitingClaims, TicketError> {
    UntrustedTicket::parse(raw)?
        .verify(ring, now_ms, room)?
        .into_waiting()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;
    // Fixed test keys (not secrets): 32 bytes of 0x01 and of 0x02.
    const RING: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI,k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";

    fn ring() -> KeyRing {
        KeyRing::parse(RING).unwrap()
    }

    fn admission(room: &str) -> AdmissionClaims {
        AdmissionClaims {
            ticket_id: "t-1".into(),
            room: room.into(),
            shard: 3,
            session_id: "s-1".into(),
            not_before_ms: NOW,
            expires_ms: NOW + 600_000,
            client: String::new(),
        }
    }

    #[test]
    fn round_trip_admission() {
        let ring = ring();
        let t = sign(&ring, &Claims::Admission(admission("passport")));
        assert!(t.starts_with("v1.k2."));
        assert_eq!(
            verify_admission(&ring, &t, NOW, "passport"),
            Ok(admission("passport"))
        );
        assert_eq!(
            verify_waiting(&ring, &t, NOW, "passport"),
            Err(TicketError::WrongKind)
        );
        assert_eq!(
            verify_admission(&ring, &t, NOW, "other"),
            Err(TicketError::WrongRoom)
        );
    }

    #[test]
    fn key_ring_debug_shows_kids_only() {
        let dbg = format!("{:?}", ring());
        assert!(dbg.contains("k2") && dbg.contains("k1"), "{dbg}");
        assert!(!dbg.contains("AgIC") && !dbg.contains("AQEB"), "{dbg}");
        assert_eq!(ring().signing_kid(), "k2");
        assert_eq!(ring().kids().collect::<Vec<_>>(), ["k2", "k1"]);
    }

    #[test]
    fn key_ring_spec_errors() {
        let k = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
        assert_eq!(KeyRing::parse("").unwrap_err(), KeyRingError::Empty);
        assert_eq!(
            KeyRing::parse(&format!("a:{k},")).unwrap_err(),
            KeyRingError::MalformedEntry { index: 1 }
        );
        assert_eq!(
            KeyRing::parse(&format!("a.b:{k}")).unwrap_err(),
            KeyRingError::BadKid { index: 0 }
        );
        assert_eq!(
            KeyRing::parse(&format!("{}:{k}", "a".repeat(17))).unwrap_err(),
            KeyRingError::BadKid { index: 0 }
        );
        assert_eq!(
            KeyRing::parse(&format!("a:{k}, a:{k}")).unwrap_err(),
            KeyRingError::DuplicateKid { index: 1 }
        );
        assert_eq!(
            KeyRing::parse("a:AQEB").unwrap_err(),
            KeyRingError::BadSecret {
                index: 0,
                source: SecretError::TooShort { len: 3 }
            }
        );
        assert!(KeyRing::parse(&format!(" a:{k} , b_-9:{k}\n")).is_ok());
    }

    #[test]
    fn longest_sane_claims_fit() {
        let long = "x".repeat(64);
        for claims in [
            Claims::Admission(AdmissionClaims {
                ticket_id: long.clone(),
                room: long.clone(),
                shard: u32::MAX,
                session_id: long.clone(),
                not_before_ms: u64::MAX,
                expires_ms: u64::MAX,
                client: "c".repeat(22),
            }),
            Claims::Waiting(WaitingClaims {
                ticket_id: long.clone(),
                room: long.clone(),
                shard: u32::MAX,
                seq: u64::MAX,
                arrived_ms: u64::MAX,
                issued_ms: u64::MAX,
                expires_ms: u64::MAX,
                client: "c".repeat(22),
            }),
        ] {
            let ring = KeyRing::parse(&format!(
                "{}:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
                "k".repeat(MAX_KID_LEN)
            ))
            .unwrap();
            let t = sign(&ring, &claims);
            assert!(t.len() <= MAX_TICKET_LEN, "{}", t.len());
            assert!(UntrustedTicket::parse(&t).is_ok());
        }
    }

    #[test]
    fn length_limit_is_inclusive() {
        let ring = ring();
        let t = sign(&ring, &Claims::Admission(admission("passport")));
        assert!(t.len() < MAX_TICKET_LEN);
        assert!(UntrustedTicket::parse(&t).is_ok());
        let too_long = format!("{t}{}", "A".repeat(MAX_TICKET_LEN + 1 - t.len()));
        assert_eq!(
            UntrustedTicket::parse(&too_long),
            Err(TicketError::Malformed)
        );
    }

    #[test]
    fn version_detection() {
        assert_eq!(
            UntrustedTicket::parse("v2.k1.AAAA.AAAA"),
            Err(TicketError::UnsupportedVersion)
        );
        assert_eq!(
            UntrustedTicket::parse("v10"),
            Err(TicketError::Malformed),
            "no segments at all"
        );
        assert_eq!(
            UntrustedTicket::parse("V1.k1.AAAA.AAAA"),
            Err(TicketError::Malformed)
        );
        assert_eq!(UntrustedTicket::parse(""), Err(TicketError::Malformed));
    }

    #[test]
    fn error_codes_are_variant_names() {
        for e in TicketError::ALL {
            assert_eq!(e.code(), format!("{e:?}"));
        }
    }
}

/// The shared golden vectors (`tests/vectors/tickets.json`) and the one
/// checker that core's native tests, the origin and the edge (wasm, inside
/// workerd) all run over them, so that every platform provably agrees.
///
/// The schema is documented in `core/tests/ticket_vectors.rs`, which also
/// regenerates the file.
///
/// Test support only (`test-vectors` feature, which the edge's
/// `test-routes` build turns on): a deployed Worker carries none of it.
#[cfg(any(test, feature = "test-vectors"))]
pub mod vectors {
    use serde::{Deserialize, Serialize};

    use super::{sign, verify_admission, verify_waiting, Claims, KeyRing, TicketError};

    /// Value of [`VectorFile::schema`] this checker understands.
    pub const SCHEMA: &str = "waitroom-ticket-vectors/1";

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VectorFile {
        pub schema: String,
        pub comment: String,
        pub now_ms: u64,
        pub room: String,
        pub key_ring: String,
        pub cases: Vec<VectorCase>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VectorCase {
        pub name: String,
        pub description: String,
        /// Which convenience function to check it with.
        pub verify_as: Kind,
        pub ticket: String,
        /// `"ok:waiting"`, `"ok:admission"`, or a [`TicketError::code`].
        pub expect: String,
        /// For ok cases: the expected `WaitingClaims` / `AdmissionClaims`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub claims: Option<serde_json::Value>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Kind {
        Waiting,
        Admission,
    }

    /// Checks one case: `verify_<verify_as>(ring, ticket, now_ms, room)`
    /// must give `expect` (and `claims`). An ok ticket signed with the
    /// ring's signing key must also be reproduced byte for byte by
    /// [`sign`], which pins the payload encoding across platforms.
    pub fn check_case(ring: &KeyRing, file: &VectorFile, case: &VectorCase) -> Result<(), String> {
        let fail = |what: String| Err(format!("{}: {what}", case.name));
        let (got, claims) = match case.verify_as {
            Kind::Waiting => match verify_waiting(ring, &case.ticket, file.now_ms, &file.room) {
                Ok(c) => ("ok:waiting", Some(Claims::Waiting(c))),
                Err(e) => (e.code(), None),
            },
            Kind::Admission => {
                match verify_admission(ring, &case.ticket, file.now_ms, &file.room) {
                    Ok(c) => ("ok:admission", Some(Claims::Admission(c))),
                    Err(e) => (e.code(), None),
                }
            }
        };
        if got != case.expect {
            return fail(format!("expected {}, got {got}", case.expect));
        }
        let Some(claims) = claims else {
            if case.claims.is_some() {
                return fail("claims given for an error case".into());
            }
            if !TicketError::ALL.iter().any(|e| e.code() == case.expect) {
                return fail(format!("unknown expectation {}", case.expect));
            }
            return Ok(());
        };
        let Some(expected) = case.claims.clone() else {
            return fail("ok case without claims".into());
        };
        let expected = match &claims {
            Claims::Waiting(_) => serde_json::from_value(expected).map(Claims::Waiting),
            Claims::Admission(_) => serde_json::from_value(expected).map(Claims::Admission),
        };
        let expected = match expected {
            Ok(c) => c,
            Err(e) => return fail(format!("claims do not parse: {e}")),
        };
        if claims != expected {
            return fail(format!(
                "claims differ: got {claims:?}, expected {expected:?}"
            ));
        }
        let signing_prefix = format!("{}.{}.", super::VERSION, ring.signing_kid());
        if case.ticket.starts_with(&signing_prefix) && sign(ring, &claims) != case.ticket {
            return fail("sign() does not reproduce the ticket".into());
        }
        Ok(())
    }

    /// Checks every case of a vectors file; returns how many passed, or
    /// every failure.
    pub fn check(json: &str) -> Result<usize, Vec<String>> {
        let file: VectorFile =
            serde_json::from_str(json).map_err(|e| vec![format!("vectors file: {e}")])?;
        if file.schema != SCHEMA {
            return Err(vec![format!("unknown schema {:?}", file.schema)]);
        }
        let ring = KeyRing::parse(&file.key_ring).map_err(|e| vec![format!("key_ring: {e}")])?;
        let failures: Vec<String> = file
            .cases
            .iter()
            .filter_map(|case| check_case(&ring, &file, case).err())
            .collect();
        if failures.is_empty() {
            Ok(file.cases.len())
        } else {
            Err(failures)
        }
    }
}
