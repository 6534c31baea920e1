//! The Coordinator's book of the admission order: how many waiting entries
//! each shard holds at each rank, kept from the shards' reports.
//!
//! It lives in the Coordinator's memory only. A restarted Coordinator starts
//! an empty book, every summary request then says it has received nothing,
//! and every shard answers with a full report ([`super::RankReport::Full`]);
//! until every shard has, no view goes out (views never lack a shard that
//! could later reappear ahead of someone).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::{Deserialize, Serialize};

use super::{tick_rank, RankReport, Seal, ViewUpdate};
use crate::wire::ShardSummary;

/// One shard's admissions in one tick: its `admit` first entries in the
/// order, none of a rank above `through_rank`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub admit: u64,
    pub through_rank: u64,
}

#[derive(Debug, Clone, Default)]
struct Column {
    /// rank → live entries (no zero counts).
    cells: BTreeMap<u64, u64>,
    total: u64,
    /// The column reflects the shard's reports (false in a fresh book).
    known: bool,
    /// Tick of the last summary of this shard taken in.
    received_through: Option<u64>,
    /// Seals not yet seen applied.
    seals: Vec<Seal>,
}

impl Column {
    /// Adds `d` at `rank`; returns the change actually made.
    fn add(&mut self, rank: u64, d: i64) -> i64 {
        let old = self.cells.get(&rank).copied().unwrap_or(0);
        let new = (old as i64 + d).max(0) as u64;
        if new == 0 {
            self.cells.remove(&rank);
        } else {
            self.cells.insert(rank, new);
        }
        self.total = self.total + new - old;
        new as i64 - old as i64
    }
}

/// The Coordinator's counts per (rank, shard). See the module docs.
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    columns: Vec<Column>,
    /// Tick of the views last sent to the shards; deltas start from it.
    view_tick: Option<u64>,
    /// `(rank, shard, change)` taken in since `view_tick`.
    changes: Vec<(u64, u32, i64)>,
    /// Reports that did not add up (each made the shard report in full).
    mismatches: u64,
}

impl OrderBook {
    /// An empty book (a Coordinator that just started).
    pub fn new() -> Self {
        Self::default()
    }

    fn column_mut(&mut self, shard: u32) -> &mut Column {
        let i = shard as usize;
        if self.columns.len() <= i {
            self.columns.resize_with(i + 1, Column::default);
        }
        &mut self.columns[i]
    }

    /// What this tick's summary request to `shard` carries: the tick of
    /// its last summary taken in (`None`: report in full) and the seals it
    /// has not applied yet.
    pub fn summary_request(&self, shard: u32) -> (Option<u64>, Vec<Seal>) {
        match self.columns.get(shard as usize) {
            Some(c) => (c.received_through, c.seals.clone()),
            None => (None, Vec::new()),
        }
    }

    /// Takes in `shard`'s summary of tick `tick_id` and gives the entries it
    /// reports as new the rank of this tick. Returns false if the report did
    /// not add up: the shard is then asked for a full report next tick.
    pub fn absorb(&mut self, tick_id: u64, s: &ShardSummary) -> bool {
        let shard = s.shard;
        let mut changes = Vec::new();
        let col = self.column_mut(shard);
        col.seals
            .retain(|seal| s.sealed_through_seq.is_none_or(|t| seal.through_seq > t));
        let mut ok = true;
        match &s.ranked {
            RankReport::Delta(cells) if col.known => {
                for &(rank, d) in cells {
                    let made = col.add(rank, d);
                    if made != d {
                        ok = false;
                    }
                    if made != 0 {
                        changes.push((rank, shard, made));
                    }
                }
            }
            RankReport::Delta(_) => ok = false,
            RankReport::Full(cells) => {
                let new: BTreeMap<u64, u64> = cells.iter().copied().filter(|c| c.1 > 0).collect();
                for (&rank, &old) in &col.cells {
                    if !new.contains_key(&rank) {
                        changes.push((rank, shard, -(old as i64)));
                    }
                }
                for (&rank, &n) in &new {
                    let old = col.cells.get(&rank).copied().unwrap_or(0);
                    if n != old {
                        changes.push((rank, shard, n as i64 - old as i64));
                    }
                }
                col.total = new.values().sum();
                col.cells = new;
                col.known = true;
            }
        }
        if let (true, Some(through_seq)) = (col.known && s.unranked > 0, s.unranked_through_seq) {
            let rank = tick_rank(tick_id);
            let made = col.add(rank, s.unranked as i64);
            changes.push((rank, shard, made));
            col.seals.push(Seal { rank, through_seq });
        }
        if col.total != s.ranked_waiting + if col.known { s.unranked } else { 0 } {
            ok = false;
        }
        col.received_through = if ok { Some(tick_id) } else { None };
        if !ok {
            self.mismatches += 1;
        }
        self.changes.extend(changes);
        ok
    }

