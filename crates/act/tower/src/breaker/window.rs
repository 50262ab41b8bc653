//! The sliding window: a ring of time buckets made of atomics.
//!
//! Recording a call is a few relaxed atomic adds into the bucket of the current time; no
//! lock and no allocation. A bucket is reused when time comes round to it again: the first
//! caller to see it stale swaps in the new epoch and zeroes it. A count that races with that
//! zeroing can be lost; that is one call at a bucket boundary, which a judgement over
//! `minimum_calls` calls cannot tell from noise.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

/// How one call ended, as the classifier says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The call did what was asked.
    Success,
    /// The call failed in a way that says the dependency is unwell (e.g. HTTP 5xx).
    Failure,
    /// The call took too long.
    Timeout,
}

/// Latency bins: four per power of two from 1 µs (2^10 ns) to ~69 s (2^36 ns), so a
/// learned quantile is within 19 % of the truth.
pub(crate) const LATENCY_BINS: usize = (36 - 10) * 4;
const SUB_BITS: u32 = 2;

/// The bin a latency in nanoseconds falls in.
pub(crate) fn latency_bin(nanos: u64) -> usize {
    let v = nanos.clamp(1 << 10, (1 << 36) - 1);
    let msb = 63 - v.leading_zeros();
    let sub = (v >> (msb - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    ((msb - 10) as usize) * 4 + sub as usize
}

/// The upper edge of a bin, in nanoseconds.
pub(crate) fn latency_bin_upper(bin: usize) -> u64 {
    let msb = (bin / 4) as u32 + 10;
    let sub = (bin % 4) as u64;
    (1u64 << msb) + ((sub + 1) << (msb - SUB_BITS))
}

/// Calls in a bucket or a window, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Successful calls (slow ones included).
    pub success: u64,
    /// Failed calls.
    pub failure: u64,
    /// Timed-out calls.
    pub timeout: u64,
    /// Calls at or above the slow-call duration (any outcome but timeout).
    pub slow: u64,
}

impl Counts {
    /// Every judged call.
    pub fn calls(&self) -> u64 {
        self.success + self.failure + self.timeout
    }
    /// Failures and timeouts as a share of calls (0 when there were none).
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failure + self.timeout, self.calls())
    }
    /// Slow calls as a share of calls (0 when there were none).
    pub fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls())
    }
    fn add(&mut self, other: &Counts) {
        self.success += other.success;
        self.failure += other.failure;
        self.timeout += other.timeout;
        self.slow += other.slow;
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

// Each bucket on its own cache lines so neighbouring buckets do not share writes.
#[repr(align(64))]
struct Bucket {
    /// Bucket index + 1 (0: never used).
    epoch: AtomicU64,
    success: AtomicU32,
    failure: AtomicU32,
    timeout: AtomicU32,
    slow: AtomicU32,
    latency: [AtomicU32; LATENCY_BINS],
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            epoch: AtomicU64::new(0),
            success: AtomicU32::new(0),
            failure: AtomicU32::new(0),
            timeout: AtomicU32::new(0),
            slow: AtomicU32::new(0),
            latency: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    fn clear(&self) {
        self.success.store(0, Relaxed);
        self.failure.store(0, Relaxed);
        self.timeout.store(0, Relaxed);
        self.slow.store(0, Relaxed);
        for bin in &self.latency {
            bin.store(0, Relaxed);
        }
    }

    /// With latency bins, successes are not counted on their own: every call adds to a bin,
    /// so successes are the bins' total less failures and timeouts (one atomic add per
    /// successful call instead of two).
    fn counts(&self, binned: bool) -> Counts {
        let failure = u64::from(self.failure.load(Relaxed));
        let timeout = u64::from(self.timeout.load(Relaxed));
        let success = if binned {
            let calls: u64 = self
                .latency
                .iter()
                .map(|b| u64::from(b.load(Relaxed)))
                .sum();
            calls.saturating_sub(failure + timeout)
        } else {
            u64::from(self.success.load(Relaxed))
        };
        Counts {
            success,
            failure,
            timeout,
            slow: u64::from(self.slow.load(Relaxed)),
        }
    }
}

/// Counts of buckets already reused, so lifetime totals cost nothing on the call path.
#[derive(Default)]
struct Retired {
    success: AtomicU64,
    failure: AtomicU64,
    timeout: AtomicU64,
    slow: AtomicU64,
}

/// What recording found about time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Counted in the current bucket.
    Counted,
    /// Counted, and this call opened a new bucket: the previous one is complete.
    NewBucket,
    /// Too old for the window (its bucket was already reused): dropped.
    Stale,
}

