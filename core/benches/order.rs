//! The one admission order at launch-day scale (issue 17): a heartbeat's
//! exact global position with 1,000,000 waiting in its shard and 64 shards'
//! worth of global state, and a Coordinator tick over 64 shards holding
//! 1,000,000 waiting in all (controller only, natively; the figure inside
//! workerd is `cargo xtask bench --only tick`), and one shard's own part
//! of that tick as its Durable Object runs it, JSON included: its summary
//! and its grant.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use waitroom_core::coordinator::{AdmissionConfig, AdmissionController, ShardSummary};
use waitroom_core::order::RankReport;
use waitroom_core::queue::{ShardQueue, Status};
use waitroom_core::wire::Grant;

const T0: u64 = 1_700_000_000_000;
const SHARDS: u32 = 64;
const TICKS: u64 = 1_000;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        new_users_per_minute: 600,
        total_active_users: 1_000_000,
        session_minutes: 10,
        abandon_after_seconds: 3_600,
        paused: true,
        max_away_minutes: 0,
    }
}

fn id(shard: u32, i: u64) -> u64 {
    (i << 7 | u64::from(shard)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12
}

/// 64 shards filled over `TICKS` ticks, `per_tick(shard)` joins each, with
/// the Coordinator ticking (paused) so every entry has a rank and every
/// shard a current view.
fn room(per_tick: impl Fn(u32) -> u64) -> (AdmissionController, Vec<ShardQueue>, u64) {
    let mut ctl = AdmissionController::new();
    let mut shards: Vec<ShardQueue> = (0..SHARDS)
        .map(|_| ShardQueue::new(config().shard_config()))
        .collect();
    let mut next = vec![0u64; SHARDS as usize];
    let mut now = T0;
    for t in 1..=TICKS {
        now += 1_000;
        for (s, q) in shards.iter_mut().enumerate() {
            for _ in 0..per_tick(s as u32) {
                q.join(id(s as u32, next[s]), now - 500);
                next[s] += 1;
            }
        }
        let summaries: Vec<ShardSummary> = shards
            .iter_mut()
            .enumerate()
            .map(|(s, q)| q.summary(&ctl.summary_request(s as u32, t), now).0)
            .collect();
        let plan = ctl.tick(t, now, &summaries, &config());
        for (g, q) in plan.grants.iter().zip(shards.iter_mut()) {
            q.apply_grant(g, now);
        }
    }
    (ctl, shards, now)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("order");
    {
        // Shard 0: 1,000,000 waiting; the 63 others a thousand each, one per
        // tick, so the view holds 63,000 (rank, shard) cells.
        let (_, mut shards, now) = room(|s| if s == 0 { 1_000 } else { 1 });
        let q = &mut shards[0];
        assert_eq!(q.waiting_len(), 1_000_000);
        let mut x = 1u64;
        g.bench_function(
            "heartbeat_exact_global_position_1m_in_shard_64_shards",
            |b| {
                b.iter(|| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let status = q.heartbeat(id(0, (x >> 11) % 1_000_000), now);
                    debug_assert!(matches!(
                        status,
                        Status::Waiting(w) if w.global_position.is_some()
                    ));
                    black_box(status)
                })
            },
        );
    }
    {
        // 64 shards × 15,625 = 1,000,000 waiting over 1,000 ticks.
        let (ctl, mut shards, now) = room(|_| 15_625 / TICKS + u64::from(true));
        let waiting: u64 = shards.iter().map(|q| q.waiting_len()).sum();
        println!(
            "coordinator tick: {waiting} waiting over {SHARDS} shards, {} book cells",
            ctl.book().cells()
        );
        // The next tick's summaries: each shard lost 10 and gained 10.
        let t = TICKS + 1;
        let mut summaries = Vec::new();
        for (s, q) in shards.iter_mut().enumerate() {
            for i in 0..10u64 {
                q.leave(id(s as u32, i * 97));
                q.join(id(s as u32, 10_000_000 + i), now + 500);
            }
            summaries.push(q.summary(&ctl.summary_request(s as u32, t), now + 1_000).0);
        }
        assert!(summaries
            .iter()
            .all(|s| matches!(s.ranked, RankReport::Delta(_))));
        let open = AdmissionConfig {
            paused: false,
            ..config()
        };
        let mut probe = ctl.clone();
        let plan = probe.tick(t, now + 1_000, &summaries, &open);
        let up: usize = summaries
            .iter()
            .map(|s| serde_json::to_string(s).unwrap().len())
            .sum();
        let down: usize = plan
            .grants
            .iter()
            .map(|g| serde_json::to_string(g).unwrap().len())
            .sum();
        println!("coordinator tick: {up} bytes of summaries up, {down} bytes of grants down");
        g.bench_function("coordinator_tick_64_shards_1m_waiting", |b| {
            b.iter_batched_ref(
                || ctl.clone(),
                |ctl| black_box(ctl.tick(t, now + 1_000, &summaries, &open)),
                BatchSize::LargeInput,
            )
        });
        // One shard's part (15,625 waiting): what its Durable Object does
        // per tick besides SQLite and the call itself.
        let shard = 1;
        let request = serde_json::to_string(&ctl.summary_request(shard as u32, t + 1)).unwrap();
        g.bench_function("shard_summary_json_15k_waiting", |b| {
            b.iter_batched_ref(
                || shards[shard].clone(),
                |q| {
                    let req = serde_json::from_str(&request).unwrap();
                    black_box(serde_json::to_string(&q.summary(&req, now + 2_000).0).unwrap())
                },
                BatchSize::LargeInput,
            )
        });
        let grant = serde_json::to_string(&plan.grants[shard]).unwrap();
        println!("shard grant: {} bytes", grant.len());
        g.bench_function("shard_grant_json_15k_waiting", |b| {
            b.iter_batched_ref(
                || shards[shard].clone(),
                |q| {
                    let grant: Grant = serde_json::from_str(&grant).unwrap();
                    let outcome = q.apply_grant(&grant, now + 1_000);
                    black_box((serde_json::to_string(q.meta()).unwrap(), outcome))
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
