//! Random choices (toxicity, jitter, failure ratios) from a counter-based generator.
//!
//! Each toxic owns one [`Dice`]: draw *n* is a pure function of the seed and *n*
//! (SplitMix64), and draws are handed out by an atomic counter. So with a fixed seed the
//! first N draws of a toxic are always the same numbers, whichever connection or thread
//! takes each: a test that counts how many of 10,000 requests failed gets the same count
//! every run, and no lock sits on the request path.

use std::sync::atomic::{AtomicU64, Ordering};

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A shared, lock-free source of uniform numbers.
#[derive(Debug)]
pub(crate) struct Dice {
    seed: u64,
    next: AtomicU64,
}

impl Dice {
    pub(crate) fn new(seed: u64) -> Self {
        Dice {
            seed,
            next: AtomicU64::new(0),
        }
    }

    /// A number in `[0, 1)`.
    pub(crate) fn unit(&self) -> f64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // 53 random bits make every f64 in [0, 1) on a 2^-53 grid equally likely.
        (mix(self.seed.wrapping_add(n.wrapping_mul(GAMMA))) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (`p` ≥ 1 always, `p` ≤ 0 never).
    pub(crate) fn chance(&self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        if p <= 0.0 {
            return false;
        }
        self.unit() < p
    }

    /// `base` moved by up to `jitter` either way, uniformly (never below zero).
    pub(crate) fn jitter(
        &self,
        base: std::time::Duration,
        jitter: std::time::Duration,
    ) -> std::time::Duration {
        if jitter.is_zero() {
            return base;
        }
        let span = jitter.as_micros() as u64;
        let offset = self.below(2 * span + 1) as i128 - i128::from(span);
        let micros = (base.as_micros() as i128 + offset).max(0);
        std::time::Duration::from_micros(micros as u64)
    }

    /// A whole number in `[0, n)`; 0 when `n` is 0.
    pub(crate) fn below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        (self.unit() * n as f64) as u64 % n
    }
}

/// SplitMix64's output function: a bijection that spreads neighbouring inputs apart.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for when none is configured: different per process and per call.
pub(crate) fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    // RandomState is keyed from the OS at first use, so this needs no RNG crate.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A seed derived from a base seed and a name, so toxics of one seeded server differ.
pub(crate) fn seed_for(base: u64, name: &str) -> u64 {
    // FNV-1a: stable across runs and Rust versions, unlike DefaultHasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(base ^ h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let a = Dice::new(7);
        let b = Dice::new(7);
        for _ in 0..100 {
            assert_eq!(a.unit().to_bits(), b.unit().to_bits());
        }
    }

    #[test]
    fn chance_matches_probability_over_many_draws() {
        let dice = Dice::new(42);
        let hits = (0..100_000).filter(|_| dice.chance(0.1)).count();
        assert!((9_500..10_500).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| dice.chance(1.0)));
        assert!((0..1000).all(|_| !dice.chance(0.0)));
    }

    #[test]
    fn below_stays_in_range() {
        let dice = Dice::new(1);
        assert!((0..10_000).all(|_| dice.below(7) < 7));
        assert_eq!(dice.below(0), 0);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        use std::time::Duration;
        let dice = Dice::new(3);
        let base = Duration::from_millis(10);
        let jitter = Duration::from_millis(4);
        let draws: Vec<_> = (0..2000).map(|_| dice.jitter(base, jitter)).collect();
        assert!(draws
            .iter()
            .all(|d| *d >= Duration::from_millis(6) && *d <= Duration::from_millis(14)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(8)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(12)));
        // Jitter larger than the base clamps at zero instead of going negative.
        let small = Duration::from_millis(1);
        assert!((0..200).any(|_| dice.jitter(small, jitter).is_zero()));
        assert_eq!(dice.jitter(base, Duration::ZERO), base);
    }

    #[test]
    fn names_give_different_seeds() {
        assert_ne!(seed_for(1, "a"), seed_for(1, "b"));
        assert_eq!(seed_for(1, "a"), seed_for(1, "a"));
    }
}