/// A window of `n` buckets of `width_ns` each, held in a ring of `n` rounded up to a power
/// of two (the spare slots hold older buckets, which no sum includes), so finding a slot is
/// a mask and finding a bucket a multiplication: the call path has no division.
///
/// There is one ring per shard (one shard per core, up to 8): a thread records into its own
/// shard's ring, so threads on different cores do not write the same cache lines; every read
/// adds the shards up.
pub(crate) struct Window {
    width_ns: u64,
    per_ns: f64,
    mask: u64,
    n: u64,
    /// `shards` rings of `mask + 1` buckets, one after the other.
    buckets: Box<[Bucket]>,
    shards: usize,
    record_latency: bool,
    retired: Retired,
}

impl Window {
    /// `record_latency`: keep latency bins (only learning needs them; they cost an atomic add).
    pub(crate) fn new(width_ns: u64, n: usize, record_latency: bool) -> Window {
        Window {
            width_ns: width_ns.max(1),
            per_ns: 1.0 / width_ns.max(1) as f64,
            mask: (n.max(1).next_power_of_two() - 1) as u64,
            n: n.max(1) as u64,
            buckets: (0..n.max(1).next_power_of_two() * crate::shard::count())
                .map(|_| Bucket::new())
                .collect(),
            shards: crate::shard::count(),
            record_latency,
            retired: Retired::default(),
        }
    }

    /// The index of the bucket holding time `now_ns`.
    #[inline]
    pub(crate) fn index(&self, now_ns: u64) -> u64 {
        let guess = (now_ns as f64 * self.per_ns) as u64;
        // Rounding may land one bucket off at an edge; two multiplications settle it exactly.
        if guess.saturating_mul(self.width_ns) > now_ns {
            guess - 1
        } else if (guess + 1).saturating_mul(self.width_ns) <= now_ns {
            guess + 1
        } else {
            guess
        }
    }

    /// Counts one call ending at `now_ns`.
    #[inline]
    pub(crate) fn record(
        &self,
        now_ns: u64,
        outcome: Outcome,
        slow: bool,
        latency_ns: u64,
    ) -> Recorded {
        let index = self.index(now_ns);
        let ring = (crate::shard::this_thread() & (self.shards - 1)) * (self.mask as usize + 1);
        let bucket = &self.buckets[ring + (index & self.mask) as usize];
        let epoch = index + 1;
        let mut result = Recorded::Counted;
        let seen = bucket.epoch.load(Acquire);
        if seen != epoch {
            if seen > epoch {
                return Recorded::Stale;
            }
            // One caller wins the swap and clears; a loser sees the new epoch and counts.
            if bucket
                .epoch
                .compare_exchange(seen, epoch, AcqRel, Acquire)
                .is_ok()
            {
                if seen != 0 {
                    let old = bucket.counts(self.record_latency);
                    self.retired.success.fetch_add(old.success, Relaxed);
                    self.retired.failure.fetch_add(old.failure, Relaxed);
                    self.retired.timeout.fetch_add(old.timeout, Relaxed);
                    self.retired.slow.fetch_add(old.slow, Relaxed);
                }
                bucket.clear();
                result = Recorded::NewBucket;
            } else if bucket.epoch.load(Acquire) != epoch {
                return Recorded::Stale;
            }
        }
        match outcome {
            Outcome::Success if self.record_latency => {} // counted by its latency bin
            Outcome::Success => drop(bucket.success.fetch_add(1, Relaxed)),
            Outcome::Failure => drop(bucket.failure.fetch_add(1, Relaxed)),
            Outcome::Timeout => drop(bucket.timeout.fetch_add(1, Relaxed)),
        }
        if slow {
            bucket.slow.fetch_add(1, Relaxed);
        }
        if self.record_latency {
            bucket.latency[latency_bin(latency_ns)].fetch_add(1, Relaxed);
        }
        result
    }

