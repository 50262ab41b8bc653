//! What a breaker is: data first, checked by [`BreakerConfig::build`].

use crate::breaker::BreakerHandle;
use crate::{Clock, Error};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// An adaptive circuit breaker (a YAML file for `ballast breaker replay`, or code).
///
/// Every field has a default, so `BreakerConfig::default()` (or `{}` in YAML) is a working
/// breaker with learned thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Name in metrics, events and logs. Default: `default`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Length of the sliding window the breaker judges. Default: 10 s.
    #[serde(default = "default_window", with = "crate::duration_text")]
    pub window: Duration,
    /// Buckets the window is cut into; the window slides by one bucket at a time.
    /// Default: 10 (1 s each with the default window).
    #[serde(default = "default_buckets")]
    pub buckets: u32,
    /// Calls the window must hold before the breaker judges it. Default: 20.
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u32,
    /// How long the breaker stays open before it lets probes through. Default: 5 s.
    #[serde(default = "default_open_for", with = "crate::duration_text")]
    pub open_for: Duration,
    /// Probe calls let through when half-open; all must succeed to close, one failure
    /// reopens. Default: 5 (at most 255).
    #[serde(default = "default_half_open_probes")]
    pub half_open_probes: u32,
    /// A call still running after this long fails as a timeout (uses tokio's timer, so the
    /// service must run inside a tokio runtime). Default: none.
    #[serde(default, with = "crate::duration_text::option")]
    pub call_timeout: Option<Duration>,
    /// When to trip. Default: learned.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Enforce, only measure, pass through, or stay open. Default: enforce.
    #[serde(default)]
    pub mode: Mode,
}

/// When the breaker trips: fixed rates, or a baseline learned from healthy traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Thresholds {
    /// resilience4j-style fixed thresholds.
    Static(StaticThresholds),
    /// Thresholds learned online from the window's history.
    Learned(LearnedThresholds),
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::Learned(LearnedThresholds::default())
    }
}

/// Fixed thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticThresholds {
    /// Trip when failures and timeouts are at least this share of the window's calls.
    /// Default: 0.5.
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f64,
    /// Trip when slow calls are at least this share of the window's calls. Default: 1.0
    /// (only when every call is slow).
    #[serde(default = "default_static_slow_rate")]
    pub slow_call_rate: f64,
    /// A call taking at least this long is slow. Default: 60 s.
    #[serde(
        default = "default_static_slow_duration",
        with = "crate::duration_text"
    )]
    pub slow_call_duration: Duration,
}

impl Default for StaticThresholds {
    fn default() -> Self {
        StaticThresholds {
            failure_rate: default_failure_rate(),
            slow_call_rate: default_static_slow_rate(),
            slow_call_duration: default_static_slow_duration(),
        }
    }
}

/// Thresholds learned from the window history: the breaker trips when the window's failure
/// rate exceeds `baseline × (1 + drift_tolerance)` *and* `failure_rate_floor`, or reaches
/// `failure_rate_ceiling` whatever the baseline. A healthy service never trips on noise (the
/// floor) and a dead one always does (the ceiling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedThresholds {
    /// How far above the baseline the window may go, as a fraction: 2.0 trips at three times
    /// the baseline. Default: 2.0.
    #[serde(default = "default_drift_tolerance")]
    pub drift_tolerance: f64,
    /// Never trip on a failure rate below this. Default: 0.2.
    #[serde(default = "default_failure_rate_floor")]
    pub failure_rate_floor: f64,
    /// Always trip at this failure rate. Default: 0.5.
    #[serde(default = "default_failure_rate_ceiling")]
    pub failure_rate_ceiling: f64,
    /// The latency quantile learned as the baseline of slowness. Default: 0.99.
    #[serde(default = "default_latency_quantile")]
    pub latency_quantile: f64,
    /// The learned slow-call duration never goes below this. Default: 100 ms.
    #[serde(default = "default_slow_call_floor", with = "crate::duration_text")]
    pub slow_call_floor: Duration,
    /// ... nor above this; also the slow-call duration until learning is warm. Default: 10 s.
    #[serde(default = "default_slow_call_ceiling", with = "crate::duration_text")]
    pub slow_call_ceiling: Duration,
    /// Trip when slow calls are at least this share of the window's calls. Default: 0.5.
    #[serde(default = "default_slow_call_rate")]
    pub slow_call_rate: f64,
    /// Weight of each new healthy bucket in the baseline (exponential moving average).
    /// Default: 0.02 (about the last 50 buckets: with fewer, binomial noise in the failure
    /// rate moves the threshold by more than 20 %).
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Healthy buckets learned before the learned values are used; until then the breaker
    /// trips at the floor and treats calls as slow from the ceiling. Default: 30.
    #[serde(default = "default_warmup_buckets")]
    pub warmup_buckets: u32,
    /// A bucket with fewer calls teaches nothing. Default: 5.
    #[serde(default = "default_min_bucket_calls")]
    pub min_bucket_calls: u32,
    /// How often the learned thresholds are snapshotted. Default: 5 min.
    #[serde(default = "default_snapshot_every", with = "crate::duration_text")]
    pub snapshot_every: Duration,
    /// Snapshots kept in memory (the oldest is dropped). Default: 16.
    #[serde(default = "default_snapshots_kept")]
    pub snapshots_kept: u32,
    /// Persist the snapshots to this JSON file (written atomically) and start from its
    /// newest snapshot when the breaker is built. Default: none.
    #[serde(default)]
    pub snapshot_file: Option<PathBuf>,
    /// Largest relative move of a learned threshold (before clamping to floor and ceiling)
    /// since the last snapshot; beyond it the breaker rolls back to that snapshot and pauses
    /// learning for one snapshot interval. Values under the floor move relative to the
    /// floor. Default: 0.5.
    #[serde(default = "default_max_change")]
    pub max_change: f64,
    /// Trips (closed → open) within `flap_window` that count as flapping (and roll back).
    /// Default: 3.
    #[serde(default = "default_flap_limit")]
    pub flap_limit: u32,
    /// See `flap_limit`. Default: 2 min.
    #[serde(default = "default_flap_window", with = "crate::duration_text")]
    pub flap_window: Duration,
}

