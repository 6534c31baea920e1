//! State-machine property test: `ShardQueue` against a deliberately naive
//! reference model (a `Vec` in arrival order, scanned linearly). Arbitrary
//! sequences of join / heartbeat / leave / release / expire / admit / time
//! steps / restore-from-rows must give identical outcomes, positions,
//! admissions and expiries.

use proptest::prelude::*;
use waitroom_core::queue::{
    EntryRow, EntryState, JoinOutcome, RowChanges, ShardConfig, ShardQueue, Status,
};

const IDS: u64 = 12;
const CONFIG: ShardConfig = ShardConfig {
    abandon_after_ms: 30_000,
    session_ms: 60_000,
    last_seen_granularity_ms: 5_000,
    max_away_ms: 0,
};

/// Entry ids are arbitrary u64 at the edge: spread them out.
fn id_of(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xdead_beef
}

#[derive(Debug, Clone)]
enum Op {
    Join(u64),
    Heartbeat(u64),
    Leave(u64),
    Release(u64),
    Expire,
    Admit(u64),
    Advance(u64),
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..IDS).prop_map(Op::Join),
        4 => (0..IDS).prop_map(Op::Heartbeat),
        1 => (0..IDS).prop_map(Op::Leave),
        1 => (0..IDS).prop_map(Op::Release),
        1 => Just(Op::Expire),
        2 => (0..4u64).prop_map(Op::Admit),
        4 => prop_oneof![0..2_000u64, 0..40_000u64].prop_map(Op::Advance),
        1 => Just(Op::Restore),
    ]
}

#[derive(Debug, Clone)]
struct ModelEntry {
    id: u64,
    seq: u64,
    arrived: u64,
    last_seen: u64,
}

/// The obviously-correct version: linear scans everywhere.
#[derive(Debug, Default)]
struct Model {
    waiting: Vec<ModelEntry>,
    sessions: Vec<(u64, u64)>,
    next_seq: u64,
    last_arrival: u64,
}

impl Model {
    fn grace() -> u64 {
        CONFIG.abandon_after_ms + CONFIG.last_seen_granularity_ms
    }

    fn find(&self, id: u64) -> Option<usize> {
        self.waiting.iter().position(|e| e.id == id)
    }

    fn session(&self, id: u64, now: u64) -> Option<u64> {
        self.sessions
            .iter()
            .find(|&&(i, end)| i == id && end > now)
            .map(|&(_, end)| end)
    }

    fn join(&mut self, id: u64, now: u64) -> JoinOutcome {
        if let Some(i) = self.find(id) {
            return JoinOutcome::AlreadyWaiting {
                seq: self.waiting[i].seq,
            };
        }
        if let Some(end) = self.session(id, now) {
            return JoinOutcome::AlreadyAdmitted {
                session_expires_ms: end,
            };
        }
        self.sessions.retain(|&(i, _)| i != id);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.last_arrival = self.last_arrival.max(now);
        self.waiting.push(ModelEntry {
            id,
            seq,
            arrived: self.last_arrival,
            last_seen: now,
        });
        JoinOutcome::Joined { seq }
    }

    /// (status kind, seq, position, waiting len, persist)
    fn heartbeat(&mut self, id: u64, now: u64) -> (u8, u64, u64, u64, bool) {
        let Some(i) = self.find(id) else {
            return match self.session(id, now) {
                Some(end) => (1, end, 0, 0, false),
                None => (3, 0, 0, 0, false),
            };
        };
        let e = &mut self.waiting[i];
        if now > e.last_seen + Self::grace() {
            self.waiting.remove(i);
            return (2, 0, 0, 0, false);
        }
        let persist = now >= e.last_seen + CONFIG.last_seen_granularity_ms && now > e.last_seen;
        if persist {
            e.last_seen = now;
        }
        (0, e.seq, i as u64 + 1, self.waiting.len() as u64, persist)
    }

    fn expire(&mut self, now: u64) -> RowChanges {
        self.sessions.retain(|&(_, end)| end > now);
        let mut changes = RowChanges::default();
        self.waiting.retain(|e| {
            let keep = now <= e.last_seen + Self::grace();
            if !keep {
                changes.abandoned.push(e.id);
            }
            keep
        });
        changes
    }