    /// The calls of the window ending at `now_ns`, counting only buckets from index
    /// `from_index` on (a window is restarted by raising it when the breaker closes).
    pub(crate) fn sum(&self, now_ns: u64, from_index: u64) -> Counts {
        let current = self.index(now_ns);
        let oldest = (current + 1).saturating_sub(self.n).max(from_index);
        let mut total = Counts::default();
        for bucket in self.buckets.iter() {
            let epoch = bucket.epoch.load(Acquire);
            if epoch == 0 {
                continue;
            }
            let index = epoch - 1;
            if index >= oldest && index <= current {
                total.add(&bucket.counts(self.record_latency));
            }
        }
        total
    }

    /// Every call recorded since the window was made.
    pub(crate) fn lifetime(&self) -> Counts {
        let r = &self.retired;
        let mut total = Counts {
            success: r.success.load(Relaxed),
            failure: r.failure.load(Relaxed),
            timeout: r.timeout.load(Relaxed),
            slow: r.slow.load(Relaxed),
        };
        for bucket in self.buckets.iter() {
            if bucket.epoch.load(Acquire) != 0 {
                total.add(&bucket.counts(self.record_latency));
            }
        }
        total
    }

    /// The counts and latency bins of bucket `index` (every shard's), if the rings still
    /// hold it.
    pub(crate) fn bucket(&self, index: u64) -> Option<(Counts, [u32; LATENCY_BINS])> {
        let ring_len = self.mask as usize + 1;
        let mut found = None::<(Counts, [u32; LATENCY_BINS])>;
        for shard in 0..self.shards {
            let bucket = &self.buckets[shard * ring_len + (index & self.mask) as usize];
            if bucket.epoch.load(Acquire) != index + 1 {
                continue;
            }
            let (counts, bins) = found.get_or_insert((Counts::default(), [0; LATENCY_BINS]));
            counts.add(&bucket.counts(self.record_latency));
            for (sum, bin) in bins.iter_mut().zip(&bucket.latency) {
                *sum += bin.load(Relaxed);
            }
        }
        found
    }
}

