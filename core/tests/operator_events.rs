//! Scheduled events through the real controller and shards, driven as the
//! Coordinator would: every tick runs under `Settings::effective(now)`, and
//! the grants carry the lottery of each event's committed seed. Shows that
//! an event's pre-queue holds admissions, its lottery runs once at its
//! start, its pace applies while it runs and the room's returns after it,
//! and a second event gets its own lottery.

use serde_json::json;
use waitroom_core::coordinator::AdmissionController;
use waitroom_core::operator::{apply_settings_patch, draws_needed, Door, FairnessDraw, Settings};
use waitroom_core::queue::ShardQueue;

const T: u64 = 1_800_000_000_000;
const S: u64 = 1_000;

struct Room {
    settings: Settings,
    draws: Vec<FairnessDraw>,
    ctl: AdmissionController,
    shards: Vec<ShardQueue>,
    tick: u64,
    now: u64,
}

impl Room {
    /// One tick a second later; returns (admitted, rows the lottery moved).
    fn tick(&mut self) -> (usize, usize) {
        self.tick += 1;
        self.now += S;
        let eff = self.settings.effective(self.now);
        let summaries: Vec<_> = self
            .shards
            .iter_mut()
            .enumerate()
            .map(|(i, s)| {
                s.summary(&self.ctl.summary_request(i as u32, self.tick), self.now)
                    .0
            })
            .collect();
        let mut plan = self.ctl.tick_room(
            self.tick,
            self.now,
            &summaries,
            &eff.admission,
            &eff.operator,
        );
        let (mut admitted, mut moved) = (0, 0);
        for (s, g) in self.shards.iter_mut().zip(&mut plan.grants) {
            if let Some(l) = g.lottery {
                let draw = self
                    .draws
                    .iter_mut()
                    .find(|d| d.event_start_ms == l.event_start_ms)
                    .expect("a seed was committed for every pre-queue");
                g.lottery = draw.seed.lottery(&eff.operator);
                draw.record_draw(0, self.now);
            }
            let out = s.apply_grant(g, self.now);
            admitted += out.changes.admitted.len();
            moved += out.reordered.len();
        }
        (admitted, moved)
    }

    fn ticks(&mut self, n: usize) -> Vec<(usize, usize)> {
        (0..n).map(|_| self.tick()).collect()
    }

    fn join(&mut self, from: u64, n: u64) {
        for id in from..from + n {
            let k = self.shards.len() as u64;
            self.shards[(id % k) as usize].join(id, self.now);
        }
    }
}

#[test]
fn events_take_over_the_room_and_give_it_back() {
    let patch: serde_json::Map<String, serde_json::Value> = serde_json::from_value(json!({
            "new_users_per_minute": 60,
            "total_active_users": 100_000,
            "abandon_after_seconds": 3_600,
            "events": [
                {"name": "first", "prequeue_start": T + 10 * S, "start": T + 20 * S,
                 "end": T + 40 * S, "new_users_per_minute": 120},
                {"name": "second", "prequeue_start": T + 60 * S, "start": T + 70 * S,
                 "end": T + 90 * S, "new_users_per_minute": 180},
            ],
    }))
    .unwrap();
    let settings = apply_settings_patch(&Settings::default(), &patch).unwrap();
    // The operator set two pre-queues: two seeds, committed at once.
    let draws = draws_needed(&settings, &[])
        .into_iter()
        .map(|start| FairnessDraw::new(start, [start as u8; 32]))
        .collect::<Vec<_>>();
    assert_eq!(draws.len(), 2);
    assert!(draws.iter().all(|d| d.public().seed.is_none()));
    let mut room = Room {
        shards: (0..3)
            .map(|_| ShardQueue::new(settings.admission.shard_config()))
            .collect(),
        settings,
        draws,
        ctl: AdmissionController::new(),
        tick: 0,
        now: T,
    };

    // Before the first event: the room's own pace, one a second.
    room.join(1, 20);
    let before: Vec<_> = room.ticks(5);
    assert_eq!(before.iter().map(|t| t.0).sum::<usize>(), 5, "{before:?}");

    // The first pre-queue (from T+10 s): nobody admitted, newcomers
    // pre-queue; those still waiting from before join the lottery too.
    room.now = T + 10 * S;
    room.ticks(1);
    assert_eq!(
        room.shards[0].door(room.now),
        Door::PreQueue {
            event_start_ms: T + 20 * S
        }
    );
    room.join(100, 100);
    let pre = room.ticks(8); // up to T + 19 s
    assert!(pre.iter().all(|t| t.0 == 0), "pre-queue admitted: {pre:?}");
    assert!(
        room.draws[0].public().seed.is_none(),
        "seed secret before the draw"
    );

    // Its start: one lottery tick (admits nobody, moves everyone waiting),
    // then the event's pace, two a second.
    let start = room.ticks(1)[0];
    assert_eq!(start, (0, 15 + 100));
    assert!(
        room.draws[0].public().seed.is_some(),
        "seed published after"
    );
    let during = room.ticks(19); // up to T + 39 s
    assert!(during.iter().all(|t| *t == (2, 0)), "{during:?}");

    // From its end (T+40 s): the room's pace again, no more lotteries.
    let after = room.ticks(5);
    assert!(after.iter().all(|t| *t == (1, 0)), "{after:?}");

    // The second event: its own pre-queue and lottery, at its own pace.
    room.now = T + 60 * S;
    let pre2 = room.ticks(9);
    assert!(pre2.iter().all(|t| t.0 == 0), "{pre2:?}");
    let start2 = room.ticks(1)[0];
    assert_eq!(start2.0, 0);
    assert_eq!(start2.1, 115 - 38 - 5, "the second lottery ran");
    let during2 = room.ticks(3);
    assert!(during2.iter().all(|t| *t == (3, 0)), "{during2:?}");
}
