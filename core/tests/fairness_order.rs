//! The published lottery order is the order the real shards and controller
//! admit: the grants carry the lottery of a committed [`FairnessSeed`] (as
//! the Coordinator sends it), and `admission_order` over the published
//! entries, recomputed from the revealed seed, matches.

use waitroom_core::coordinator::{AdmissionConfig, AdmissionController};
use waitroom_core::operator::{
    admission_order, fairness::verify_published, FairnessSeed, LotteryEntry, OperatorConfig,
};
use waitroom_core::order::OrderKey;
use waitroom_core::queue::ShardQueue;

const P: u64 = 1_800_000_000_000;
const E: u64 = P + 60_000;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        new_users_per_minute: 60, // one per 1 s tick
        total_active_users: 100_000,
        session_minutes: 24 * 60,
        abandon_after_seconds: 3_600, // nobody abandons during the test
        ..AdmissionConfig::default()
    }
}

fn scheduled() -> OperatorConfig {
    OperatorConfig {
        prequeue_start: Some(P),
        event_start: Some(E),
        ..OperatorConfig::default()
    }
}

fn seed(n: u8) -> FairnessSeed {
    let mut b = [0u8; 32];
    b.iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = n ^ (i as u8).wrapping_mul(37));
    FairnessSeed(b)
}

/// Pseudonymous ids as the edge makes them (52 random-looking bits).
fn id(i: u64) -> u64 {
    (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12
}

struct Room {
    ctl: AdmissionController,
    shards: Vec<ShardQueue>,
    tick: u64,
    now: u64,
    fair: FairnessSeed,
}

impl Room {
    fn new(shards: usize, fair: FairnessSeed) -> Self {
        let mut ctl = AdmissionController::new();
        ctl.ensure_seed(99);
        Room {
            ctl,
            shards: (0..shards)
                .map(|_| ShardQueue::new(config().shard_config()))
                .collect(),
            tick: 0,
            now: P,
            fair,
        }
    }

    /// One tick; returns (shard, id) admitted, and the rows the lottery
    /// reordered.
    fn tick(&mut self) -> (Vec<Vec<u64>>, Vec<(u32, waitroom_core::queue::EntryRow)>) {
        self.tick += 1;
        self.now += 1_000;
        let op = scheduled();
        let summaries: Vec<_> = self
            .shards
            .iter_mut()
            .enumerate()
            .map(|(i, s)| {
                s.summary(&self.ctl.summary_request(i as u32, self.tick), self.now)
                    .0
            })
            .collect();
        let mut plan = self
            .ctl
            .tick_room(self.tick, self.now, &summaries, &config(), &op);
        let (mut admitted, mut reordered) = (Vec::new(), Vec::new());
        for (i, (s, g)) in self.shards.iter_mut().zip(&mut plan.grants).enumerate() {
            // The lottery of the committed seed, as the Coordinator sends it.
            if g.lottery.is_some() {
                g.lottery = self.fair.lottery(&op);
            }
            let out = s.apply_grant(g, self.now);
            admitted.push(out.changes.admitted);
            reordered.extend(out.reordered.into_iter().map(|r| (i as u32, r)));
        }
        (admitted, reordered)
    }

    /// `n` join the pre-queue round-robin over the shards, are ranked, and
    /// the event starts: the published entries and the lottery's rows.
    fn prequeue(
        &mut self,
        n: u64,
    ) -> (
        Vec<LotteryEntry>,
        Vec<(u32, waitroom_core::queue::EntryRow)>,
    ) {
        self.tick();
        let k = self.shards.len() as u64;
        let mut entries = Vec::new();
        for i in 0..n {
            let shard = (i % k) as u32;
            self.shards[shard as usize].join(id(i), self.now + i % 1000);
            entries.push(LotteryEntry { id: id(i), shard });
        }
        for _ in 0..3 {
            assert!(self.tick().0.iter().all(Vec::is_empty), "pre-queue admits");
        }
        self.now = E;
        let (admitted, rows) = self.tick();
        assert!(
            admitted.iter().all(Vec::is_empty),
            "the lottery tick admits"
        );
        assert_eq!(rows.len() as u64, n, "everyone pre-queued is shuffled");
        (entries, rows)
    }
}

#[test]
fn the_recomputed_order_is_the_one_order_of_the_shards() {
    // Enough entries that some share a lottery sub-rank across shards
    // (2^15 sub-ranks), where the shard decides.
    let fair = seed(1);
    let mut room = Room::new(4, fair);
    let (entries, rows) = room.prequeue(3_000);
    let mut by_key: Vec<_> = rows
        .iter()
        .map(|(shard, r)| {
            (
                OrderKey {
                    rank: r.rank,
                    shard: *shard,
                    seq: r.seq,
                },
                LotteryEntry {
                    id: r.id,
                    shard: *shard,
                },
            )
        })
        .collect();
    by_key.sort_by_key(|(k, _)| *k);
    let ties = by_key
        .windows(2)
        .filter(|w| w[0].0.rank == w[1].0.rank && w[0].0.shard != w[1].0.shard)
        .count();
    assert!(
        ties > 0,
        "no cross-shard tie: the test would not check the tie rule"
    );
    let shards_order: Vec<LotteryEntry> = by_key.into_iter().map(|(_, e)| e).collect();
    assert_eq!(admission_order(fair.lottery_seed(), &entries), shards_order);
    // Another seed's order is not it.
    assert_ne!(
        admission_order(seed(2).lottery_seed(), &entries),
        shards_order
    );
}

#[test]
fn the_published_order_is_the_admitted_order() {
    let fair = seed(3);
    let mut room = Room::new(3, fair);
    let (entries, _) = room.prequeue(120);
    // Admitted one a tick (a tick's admissions come per shard, so compare
    // tick by tick as sets).
    let mut batches: Vec<Vec<u64>> = Vec::new();
    while batches.iter().map(Vec::len).sum::<usize>() < entries.len() {
        let mut batch: Vec<u64> = room.tick().0.into_iter().flatten().collect();
        if !batch.is_empty() {
            batch.sort_unstable();
            batches.push(batch);
        }
        assert!(room.tick < 1_000, "stuck after {batches:?}");
    }
    let text = waitroom_core::operator::fairness::entries_text(&entries);
    let order = verify_published(&fair.to_hex(), &fair.commitment().to_hex(), &text, None).unwrap();
    let mut rest = order.iter().map(|e| e.id);
    for batch in &batches {
        let mut expected: Vec<u64> = rest.by_ref().take(batch.len()).collect();
        expected.sort_unstable();
        assert_eq!(&expected, batch);
    }
    assert!(batches.iter().filter(|b| b.len() == 1).count() > 100);
}