    /// Whether every shard below `shards` has a known column.
    pub fn complete(&self, shards: u32) -> bool {
        (0..shards as usize).all(|i| self.columns.get(i).is_some_and(|c| c.known))
    }

    /// Entries of `shard` in the book.
    pub fn waiting(&self, shard: u32) -> u64 {
        self.columns.get(shard as usize).map_or(0, |c| c.total)
    }

    /// Reports that did not add up, ever.
    pub fn mismatches(&self) -> u64 {
        self.mismatches
    }

    /// Splits `budget` admissions: the first `budget` entries in the order
    /// among the shards marked `eligible` (those that answered this tick
    /// with a known column). A shard that does not answer keeps its people
    /// in place while the others go on: the only way the order is not
    /// strictly followed. O(cells touched × log shards).
    pub fn cuts(&self, budget: u64, eligible: &[bool]) -> Vec<Cut> {
        self.cuts_present(budget, eligible, &[])
    }

    /// [`OrderBook::cuts`] passing over the entries each shard reports away
    /// (`away[i]`: `(rank, n)` of shard `i`): the shard passes over them too,
    /// so this tick's admissions go to those present.
    pub fn cuts_present(&self, budget: u64, eligible: &[bool], away: &[&[(u64, u64)]]) -> Vec<Cut> {
        let mut cuts = vec![Cut::default(); eligible.len()];
        let usable = |i: usize| eligible[i] && self.columns.get(i).is_some_and(|c| c.known);
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = (0..eligible.len())
            .filter(|&i| usable(i))
            .filter_map(|i| {
                let (&rank, _) = self.columns[i].cells.iter().next()?;
                Some(Reverse((rank, i)))
            })
            .collect();
        let mut left = budget;
        while left > 0 {
            let Some(Reverse((rank, i))) = heap.pop() else {
                break;
            };
            let col = &self.columns[i];
            let gone = away
                .get(i)
                .and_then(|a| a.iter().find(|(r, _)| *r == rank))
                .map_or(0, |&(_, n)| n);
            let n = col.cells[&rank].saturating_sub(gone);
            let take = n.min(left);
            if take > 0 {
                cuts[i].admit += take;
                cuts[i].through_rank = rank;
                left -= take;
            }
            if let Some((&next, _)) = col.cells.range(rank + 1..).next() {
                heap.push(Reverse((next, i)));
            }
        }
        cuts
    }

    /// The view update for `shard`, whose view is of `shard_view_tick`:
    /// this tick's changes if it holds the last view sent, else everything;
    /// either way summed per rank over the other shards.
    pub fn view_for(&self, shard: u32, shard_view_tick: Option<u64>) -> ViewUpdate {
        match self.view_tick {
            Some(t) if shard_view_tick == Some(t) => {
                let mut ranks: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
                for &(rank, s, d) in self.changes.iter().filter(|c| c.1 != shard) {
                    let e = ranks.entry(rank).or_default();
                    e.0 += d;
                    if s < shard {
                        e.1 += d;
                    }
                }
                ViewUpdate::Delta {
                    from_tick: t,
                    ranks: ranks
                        .into_iter()
                        .filter(|&(_, (d, l))| d != 0 || l != 0)
                        .map(|(r, (d, l))| (r, d, l))
                        .collect(),
                }
            }
            _ => {
                let mut ranks: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
                for (i, c) in self.columns.iter().enumerate() {
                    if i == shard as usize {
                        continue;
                    }
                    for (&r, &n) in &c.cells {
                        let e = ranks.entry(r).or_default();
                        e.0 += n;
                        if (i as u32) < shard {
                            e.1 += n;
                        }
                    }
                }
                ViewUpdate::Full {
                    ranks: ranks.into_iter().map(|(r, (n, l))| (r, n, l)).collect(),
                }
            }
        }
    }

    /// Ends the tick: views of `tick_id` went out (`sent`), or none did and
    /// the next ones will be full.
    pub fn finish_tick(&mut self, tick_id: u64, sent: bool) {
        self.view_tick = sent.then_some(tick_id);
        self.changes.clear();
    }

