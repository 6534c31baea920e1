//! Pure arithmetic over what the citizens and the samplers recorded: no I/O,
//! no clock, unit-tested below.

/// The `q`-quantile (0..=1) of `values` by nearest rank; 0 when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// One admitted citizen, as the fairness figures see it (server clock, ms).
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub arrived_ms: u64,
    pub admitted_ms: u64,
    pub shard: u32,
    pub seq: u64,
}

/// Fenwick tree over ranks: counts of inserted values below a rank.
struct Fenwick(Vec<u64>);

impl Fenwick {
    fn add(&mut self, rank: usize) {
        let mut i = rank + 1;
        while i < self.0.len() {
            self.0[i] += 1;
            i += i & i.wrapping_neg();
        }
    }
    /// How many inserted ranks are < `rank`.
    fn below(&self, rank: usize) -> u64 {
        let mut i = rank;
        let mut sum = 0;
        while i > 0 {
            sum += self.0[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }
}

/// The largest overtaking: for one admitted citizen, how many who arrived
/// strictly later were admitted strictly earlier; the maximum over citizens.
/// `key` orders arrivals (arrival time across shards, `seq` within one).
pub fn max_overtaken(admissions: &[Admission], key: impl Fn(&Admission) -> u64) -> u64 {
    let mut times: Vec<u64> = admissions.iter().map(|a| a.admitted_ms).collect();
    times.sort_unstable();
    times.dedup();
    let rank = |t: u64| times.partition_point(|&x| x < t);
    let mut by_arrival: Vec<&Admission> = admissions.iter().collect();
    by_arrival.sort_by_key(|a| key(a));
    let mut tree = Fenwick(vec![0; times.len() + 1]);
    let mut worst = 0;
    // Latest arrivals first; equal arrival keys are inserted together after
    // being counted, so a tie never counts as overtaking.
    let mut i = by_arrival.len();
    while i > 0 {
        let k = key(by_arrival[i - 1]);
        let mut j = i;
        while j > 0 && key(by_arrival[j - 1]) == k {
            j -= 1;
        }
        for a in &by_arrival[j..i] {
            worst = worst.max(tree.below(rank(a.admitted_ms)));
        }
        for a in &by_arrival[j..i] {
            tree.add(rank(a.admitted_ms));
        }
        i = j;
    }
    worst
}

/// The worst admission-order inversion in seconds: the largest
/// `b.arrived - a.arrived` over pairs where `b` arrived later than `a` and
/// was admitted strictly before it ("someone who came N s after you got in
/// before you").
pub fn worst_inversion_ms(admissions: &[Admission]) -> u64 {
    let mut by_admission: Vec<&Admission> = admissions.iter().collect();
    by_admission.sort_by_key(|a| a.admitted_ms);
    let mut latest_arrival_before = 0u64; // over strictly earlier admissions
    let mut worst = 0;
    let mut i = 0;
    while i < by_admission.len() {
        let t = by_admission[i].admitted_ms;
        let mut j = i;
        while j < by_admission.len() && by_admission[j].admitted_ms == t {
            worst = worst.max(latest_arrival_before.saturating_sub(by_admission[j].arrived_ms));
            j += 1;
        }
        for a in &by_admission[i..j] {
            latest_arrival_before = latest_arrival_before.max(a.arrived_ms);
        }
        i = j;
    }
    worst
}

/// Time from each abandoner's last heartbeat to its removal, estimated by
/// matching: removals happen in last-heartbeat order (the grace period is
/// the same for everyone), so the k-th earliest last heartbeat was removed
/// when the room's `abandoned_total` first reached k. `samples` are
/// `(wall ms, abandoned_total)` in time order. Unmatched abandoners are skipped.
pub fn removal_delays_ms(last_heartbeats_ms: &[u64], samples: &[(u64, u64)]) -> Vec<u64> {
    let mut last = last_heartbeats_ms.to_vec();
    last.sort_unstable();
    let mut out = Vec::with_capacity(last.len());
    let mut s = 0;
    for (k, hb) in last.iter().enumerate() {
        while s < samples.len() && samples[s].1 < (k as u64 + 1) {
            s += 1;
        }
        let Some(&(at, _)) = samples.get(s) else {
            break;
        };
        out.push(at.saturating_sub(*hb));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adm(arrived_ms: u64, admitted_ms: u64) -> Admission {
        Admission {
            arrived_ms,
            admitted_ms,
            shard: 0,
            seq: arrived_ms,
        }
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 50.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut v, 1.0), 100.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn fifo_admission_has_no_overtaking() {
        let a: Vec<_> = (0..50).map(|i| adm(i * 10, 1000 + i * 5)).collect();
        assert_eq!(max_overtaken(&a, |x| x.arrived_ms), 0);
        assert_eq!(worst_inversion_ms(&a), 0);
    }

    #[test]
    fn same_tick_admissions_are_not_overtaking() {
        let a = vec![adm(0, 500), adm(10, 500), adm(20, 500)];
        assert_eq!(max_overtaken(&a, |x| x.arrived_ms), 0);
        assert_eq!(worst_inversion_ms(&a), 0);
    }

    #[test]
    fn counts_later_arrivals_admitted_first() {
        // The first arrival is admitted last, after three later ones.
        let a = vec![adm(0, 900), adm(10, 100), adm(20, 200), adm(35, 300)];
        assert_eq!(max_overtaken(&a, |x| x.arrived_ms), 3);
        assert_eq!(worst_inversion_ms(&a), 35);
    }

    #[test]
    fn removal_matching_in_heartbeat_order() {
        let samples = [(1000, 0), (2000, 1), (3000, 1), (4000, 3)];
        assert_eq!(
            removal_delays_ms(&[500, 1500, 900], &samples),
            vec![1500, 3100, 2500]
        );
        // More abandoners than removals: the unmatched are skipped.
        assert_eq!(removal_delays_ms(&[0, 0, 0, 0], &samples).len(), 3);
    }
}
