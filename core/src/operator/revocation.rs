//! Revoked admissions, remembered until their session would have ended.

use std::collections::HashMap;

/// Admissions revoked before their session ended: the edge refuses their
/// still-valid tickets until then. O(1) lookups; pruned as they lapse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    until: HashMap<u64, u64>,
}

impl RevocationList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `id` as revoked until `until_ms` (the session end).
    pub fn revoke(&mut self, id: u64, until_ms: u64) {
        let e = self.until.entry(id).or_insert(until_ms);
        *e = (*e).max(until_ms);
    }

    /// Whether `id` is revoked at `now_ms`.
    pub fn is_revoked(&self, id: u64, now_ms: u64) -> bool {
        self.until.get(&id).is_some_and(|&u| u > now_ms)
    }

    /// Forgets lapsed revocations; returns the ids forgotten.
    pub fn prune(&mut self, now_ms: u64) -> Vec<u64> {
        let gone: Vec<u64> = self
            .until
            .iter()
            .filter(|(_, &u)| u <= now_ms)
            .map(|(&id, _)| id)
            .collect();
        for id in &gone {
            self.until.remove(id);
        }
        gone
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_last_until_the_session_ends() {
        let mut r = RevocationList::new();
        r.revoke(7, 1_000);
        assert!(r.is_revoked(7, 999));
        assert!(!r.is_revoked(7, 1_000));
        assert!(!r.is_revoked(8, 0));
        assert_eq!(r.prune(1_000), vec![7]);
        assert!(r.is_empty());
    }
}
