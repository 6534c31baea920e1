//! Phones that lock their screen (issue 19) against the real stack: a
//! citizen far from the front is told until when the place is held, keeps
//! it while silent within that time, loses it after, and the operator sees
//! the loss counted (`missed_turn`). Port block 56.
//! (The browser's side, a tab frozen through the DevTools protocol, is
//! `tests/browser/scenarios.mjs` `phoneAway`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use waitroom_e2e::*;

#[test]
fn a_citizen_silent_past_the_hold_loses_the_place_and_is_counted() {
    // One admission a minute, paused: nobody moves. 15 s of silence drops
    // a citizen without a hold; holds last at most a minute.
    let s = setup("phone_missed", 56).start();
    let (code, body) = s.configure(json!({
        "paused": true, "new_users_per_minute": 1,
        "abandon_after_seconds": 15, "max_away_minutes": 1
    }));
    assert_eq!(code, 200, "{body}");
    // The first 10 places need presence (no hold): eleven citizens ahead.
    let mut ahead: Vec<_> = (0..11).map(|_| s.citizen()).collect();
    for (i, c) in ahead.iter_mut().enumerate() {
        assert_eq!(c.join_from(&format!("198.51.100.{}", i + 1)).0, 201);
    }
    // All of them ranked before I join (within one tick the order is by
    // shard, so joining in the same tick would not put me behind them).
    eventually("the eleven counted", Duration::from_secs(20), || {
        ahead
            .iter_mut()
            .all(|c| c.status()["counting"] != true)
            .then_some(())
    });
    let mut me = s.citizen();
    assert_eq!(me.join_from("198.51.100.99").0, 201);
    let held = eventually("a hold for the 12th", Duration::from_secs(20), || {
        let v = me.status();
        v["hold_until_ms"].as_u64()
    });
    let missed_before = s.stats()["missed_turn"].as_u64().unwrap();

    // The others keep polling; I go silent.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for c in ahead.iter_mut() {
                    let (code, v) = into_json(c.get("/queue/status"));
                    assert_eq!((code, v["state"].as_str()), (200, Some("waiting")), "{v}");
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        // Past the plain 15 s, within the hold: kept.
        let away_since = now_ms();
        std::thread::sleep(Duration::from_millis(
            (20_000u64).min(held.saturating_sub(away_since).saturating_sub(5_000)),
        ));
        let v = me.status();
        assert_eq!(v["state"], "waiting", "kept within the hold: {v}");
        // Silent again until hold + 15 s, and a little more: lost, counted.
        let lost_after = (held.max(now_ms()) + 15_000 + 5_000).saturating_sub(now_ms());
        std::thread::sleep(Duration::from_millis(lost_after));
        let missed = eventually("the loss counted", Duration::from_secs(30), || {
            let m = s.stats()["missed_turn"].as_u64().unwrap();
            (m > missed_before).then_some(m)
        });
        assert_eq!(missed, missed_before + 1);
    });
    let v = me.status();
    assert_eq!(v["state"], "expired", "{v}");
}
