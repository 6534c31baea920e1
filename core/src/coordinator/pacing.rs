//! Pacing: how many citizens one tick admits.
//!
//! `budget = min(pacing, total_active_users - active sessions, waiting)`.
//! Pacing accrues `new_users_per_minute × elapsed / 60 s` into a fractional
//! carry, so integer grants add up to the configured rate over a minute
//! (the error is below one admission per minute, whatever the tick
//! length). Unused allowance is not banked: when demand or the active cap
//! limits a tick, only the fraction is kept, so an idle room does not
//! release a burst later.

use super::AdmissionController;
use crate::config::AdmissionConfig;
use crate::operator::QueueMode;

/// Elapsed time assumed for the very first tick.
pub const NOMINAL_TICK_MS: u64 = 1_000;
/// Longest gap between ticks that accrues pacing allowance (after an
/// outage the room resumes at its rate instead of releasing a flood).
pub const MAX_TICK_GAP_MS: u64 = 5_000;

impl AdmissionController {
    /// Time since the last tick that accrues pacing allowance.
    pub(super) fn elapsed_ms(&self, now_ms: u64) -> u64 {
        match self.last_tick_ms {
            Some(last) => now_ms.saturating_sub(last).min(MAX_TICK_GAP_MS),
            None => NOMINAL_TICK_MS,
        }
    }

    /// This tick's admissions: none while `held` (paused, closed, the
    /// lottery tick), everyone waiting in passthrough mode, otherwise the
    /// budget of the module docs.
    pub(super) fn budget(
        &mut self,
        held: bool,
        mode: QueueMode,
        config: &AdmissionConfig,
        elapsed: u64,
        waiting: u64,
        active: u64,
    ) -> u64 {
        if held {
            self.carry = 0.0;
            0
        } else if mode == QueueMode::Passthrough {
            self.carry = 0.0;
            waiting
        } else {
            self.carry += f64::from(config.new_users_per_minute) * elapsed as f64 / 60_000.0;
            let paced = self.carry.floor() as u64;
            let room = u64::from(config.total_active_users).saturating_sub(active);
            let budget = paced.min(room).min(waiting);
            self.carry -= budget as f64;
            if budget < paced {
                // Demand or the cap limited this tick: do not bank the rest.
                self.carry = self.carry.fract();
            }
            budget
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(per_minute: u32, total_active_users: u32) -> AdmissionConfig {
        AdmissionConfig {
            new_users_per_minute: per_minute,
            total_active_users,
            ..AdmissionConfig::default()
        }
    }

    fn open_tick(c: &mut AdmissionController, config: &AdmissionConfig, waiting: u64) -> u64 {
        c.budget(false, QueueMode::Fifo, config, 1_000, waiting, 0)
    }

    #[test]
    fn fractional_pace_adds_up_to_the_rate_over_a_minute() {
        // 90 a minute is 1.5 a one-second tick: grants alternate 1 and 2.
        let config = pace(90, 1_000);
        let mut c = AdmissionController::new();
        let grants: Vec<u64> = (0..60)
            .map(|_| open_tick(&mut c, &config, 10_000))
            .collect();
        assert_eq!(grants.iter().sum::<u64>(), 90);
        assert_eq!(&grants[..4], &[1, 2, 1, 2]);
    }

    #[test]
    fn unused_allowance_is_not_banked() {
        let config = pace(600, 1_000);
        let mut c = AdmissionController::new();
        for _ in 0..60 {
            assert_eq!(open_tick(&mut c, &config, 0), 0);
        }
        // A minute of idle allowance would be 600: only one tick's worth comes.
        assert_eq!(open_tick(&mut c, &config, 10_000), 10);
    }

    #[test]
    fn active_cap_and_demand_bound_the_budget() {
        let config = pace(600, 100);
        let mut c = AdmissionController::new();
        assert_eq!(c.budget(false, QueueMode::Fifo, &config, 1_000, 50, 95), 5);
        assert_eq!(c.budget(false, QueueMode::Fifo, &config, 1_000, 50, 100), 0);
        assert_eq!(c.budget(false, QueueMode::Fifo, &config, 1_000, 3, 0), 3);
    }

    #[test]
    fn held_admits_nobody_and_passthrough_admits_everyone_waiting() {
        let config = pace(600, 10);
        let mut c = AdmissionController::new();
        assert_eq!(c.budget(true, QueueMode::Fifo, &config, 1_000, 50, 0), 0);
        assert_eq!(
            c.budget(true, QueueMode::Passthrough, &config, 1_000, 50, 0),
            0
        );
        // Neither the pace nor the active cap holds passthrough back.
        assert_eq!(
            c.budget(false, QueueMode::Passthrough, &config, 1_000, 50, 10),
            50
        );
    }

    #[test]
    fn elapsed_is_nominal_first_then_capped() {
        let mut c = AdmissionController::new();
        assert_eq!(c.elapsed_ms(123_456), NOMINAL_TICK_MS);
        c.last_tick_ms = Some(10_000);
        assert_eq!(c.elapsed_ms(10_700), 700);
        assert_eq!(c.elapsed_ms(10_000 + 60_000), MAX_TICK_GAP_MS);
        // A clock that steps back accrues nothing.
        assert_eq!(c.elapsed_ms(9_000), 0);
    }
}
