//! The 300,000-citizen / 32-shard launch simulation of `tests/queue_sim.rs`
//! built optimised, printing what BENCHMARKS.md records: how exact the
//! positions shown were (at the tick boundary and against the live truth),
//! rises, FIFO, the pace, the ETA error, and the Coordinator's tick cost
//! and bytes per tick. `cargo bench -p waitroom-core --bench order_sim`.

#[path = "../tests/sim/mod.rs"]
mod sim;

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let p = sim::launch_day();
    let started = std::time::Instant::now();
    let r = sim::run(&p);
    let ranked = r.polls - r.counting;
    println!(
        "order_sim: {} citizens, {} shards, front-loaded over {} s, {} admitted/min",
        p.users,
        p.shards,
        p.arrival_window_ms / 1000,
        p.config.new_users_per_minute
    );
    println!("  polls: {} ({} while counting)", r.polls, r.counting);
    println!(
        "  exact at the tick boundary: {} of {} ({:.4}%)",
        r.exact,
        ranked,
        r.exact as f64 * 100.0 / ranked.max(1) as f64
    );
    println!(
        "  shown - live truth: p50 {} p90 {} p99 {} max {}",
        sim::lag_quantile(&r, 0.5),
        sim::lag_quantile(&r, 0.9),
        sim::lag_quantile(&r, 0.99),
        sim::lag_quantile(&r, 1.0)
    );
    println!(
        "  rises: {}, below the true count: {}, FIFO violations: {}",
        r.rises, r.below_true, r.fifo_violations
    );
    println!(
        "  pace: worst sustained minute off by {:.3}% ({} minutes)",
        r.worst_minute_error * 100.0,
        r.sustained_minutes
    );
    println!(
        "  ETA error at first position: median {:.1}%, p90 {:.1}%",
        r.eta_median_error * 100.0,
        r.eta_p90_error * 100.0
    );
    println!(
        "  coordinator tick (controller only): p50 {} us, p99 {} us, max {} us over {} ticks",
        quantile(&r.tick_us, 0.5),
        quantile(&r.tick_us, 0.99),
        quantile(&r.tick_us, 1.0),
        r.tick_us.len()
    );
    println!(
        "  JSON per tick, all shards (requests + summaries + grants): p50 {} B, p99 {} B, max {} B",
        quantile(&r.tick_bytes, 0.5),
        quantile(&r.tick_bytes, 0.99),
        quantile(&r.tick_bytes, 1.0)
    );
    println!("  run took {:.1} s", started.elapsed().as_secs_f64());
}
