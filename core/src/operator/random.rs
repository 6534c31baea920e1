//! Seeded randomness: the 64-bit mixer behind lottery keys, the generator
//! of the random mode, and the split of a tick's budget over shards.

/// SplitMix64's output function: a bijective 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic generator (SplitMix64) for the random mode (and
/// registry-sim's seeded population).
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let z = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (Lemire's rejection: no modulo bias). `n > 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Uniform Fisher–Yates shuffle of `items` with a seeded generator
/// (deterministic for a given seed).
pub fn fisher_yates<T>(items: &mut [T], seed: u64) {
    let mut rng = SeededRng::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Splits `budget` admissions over shards holding `waiting[i]` entries so
/// that the admitted set is a uniformly random subset of everyone waiting
/// (sampling without replacement, one entry at a time).
pub fn split_random(budget: u64, waiting: &[u64], seed: u64) -> Vec<u64> {
    let mut rest = waiting.to_vec();
    let mut taken = vec![0u64; waiting.len()];
    let mut total: u64 = rest.iter().sum();
    let mut rng = SeededRng::new(seed);
    for _ in 0..budget.min(total) {
        let mut r = rng.below(total);
        for (i, n) in rest.iter_mut().enumerate() {
            if r < *n {
                *n -= 1;
                taken[i] += 1;
                break;
            }
            r -= *n;
        }
        total -= 1;
    }
    taken
}

/// The seed of tick `tick_id` in random mode.
pub fn tick_seed(seed: u64, tick_id: u64) -> u64 {
    splitmix64(seed ^ splitmix64(tick_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rng_below_is_in_range_and_deterministic() {
        let mut a = SeededRng::new(42);
        let mut b = SeededRng::new(42);
        for n in [1u64, 2, 3, 7, 1 << 40, u64::MAX] {
            let x = a.below(n);
            assert!(x < n);
            assert_eq!(x, b.below(n));
        }
    }

    #[test]
    fn split_random_gives_exactly_the_budget_within_counts() {
        for seed in 0..200 {
            let waiting = [5u64, 0, 17, 3];
            let got = split_random(9, &waiting, seed);
            assert_eq!(got.iter().sum::<u64>(), 9);
            assert!(got.iter().zip(&waiting).all(|(g, w)| g <= w));
        }
        assert_eq!(split_random(100, &[2, 3], 1), vec![2, 3]);
    }
}
