//! Issue 18, attack 7 (the `/metrics` part): metrics are served on their
//! own listener, not the API's, and a scrape costs Redis nothing (the
//! stream length is cached). Ports 21380–21389 (metrics 22382).

mod common;

use common::*;

/// Calls of `command` Redis has counted (`INFO commandstats`).
fn calls(redis_port: u16, command: &str) -> u64 {
    let info = redis_cli(redis_port, &["info", "commandstats"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn metrics_have_their_own_listener_and_a_scrape_costs_redis_nothing() {
    let block = 21380;
    let logs = log_dir(block);
    let secrets = Secrets::new();
    let _redis = spawn_redis(block);
    let _sim = spawn_sim(block + 1, &[], &logs);
    let _origin = spawn_origin(block + 2, block, block + 1, &secrets, &[], &logs);
    let edge = Edge::new(block + 2, &secrets.edge_key);
    let http = reqwest::Client::new();

    let api = http
        .get(format!("{}/metrics", edge.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "metrics on the public API listener");

    // Wait for the first refresh of the cached gauge.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = http
            .get(format!("{}/metrics", edge.metrics_base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metric(&page, "waitroom_origin_stream_entries") == Some(0.0) {
            break;
        }
        assert!(std::time::Instant::now() < end, "no stream gauge: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let before = calls(block, "xlen");
    for _ in 0..200 {
        let r = http
            .get(format!("{}/metrics", edge.metrics_base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let after = calls(block, "xlen");
    // The periodic refresh (every 5 s) may fall in; 200 scrapes may not.
    assert!(
        after - before <= 2,
        "{} XLEN for 200 scrapes",
        after - before
    );
}