/// The latency at quantile `q` of binned counts (upper bin edge, so never optimistic).
pub(crate) fn quantile(bins: &[u32; LATENCY_BINS], q: f64) -> Option<u64> {
    let total: u64 = bins.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (bin, &count) in bins.iter().enumerate() {
        seen += u64::from(count);
        if seen >= rank {
            return Some(latency_bin_upper(bin));
        }
    }
    Some(latency_bin_upper(LATENCY_BINS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn buckets_slide_out_of_the_window() {
        let window = Window::new(SECOND, 4, false);
        for second in 0..4 {
            window.record(second * SECOND, Outcome::Failure, false, 0);
        }
        assert_eq!(window.sum(3 * SECOND, 0).failure, 4);
        // At t=4 s bucket 0 is reused: the window holds seconds 1..=4.
        window.record(4 * SECOND, Outcome::Success, true, 0);
        let counts = window.sum(4 * SECOND, 0);
        assert_eq!((counts.failure, counts.success, counts.slow), (3, 1, 1));
        // Far later nothing of the old window counts, even in buckets not yet reused.
        assert_eq!(window.sum(100 * SECOND, 0).calls(), 0);
    }

    #[test]
    fn lifetime_counts_survive_bucket_reuse() {
        for binned in [false, true] {
            let window = Window::new(SECOND, 3, binned);
            for second in 0..10 {
                window.record(second * SECOND, Outcome::Success, false, 1_000_000);
                window.record(second * SECOND, Outcome::Failure, true, 1_000_000);
            }
            let total = window.lifetime();
            assert_eq!(
                (total.success, total.failure, total.slow),
                (10, 10, 10),
                "binned: {binned}"
            );
            assert_eq!(window.sum(9 * SECOND, 0).success, 3);
        }
    }

    #[test]
    fn threads_record_into_their_shards_and_reads_add_them_up() {
        let window = Window::new(SECOND, 4, true);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..1000u64 {
                        let outcome = if i % 10 == 0 {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        };
                        window.record(2 * SECOND + i, outcome, false, 1_000_000);
                    }
                });
            }
        });
        let sum = window.sum(2 * SECOND + 999, 0);
        assert_eq!((sum.success, sum.failure), (3600, 400));
        let (counts, bins) = window.bucket(2).unwrap();
        assert_eq!(counts.calls(), 4000);
        assert_eq!(bins.iter().map(|&b| u64::from(b)).sum::<u64>(), 4000);
        assert_eq!(window.lifetime().calls(), 4000);
    }

    #[test]
    fn the_floor_restarts_the_window() {
        let window = Window::new(SECOND, 10, false);
        window.record(0, Outcome::Failure, false, 0);
        window.record(SECOND, Outcome::Failure, false, 0);
        window.record(2 * SECOND, Outcome::Success, false, 0);
        assert_eq!(window.sum(2 * SECOND, 2).calls(), 1);
    }

    #[test]
    fn late_records_for_a_reused_bucket_are_dropped() {
        let window = Window::new(SECOND, 2, false);
        window.record(5 * SECOND, Outcome::Success, false, 0);
        assert_eq!(
            window.record(3 * SECOND, Outcome::Failure, false, 0),
            Recorded::Stale
        );
        assert_eq!(window.sum(5 * SECOND, 0).failure, 0);
    }

    #[test]
    fn latency_bins_bracket_their_values() {
        for nanos in [1_024u64, 1_500, 1_000_000, 123_456_789, (1 << 36) - 1] {
            let bin = latency_bin(nanos);
            assert!(latency_bin_upper(bin) > nanos, "{nanos} in bin {bin}");
            if bin > 0 {
                assert!(latency_bin_upper(bin - 1) <= nanos, "{nanos} in bin {bin}");
            }
        }
    }

    #[test]
    fn quantile_reads_the_upper_edge() {
        let mut bins = [0u32; LATENCY_BINS];
        bins[latency_bin(1_000_000)] = 99;
        bins[latency_bin(50_000_000)] = 1;
        let p50 = quantile(&bins, 0.5).unwrap();
        assert!((1_000_000..1_200_000).contains(&p50), "{p50}");
        let p100 = quantile(&bins, 1.0).unwrap();
        assert!((50_000_000..60_000_000).contains(&p100), "{p100}");
    }

    proptest! {
        /// Whatever the order of times, the window holds exactly the calls of its last
        /// `n` buckets that were not overwritten by a later lap of the ring.
        #[test]
        fn window_sum_matches_a_reference(
                        n in 1usize..8,
            binned: bool,
            mut times in proptest::collection::vec(0u64..40, 1..200),
            outcomes in proptest::collection::vec(0u8..3, 200),
        ) {
            times.sort_unstable();
            let window = Window::new(SECOND, n, binned);
            let mut reference: Vec<(u64, Outcome)> = Vec::new();
            for (i, &t) in times.iter().enumerate() {
                let outcome = [Outcome::Success, Outcome::Failure, Outcome::Timeout][outcomes[i] as usize];
                window.record(t * SECOND + 7, outcome, false, 0);
                reference.push((t, outcome));
            }
            let now = *times.last().unwrap();
            let oldest = (now + 1).saturating_sub(n as u64);
            let expected = |o: Outcome| reference.iter().filter(|(t, x)| *t >= oldest && *x == o).count() as u64;
            let sum = window.sum(now * SECOND + 7, 0);
            prop_assert_eq!(sum.success, expected(Outcome::Success));
            prop_assert_eq!(sum.failure, expected(Outcome::Failure));
            prop_assert_eq!(sum.timeout, expected(Outcome::Timeout));
        }

                #[test]
        fn bucket_index_is_exact_division(width in 1u64..10_000_000_000, now in 0u64..(1 << 62)) {
            let window = Window::new(width, 10, false);
            prop_assert_eq!(window.index(now), now / width);
            prop_assert_eq!(window.index(now / width * width), now / width);
        }

        #[test]
        fn latency_bins_are_monotonic(a in 0u64..u64::MAX / 2, b in 0u64..u64::MAX / 2) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(latency_bin(lo) <= latency_bin(hi));
            prop_assert!(latency_bin(hi) < LATENCY_BINS);
        }
    }
}