    fn admit(&mut self, k: u64, now: u64) -> RowChanges {
        let mut changes = self.expire(now);
        let end = now + CONFIG.session_ms;
        changes.session_expires_ms = end;
        let k = (k as usize).min(self.waiting.len());
        for e in self.waiting.drain(..k) {
            changes.admitted.push(e.id);
            self.sessions.push((e.id, end));
        }
        changes
    }
}

fn observe(status: Status) -> (u8, u64, u64, u64, bool) {
    match status {
        Status::Waiting(w) => {
            assert_eq!(w.global_position, None, "no coordinator: no rank, counting");
            (0, w.seq, w.position, w.shard_waiting, w.persist_last_seen)
        }
        Status::Admitted { session_expires_ms } => (1, session_expires_ms, 0, 0, false),
        Status::Abandoned => (2, 0, 0, 0, false),
        Status::NotFound => (3, 0, 0, 0, false),
    }
}

fn rows(q: &ShardQueue) -> Vec<EntryRow> {
    // Reverse order: restore must not depend on row order.
    (0..IDS).rev().filter_map(|i| q.row(id_of(i))).collect()
}

fn check_all(q: &ShardQueue, m: &Model, now: u64) {
    assert_eq!(q.waiting_len(), m.waiting.len() as u64);
    assert_eq!(q.oldest_arrival_ms(), m.waiting.first().map(|e| e.arrived));
    for i in 0..IDS {
        let id = id_of(i);
        let expect = m.find(id).map(|p| p as u64 + 1);
        assert_eq!(q.position(id), expect, "position of {i}");
        assert_eq!(q.is_admitted(id, now), m.session(id, now).is_some());
        if let Some(p) = m.find(id) {
            let row = q.row(id).expect("row of waiting entry");
            let e = &m.waiting[p];
            assert_eq!(
                (row.seq, row.arrived_ms, row.last_seen_ms, row.state),
                (e.seq, e.arrived, e.last_seen, EntryState::Waiting)
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let mut q = ShardQueue::new(CONFIG);
    let mut m = Model::default();
    let mut now = 1_700_000_000_000u64;
    for op in ops {
        match op {
            Op::Join(i) => assert_eq!(q.join(id_of(i), now), m.join(id_of(i), now)),
            Op::Heartbeat(i) => {
                assert_eq!(
                    observe(q.heartbeat(id_of(i), now)),
                    m.heartbeat(id_of(i), now)
                )
            }
            Op::Leave(i) => {
                let expect = m.find(id_of(i)).map(|p| m.waiting.remove(p)).is_some();
                assert_eq!(q.leave(id_of(i)), expect);
            }
            Op::Release(i) => {
                let had = m.session(id_of(i), now).is_some()
                    || m.sessions.iter().any(|&(id, _)| id == id_of(i));
                m.sessions.retain(|&(id, _)| id != id_of(i));
                // The queue may have pruned an ended session already; only
                // a live one must be reported.
                let got = q.release(id_of(i));
                assert!(got == had || !got);
                if m.session(id_of(i), now).is_some() {
                    assert!(got);
                }
            }
            Op::Expire => assert_eq!(q.expire(now), m.expire(now)),
            Op::Admit(k) => assert_eq!(q.admit(k, now), m.admit(k, now)),
            Op::Advance(dt) => now += dt,
            Op::Restore => {
                q = ShardQueue::restore(q.meta().clone(), rows(&q), now).expect("restore");
                // Sequence numbers and the arrival clamp only need to be
                // consistent with the surviving rows.
                m.next_seq = m.waiting.last().map_or(0, |e| e.seq + 1);
                m.last_arrival = m.waiting.last().map_or(0, |e| e.arrived);
            }
        }
        check_all(&q, &m, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn queue_matches_naive_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops);
    }
}

/// Long runs push sequence numbers far past the initial tree size, which
/// exercises re-basing and compaction.
#[test]
fn long_run_rebases_tree() {
    let mut ops = Vec::new();
    let mut x = 7u64;
    for _ in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = x >> 33;
        ops.push(match r % 10 {
            0..=3 => Op::Join(r % IDS),
            4 => Op::Leave(r % IDS),
            5 | 6 => Op::Heartbeat(r % IDS),
            7 => Op::Admit(r % 3),
            8 => Op::Advance(r % 8_000),
            _ => Op::Expire,
        });
    }
    run(ops);
}
