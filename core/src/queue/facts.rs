//! What a shard counts for the launch report
//! ([`crate::operator::report`]): joins, admissions with their time in
//! queue and ETA error, drops, departures and returns. Sent with each
//! summary; kept until the coordinator shows it received them.

use super::{ShardQueue, Slot};
use crate::operator::ShardFacts;

impl ShardQueue {
    /// The facts for the summary of tick `tick_id`: those since the last
    /// summary, plus that summary's own if the coordinator did not receive
    /// it (`received_through` is not its tick).
    pub(super) fn take_facts(&mut self, tick_id: u64, received_through: Option<u64>) -> ShardFacts {
        let owed = &mut self.facts;
        let mut facts = std::mem::take(&mut owed.fresh);
        let received = owed.sent_tick.is_some() && owed.sent_tick == received_through;
        if !received {
            facts.merge(&owed.sent);
        }
        owed.sent_tick = Some(tick_id);
        owed.sent = facts.clone();
        facts
    }

    pub(super) fn facts_mut(&mut self) -> &mut ShardFacts {
        &mut self.facts.fresh
    }

    /// Counts `slot` admitted at `now_ms` (before it leaves the queue).
    pub(super) fn note_admitted(&mut self, slot: &Slot, now_ms: u64) {
        let promised = self.promised.get(&slot.rank).copied();
        let facts = self.facts_mut();
        facts.admitted += 1;
        facts
            .queue_seconds
            .record(now_ms.saturating_sub(slot.arrived_ms) / 1_000);
        if let Some(at) = promised {
            facts.eta_error_seconds.record(now_ms.abs_diff(at) / 1_000);
        }
    }

    /// After a grant's view: the admission time the first exact ETA
    /// promises to each rank held here that has none yet (the newest
    /// ranks: older ones got theirs at earlier grants).
    pub(super) fn note_promises(&mut self, now_ms: u64) {
        let newest_promised = self.promised.keys().next_back().copied();
        let newest = self.own.keys().next_back().copied();
        if newest.is_none() || newest <= newest_promised {
            return;
        }
        let mut ahead_here = 0;
        let mut fresh = Vec::new();
        for (&rank, &n) in &self.own {
            if newest_promised.is_none_or(|p| rank > p) {
                match self.global.order.ahead_of(rank) {
                    Some(others) => {
                        let eta_s = self.global.eta.eta_seconds(1 + ahead_here + others);
                        fresh.push((rank, now_ms.saturating_add(eta_s.saturating_mul(1_000))));
                    }
                    // No view of this rank yet: the next grant's.
                    None => break,
                }
            }
            ahead_here += n;
        }
        self.promised.extend(fresh);
    }
}