    /// Cells in the book (for the benchmark).
    pub fn cells(&self) -> usize {
        self.columns.iter().map(|c| c.cells.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(shard: u32, ranked: RankReport, ranked_waiting: u64, unranked: u64) -> ShardSummary {
        ShardSummary {
            shard,
            waiting: ranked_waiting + unranked,
            ranked,
            ranked_waiting,
            unranked,
            unranked_through_seq: (unranked > 0).then_some(100 + unranked),
            ..ShardSummary::default()
        }
    }

    #[test]
    fn new_entries_get_the_tick_rank_and_a_seal_until_acknowledged() {
        let mut b = OrderBook::new();
        assert_eq!(b.summary_request(0), (None, vec![]));
        assert!(b.absorb(1, &summary(0, RankReport::Full(vec![]), 0, 3)));
        let (received, seals) = b.summary_request(0);
        assert_eq!(received, Some(1));
        assert_eq!(
            seals,
            vec![Seal {
                rank: tick_rank(1),
                through_seq: 103
            }]
        );
        let mut s = summary(0, RankReport::Delta(vec![]), 3, 0);
        s.sealed_through_seq = Some(103);
        assert!(b.absorb(2, &s));
        assert_eq!(b.summary_request(0).1, vec![]);
        assert_eq!(b.waiting(0), 3);
    }

    #[test]
    fn a_report_that_does_not_add_up_asks_for_a_full_one() {
        let mut b = OrderBook::new();
        assert!(b.absorb(1, &summary(0, RankReport::Full(vec![(7, 2)]), 2, 0)));
        // Says 5 ranked but the book makes it 2 - 1.
        assert!(!b.absorb(2, &summary(0, RankReport::Delta(vec![(7, -1)]), 5, 0)));
        assert_eq!(b.summary_request(0).0, None);
        assert_eq!(b.mismatches(), 1);
        assert!(b.absorb(3, &summary(0, RankReport::Full(vec![(7, 5)]), 5, 0)));
        assert_eq!(b.waiting(0), 5);
        // A delta to a column the book does not know cannot be trusted.
        assert!(!b.absorb(3, &summary(4, RankReport::Delta(vec![]), 0, 0)));
    }

    #[test]
    fn cuts_take_the_first_entries_in_the_order_and_skip_the_silent() {
        let mut b = OrderBook::new();
        b.absorb(
            1,
            &summary(0, RankReport::Full(vec![(10, 2), (30, 5)]), 7, 0),
        );
        b.absorb(
            1,
            &summary(1, RankReport::Full(vec![(10, 1), (20, 4)]), 5, 0),
        );
        b.absorb(1, &summary(2, RankReport::Full(vec![(5, 9)]), 9, 0));
        let all = [true, true, false];
        let cuts = b.cuts(5, &all);
        // Rank 10: shard 0 (2) then shard 1 (1); rank 20: shard 1 (2 of 4).
        assert_eq!(
            cuts[0],
            Cut {
                admit: 2,
                through_rank: 10
            }
        );
        assert_eq!(
            cuts[1],
            Cut {
                admit: 3,
                through_rank: 20
            }
        );
        assert_eq!(cuts[2], Cut::default(), "shard 2 did not answer");
        let cuts = b.cuts(100, &[true, true, true]);
        assert_eq!(cuts.iter().map(|c| c.admit).sum::<u64>(), 21);
        assert_eq!(cuts[0].through_rank, 30);
    }

    #[test]
    fn views_are_deltas_after_the_last_view_and_full_otherwise() {
        let mut b = OrderBook::new();
        b.absorb(1, &summary(0, RankReport::Full(vec![(10, 2)]), 2, 0));
        b.absorb(1, &summary(1, RankReport::Full(vec![(10, 1)]), 1, 0));
        assert_eq!(
            b.view_for(0, None),
            ViewUpdate::Full {
                ranks: vec![(10, 1, 0)]
            }
        );
        assert_eq!(
            b.view_for(1, None),
            ViewUpdate::Full {
                ranks: vec![(10, 2, 2)]
            },
            "shard 0's two are ahead of shard 1 at rank 10"
        );
        b.finish_tick(1, true);
        b.absorb(2, &summary(1, RankReport::Delta(vec![(10, -1)]), 0, 2));
        assert_eq!(
            b.view_for(0, Some(1)),
            ViewUpdate::Delta {
                from_tick: 1,
                ranks: vec![(10, -1, 0), (tick_rank(2), 2, 0)]
            }
        );
        // Shard 1 sees none of its own changes; a stale view gets it all.
        assert_eq!(
            b.view_for(1, Some(1)),
            ViewUpdate::Delta {
                from_tick: 1,
                ranks: vec![]
            }
        );
        assert!(matches!(b.view_for(0, Some(0)), ViewUpdate::Full { .. }));
        b.finish_tick(2, false);
        assert!(matches!(b.view_for(0, Some(1)), ViewUpdate::Full { .. }));
    }
}