impl Default for LearnedThresholds {
    fn default() -> Self {
        LearnedThresholds {
            drift_tolerance: default_drift_tolerance(),
            failure_rate_floor: default_failure_rate_floor(),
            failure_rate_ceiling: default_failure_rate_ceiling(),
            latency_quantile: default_latency_quantile(),
            slow_call_floor: default_slow_call_floor(),
            slow_call_ceiling: default_slow_call_ceiling(),
            slow_call_rate: default_slow_call_rate(),
            learning_rate: default_learning_rate(),
            warmup_buckets: default_warmup_buckets(),
            min_bucket_calls: default_min_bucket_calls(),
            snapshot_every: default_snapshot_every(),
            snapshots_kept: default_snapshots_kept(),
            snapshot_file: None,
            max_change: default_max_change(),
            flap_limit: default_flap_limit(),
            flap_window: default_flap_window(),
        }
    }
}

/// What the breaker does with its judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Reject calls while open (the normal mode).
    #[default]
    Enforce,
    /// Judge and report as usual but let every call through (shadow mode for tuning).
    MetricsOnly,
    /// Pass every call through unmeasured.
    Disabled,
    /// Reject every call (an operator's kill switch).
    ForcedOpen,
}

fn default_name() -> String {
    "default".to_string()
}
fn default_window() -> Duration {
    Duration::from_secs(10)
}
fn default_buckets() -> u32 {
    10
}
fn default_minimum_calls() -> u32 {
    20
}
fn default_open_for() -> Duration {
    Duration::from_secs(5)
}
fn default_half_open_probes() -> u32 {
    5
}
fn default_failure_rate() -> f64 {
    0.5
}
fn default_static_slow_rate() -> f64 {
    1.0
}
fn default_static_slow_duration() -> Duration {
    Duration::from_secs(60)
}
fn default_drift_tolerance() -> f64 {
    2.0
}
fn default_failure_rate_floor() -> f64 {
    0.2
}
fn default_failure_rate_ceiling() -> f64 {
    0.5
}
fn default_latency_quantile() -> f64 {
    0.99
}
fn default_slow_call_floor() -> Duration {
    Duration::from_millis(100)
}
fn default_slow_call_ceiling() -> Duration {
    Duration::from_secs(10)
}
fn default_slow_call_rate() -> f64 {
    0.5
}
fn default_learning_rate() -> f64 {
    0.02
}
fn default_warmup_buckets() -> u32 {
    30
}
fn default_min_bucket_calls() -> u32 {
    5
}
fn default_snapshot_every() -> Duration {
    Duration::from_secs(300)
}
fn default_snapshots_kept() -> u32 {
    16
}
fn default_max_change() -> f64 {
    0.5
}
fn default_flap_limit() -> u32 {
    3
}
fn default_flap_window() -> Duration {
    Duration::from_secs(120)
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            name: default_name(),
            window: default_window(),
            buckets: default_buckets(),
            minimum_calls: default_minimum_calls(),
            open_for: default_open_for(),
            half_open_probes: default_half_open_probes(),
            call_timeout: None,
            thresholds: Thresholds::default(),
            mode: Mode::default(),
        }
    }
}

/// Most buckets in a window: summing the window on a failure stays cheap.
const MAX_BUCKETS: u32 = 600;

impl BreakerConfig {
    /// Checks every setting and returns the running breaker on the system clock.
    pub fn build(&self) -> Result<BreakerHandle, Error> {
        self.build_with_clock(Clock::system())
    }

