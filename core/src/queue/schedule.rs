//! The operator's schedule inside a shard: who may join now (the door),
//! the pre-queue countdown, and the pre-queue lottery that reorders those
//! who arrived before the event started (see [`crate::operator`]).

use super::{EntryRow, ShardQueue};
use crate::operator::{Door, Lottery};
use crate::order::{lottery_rank, tick_rank};
use crate::wire::ShardSettings;

impl ShardQueue {
    /// What a new arrival gets now: a place, a pre-queue place, or the
    /// closed page (schedule, `reject` mode, queue full).
    pub fn door(&self, now_ms: u64) -> Door {
        self.meta
            .operator
            .door(now_ms, self.new_arrival_eta_seconds())
    }

    /// The operator's live message, as the last grant sent it.
    pub fn message(&self) -> Option<&crate::operator::Message> {
        self.meta.message.as_ref()
    }

    /// The settings the grants sent, as this shard holds them.
    pub fn settings(&self) -> ShardSettings {
        ShardSettings {
            config: self.meta.config,
            operator: self.meta.operator,
            message: self.meta.message.clone(),
        }
    }

    /// `event_start_ms` while the room is in pre-queue (the waiting page
    /// shows a countdown instead of a position).
    pub fn prequeue_until(&self, now_ms: u64) -> Option<u64> {
        match self.meta.operator.phase(now_ms) {
            crate::operator::Phase::PreQueue { event_start_ms } => Some(event_start_ms),
            _ => None,
        }
    }

    /// The pre-queue lottery, applied with the grant of `tick_id`: every
    /// ranked waiting entry that arrived before `event_start` gets its
    /// effective arrival time, its lottery rank and its place in key order
    /// (see [`crate::operator`], [`crate::order::lottery_rank`]); later
    /// arrivals keep theirs, behind. Returns the rows to rewrite. The next
    /// summary reports in full and positions wait for the next full view.
    /// O(n log n), once per event.
    pub fn shuffle_prequeue(
        &mut self,
        lottery: &Lottery,
        tick_id: u64,
        now_ms: u64,
    ) -> Vec<EntryRow> {
        let mut pre: Vec<EntryRow> = Vec::new();
        let mut rows: Vec<EntryRow> = Vec::with_capacity(self.index.len() + self.sessions.len());
        let after_lottery = tick_rank(tick_id);
        for slot in self.slots.iter().filter(|s| s.is_live()) {
            let Some(mut row) = self.row(slot.id) else {
                continue;
            };
            if row.arrived_ms < lottery.event_start_ms && row.rank != 0 {
                pre.push(row);
            } else {
                if row.rank != 0 && row.rank < after_lottery {
                    // Ranked before the lottery but not pre-queued: behind it.
                    row.rank = after_lottery;
                }
                rows.push(row);
            }
        }
        if pre.is_empty() {
            return Vec::new();
        }
        // The pre-queued hold the front seqs (slots are in arrival order):
        // hand those seqs out again in lottery order.
        let seqs: Vec<u64> = pre.iter().map(|r| r.seq).collect();
        pre.sort_by_key(|r| (lottery.effective_arrival_ms(r.id), lottery.key(r.id)));
        for (row, seq) in pre.iter_mut().zip(seqs) {
            row.seq = seq;
            row.arrived_ms = lottery.effective_arrival_ms(row.id);
            row.rank = lottery_rank(tick_id, lottery.key(row.id));
        }
        let moved: Vec<EntryRow> = rows
            .iter()
            .copied()
            .filter(|r| r.rank == after_lottery)
            .collect();
        rows.extend(pre.iter().copied());
        rows.extend(self.sessions.keys().filter_map(|&id| self.row(id)));
        let global = self.global.clone();
        let gone_unranked = self.report.gone_unranked.clone();
        match Self::restore(self.meta.clone(), rows, now_ms) {
            Ok(q) => {
                *self = q;
                self.global = global;
                self.report.gone_unranked = gone_unranked;
                self.reset_order_state();
                pre.extend(moved);
                pre
            }
            // Cannot happen (the rows come from a consistent queue); keep
            // the arrival order rather than lose anyone.
            Err(_) => Vec::new(),
        }
    }
}
