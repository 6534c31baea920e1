//! Proof that the pre-queue lottery was fair: commit to the seed before
//! anyone joins, reveal it after the draw, and let anyone recompute the
//! order.
//!
//! # The protocol
//! 1. When the operator sets a pre-queue (the room's or an event's), the
//!    Coordinator draws a [`FairnessSeed`] (32 random bytes, passed in: core
//!    has no randomness of its own) and publishes its SHA-256
//!    [`Commitment`] at once ([`FairnessDraw::public`]). From then on the
//!    seed cannot change without the commitment showing it.
//! 2. At `event_start` the lottery runs with [`FairnessSeed::lottery`]: the
//!    same [`Lottery`] the shards already apply, keyed by the seed.
//! 3. After the draw ([`FairnessDraw::record_draw`]) the seed is published
//!    with the number of entries and their pseudonymous ids
//!    ([`LotteryEntry`]: an entry id, i.e. the first 52 bits of a random
//!    ticket id, and its shard; no personal data).
//! 4. Anyone checks [`verify`] and recomputes [`admission_order`]
//!    (`cargo run -p waitroom-core --example verify-lottery`, built on
//!    [`verify_published`]).
//!
//! # Why the recomputed order is the admitted order
//! [`admission_order`] does not reimplement the shuffle: it sorts by the
//! exact key the shards use. A pre-queued entry gets
//! [`crate::order::lottery_rank`] of its [`Lottery::key`], its shard keeps
//! it, and within its shard it gets the front sequence numbers in key
//! order ([`crate::queue::ShardQueue::shuffle_prequeue`]). The one admission
//! order is `(rank, shard, seq)` ([`crate::order::OrderKey`]), so it is
//! `(lottery_rank(key), shard, key)`: entries sharing one of the 2^15
//! sub-ranks go by shard, which is why an entry is published with its
//! shard. FIFO admission follows that order; entries that leave or are
//! away are skipped, and `random` mode does not follow any order.
//!
//! The lottery uses 64 bits of the seed (the first 8 bytes, little-endian:
//! [`FairnessSeed::lottery_seed`]); the commitment covers all 32.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Lottery, OperatorConfig};
use crate::order::lottery_rank;

/// Bytes of a seed (and of its SHA-256 commitment).
pub const SEED_BYTES: usize = 32;

/// Why published fairness data does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FairnessError {
    #[error("{what} is not {SEED_BYTES} bytes of hex")]
    BadHex { what: &'static str },
    #[error("entry line {line}: {problem}")]
    BadEntry { line: usize, problem: String },
    #[error("the seed does not match the commitment")]
    CommitmentMismatch,
    #[error("the published order differs from the recomputed one at place {place}")]
    OrderMismatch { place: usize },
}

fn from_hex(text: &str, what: &'static str) -> Result<[u8; SEED_BYTES], FairnessError> {
    let mut out = [0u8; SEED_BYTES];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| FairnessError::BadHex { what })?;
    Ok(out)
}

/// The lottery's secret until the draw. Shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FairnessSeed(pub [u8; SEED_BYTES]);

/// SHA-256 of a [`FairnessSeed`]. Shown as 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment(pub [u8; SEED_BYTES]);

impl std::fmt::Debug for FairnessSeed {
    // Not in logs by accident before the draw.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FairnessSeed(…)")
    }
}

impl FairnessSeed {
    pub fn from_hex(text: &str) -> Result<Self, FairnessError> {
        from_hex(text, "the seed").map(Self)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// What is published before the draw.
    pub fn commitment(&self) -> Commitment {
        Commitment(Sha256::digest(self.0).into())
    }

    /// The 64-bit seed of the [`Lottery`].
    pub fn lottery_seed(&self) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(first)
    }

    /// The lottery the shards apply for `operator`'s schedule (the
    /// effective settings of the event: [`super::effective`]).
    pub fn lottery(&self, operator: &OperatorConfig) -> Option<Lottery> {
        operator.lottery(self.lottery_seed())
    }
}

impl Commitment {
    pub fn from_hex(text: &str) -> Result<Self, FairnessError> {
        from_hex(text, "the commitment").map(Self)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Whether `seed` is the one `commitment` was made to.
pub fn verify(seed: &FairnessSeed, commitment: &Commitment) -> bool {
    seed.commitment().0.ct_eq(&commitment.0).into()
}

macro_rules! hex_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$t>::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(FairnessSeed);
hex_serde!(Commitment);

/// One pre-queued entry as published: its entry id (52 bits, shown as the
/// 13 hex digits that begin the citizen's ticket id, so each can find
/// themselves) and its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LotteryEntry {
    pub id: u64,
    pub shard: u32,
}

impl LotteryEntry {
    /// The entry id as published: 13 hex digits.
    pub fn id_hex(&self) -> String {
        format!("{:013x}", self.id)
    }
}

#[derive(Serialize, Deserialize)]
struct EntryJson {
    id: String,
    shard: u32,
}

impl Serialize for LotteryEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EntryJson {
            id: self.id_hex(),
            shard: self.shard,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LotteryEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let e = EntryJson::deserialize(d)?;
        let id = parse_id(&e.id).map_err(serde::de::Error::custom)?;
        Ok(LotteryEntry { id, shard: e.shard })
    }
}

