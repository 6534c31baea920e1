//! Which key a client address counts under in the per-address limits.
//!
//! An IPv4 address is one subscriber, but an IPv6 subscriber is handed at
//! least a whole /64 (2^64 addresses): keying on the exact IPv6 address would
//! let one person take unlimited places. So IPv6 counts by its /64 prefix.
//! An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is that IPv4 address, so
//! one client cannot count twice by changing notation. Anything that does not
//! parse (or no address at all) shares one bucket: stricter, never looser.

use std::net::{IpAddr, Ipv6Addr};

/// The shared key of every request without a usable client address.
pub const UNKNOWN: &str = "unknown";

/// The limit key of client address `addr` (e.g. `CF-Connecting-IP`):
/// `203.0.113.7` for IPv4, `2001:db8:1:2::/64` for IPv6 (the /64 in
/// canonical RFC 5952 text), [`UNKNOWN`] for garbage or `None`.
pub fn client_key(addr: Option<&str>) -> String {
    let Some(ip) = addr.and_then(|a| a.trim().parse::<IpAddr>().ok()) else {
        return UNKNOWN.to_string();
    };
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(a: &str) -> String {
        client_key(Some(a))
    }

    #[test]
    fn ipv4_is_its_own_key() {
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key(" 198.51.100.1 "), "198.51.100.1");
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
    }

    #[test]
    fn ipv6_counts_by_its_64_in_canonical_text() {
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:DB8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:0db8:0001:0002:0000:0000:0000:0001"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), "::/64");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:cb00:7107"), "203.0.113.7");
    }

    #[test]
    fn garbage_or_nothing_shares_one_key() {
        for bad in [
            "",
            "   ",
            "not an address",
            "203.0.113.300",
            "fe80::1%eth0",
            "[2001:db8::1]",
            "203.0.113.7:443",
            "2001:db8::1/64",
            &"a".repeat(10_000),
        ] {
            assert_eq!(key(bad), UNKNOWN, "{bad:?}");
        }
        assert_eq!(client_key(None), UNKNOWN);
    }

    /// Text forms of `addr` a client or proxy might send.
    fn spellings(addr: Ipv6Addr) -> Vec<String> {
        let s = addr.segments();
        vec![
            addr.to_string(),
            addr.to_string().to_uppercase(),
            s.iter()
                .map(|x| format!("{x:04x}"))
                .collect::<Vec<_>>()
                .join(":"),
        ]
    }

    proptest! {
        // Prefix 0 (`::/64`) holds the IPv4-mapped range, which counts per
        // IPv4 address instead; no client is ever given that /64.
        #[test]
        fn client_key_one_64_is_one_key(prefix in 1u64.., a: u64, b: u64) {
            let x = Ipv6Addr::from((u128::from(prefix) << 64) | u128::from(a));
            let y = Ipv6Addr::from((u128::from(prefix) << 64) | u128::from(b));
            let k = key(&x.to_string());
            prop_assert!(k.ends_with("/64"), "{}", k);
            for s in spellings(x).into_iter().chain(spellings(y)) {
                prop_assert_eq!(&key(&s), &k);
            }
        }

        #[test]
        fn client_key_different_64s_are_different_keys(
            p in 1u64.., q in 1u64.., a: u64, b: u64,
        ) {
            prop_assume!(p != q);
            let x = Ipv6Addr::from((u128::from(p) << 64) | u128::from(a));
            let y = Ipv6Addr::from((u128::from(q) << 64) | u128::from(b));
            prop_assert_ne!(key(&x.to_string()), key(&y.to_string()));
        }

        #[test]
        fn client_key_ipv4_is_itself_in_either_notation(v4: std::net::Ipv4Addr) {
            prop_assert_eq!(key(&v4.to_string()), v4.to_string());
            prop_assert_eq!(key(&v4.to_ipv6_mapped().to_string()), v4.to_string());
        }

        #[test]
        fn client_key_never_panics(s in ".{0,64}") {
            let _ = key(&s);
        }
    }
}
