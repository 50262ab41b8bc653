//! Who sends the next request, and when it is due.

use ballast_core::RateSpec;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Hands out requests to workers: in the open model each request has a due time fixed
/// before the run (so a slow response never delays the schedule); in the closed model
/// a request is due as soon as a worker is free.
pub(crate) enum Dispatcher {
    Open {
        spec: RateSpec,
        /// Length the schedule is spread over (the run's duration).
        length: Duration,
        /// A shard's offset, so that shards' schedules interleave instead of coinciding.
        phase: Duration,
        limit: Option<u64>,
        next: AtomicU64,
    },
    Closed {
        deadline: Option<Instant>,
        limit: Option<u64>,
        /// Number every request even without a limit (templates use the number).
        numbered: bool,
        next: AtomicU64,
    },
}

impl Dispatcher {
    /// The sequence number and due time of the next request, or `None` when the run has
    /// sent everything.
    #[inline]
    pub(crate) fn next(&self, start: Instant) -> Option<(u64, Instant)> {
        match self {
            Dispatcher::Open {
                spec,
                length,
                phase,
                limit,
                next,
            } => {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|limit| index >= limit) {
                    return None;
                }
                let offset = spec.offset_of(index, *length)? + *phase;
                (offset < *length).then(|| (index, start + offset))
            }
            Dispatcher::Closed {
                deadline,
                limit,
                numbered,
                next,
            } => {
                // The single-request, unlimited case skips the shared counter: it is the
                // maximum-throughput path.
                let index = if limit.is_some() || *numbered {
                    next.fetch_add(1, Ordering::Relaxed)
                } else {
                    0
                };
                if limit.is_some_and(|limit| index >= limit) {
                    return None;
                }
                let now = Instant::now();
                match deadline {
                    Some(deadline) if now >= *deadline => None,
                    _ => Some((index, now)),
                }
            }
        }
    }

    /// Requests the open-model schedule made due within the first `elapsed` of the run.
    pub(crate) fn due_by(&self, elapsed: Duration) -> Option<u64> {
        match self {
            Dispatcher::Open {
                spec,
                length,
                phase,
                limit,
                ..
            } => {
                let due = spec.due_by(
                    elapsed.saturating_sub(*phase),
                    *length - (*phase).min(*length),
                );
                Some(limit.map_or(due, |limit| due.min(limit)))
            }
            Dispatcher::Closed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_schedule_stops_at_the_limit() {
        let d = Dispatcher::Open {
            spec: "100/s".parse().unwrap(),
            length: Duration::from_secs(3600),
            phase: Duration::ZERO,
            limit: Some(3),
            next: AtomicU64::new(0),
        };
        let start = Instant::now();
        assert_eq!(d.next(start), Some((0, start)));
        assert_eq!(d.next(start), Some((1, start + Duration::from_millis(10))));
        assert_eq!(d.next(start), Some((2, start + Duration::from_millis(20))));
        assert_eq!(d.next(start), None);
        assert_eq!(d.due_by(Duration::from_secs(10)), Some(3));
    }

    #[test]
    fn closed_dispatch_honours_deadline_and_limit() {
        let past = Dispatcher::Closed {
            deadline: Some(Instant::now()),
            limit: None,
            numbered: false,
            next: AtomicU64::new(0),
        };
        assert_eq!(past.next(Instant::now()), None);
        let limited = Dispatcher::Closed {
            deadline: None,
            limit: Some(1),
            numbered: false,
            next: AtomicU64::new(0),
        };
        assert!(limited.next(Instant::now()).is_some());
        assert!(limited.next(Instant::now()).is_none());
    }
}
