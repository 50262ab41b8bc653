//! The operator's side of a breaker: state, thresholds, snapshots, rollback, mode, events,
//! metrics. Cheap to clone; every clone steers the same breaker.

use super::config::{BreakerConfig, Mode};
use super::event::Event;
use super::grpc::GrpcBreakerLayer;
use super::learn::{Snapshot, TripThresholds};
use super::service::{BreakerLayer, HttpClassifier};
use super::shared::Shared;
use super::state::State;
use super::window::Counts;
use crate::grpc::GrpcClassifier;
use crate::{Clock, Error};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// A running breaker. Make layers from it with [`layer`](Self::layer) or
/// [`http_layer`](Self::http_layer); steer it from anywhere.
#[derive(Clone)]
pub struct BreakerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for BreakerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerHandle")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .field("mode", &self.mode())
            .finish()
    }
}

/// Totals since the breaker was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct BreakerStats {
    /// Calls that succeeded.
    pub success: u64,
    /// Calls that failed.
    pub failure: u64,
    /// Calls that timed out.
    pub timeout: u64,
    /// Calls at or above the slow-call duration.
    pub slow: u64,
    /// Calls refused (open, half-open with every probe slot taken, or forced open).
    pub rejected: u64,
    /// Calls that would have been refused, let through in metrics-only mode.
    pub shadow_rejected: u64,
    /// Probe calls admitted while half-open.
    pub probes: u64,
    /// Times the breaker opened.
    pub opened: u64,
    /// Rollbacks of the learned thresholds (automatic and manual).
    pub rollbacks: u64,
}

impl BreakerHandle {
    pub(crate) fn start(config: BreakerConfig, clock: Clock) -> Result<BreakerHandle, Error> {
        Ok(BreakerHandle {
            shared: Arc::new(Shared::new(&config, clock)?),
        })
    }

    /// A layer judging calls with `classify` (a [`Classify`](super::Classify) or a closure
    /// `Fn(Result<&Response, &Error>) -> Outcome`).
    pub fn layer<C>(&self, classify: C) -> BreakerLayer<C> {
        BreakerLayer::new(self.shared.clone(), classify)
    }

    /// A layer for HTTP services: 5xx and errors fail, anything else succeeds.
    pub fn http_layer(&self) -> BreakerLayer<HttpClassifier> {
        self.layer(HttpClassifier)
    }

    /// A layer for gRPC clients (a tonic `Channel`): judges each call by its `grpc-status`,
    /// from the response headers or, at the end of the stream, from the trailers, failing
    /// the codes in `classifier` and every transport or protocol error (see [`crate::grpc`]).
    pub fn grpc_layer(&self, classifier: GrpcClassifier) -> GrpcBreakerLayer {
        GrpcBreakerLayer::new(self.shared.clone(), classifier)
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The state now.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> TripThresholds {
        self.shared.thresholds()
    }

    /// The learned baseline: failure rate and latency quantile (`None` with static thresholds).
    pub fn baseline(&self) -> Option<(f64, Option<Duration>)> {
        self.shared.with_learner(|l| l.baseline())
    }

    /// The calls in the window now.
    pub fn window(&self) -> Counts {
        self.shared.window_counts(self.shared.clock.now_nanos())
    }

    /// Totals since the breaker was built.
    pub fn stats(&self) -> BreakerStats {
        let t = &self.shared.totals.0;
        let calls = self.shared.lifetime_counts();
        BreakerStats {
            success: calls.success,
            failure: calls.failure,
            timeout: calls.timeout,
            slow: calls.slow,
            rejected: t.rejected.load(Relaxed),
            shadow_rejected: t.shadow_rejected.load(Relaxed),
            probes: t.probes.load(Relaxed),
            opened: t.opened.load(Relaxed),
            rollbacks: t.rollbacks.load(Relaxed),
        }
    }

    /// Snapshots held, oldest first (empty with static thresholds).
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.shared
            .with_learner(|l| l.snapshots())
            .unwrap_or_default()
    }

    /// Puts the learned thresholds back to snapshot `version` and pauses learning for one
    /// snapshot interval.
    pub fn rollback_to(&self, version: u64) -> Result<Snapshot, Error> {
        self.shared
            .rollback_to(version, self.shared.clock.now_nanos())
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// The mode the breaker was built with (its config's `mode`).
    pub fn configured_mode(&self) -> Mode {
        self.shared.configured_mode
    }

    /// Switches mode (forced open, disabled, metrics only, enforce) at once.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.set_mode(mode, self.shared.clock.now_nanos());
    }

    /// Every state change, snapshot, rollback and mode change from now on. A receiver that
    /// falls more than 256 events behind skips the oldest (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.subscribe()
    }

    /// The breaker's clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Adds this breaker's metrics (`ballast_breaker_*`, labelled `breaker="name"`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(BreakerCollector(self.clone())));
    }
}

#[derive(Debug)]
struct BreakerCollector(BreakerHandle);

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let handle = &self.0;
        let name = [("breaker", handle.name().to_string())];
        let stats = handle.stats();
        let mut calls = encoder.encode_descriptor(
            "ballast_breaker_calls",
            "Calls judged by the breaker, by outcome",
            None,
            MetricType::Counter,
        )?;
        for (outcome, value) in [
            ("success", stats.success),
            ("failure", stats.failure),
            ("timeout", stats.timeout),
        ] {
            let labels = [("breaker", handle.name()), ("outcome", outcome)];
            calls
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        let counters = [
            (
                "ballast_breaker_slow_calls",
                "Calls at or above the slow-call duration",
                stats.slow,
            ),
            (
                "ballast_breaker_rejected",
                "Calls refused by the breaker",
                stats.rejected,
            ),
            (
                "ballast_breaker_shadow_rejected",
                "Calls that would have been refused (metrics-only mode)",
                stats.shadow_rejected,
            ),
            (
                "ballast_breaker_probes",
                "Probe calls admitted while half-open",
                stats.probes,
            ),
            (
                "ballast_breaker_opened",
                "Times the breaker opened",
                stats.opened,
            ),
            (
                "ballast_breaker_rollbacks",
                "Rollbacks of the learned thresholds",
                stats.rollbacks,
            ),
        ];
        for (metric, help, value) in counters {
            let mut e = encoder.encode_descriptor(metric, help, None, MetricType::Counter)?;
            e.encode_family(&name)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        let thresholds = handle.thresholds();
        let state = match handle.state() {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        };
        let gauges: [(&str, &str, f64); 4] = [
            (
                "ballast_breaker_state",
                "0 closed, 1 open, 2 half-open",
                f64::from(state),
            ),
            (
                "ballast_breaker_failure_rate_threshold",
                "Failure rate that trips the breaker",
                thresholds.failure_rate,
            ),
            (
                "ballast_breaker_slow_call_seconds",
                "Duration from which a call is slow",
                thresholds.slow_call_duration.as_secs_f64(),
            ),
            (
                "ballast_breaker_window_failure_rate",
                "Failure rate in the window now",
                handle.window().failure_rate(),
            ),
        ];
        for (metric, help, value) in gauges {
            let mut e = encoder.encode_descriptor(metric, help, None, MetricType::Gauge)?;
            e.encode_family(&name)?.encode_gauge(&value)?;
        }
        Ok(())
    }
}
