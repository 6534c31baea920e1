//! The admission settings an operator sets (`PUT /admin/config`) and the
//! timing rules every shard derives from them.
//!
//! Lowest layer of the admission rules: [`crate::queue`],
//! [`crate::coordinator`] and [`crate::operator`] all use these types, and
//! this module uses none of them.

use serde::{Deserialize, Serialize};

/// Longest `last_seen` granularity (the row-write saving of heartbeats).
const MAX_LAST_SEEN_GRANULARITY_MS: u64 = 10_000;

/// Operator settings (the admin API's `PUT /admin/config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionConfig {
    /// Pacing: admissions per minute while people wait.
    pub new_users_per_minute: u32,
    /// Cap on simultaneously active (admitted, unexpired) sessions.
    pub total_active_users: u32,
    /// Length of an active session.
    pub session_minutes: u32,
    /// Silence after which a waiting citizen loses their place.
    pub abandon_after_seconds: u32,
    /// Stop admitting (the queue keeps its order).
    pub paused: bool,
    /// Longest a citizen far from the front may be away and keep the place
    /// (`core::hold`); 0: everyone must keep polling.
    #[serde(default)]
    pub max_away_minutes: u32,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            new_users_per_minute: 600,
            total_active_users: 1_000,
            session_minutes: 10,
            abandon_after_seconds: 60,
            paused: false,
            max_away_minutes: 0,
        }
    }
}

/// A field-level configuration error (the admin API answers 422 with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The offending field, as named in JSON.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl AdmissionConfig {
    /// Rejects settings that cannot be meant.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(
            field: &str,
            value: u32,
            min: u32,
            max: u32,
            unit: &str,
        ) -> Result<(), ConfigError> {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError {
                    field: field.to_owned(),
                    message: format!("must be between {min} and {max} {unit}, got {value}"),
                })
            }
        }
        check(
            "new_users_per_minute",
            self.new_users_per_minute,
            1,
            1_000_000,
            "users per minute (use paused to stop admissions)",
        )?;
        check(
            "total_active_users",
            self.total_active_users,
            1,
            10_000_000,
            "users",
        )?;
        check(
            "session_minutes",
            self.session_minutes,
            1,
            24 * 60,
            "minutes",
        )?;
        // Below 15 s a waiting page on a slow phone network would lose its
        // place between two polls.
        check(
            "abandon_after_seconds",
            self.abandon_after_seconds,
            15,
            3_600,
            "seconds",
        )?;
        check(
            "max_away_minutes",
            self.max_away_minutes,
            0,
            24 * 60,
            "minutes",
        )?;
        Ok(())
    }

    /// The timing rules shards apply under this configuration.
    pub fn shard_config(&self) -> ShardConfig {
        let abandon_after_ms = u64::from(self.abandon_after_seconds) * 1_000;
        ShardConfig {
            abandon_after_ms,
            session_ms: u64::from(self.session_minutes) * 60_000,
            last_seen_granularity_ms: (abandon_after_ms / 6).min(MAX_LAST_SEEN_GRANULARITY_MS),
            max_away_ms: u64::from(self.max_away_minutes) * 60_000,
        }
    }
}

/// Timing rules a shard applies. Comes from the coordinator in the next
/// [`crate::wire::Grant`] after a change ([`crate::wire::ShardSettings`]),
/// so operator changes reach all shards within a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardConfig {
    /// Silence after which a waiting entry loses its place.
    pub abandon_after_ms: u64,
    /// Length of an active session after admission.
    pub session_ms: u64,
    /// Minimum movement of `last_seen_ms` worth a row write (expiry adds
    /// this much grace; heartbeat coarseness: `queue/heartbeat.rs`).
    pub last_seen_granularity_ms: u64,
    /// Longest hold of a place while away ([`crate::hold`]); 0: none.
    #[serde(default)]
    pub max_away_ms: u64,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self {
            abandon_after_ms: 60_000,
            session_ms: 10 * 60_000,
            last_seen_granularity_ms: 10_000,
            max_away_ms: 0,
        }
    }
}

impl ShardConfig {
    /// Silence tolerated before an entry is dropped (abandon + granularity).
    pub fn expiry_grace_ms(&self) -> u64 {
        self.abandon_after_ms
            .saturating_add(self.last_seen_granularity_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_field() {
        assert!(AdmissionConfig::default().validate().is_ok());
        let bad = AdmissionConfig {
            abandon_after_seconds: 5,
            ..AdmissionConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "abandon_after_seconds");
    }
}
