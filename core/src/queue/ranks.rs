//! The shard's side of the one admission order ([`crate::order`]): seals
//! give its new entries their rank, departures are noted for the next
//! summary, and the grants' views of the other shards are applied.
//!
//! Unranked entries are always the newest: a seal covers every unranked
//! entry up to a sequence number, so ranks never decrease along sequence
//! numbers and in-shard arrival order is admission order.

use super::ShardQueue;
use crate::order::{RankReport, Seal, ViewUpdate};

impl ShardQueue {
    /// Applies seals in order; those already applied change nothing.
    /// Returns the seals that gave rows a rank (persist them).
    pub fn apply_seals(&mut self, seals: &[Seal]) -> Vec<Seal> {
        let mut applied = Vec::new();
        for &seal in seals {
            let from = self.meta.sealed_through_seq.map_or(0, |t| t + 1);
            if seal.rank == 0 || seal.through_seq < from {
                continue;
            }
            let mut live = 0u64;
            let start = from.max(self.head_seq);
            for seq in start..=seal.through_seq.min(self.next_seq.saturating_sub(1)) {
                let i = (seq - self.head_seq) as usize;
                let Some(slot) = self.slots.get_mut(i) else {
                    break;
                };
                if slot.is_live() && slot.rank == 0 {
                    slot.rank = seal.rank;
                    live += 1;
                }
            }
            if live > 0 {
                *self.own.entry(seal.rank).or_insert(0) += live;
            }
            // The coordinator counted the entries of the last summary; those
            // of them gone since were not there to be ranked.
            let gone = self
                .report
                .gone_unranked
                .iter()
                .filter(|&&s| s >= from && s <= seal.through_seq)
                .count() as i64;
            if gone > 0 {
                *self.report.changes.entry(seal.rank).or_insert(0) -= gone;
            }
            self.meta.sealed_through_seq = Some(seal.through_seq);
            self.next_seq = self.next_seq.max(seal.through_seq + 1);
            applied.push(seal);
        }
        applied
    }

    /// Bookkeeping for an entry leaving the queue (admitted, left, dropped).
    pub(super) fn note_gone(&mut self, seq: u64, rank: u64) {
        if rank == 0 {
            self.report.gone_unranked.push(seq);
            return;
        }
        if let Some(n) = self.own.get_mut(&rank) {
            *n -= 1;
            if *n == 0 {
                self.own.remove(&rank);
                self.promised.remove(&rank);
            }
        }
        *self.report.changes.entry(rank).or_insert(0) -= 1;
    }

    /// The ranked part of the next summary for tick `tick_id`: changes if
    /// the coordinator holds this shard's last summary (`received_through`),
    /// else everything. Starts a new report.
    pub(super) fn take_report(
        &mut self,
        tick_id: u64,
        received_through: Option<u64>,
    ) -> RankReport {
        let report = std::mem::take(&mut self.report);
        self.report.last_summary_tick = Some(tick_id);
        match (report.last_summary_tick, received_through) {
            (Some(mine), Some(theirs)) if mine == theirs => RankReport::Delta(
                report
                    .changes
                    .into_iter()
                    .filter(|&(_, d)| d != 0)
                    .collect(),
            ),
            _ => RankReport::Full(self.own.iter().map(|(&r, &n)| (r, n)).collect()),
        }
    }

    /// Live entries without a rank and the highest sequence number among
    /// them.
    pub(super) fn unranked(&self) -> (u64, Option<u64>) {
        let n = self.waiting_len() - self.ranked_waiting();
        // Every unranked entry has a sequence number below `next_seq`.
        (n, (n > 0).then(|| self.next_seq - 1))
    }

    /// Tick of the view of the other shards held (`None`: none valid).
    pub fn view_tick(&self) -> Option<u64> {
        self.global.order.tick()
    }

    /// Live ranked entries.
    pub(super) fn ranked_waiting(&self) -> u64 {
        self.own.values().sum()
    }

    /// Applies a grant's view of the other shards.
    pub(super) fn apply_view(&mut self, shard: u32, tick_id: u64, view: &ViewUpdate) {
        self.global.order.apply(shard, tick_id, view);
    }

    /// Forgets what the coordinator was told (the lottery re-ranked
    /// everyone): the next summary reports in full and positions wait for a
    /// full view.
    pub(super) fn reset_order_state(&mut self) {
        self.report.last_summary_tick = None;
        self.global.order.invalidate();
        self.promised.clear();
    }
}