fn parse_id(text: &str) -> Result<u64, String> {
    if text.is_empty() || text.len() > 13 {
        return Err(format!("{text:?} is not an entry id (1 to 13 hex digits)"));
    }
    u64::from_str_radix(text, 16).map_err(|_| format!("{text:?} is not an entry id (hex)"))
}

/// The order in which the lottery admits `entries`, recomputed from the
/// lottery's seed (see the module docs for why it is the admitted order).
pub fn admission_order(lottery_seed: u64, entries: &[LotteryEntry]) -> Vec<LotteryEntry> {
    // Only the key matters: it depends on the seed and the id alone.
    let lottery = Lottery {
        seed: lottery_seed,
        event_start_ms: 0,
        window_ms: 0,
    };
    let mut order = entries.to_vec();
    order.sort_by_cached_key(|e| {
        let key = lottery.key(e.id);
        (lottery_rank(1, key), e.shard, key, e.id)
    });
    order
}

/// Reads a published entry list: a JSON array of `{"id": "<hex>",
/// "shard": n}`, or text with one entry per line, `<id hex> <shard>`
/// (blank lines and lines starting with `#` skipped).
pub fn parse_entries(text: &str) -> Result<Vec<LotteryEntry>, FairnessError> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| FairnessError::BadEntry {
            line: e.line(),
            problem: e.to_string(),
        });
    }
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem: String| FairnessError::BadEntry {
            line: i + 1,
            problem,
        };
        let mut words = line.split_whitespace();
        let (Some(id), Some(shard), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad("expected `<entry id hex> <shard>`".into()));
        };
        let id = parse_id(id).map_err(bad)?;
        let shard = shard
            .parse()
            .map_err(|_| bad(format!("{shard:?} is not a shard number")))?;
        entries.push(LotteryEntry { id, shard });
    }
    Ok(entries)
}

/// Renders entries in the line format [`parse_entries`] reads.
pub fn entries_text(entries: &[LotteryEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} {}\n", e.id_hex(), e.shard))
        .collect()
}

/// What `verify-lottery` does: checks the seed against the commitment and
/// returns the recomputed order of the published entries; with the
/// published order too, checks that it is the same.
pub fn verify_published(
    seed_hex: &str,
    commitment_hex: &str,
    entries: &str,
    published_order: Option<&str>,
) -> Result<Vec<LotteryEntry>, FairnessError> {
    let seed = FairnessSeed::from_hex(seed_hex)?;
    let commitment = Commitment::from_hex(commitment_hex)?;
    if !verify(&seed, &commitment) {
        return Err(FairnessError::CommitmentMismatch);
    }
    let order = admission_order(seed.lottery_seed(), &parse_entries(entries)?);
    if let Some(published) = published_order {
        let published = parse_entries(published)?;
        let n = order.len().max(published.len());
        if let Some(place) = (0..n).find(|&i| order.get(i) != published.get(i)) {
            return Err(FairnessError::OrderMismatch { place: place + 1 });
        }
    }
    Ok(order)
}

/// The Coordinator's record of one event's lottery (stored; the seed is
/// secret until [`FairnessDraw::record_draw`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairnessDraw {
    /// The event whose pre-queue it shuffles.
    pub event_start_ms: u64,
    pub seed: FairnessSeed,
    /// Set by the draw: how many entries it shuffled, and when.
    pub entries: Option<u64>,
    pub drawn_at_ms: Option<u64>,
}

/// `GET /fairness` (public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicFairness {
    pub event_start_ms: u64,
    pub commitment: Commitment,
    /// After the draw only.
    pub entries: Option<u64>,
    /// After the draw only.
    pub seed: Option<FairnessSeed>,
}

impl FairnessDraw {
    /// A draw committed now, for the event starting at `event_start_ms`;
    /// `random` is 32 bytes from the platform's CSPRNG.
    pub fn new(event_start_ms: u64, random: [u8; SEED_BYTES]) -> Self {
        Self {
            event_start_ms,
            seed: FairnessSeed(random),
            entries: None,
            drawn_at_ms: None,
        }
    }

    /// The lottery ran over `entries` entries at `now_ms`: the seed may now
    /// be published. Recording again keeps the first draw's figures (a
    /// replayed tick does not change what was published).
    pub fn record_draw(&mut self, entries: u64, now_ms: u64) {
        if self.drawn_at_ms.is_none() {
            self.entries = Some(entries);
            self.drawn_at_ms = Some(now_ms);
        }
    }

    /// What may be published now: the commitment always, the seed and the
    /// count once drawn.
    pub fn public(&self) -> PublicFairness {
        let drawn = self.drawn_at_ms.is_some();
        PublicFairness {
            event_start_ms: self.event_start_ms,
            commitment: self.seed.commitment(),
            entries: self.entries.filter(|_| drawn),
            seed: drawn.then_some(self.seed),
        }
    }
}

