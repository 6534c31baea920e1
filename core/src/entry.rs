//! Where a ticket's place lives: its queue entry id and its shard, both
//! read from the ticket id (128 random bits as 32 hex digits).
//! Deriving them instead of storing them keeps tickets short and lets any
//! Worker find a citizen's row without a lookup.

/// Hex digits of the ticket id that make the entry id: 52 bits, which
/// SQLite and JS numbers hold exactly.
const ENTRY_DIGITS: usize = 13;
/// The next 32 bits choose the shard.
const SHARD_DIGITS: usize = 8;

/// The queue entry id of a ticket: its first 52 bits (0 for a malformed id,
/// which no verified ticket has).
pub fn entry_id(ticket_id: &str) -> u64 {
    hex(ticket_id, 0, ENTRY_DIGITS)
}

/// The shard of a new ticket: the 32 bits after the entry id, modulo the
/// shard count (independent of the entry id, so shards fill evenly).
pub fn shard_of(ticket_id: &str, shards: u32) -> u32 {
    let bits = hex(ticket_id, ENTRY_DIGITS, SHARD_DIGITS) as u32;
    bits % shards.max(1)
}

fn hex(s: &str, from: usize, len: usize) -> u64 {
    s.get(from..from + len)
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "0123456789abcdef0011223344556677";

    #[test]
    fn entry_id_is_the_first_52_bits() {
        assert_eq!(entry_id(ID), 0x0123456789abc);
        assert_eq!(entry_id(&"f".repeat(64)), (1 << 52) - 1);
        assert_eq!(entry_id(&"0".repeat(64)), 0);
    }

    #[test]
    fn shard_is_the_next_32_bits_modulo() {
        // Digits 13..21: "def00112".
        assert_eq!(shard_of(ID, 1 << 31), 0xdef0_0112 % (1 << 31));
        assert_eq!(shard_of(ID, 16), 0xdef0_0112 % 16);
        assert_eq!(shard_of(ID, 1), 0);
        // A shard count of 0 (misconfiguration) means one shard, never a panic.
        assert_eq!(shard_of(ID, 0), 0);
    }

    #[test]
    fn malformed_ids_fall_back_to_zero() {
        assert_eq!(entry_id(""), 0);
        assert_eq!(entry_id("xyz0123456789abc"), 0);
        assert_eq!(shard_of("0123456789abc", 8), 0);
        // A multi-byte character at a digit boundary must not panic.
        assert_eq!(entry_id("012345678901€3456789"), 0);
        assert_eq!(shard_of("0123456789abc€€€€€€€€", 8), 0);
    }

    proptest! {
        #[test]
        fn entry_ids_fit_in_a_js_number(id in "[0-9a-f]{32}", shards in 1u32..=256) {
            prop_assert!(entry_id(&id) < 1 << 52);
            prop_assert!(shard_of(&id, shards) < shards);
        }
    }
}
