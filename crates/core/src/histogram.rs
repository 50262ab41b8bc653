//! Mergeable latency histograms with a portable encoding.

use crate::Error;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::time::Duration;

/// Largest latency a histogram holds: 60 s, in microseconds. Longer values are clamped,
/// which no timeout-bounded request reaches.
const MAX_MICROS: u64 = 60_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in microseconds, 1 µs .. 60 s at 3 significant digits.
///
/// It grows as larger values arrive (a histogram that only saw sub-millisecond values
/// costs a few KiB, not the 136 KiB of a full 60 s range), so one can be kept per worker
/// and merged without loss: merging adds counts, and quantiles are computed from the
/// merged counts, never averaged.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        let mut inner =
            Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid setting");
        inner.auto(true);
        Self { inner }
    }

    /// Records one latency (clamped to 1 µs .. 60 s).
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        // Cannot fail: auto-resize is on and the value is within the supported range.
        let _ = self.inner.record(micros);
    }

    /// Adds every count of `other` to this histogram.
    pub fn add(&mut self, other: &LatencyHistogram) {
        // Cannot fail: auto-resize is on and both hold values ≤ 60 s.
        let _ = self.inner.add(&other.inner);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The latency at quantile `q` (0..=1); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.inner.value_at_quantile(q.clamp(0.0, 1.0)))
    }

    /// The largest recorded latency (to the histogram's precision); zero when empty.
    pub fn max(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.inner.max())
    }

    /// The smallest recorded latency; zero when empty.
    pub fn min(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.inner.min())
    }

    /// The mean latency; zero when empty.
    pub fn mean(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.inner.mean() / 1e6)
    }

    /// How many recorded values are at or below `limit` (to the histogram's precision).
    pub fn count_at_or_below(&self, limit: Duration) -> u64 {
        let micros = (limit.as_micros() as u64).min(MAX_MICROS);
        self.inner.count_between(0, micros)
    }

    /// Empties the histogram, keeping its memory.
    pub fn reset(&mut self) {
        self.inner.reset();
    }

    /// Encodes the histogram as base64 of the HdrHistogram V2 format, deflate-compressed
    /// (the form HdrHistogram's log files and other HDR libraries read).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.inner, &mut bytes)
            .expect("serializing into memory cannot fail");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Decodes what [`encode`](Self::encode) produced (compressed or plain V2).
    pub fn decode(text: &str) -> Result<Self, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| Error::Histogram(format!("not base64: {e}")))?;
        // hdrhistogram's deserializer can overflow on crafted input (found by fuzzing:
        // "attempt to negate with overflow"); such input is corrupt, never a crash.
        let deserialized = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Deserializer::new().deserialize(&mut bytes.as_slice())
        }))
        .map_err(|_| Error::Histogram("corrupt HDR V2 histogram".into()))?;
        let mut inner: Histogram<u64> =
            deserialized.map_err(|e| Error::Histogram(format!("not an HDR V2 histogram: {e}")))?;
        // max() reports the top of the largest value's bucket, which may pass 60 s.
        if inner.max() > inner.highest_equivalent(MAX_MICROS) {
            return Err(Error::Histogram(format!(
                "holds {} µs, beyond the 60 s range",
                inner.max()
            )));
        }
        inner.auto(true);
        Ok(Self { inner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).as_secs_f64();
        let p99 = h.quantile(0.99).as_secs_f64();
        assert!((p50 - 0.050).abs() < 0.0001, "{p50}");
        assert!((p99 - 0.099).abs() < 0.0001, "{p99}");
        assert_eq!(h.len(), 100);
        assert_eq!(h.count_at_or_below(Duration::from_millis(10)), 10);
    }

    #[test]
    fn clamps_out_of_range_values() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(3600));
        assert_eq!(h.min(), Duration::from_micros(1));
        assert!(h.max() <= Duration::from_secs(61));
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(LatencyHistogram::decode("not base64!").is_err());
        assert!(LatencyHistogram::decode("aGVsbG8=").is_err());
    }

    #[test]
    fn empty_histogram_round_trips() {
        let h = LatencyHistogram::new();
        let back = LatencyHistogram::decode(&h.encode()).unwrap();
        assert!(back.is_empty());
        assert_eq!(back.quantile(0.99), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn encode_decode_is_exact(values in proptest::collection::vec(1u64..60_000_000, 0..200)) {
            let mut h = LatencyHistogram::new();
            for v in &values { h.record(Duration::from_micros(*v)); }
            let back = LatencyHistogram::decode(&h.encode()).unwrap();
            prop_assert_eq!(back.len(), h.len());
            for q in [0.5, 0.9, 0.99, 1.0] {
                prop_assert_eq!(back.quantile(q), h.quantile(q));
            }
        }

        #[test]
        fn merge_equals_single_recording(
            a in proptest::collection::vec(1u64..5_000_000, 0..100),
            b in proptest::collection::vec(1u64..5_000_000, 0..100),
        ) {
            let (mut ha, mut hb, mut all) =
                (LatencyHistogram::new(), LatencyHistogram::new(), LatencyHistogram::new());
            for v in &a { ha.record(Duration::from_micros(*v)); all.record(Duration::from_micros(*v)); }
            for v in &b { hb.record(Duration::from_micros(*v)); all.record(Duration::from_micros(*v)); }
            ha.add(&hb);
            prop_assert_eq!(ha.len(), all.len());
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(ha.quantile(q), all.quantile(q));
            }
        }

        #[test]
        fn decode_never_panics(s in "[A-Za-z0-9+/=]{0,64}") {
            let _ = LatencyHistogram::decode(&s);
        }
    }
}
