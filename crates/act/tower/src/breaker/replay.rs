//! Offline tuning: run the real breaker over a recorded trace with simulated time.
//!
//! A trace is CSV with the header `time_s,latency_ms,outcome`: when each call started
//! (seconds from the start of the trace, non-decreasing), how long it took, and how it ended
//! (`ok`, `error` or `timeout`). Lines starting with `#` and blank lines are skipped.
//!
//! The replay is a discrete-event simulation on a manual clock: calls start at their time
//! (and are refused if the breaker says so), and complete at start + latency, in time order,
//! interleaved with later starts — so the breaker sees exactly what it would have live.

use super::config::BreakerConfig;
use super::event::Event;
use super::learn::{Snapshot, TripThresholds};
use super::shared::{Admission, Shared};
use super::window::Outcome;
use super::{BreakerHandle, State};
use crate::clock::nanos;
use crate::{Clock, Error};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

/// One recorded call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TraceCall {
    /// When the call started, from the start of the trace.
    pub start: Duration,
    /// How long it took.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// The header a trace must start with.
pub const TRACE_HEADER: &str = "time_s,latency_ms,outcome";

/// Longest trace time accepted (a year), so times convert to nanoseconds exactly enough.
const MAX_SECONDS: f64 = 365.0 * 86_400.0;

/// Parses a trace; `file` names it in errors (`healthy.csv:12: latency_ms: ...`).
pub fn parse_trace(text: &str, file: &str) -> Result<Vec<TraceCall>, Error> {
    let fail = |line: usize, field: &'static str, message: String| Error::Trace {
        file: file.to_string(),
        line,
        field,
        message,
    };
    let mut calls = Vec::new();
    let mut header_seen = false;
    let mut previous = Duration::ZERO;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !header_seen {
            if line.replace(' ', "") != TRACE_HEADER {
                return Err(fail(
                    line_no,
                    "header",
                    format!("expected {TRACE_HEADER:?}, got {line:?}"),
                ));
            }
            header_seen = true;
            continue;
        }
        let mut columns = line.split(',').map(str::trim);
        let (Some(time), Some(latency), Some(outcome), None) = (
            columns.next(),
            columns.next(),
            columns.next(),
            columns.next(),
        ) else {
            return Err(fail(
                line_no,
                "header",
                format!("expected 3 columns ({TRACE_HEADER}), got {line:?}"),
            ));
        };
        let seconds = number(time).filter(|s| *s <= MAX_SECONDS).ok_or_else(|| {
            fail(
                line_no,
                "time_s",
                format!("expected seconds from the trace start, e.g. 12.345, got {time:?}"),
            )
        })?;
        let millis = number(latency)
            .filter(|ms| *ms <= MAX_SECONDS * 1e3)
            .ok_or_else(|| {
                fail(
                    line_no,
                    "latency_ms",
                    format!("expected milliseconds ≥ 0, e.g. 12.5, got {latency:?}"),
                )
            })?;
        let outcome = match outcome {
            "ok" => Outcome::Success,
            "error" => Outcome::Failure,
            "timeout" => Outcome::Timeout,
            other => {
                return Err(fail(
                    line_no,
                    "outcome",
                    format!("expected ok, error or timeout, got {other:?}"),
                ))
            }
        };
        let start = Duration::from_secs_f64(seconds);
        if start < previous {
            return Err(fail(
                line_no,
                "time_s",
                format!(
                    "times must not go back: {seconds} after {}",
                    previous.as_secs_f64()
                ),
            ));
        }
        previous = start;
        calls.push(TraceCall {
            start,
            latency: Duration::from_secs_f64(millis / 1e3),
            outcome,
        });
    }
    if !header_seen {
        return Err(fail(
            1,
            "header",
            format!("empty trace: expected the header {TRACE_HEADER:?}"),
        ));
    }
    Ok(calls)
}

fn number(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// What a replay saw.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Calls in the trace.
    pub calls: u64,
    /// Calls the breaker let through.
    pub admitted: u64,
    /// Calls the breaker refused.
    pub rejected: u64,
    /// Admitted calls that failed or timed out.
    pub admitted_failures: u64,
    /// Everything the breaker did, in time order.
    pub events: Vec<Event>,
    /// The thresholds in force at the end.
    pub final_thresholds: TripThresholds,
    /// The learned baseline at the end (failure rate, latency quantile), if learning.
    pub final_baseline: Option<(f64, Option<Duration>)>,
    /// Snapshots held at the end.
    pub snapshots: Vec<Snapshot>,
    /// The state at the end.
    pub final_state: State,
}