    /// Like [`build`](Self::build), on the given clock (a manual one for replays and tests).
    pub fn build_with_clock(&self, clock: Clock) -> Result<BreakerHandle, Error> {
        self.validate()?;
        BreakerHandle::start(self.clone(), clock)
    }

    /// Every problem is reported with the field's name as written in YAML.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid =
            |field: &'static str, message: String| Err(Error::InvalidConfig { field, message });
        if self.name.is_empty() {
            return invalid("name", "expected a non-empty name".into());
        }
        if self.buckets == 0 || self.buckets > MAX_BUCKETS {
            return invalid(
                "buckets",
                format!("expected 1..={MAX_BUCKETS}, got {}", self.buckets),
            );
        }
        if self.window < Duration::from_millis(u64::from(self.buckets)) {
            return invalid(
                "window",
                format!(
                    "expected at least 1ms per bucket ({} buckets), got {:?}",
                    self.buckets, self.window
                ),
            );
        }
        if self.minimum_calls == 0 {
            return invalid("minimum_calls", "expected at least 1".into());
        }
        if self.open_for < Duration::from_millis(1) {
            return invalid(
                "open_for",
                format!("expected at least 1ms, got {:?}", self.open_for),
            );
        }
        if self.half_open_probes == 0 || self.half_open_probes > 255 {
            return invalid(
                "half_open_probes",
                format!("expected 1..=255, got {}", self.half_open_probes),
            );
        }
        if self.call_timeout.is_some_and(|t| t.is_zero()) {
            return invalid("call_timeout", "expected a duration above zero".into());
        }
        match &self.thresholds {
            Thresholds::Static(s) => {
                rate("thresholds.static.failure_rate", s.failure_rate)?;
                rate("thresholds.static.slow_call_rate", s.slow_call_rate)?;
                if s.slow_call_duration.is_zero() {
                    return invalid(
                        "thresholds.static.slow_call_duration",
                        "expected a duration above zero".into(),
                    );
                }
            }
            Thresholds::Learned(l) => l.validate()?,
        }
        Ok(())
    }
}

impl LearnedThresholds {
    fn validate(&self) -> Result<(), Error> {
        let invalid =
            |field: &'static str, message: String| Err(Error::InvalidConfig { field, message });
        if !(self.drift_tolerance.is_finite() && self.drift_tolerance >= 0.0) {
            return invalid(
                "thresholds.learned.drift_tolerance",
                format!("expected a number ≥ 0, got {}", self.drift_tolerance),
            );
        }
        rate(
            "thresholds.learned.failure_rate_floor",
            self.failure_rate_floor,
        )?;
        rate(
            "thresholds.learned.failure_rate_ceiling",
            self.failure_rate_ceiling,
        )?;
        if self.failure_rate_floor > self.failure_rate_ceiling {
            return invalid(
                "thresholds.learned.failure_rate_floor",
                format!(
                    "expected ≤ failure_rate_ceiling ({}), got {}",
                    self.failure_rate_ceiling, self.failure_rate_floor
                ),
            );
        }
        if !(self.latency_quantile > 0.0 && self.latency_quantile < 1.0) {
            return invalid(
                "thresholds.learned.latency_quantile",
                format!("expected a number in (0, 1), got {}", self.latency_quantile),
            );
        }
        if self.slow_call_floor.is_zero() || self.slow_call_floor > self.slow_call_ceiling {
            return invalid(
                "thresholds.learned.slow_call_floor",
                format!(
                    "expected above zero and ≤ slow_call_ceiling ({:?}), got {:?}",
                    self.slow_call_ceiling, self.slow_call_floor
                ),
            );
        }
        rate("thresholds.learned.slow_call_rate", self.slow_call_rate)?;
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return invalid(
                "thresholds.learned.learning_rate",
                format!("expected a number in (0, 1], got {}", self.learning_rate),
            );
        }
        if self.snapshot_every < Duration::from_secs(1) {
            return invalid(
                "thresholds.learned.snapshot_every",
                format!("expected at least 1s, got {:?}", self.snapshot_every),
            );
        }
        if self.snapshots_kept == 0 || self.snapshots_kept > 1000 {
            return invalid(
                "thresholds.learned.snapshots_kept",
                format!("expected 1..=1000, got {}", self.snapshots_kept),
            );
        }
        if !(self.max_change.is_finite() && self.max_change > 0.0) {
            return invalid(
                "thresholds.learned.max_change",
                format!("expected a number above 0, got {}", self.max_change),
            );
        }
        if self.flap_limit < 2 {
            return invalid(
                "thresholds.learned.flap_limit",
                format!("expected at least 2, got {}", self.flap_limit),
            );
        }
        Ok(())
    }
}

fn rate(field: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field,
            message: format!("expected a fraction in (0, 1], e.g. 0.5 for 50 %, got {value}"),
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