/// The event starts (with a pre-queue) that need a seed drawn: every
/// scheduled pre-queue, the room's and the events', without a draw yet.
pub fn draws_needed(settings: &super::Settings, draws: &[FairnessDraw]) -> Vec<u64> {
    let room = settings
        .operator
        .prequeue_start
        .and(settings.operator.event_start);
    let events = settings
        .extras
        .events
        .iter()
        .filter(|e| e.prequeue_start.is_some())
        .map(|e| e.start);
    let mut starts: Vec<u64> = room
        .into_iter()
        .chain(events)
        .filter(|s| !draws.iter().any(|d| d.event_start_ms == *s))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = *b"an example seed, 32 bytes long!!";

    #[test]
    fn the_commitment_is_sha256_of_the_seed_bytes() {
        // SHA-256 of 32 zero bytes, a published test value.
        assert_eq!(
            FairnessSeed([0; 32]).commitment().to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        let seed = FairnessSeed(SEED);
        assert!(verify(&seed, &seed.commitment()));
        let mut other = SEED;
        other[31] ^= 1;
        assert!(!verify(&FairnessSeed(other), &seed.commitment()));
        assert_eq!(FairnessSeed::from_hex(&seed.to_hex()).unwrap(), seed);
        assert!(FairnessSeed::from_hex("abcd").is_err());
        assert!(Commitment::from_hex(&"g".repeat(64)).is_err());
        assert_eq!(format!("{seed:?}"), "FairnessSeed(…)");
    }

    #[test]
    fn the_seed_is_published_only_after_the_draw() {
        let mut d = FairnessDraw::new(1_800_000_000_000, SEED);
        let before = serde_json::to_value(d.public()).unwrap();
        assert_eq!(before["seed"], serde_json::Value::Null);
        assert_eq!(
            before["commitment"],
            FairnessSeed(SEED).commitment().to_hex()
        );
        d.record_draw(42, 1_800_000_000_500);
        d.record_draw(43, 1_800_000_001_500);
        let after = d.public();
        assert_eq!(after.entries, Some(42));
        assert_eq!(after.seed, Some(FairnessSeed(SEED)));
        let stored: FairnessDraw =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(stored, d);
    }

    #[test]
    fn entries_read_as_lines_or_json_and_refuse_nonsense() {
        let entries = vec![
            LotteryEntry {
                id: 0x0123456789abc,
                shard: 3,
            },
            LotteryEntry { id: 7, shard: 0 },
        ];
        let text = entries_text(&entries);
        assert_eq!(text, "0123456789abc 3\n0000000000007 0\n");
        assert_eq!(
            parse_entries(&format!("# header\n\n{text}")).unwrap(),
            entries
        );
        let json = serde_json::to_string(&entries).unwrap();
        assert_eq!(
            json,
            r#"[{"id":"0123456789abc","shard":3},{"id":"0000000000007","shard":0}]"#
        );
        assert_eq!(parse_entries(&json).unwrap(), entries);
        for bad in ["xyz 1", "12345678901234 1", "12 -1", "12", "12 1 1"] {
            assert!(
                matches!(
                    parse_entries(bad),
                    Err(FairnessError::BadEntry { line: 1, .. })
                ),
                "{bad}"
            );
        }
    }

    fn entries(n: u64, shards: u32) -> Vec<LotteryEntry> {
        (1..=n)
            .map(|i| LotteryEntry {
                id: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12,
                shard: (i % u64::from(shards)) as u32,
            })
            .collect()
    }

    #[test]
    fn a_changed_seed_gives_another_order_and_fails_verification() {
        let list = entries(50, 4);
        let seed = FairnessSeed(SEED);
        let commitment = seed.commitment().to_hex();
        let text = entries_text(&list);
        let order = verify_published(&seed.to_hex(), &commitment, &text, None).unwrap();
        assert_eq!(order.len(), 50);
        assert_ne!(order, list, "a shuffle of 50 left them in place");
        // The published order checks; one swapped pair does not.
        let published = entries_text(&order);
        assert!(verify_published(&seed.to_hex(), &commitment, &text, Some(&published)).is_ok());
        let mut swapped = order.clone();
        swapped.swap(10, 11);
        assert_eq!(
            verify_published(
                &seed.to_hex(),
                &commitment,
                &text,
                Some(&entries_text(&swapped))
            ),
            Err(FairnessError::OrderMismatch { place: 11 })
        );
        let mut other = SEED;
        other[0] ^= 1;
        let other = FairnessSeed(other);
        assert_ne!(admission_order(other.lottery_seed(), &list), order);
        assert_eq!(
            verify_published(&other.to_hex(), &commitment, &text, None),
            Err(FairnessError::CommitmentMismatch)
        );
        // The order does not depend on the order the entries are listed in.
        let mut reversed = list.clone();
        reversed.reverse();
        assert_eq!(admission_order(seed.lottery_seed(), &reversed), order);
    }
}