impl ReplayReport {
    /// The state changes only.
    pub fn transitions(&self) -> impl Iterator<Item = &super::Transition> {
        self.events.iter().filter_map(|e| match e {
            Event::StateChanged(t) => Some(t),
            _ => None,
        })
    }
}

/// Runs `config`'s breaker over `trace` and reports what it did.
pub fn replay(config: &BreakerConfig, trace: &[TraceCall]) -> Result<ReplayReport, Error> {
    // The breaker's `tracing` events describe simulated time; the report carries them all,
    // so they are not also logged as if they were happening now.
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        simulate(config, trace)
    })
}

fn simulate(config: &BreakerConfig, trace: &[TraceCall]) -> Result<ReplayReport, Error> {
    let clock = Clock::manual();
    let handle = config.build_with_clock(clock.clone())?;
    let mut sim = Simulation {
        shared: handle.shared.clone(),
        clock,
        events_rx: handle.subscribe(),
        events: Vec::new(),
        in_flight: BinaryHeap::new(),
        admissions: vec![None; trace.len()],
    };
    let (mut admitted, mut rejected, mut admitted_failures) = (0, 0, 0);
    for (i, call) in trace.iter().enumerate() {
        let start = nanos(call.start);
        sim.complete_until(start, trace);
        sim.clock.set(call.start);
        let admission = sim.shared.admit(|| start);
        sim.drain();
        match admission {
            Admission::Reject => {
                sim.shared.count_refusal();
                rejected += 1;
            }
            Admission::Call { .. } | Admission::Pass => {
                admitted += 1;
                if call.outcome != Outcome::Success {
                    admitted_failures += 1;
                }
                sim.admissions[i] = Some(admission);
                sim.in_flight
                    .push(Reverse((start.saturating_add(nanos(call.latency)), i)));
            }
        }
    }
    sim.complete_until(u64::MAX, trace);
    Ok(summary(
        &handle,
        trace.len() as u64,
        admitted,
        rejected,
        admitted_failures,
        sim.events,
    ))
}

struct Simulation {
    shared: Arc<Shared>,
    clock: Clock,
    events_rx: tokio::sync::broadcast::Receiver<Event>,
    events: Vec<Event>,
    /// Calls in flight by completion time (then trace order, for a stable replay).
    in_flight: BinaryHeap<Reverse<(u64, usize)>>,
    admissions: Vec<Option<Admission>>,
}

impl Simulation {
    fn drain(&mut self) {
        // Drained after every step, so the channel never lags.
        while let Ok(event) = self.events_rx.try_recv() {
            self.events.push(event);
        }
    }

    /// Completes, in time order, every call in flight ending at or before `until`.
    fn complete_until(&mut self, until: u64, trace: &[TraceCall]) {
        while let Some(&Reverse((end, i))) = self.in_flight.peek() {
            if end > until {
                break;
            }
            self.in_flight.pop();
            self.clock.set(Duration::from_nanos(end));
            if let Some(Admission::Call { probe }) = self.admissions[i] {
                let call = &trace[i];
                self.shared
                    .complete(probe, call.outcome, nanos(call.latency), end);
            }
            self.drain();
        }
    }
}

