//! One shard holding 1,000,000 waiting entries: join, heartbeat with exact
//! position, admit(100), expire; plus memory per waiting entry, measured
//! with a counting global allocator (and cross-checked against the
//! structures' own capacity accounting).
//!
//! Run: `cargo bench -p waitroom-core --bench queue`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use waitroom_core::queue::{ShardConfig, ShardQueue};

const N: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000;

/// Counts live heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Spread-out ids, like the edge's (derived from random ticket ids).
fn id(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555
}

fn config() -> ShardConfig {
    ShardConfig {
        abandon_after_ms: 60_000,
        session_ms: 600_000,
        last_seen_granularity_ms: 10_000,
        max_away_ms: 0,
    }
}

/// Operations run at this time: every entry is live (joined within the
/// last second, grace is 70 s), so nothing expires behind the bench's back.
const NOW: u64 = T0 + 2_000;

/// A shard with `N` waiting entries, 1,000 arriving per millisecond.
fn full_shard() -> ShardQueue {
    let mut q = ShardQueue::new(config());
    for i in 0..N {
        q.join(id(i), T0 + i / 1_000);
    }
    q
}

fn bench(c: &mut Criterion) {
    let before = LIVE.load(Ordering::Relaxed);
    let q = full_shard();
    let after = LIVE.load(Ordering::Relaxed);
    println!(
        "memory: {:.1} bytes per waiting entry (allocator), {:.1} (capacity accounting), {} entries",
        (after - before) as f64 / N as f64,
        q.heap_bytes() as f64 / N as f64,
        N
    );

    let mut g = c.benchmark_group("queue_1m");
    // Join onto a shard that already holds 1M entries.
    {
        let mut q = q.clone();
        let mut next = N;
        g.bench_function("join", |b| {
            b.iter(|| {
                next += 1;
                black_box(q.join(id(next), NOW))
            })
        });
    }
    // Heartbeat of a random waiting entry: refresh + exact position.
    {
        let mut q = q.clone();
        let mut x = 1u64;
        g.bench_function("heartbeat_with_position", |b| {
            b.iter(|| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                let status = q.heartbeat(id((x >> 11) % N), NOW + (x >> 54));
                debug_assert!(matches!(status, waitroom_core::queue::Status::Waiting(_)));
                black_box(status)
            })
        });
    }
    // Admit the 100 oldest (runs expiry first; nothing is overdue).
    {
        let mut q = q.clone();
        let mut refill = N;
        g.bench_function("admit_100", |b| {
            b.iter(|| {
                let out = q.admit(100, NOW);
                debug_assert_eq!(out.admitted.len(), 100);
                for _ in 0..100 {
                    refill += 1;
                    q.join(id(refill), NOW);
                }
                black_box(out)
            })
        });
    }
    // Expire when nothing is overdue (the every-tick case).
    {
        let mut q = q.clone();
        g.bench_function("expire_nothing_due", |b| {
            b.iter(|| black_box(q.expire(NOW)))
        });
    }
    // Expire 1,000 overdue entries out of 1M (a heavy tick).
    {
        g.sample_size(10);
        g.bench_function("expire_1000_overdue_of_1m", |b| {
            b.iter_batched_ref(
                || q.clone(),
                |q| {
                    // Entries 0..1000 joined at T0; they are overdue just
                    // past T0 + grace, everyone else is not.
                    let now = T0 + config().expiry_grace_ms() + 1;
                    let n = q.expire(now).abandoned.len();
                    debug_assert_eq!(n, 1_000);
                    black_box(n)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
