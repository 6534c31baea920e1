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
