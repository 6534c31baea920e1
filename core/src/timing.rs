//! When the Durable Objects act on their own: the Coordinator's alarm
//! (tick, re-arm, wake-up), the shard's call to wake an idle Coordinator,
//! and the shard's write-behind of heartbeats and the slack it restores
//! rows with. The edge only carries these decisions out.

/// Time between Coordinator ticks while anyone waits or is active.
pub const TICK_MS: u64 = 1_000;
/// An alarm this late (a failed tick, or one lost with a restart) counts
/// as gone: a wake-up ticks at once.
pub const OVERDUE_AFTER_MS: u64 = 3 * TICK_MS;
/// "At once", for an alarm.
pub const WAKE_NOW_MS: u64 = 10;
/// A shard that has seen no grant for this long assumes the Coordinator's
/// alarm stopped (idle room) and wakes it on the next join.
pub const WAKE_IF_NO_GRANT_FOR_MS: u64 = 3_000;
/// Heartbeat `last_seen_ms` values wait in memory at most about this long
/// before one SQLite commit writes them all.
pub const SEEN_WRITE_BEHIND_MS: u64 = 1_000;
/// Restored rows count as seen this much later than written: several
/// write-behind periods, in case ticks were late too. Nobody loses their
/// place early because of a restart; someone who left is dropped at most
/// this much later.
pub const RESTORED_SEEN_SLACK_MS: u64 = 5_000;

/// Whether a wake-up must set the alarm to tick now: there is none, or
/// the one set is long overdue. (A timely alarm is left alone, so wakes
/// from many shards never make extra ticks.)
pub fn alarm_overdue(alarm_at_ms: Option<u64>, now_ms: u64) -> bool {
    match alarm_at_ms {
        None => true,
        Some(at) => at.saturating_add(OVERDUE_AFTER_MS) < now_ms,
    }
}

/// After a tick: in how many ms to tick again, or `None` to let the alarm
/// stop. A busy room (anyone waiting or active) ticks every [`TICK_MS`];
/// an idle room with an event ahead wakes at `event_start`; any other idle
/// room sleeps until a join wakes it.
pub fn next_tick_in_ms(
    waiting: u64,
    active: u64,
    event_start_ms: Option<u64>,
    now_ms: u64,
) -> Option<u64> {
    if waiting > 0 || active > 0 {
        return Some(TICK_MS);
    }
    event_start_ms.filter(|&e| e > now_ms).map(|e| e - now_ms)
}

/// Whether a join must wake the Coordinator: the first arrival in an
/// empty shard (the Coordinator stops ticking only when every shard is
/// empty), or no grant for [`WAKE_IF_NO_GRANT_FOR_MS`].
pub fn join_wakes_coordinator(shard_was_empty: bool, last_grant_ms: u64, now_ms: u64) -> bool {
    shard_was_empty || now_ms.saturating_sub(last_grant_ms) > WAKE_IF_NO_GRANT_FOR_MS
}

/// Whether the heartbeats' pending `last_seen_ms` values are due to be
/// written.
pub fn seen_write_due(last_saved_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(last_saved_ms) >= SEEN_WRITE_BEHIND_MS
}

/// The `last_seen_ms` a restored row counts with (see
/// [`RESTORED_SEEN_SLACK_MS`]).
pub fn restored_last_seen(written_ms: u64) -> u64 {
    written_ms.saturating_add(RESTORED_SEEN_SLACK_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_missing_or_long_late_alarm_is_overdue() {
        assert!(alarm_overdue(None, NOW));
        assert!(!alarm_overdue(Some(NOW + 500), NOW));
        assert!(!alarm_overdue(Some(NOW - OVERDUE_AFTER_MS), NOW));
        assert!(alarm_overdue(Some(NOW - OVERDUE_AFTER_MS - 1), NOW));
        assert!(alarm_overdue(Some(0), NOW));
        assert!(!alarm_overdue(Some(u64::MAX), NOW));
    }

    #[test]
    fn a_busy_room_ticks_every_second() {
        assert_eq!(next_tick_in_ms(1, 0, None, NOW), Some(TICK_MS));
        assert_eq!(next_tick_in_ms(0, 1, None, NOW), Some(TICK_MS));
        // Busy beats an event far ahead.
        assert_eq!(
            next_tick_in_ms(5, 0, Some(NOW + 3_600_000), NOW),
            Some(TICK_MS)
        );
    }

    #[test]
    fn an_idle_room_sleeps_until_its_event_or_a_join() {
        assert_eq!(next_tick_in_ms(0, 0, None, NOW), None);
        assert_eq!(next_tick_in_ms(0, 0, Some(NOW + 60_000), NOW), Some(60_000));
        assert_eq!(next_tick_in_ms(0, 0, Some(NOW), NOW), None);
        assert_eq!(next_tick_in_ms(0, 0, Some(NOW - 1), NOW), None);
    }

    #[test]
    fn a_join_wakes_the_coordinator_when_it_may_sleep() {
        assert!(join_wakes_coordinator(true, NOW, NOW));
        assert!(!join_wakes_coordinator(
            false,
            NOW - WAKE_IF_NO_GRANT_FOR_MS,
            NOW
        ));
        assert!(join_wakes_coordinator(
            false,
            NOW - WAKE_IF_NO_GRANT_FOR_MS - 1,
            NOW
        ));
        // A fresh instance has never seen a grant.
        assert!(join_wakes_coordinator(false, 0, NOW));
        // A grant "from the future" (clock skew) never underflows.
        assert!(!join_wakes_coordinator(false, NOW + 10, NOW));
    }

    #[test]
    fn heartbeats_are_written_once_per_period() {
        assert!(!seen_write_due(NOW, NOW));
        assert!(!seen_write_due(NOW - SEEN_WRITE_BEHIND_MS + 1, NOW));
        assert!(seen_write_due(NOW - SEEN_WRITE_BEHIND_MS, NOW));
        assert!(seen_write_due(0, NOW));
    }

    #[test]
    fn restored_rows_get_the_slack_of_several_write_behind_periods() {
        assert_eq!(restored_last_seen(NOW), NOW + RESTORED_SEEN_SLACK_MS);
        const { assert!(RESTORED_SEEN_SLACK_MS >= 3 * SEEN_WRITE_BEHIND_MS) };
        assert_eq!(restored_last_seen(u64::MAX), u64::MAX);
    }
}
