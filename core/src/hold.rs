//! Holding a place while the citizen is away (issue 19): far from the
//! front a citizen may leave the page, and is told until when the place is
//! kept without any poll.
//!
//! `hold_until = now + (position - present_places) / (SAFETY × rate)`,
//! capped by the operator's `max_away_minutes`. `present_places` (at least
//! [`PRESENT_PLACES_MIN`], and at least [`PRESENT_BEFORE_MS`] of admissions
//! at the safe rate) is the stretch of the line where presence is required.
//! The safe rate is [`SAFETY`] times the measured rate, and never below the
//! fastest the settings in force allow ([`EtaInfo::max_rate_per_s`]: the
//! operator's pace, which closed-loop pacing may return to at any tick).
//! Told "be back by 14:30", a citizen is not in that stretch before 14:30
//! even if admissions run twice as fast as measured, or as fast as allowed
//! after a slow spell (a registry outage pauses admissions and lowers the
//! measured rate). A hold shorter than `abandon_after` adds
//! nothing and is not given ("keep this page open").
//!
//! The shard keeps the latest hold it showed and never shows an earlier
//! one (`queue/heartbeat.rs`). Away (silent past the usual grace) within
//! the hold, a citizen keeps their place but is not admitted; whoever is
//! back before `hold_until + abandon_after` is admitted at the first tick
//! after, and whoever is not loses the place for good.

use crate::config::ShardConfig;
use crate::eta::EtaInfo;

/// Places at the front where presence is always required.
pub const PRESENT_PLACES_MIN: u64 = 10;
/// ... and at least this much of admissions at the safe rate.
pub const PRESENT_BEFORE_MS: u64 = 2 * 60_000;
/// Admissions may run this many times faster than measured.
pub const SAFETY: f64 = 2.0;
/// A hold moves later only in steps of at least this much (each move is a
/// row write).
pub const HOLD_STEP_MS: u64 = 60_000;

/// Until when a citizen at `position` may be away, if at all.
pub fn hold_until_ms(now_ms: u64, position: u64, eta: &EtaInfo, cfg: &ShardConfig) -> Option<u64> {
    let rate_per_s = eta.rate_per_s;
    if cfg.max_away_ms == 0 || !(rate_per_s.is_finite() && rate_per_s > 0.0) {
        return None;
    }
    let allowed = if eta.max_rate_per_s.is_finite() {
        eta.max_rate_per_s
    } else {
        0.0
    };
    let safe_rate = (rate_per_s * SAFETY).max(allowed);
    let present = (PRESENT_PLACES_MIN as f64).max(safe_rate * PRESENT_BEFORE_MS as f64 / 1_000.0);
    let beyond = position as f64 - present;
    if beyond <= 0.0 {
        return None;
    }
    let away_ms = (beyond / safe_rate * 1_000.0).min(cfg.max_away_ms as f64) as u64;
    (away_ms > cfg.abandon_after_ms).then(|| now_ms + away_ms)
}

/// The hold to show after `stored` was shown: never earlier, and, while
/// it is still ahead, moved later only by [`HOLD_STEP_MS`] or more (a time
/// the citizen may be relying on does not jitter). One that has run out
/// by `now_ms` is replaced by any fresh hold: the citizen came back after
/// it (within the grace), and is told anew until when they may leave.
pub fn next_hold(stored: u64, fresh: Option<u64>, now_ms: u64) -> u64 {
    match fresh {
        Some(h) if stored == 0 || stored <= now_ms || h >= stored.saturating_add(HOLD_STEP_MS) => {
            h.max(stored)
        }
        _ => stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_away_minutes: u64) -> ShardConfig {
        ShardConfig {
            max_away_ms: max_away_minutes * 60_000,
            ..ShardConfig::default()
        }
    }

    fn at(rate_per_s: f64) -> EtaInfo {
        EtaInfo {
            rate_per_s,
            paused: false,
            max_rate_per_s: 0.0,
        }
    }

    #[test]
    fn a_hold_assumes_the_fastest_pace_the_settings_allow() {
        let c = cfg(180);
        // Measured 1 a second after an outage, allowed 10: the safe rate is
        // 10/s, not 2/s. (36,000 - 1,200) / 10 = 3,480 s.
        let slow = EtaInfo {
            max_rate_per_s: 10.0,
            ..at(1.0)
        };
        assert_eq!(hold_until_ms(0, 36_000, &slow, &c), Some(3_480_000));
        assert_eq!(hold_until_ms(0, 36_000, &at(1.0), &c), Some(10_800_000));
        // Twice the measured rate still applies when it is the faster.
        let fast = EtaInfo {
            max_rate_per_s: 10.0,
            ..at(10.0)
        };
        assert_eq!(hold_until_ms(0, 36_000, &fast, &c), Some(1_680_000));
    }

    #[test]
    fn far_back_gets_a_hold_near_the_front_none() {
        // 10 a second: the safe rate is 20/s, presence within 2,400 places.
        let c = cfg(180);
        assert_eq!(hold_until_ms(0, 2_400, &at(10.0), &c), None);
        // 36,000 places: (36,000 - 2,400) / 20 = 1,680 s.
        assert_eq!(hold_until_ms(0, 36_000, &at(10.0), &c), Some(1_680_000));
        // Capped by the operator.
        assert_eq!(
            hold_until_ms(0, 10_000_000, &at(10.0), &c),
            Some(180 * 60_000)
        );
        // Off, no rate, or shorter than abandon_after: none.
        assert_eq!(hold_until_ms(0, 36_000, &at(10.0), &cfg(0)), None);
        assert_eq!(hold_until_ms(0, 36_000, &at(0.0), &c), None);
        assert_eq!(hold_until_ms(0, 2_401, &at(10.0), &c), None);
    }

    #[test]
    fn a_hold_never_moves_earlier() {
        assert_eq!(next_hold(0, Some(5), 0), 5);
        assert_eq!(next_hold(100_000, Some(50_000), 0), 100_000);
        assert_eq!(next_hold(100_000, None, 0), 100_000);
        assert_eq!(
            next_hold(100_000, Some(120_000), 0),
            100_000,
            "small steps wait"
        );
        assert_eq!(next_hold(100_000, Some(160_000), 0), 160_000);
        // Run out: any fresh hold replaces it, still never earlier.
        assert_eq!(next_hold(100_000, Some(120_000), 100_000), 120_000);
        assert_eq!(next_hold(100_000, Some(120_000), 110_000), 120_000);
        assert_eq!(next_hold(100_000, Some(90_000), 110_000), 100_000);
        assert_eq!(next_hold(100_000, None, 110_000), 100_000);
    }
}
