//! Per-worker measurements: kept private to each worker on the hot path, sent to the
//! run's collector once per second of the timeline and merged at the end.

use crate::client::{ErrorKind, Response};
use ballast_core::LatencyHistogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// A request sent later than this after its due time counts as late: the generator (or
/// its connection pool) could not keep the schedule. Tokio's timer has 1 ms resolution,
/// so anything below a few milliseconds is timer granularity, not falling behind.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(10);

/// One worker's share of one second of the timeline.
pub(crate) struct SecondSlice {
    pub t: u64,
    pub requests: u64,
    pub errors: u64,
    pub failures: u64,
    pub status_5xx: u64,
    pub latency: LatencyHistogram,
}

impl SecondSlice {
    pub(crate) fn new(t: u64) -> Self {
        SecondSlice {
            t,
            requests: 0,
            errors: 0,
            failures: 0,
            status_5xx: 0,
            latency: LatencyHistogram::new(),
        }
    }
}

/// One named request's share of the totals.
#[derive(Default, Clone)]
pub(crate) struct EntryTotals {
    pub latency: LatencyHistogram,
    pub status: BTreeMap<u16, u64>,
    pub errors: u64,
    pub failures: u64,
}

impl EntryTotals {
    fn add(&mut self, other: &EntryTotals) {
        self.latency.add(&other.latency);
        for (code, n) in &other.status {
            *self.status.entry(*code).or_default() += n;
        }
        self.errors += other.errors;
        self.failures += other.failures;
    }
}

/// Totals that are only needed at the end of a run.
#[derive(Default)]
pub(crate) struct Totals {
    pub latency: LatencyHistogram,
    pub service: LatencyHistogram,
    pub send_lag: LatencyHistogram,
    pub status: BTreeMap<u16, u64>,
    pub errors: [u64; ErrorKind::ALL.len()],
    pub late: u64,
    pub connects: u64,
    pub bytes_received: u64,
    /// Errors plus responses with an unexpected status.
    pub failures: u64,
    /// Per named request (empty for a single unnamed request).
    pub per_request: Vec<EntryTotals>,
}

impl Totals {
    pub(crate) fn add(&mut self, other: &Totals) {
        self.latency.add(&other.latency);
        self.service.add(&other.service);
        self.send_lag.add(&other.send_lag);
        for (code, n) in &other.status {
            *self.status.entry(*code).or_default() += n;
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.late += other.late;
        self.connects += other.connects;
        self.bytes_received += other.bytes_received;
        self.failures += other.failures;
        if self.per_request.len() < other.per_request.len() {
            self.per_request
                .resize(other.per_request.len(), EntryTotals::default());
        }
        for (mine, theirs) in self.per_request.iter_mut().zip(&other.per_request) {
            mine.add(theirs);
        }
    }
}

/// When a request was due, sent and done.
#[derive(Clone, Copy)]
pub(crate) struct Times {
    pub due: Instant,
    pub sent: Instant,
    pub done: Instant,
}

pub(crate) struct Recorder {
    start: Instant,
    pub totals: Totals,
    /// Status counts for 100..=599 without a map lookup on the hot path.
    status_fast: Box<[u64; 500]>,
    second: SecondSlice,
    sink: UnboundedSender<SecondSlice>,
}

impl Recorder {
    /// `entries`: how many named requests to keep results for (0: none).
    pub(crate) fn new(start: Instant, sink: UnboundedSender<SecondSlice>, entries: usize) -> Self {
        Recorder {
            start,
            totals: Totals {
                per_request: vec![EntryTotals::default(); entries],
                ..Totals::default()
            },
            status_fast: Box::new([0; 500]),
            second: SecondSlice::new(0),
            sink,
        }
    }

    #[inline]
    fn slice_for(&mut self, due: Instant) -> &mut SecondSlice {
        let t = due.saturating_duration_since(self.start).as_secs();
        if t != self.second.t {
            let done = std::mem::replace(&mut self.second, SecondSlice::new(t));
            self.flush(done);
        }
        &mut self.second
    }

    /// The worker's next request is due at `due`: when that is in a later second, the
    /// current second is complete for this worker and goes to the collector now, not when
    /// the next response arrives (which matters for live views such as `abort_when`).
    #[inline]
    pub(crate) fn next_due(&mut self, due: Instant) {
        let _ = self.slice_for(due);
    }

    fn flush(&self, slice: SecondSlice) {
        if slice.requests > 0 {
            // The collector outlives every worker; a failed send means the run is over.
            let _ = self.sink.send(slice);
        }
    }

    #[inline]
    /// Records a response to request `entry` of the mix; `expected` whether its status
    /// counts as success.
    pub(crate) fn response(&mut self, at: Times, response: Response, entry: usize, expected: bool) {
        let Times { due, sent, done } = at;
        let latency = done.saturating_duration_since(due);
        let lag = sent.saturating_duration_since(due);
        let second = self.slice_for(due);
        second.requests += 1;
        second.latency.record(latency);
        if response.status >= 500 {
            second.status_5xx += 1;
        }
        if !expected {
            second.failures += 1;
            self.totals.failures += 1;
        }
        if let Some(named) = self.totals.per_request.get_mut(entry) {
            named.latency.record(latency);
            *named.status.entry(response.status).or_default() += 1;
            named.failures += u64::from(!expected);
        }
        self.totals.latency.record(latency);
        self.totals
            .service
            .record(done.saturating_duration_since(sent));
        self.totals.send_lag.record(lag);
        if lag > LATE_AFTER {
            self.totals.late += 1;
        }
        self.totals.bytes_received += response.bytes;
        match response.status {
            code @ 100..=599 => self.status_fast[usize::from(code - 100)] += 1,
            code => *self.totals.status.entry(code).or_default() += 1,
        }
    }

    pub(crate) fn error(&mut self, due: Instant, sent: Instant, kind: ErrorKind, entry: usize) {
        let lag = sent.saturating_duration_since(due);
        let second = self.slice_for(due);
        second.requests += 1;
        second.errors += 1;
        second.failures += 1;
        self.totals.failures += 1;
        if let Some(named) = self.totals.per_request.get_mut(entry) {
            named.errors += 1;
            named.failures += 1;
        }
        self.totals.send_lag.record(lag);
        if lag > LATE_AFTER {
            self.totals.late += 1;
        }
        self.totals.errors[kind.index()] += 1;
    }

    pub(crate) fn connected(&mut self) {
        self.totals.connects += 1;
    }

    /// Flushes the last second and hands over the totals.
    pub(crate) fn finish(mut self) -> Totals {
        let last = std::mem::replace(&mut self.second, SecondSlice::new(0));
        self.flush(last);
        for (i, n) in self.status_fast.iter().enumerate() {
            if *n > 0 {
                *self.totals.status.entry(i as u16 + 100).or_default() += n;
            }
        }
        self.totals
    }
}