fn summary(
    handle: &BreakerHandle,
    calls: u64,
    admitted: u64,
    rejected: u64,
    admitted_failures: u64,
    events: Vec<Event>,
) -> ReplayReport {
    ReplayReport {
        calls,
        admitted,
        rejected,
        admitted_failures,
        events,
        final_thresholds: handle.thresholds(),
        final_baseline: handle.baseline(),
        snapshots: handle.snapshots(),
        final_state: handle.state(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_trace_with_comments() {
        let calls = parse_trace("# made by hand\ntime_s,latency_ms,outcome\n0.0,12.5,ok\n\n0.5, 3 ,error\n1,1000,timeout\n", "t.csv").unwrap();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].latency, Duration::from_micros(12_500));
        assert_eq!(calls[1].outcome, Outcome::Failure);
        assert_eq!(calls[2].start, Duration::from_secs(1));
    }

    #[test]
    fn malformed_lines_name_file_line_and_field() {
        let cases = [
            ("time,latency,outcome\n", "t.csv:1: header:"),
            (
                "time_s,latency_ms,outcome\n1,2,ok\n0.5,2,ok\n",
                "t.csv:3: time_s: times must not go back",
            ),
            (
                "time_s,latency_ms,outcome\n1,-2,ok\n",
                "t.csv:2: latency_ms:",
            ),
            (
                "time_s,latency_ms,outcome\n1,2,fine\n",
                "t.csv:2: outcome: expected ok, error or timeout, got \"fine\"",
            ),
            (
                "time_s,latency_ms,outcome\n1,2\n",
                "t.csv:2: header: expected 3 columns",
            ),
            ("time_s,latency_ms,outcome\nNaN,2,ok\n", "t.csv:2: time_s:"),
            ("", "t.csv:1: header: empty trace"),
        ];
        for (text, expected) in cases {
            let err = parse_trace(text, "t.csv").unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: got {err:?}");
        }
    }

    fn steady(
        from: f64,
        to: f64,
        per_second: f64,
        outcome: impl Fn(f64) -> Outcome,
    ) -> Vec<TraceCall> {
        let mut calls = Vec::new();
        let mut t = from;
        while t < to {
            calls.push(TraceCall {
                start: Duration::from_secs_f64(t),
                latency: Duration::from_millis(5),
                outcome: outcome(t),
            });
            t += 1.0 / per_second;
        }
        calls
    }

    #[test]
    fn replay_trips_and_recovers_through_half_open() {
        let config: BreakerConfig = serde_json::from_str(
            r#"{"window": "2s", "buckets": 4, "minimum_calls": 10, "open_for": "1s", "half_open_probes": 3,
                "thresholds": {"static": {"failure_rate": 0.5}}}"#,
        )
        .unwrap();
        let trace = steady(0.0, 20.0, 50.0, |t| {
            if (5.0..8.0).contains(&t) {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        });
        let report = replay(&config, &trace).unwrap();
        let states: Vec<(State, State)> = report.transitions().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            states.first(),
            Some(&(State::Closed, State::Open)),
            "{states:?}"
        );
        assert_eq!(
            states.last(),
            Some(&(State::HalfOpen, State::Closed)),
            "{states:?}"
        );
        let opened = report.transitions().next().unwrap().at;
        // A 2 s window at 50 calls/s is half failures one second into the outage.
        assert!(
            opened >= Duration::from_secs(5) && opened < Duration::from_millis(6100),
            "{opened:?}"
        );
        assert!(report.rejected > 0 && report.admitted + report.rejected == report.calls);
        assert_eq!(report.final_state, State::Closed);
    }

    /// In open state no call is admitted; in half-open at most `half_open_probes` at once.
    #[test]
    fn no_call_is_admitted_while_open_beyond_the_probes() {
        let config: BreakerConfig = serde_json::from_str(
            r#"{"window": "1s", "buckets": 2, "minimum_calls": 5, "open_for": "500ms", "half_open_probes": 2,
                "thresholds": {"static": {"failure_rate": 0.5}}}"#,
        )
        .unwrap();
        // Slow failing calls: probes stay in flight long enough to fill every slot.
        let trace: Vec<TraceCall> = (0..2000)
            .map(|i| TraceCall {
                start: Duration::from_millis(i * 5),
                latency: Duration::from_millis(300),
                outcome: Outcome::Failure,
            })
            .collect();
        let clock = Clock::manual();
        let handle = config.build_with_clock(clock.clone()).unwrap();
        let shared = &handle.shared;
        let mut in_flight_probes: Vec<(u64, u64)> = Vec::new();
        let mut pending: Vec<(u64, Option<u64>)> = Vec::new();
        for call in &trace {
            let now = nanos(call.start);
            clock.set(call.start);
            pending.retain(|&(end, probe)| {
                if end <= now {
                    shared.complete(
                        probe,
                        Outcome::Failure,
                        nanos(Duration::from_millis(300)),
                        end,
                    );
                    false
                } else {
                    true
                }
            });
            in_flight_probes.retain(|&(end, _)| end > now);
            let state = handle.state();
            match shared.admit(|| now) {
                Admission::Call { probe: None } => {
                    assert_eq!(state, State::Closed, "admitted while {state}")
                }
                Admission::Call {
                    probe: Some(episode),
                } => {
                    in_flight_probes.push((now + 300_000_000, episode));
                    assert!(
                        in_flight_probes.len() <= 2,
                        "{} probes in flight",
                        in_flight_probes.len()
                    );
                    pending.push((now + 300_000_000, Some(episode)));
                    continue;
                }
                Admission::Reject | Admission::Pass => {}
            }
            if handle.state() == State::Closed {
                pending.push((now + 300_000_000, None));
            }
        }
        assert!(handle.stats().opened >= 2, "{:?}", handle.stats());
    }
}
