//! Time as the breaker and the limiter see it: nanoseconds since the clock was made.
//!
//! Every time-dependent decision goes through a [`Clock`], so the replay tool and the tests
//! drive the real code with simulated time ([`Clock::manual`]) instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A monotonic clock: the system's, or a manual one that moves only when told.
///
/// Cloning shares the clock. Reading the system clock costs about 7 ns (the CPU's time-stamp
/// counter through `quanta`); `std::time::Instant::now` costs about 26 ns on the bench
/// machine, and a call reads the clock twice, which alone would spend the breaker's 50 ns.
#[derive(Debug, Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    System { clock: quanta::Clock, origin: u64 },
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The system's monotonic clock, starting at zero now.
    pub fn system() -> Clock {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Clock {
            source: Source::System { clock, origin },
        }
    }

    /// A clock at zero that moves only through [`Clock::advance`] and [`Clock::set`].
    pub fn manual() -> Clock {
        Clock {
            source: Source::Manual(Arc::new(AtomicU64::new(0))),
        }
    }

    /// Nanoseconds since the clock was made.
    #[inline]
    pub fn now_nanos(&self) -> u64 {
        match &self.source {
            Source::System { clock, origin } => clock.delta_as_nanos(*origin, clock.raw()),
            Source::Manual(now) => now.load(Ordering::Acquire),
        }
    }

    /// Time since the clock was made.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    /// Moves a manual clock forward; a system clock ignores it (returns `false`).
    pub fn advance(&self, by: Duration) -> bool {
        match &self.source {
            Source::Manual(now) => {
                now.fetch_add(nanos(by), Ordering::AcqRel);
                true
            }
            Source::System { .. } => false,
        }
    }

    /// Sets a manual clock to `at` if that is not earlier than now (time never goes back);
    /// a system clock ignores it (returns `false`).
    pub fn set(&self, at: Duration) -> bool {
        match &self.source {
            Source::Manual(now) => {
                now.fetch_max(nanos(at), Ordering::AcqRel);
                true
            }
            Source::System { .. } => false,
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(self.source, Source::Manual(_))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

/// A duration in nanoseconds, saturating (584 years) instead of wrapping.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward() {
        let clock = Clock::manual();
        assert_eq!(clock.now(), Duration::ZERO);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        clock.set(Duration::from_secs(1));
        assert_eq!(
            clock.now(),
            Duration::from_millis(1500),
            "set never goes back"
        );
        let shared = clock.clone();
        shared.set(Duration::from_secs(3));
        assert_eq!(clock.now(), Duration::from_secs(3));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = Clock::system();
        let a = clock.now_nanos();
        std::thread::sleep(Duration::from_millis(2));
        let b = clock.now_nanos();
        assert!(b >= a + 1_000_000, "{a} then {b}");
        assert!(!clock.advance(Duration::from_secs(1)));
    }
}
