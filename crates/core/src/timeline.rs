//! One second of a run, as the load engine reports it and later engines judge it.

use serde::{Deserialize, Serialize};

/// Requests whose (intended) send time fell in one second of a run.
///
/// Requests are placed by when they were *meant* to be sent, not when they completed, so
/// that a phase of a contract owns exactly the requests it scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelinePoint {
    /// Seconds since the start of the run (this point covers `[t, t + 1)`).
    pub t: u64,
    /// Requests completed (with a response or an error).
    pub requests: u64,
    /// Requests that ended in an error (no HTTP response).
    pub errors: u64,
    /// Errors plus responses with a status the request did not expect.
    #[serde(default)]
    pub failures: u64,
    /// Responses with a status of 500 or above.
    #[serde(default)]
    pub status_5xx: u64,
    /// Median latency in milliseconds.
    pub p50: f64,
    /// 90th percentile latency in milliseconds.
    pub p90: f64,
    /// 99th percentile latency in milliseconds.
    pub p99: f64,
    /// This second's latency histogram ([`crate::LatencyHistogram::encode`]), so that
    /// timelines of shards merge exactly.
    pub histogram: String,
}
