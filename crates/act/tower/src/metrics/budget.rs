//! SLO counters and the error-budget handle a service checks before optional work.
//!
//! Budget (seed 2.1): over any span, an SLO with objective `o` may spend `(1 − o) · total`
//! bad requests. The *burn rate* of a recent window is its bad share divided by `1 − o`: at
//! 1.0 the budget lasts exactly the SLO period, at 10 it is gone in a tenth of it.

use super::config::SloConfig;
use super::store::HttpMetrics;
use crate::breaker::{Counts, Outcome};
use crate::clock::nanos;
use crate::Clock;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Buckets the burn window is cut into.
const BURN_BUCKETS: usize = 30;

pub(crate) struct SloState {
    pub(crate) name: String,
    pub(crate) latency_ns: u64,
    objective: f64,
    routes: Vec<String>,
    max_burn_rate: f64,
    min_requests: u64,
    /// Good requests are its successes, bad ones its failures; lifetime totals too.
    window: crate::breaker::window::Window,
    /// `(bucket index + 1) << 1 | allowed`: the optional-work decision, made once per bucket
    /// so that checking it on every request reads one word instead of the whole window.
    decision: AtomicU64,
}

impl SloState {
    pub(crate) fn new(config: &SloConfig) -> SloState {
        SloState {
            decision: AtomicU64::new(0),
            name: config.name.clone(),
            latency_ns: nanos(config.latency),
            objective: config.objective,
            routes: config.routes.clone(),
            max_burn_rate: config.max_burn_rate,
            min_requests: u64::from(config.min_requests),

            window: crate::breaker::window::Window::new(
                (nanos(config.burn_window) / BURN_BUCKETS as u64).max(1),
                BURN_BUCKETS,
                false,
            ),
        }
    }

    pub(crate) fn covers(&self, route: &str) -> bool {
        self.routes.is_empty() || self.routes.iter().any(|r| r == route)
    }

    #[inline]
    pub(crate) fn record(&self, good: bool, now_ns: u64) {
        let outcome = if good {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        self.window.record(now_ns, outcome, false, 0);
    }

    fn burn(&self, now_ns: u64) -> Counts {
        self.window.sum(now_ns, 0)
    }

    fn allows_optional(&self, now_ns: u64) -> bool {
        let index = self.window.index(now_ns) + 1;
        let cached = self.decision.load(Relaxed);
        if cached >> 1 == index {
            return cached & 1 == 1;
        }
        let allowed = self
            .burn_rate(now_ns)
            .is_none_or(|rate| rate <= self.max_burn_rate);
        self.decision
            .store(index << 1 | u64::from(allowed), Relaxed);
        allowed
    }

    fn burn_rate(&self, now_ns: u64) -> Option<f64> {
        let recent = self.burn(now_ns);
        (recent.calls() >= self.min_requests)
            .then(|| recent.failure_rate() / (1.0 - self.objective))
    }

    fn status(&self, now_ns: u64) -> SloStatus {
        let lifetime = self.window.lifetime();
        let (good, total) = (lifetime.success, lifetime.calls());
        let burn_rate = self.burn_rate(now_ns);
        SloStatus {
            good,
            total,
            budget_remaining: (1.0 - self.objective) * total as f64 - (total - good) as f64,
            burn_rate,
            allows_optional: burn_rate.is_none_or(|rate| rate <= self.max_burn_rate),
        }
    }
}

/// An SLO's counts and budget now.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SloStatus {
    /// Good requests since the recorder was built.
    pub good: u64,
    /// All requests the SLO covers since then.
    pub total: u64,
    /// Bad requests still affordable: `(1 − objective) · total − bad` (negative: overspent).
    pub budget_remaining: f64,
    /// Burn rate over the burn window (`None` until it holds `min_requests`).
    pub burn_rate: Option<f64>,
    /// Whether optional work may run (burn rate at most `max_burn_rate`).
    pub allows_optional: bool,
}

/// The handle a service checks before non-core work: `if budget.allows_optional() { ... }`.
#[derive(Clone)]
pub struct Budget {
    slo: Arc<SloState>,
    clock: Clock,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("slo", &self.slo.name)
            .finish_non_exhaustive()
    }
}

impl Budget {
    /// Whether optional work may run: false while the SLO's budget burns faster than its
    /// `max_burn_rate` over the burn window; true when the window holds too few requests
    /// to tell. Decided once per burn-window bucket (`burn_window` / 30: 10 s by default),
    /// so calling it on every request costs a clock read and one atomic load.
    pub fn allows_optional(&self) -> bool {
        self.slo.allows_optional(self.clock.now_nanos())
    }

    /// Counts, remaining budget and burn rate now.
    pub fn status(&self) -> SloStatus {
        self.slo.status(self.clock.now_nanos())
    }
}

impl HttpMetrics {
    /// The budget handle of SLO `name` (`None` if no SLO has that name).
    pub fn budget(&self, name: &str) -> Option<Budget> {
        let slo = self.store.slos.iter().find(|s| s.name == name)?;
        Some(Budget {
            slo: slo.clone(),
            clock: self.store.clock.clone(),
        })
    }
}

/// Reads a gauge's value from a status and the objective.
type GaugeOf = fn(&SloStatus, f64) -> f64;

pub(crate) fn encode_slos(
    slos: &[Arc<SloState>],
    now_ns: u64,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    if slos.is_empty() {
        return Ok(());
    }
    let statuses: Vec<(&str, SloStatus, f64)> = slos
        .iter()
        .map(|s| (s.name.as_str(), s.status(now_ns), s.objective))
        .collect();
    for (metric, help, pick) in [
        (
            "ballast_slo_requests",
            "Requests an SLO covers",
            (|s: &SloStatus| s.total) as fn(&SloStatus) -> u64,
        ),
        (
            "ballast_slo_good",
            "Requests meeting the SLO (no 5xx, error or gRPC failure, within its latency)",
            |s: &SloStatus| s.good,
        ),
    ] {
        let mut e = encoder.encode_descriptor(metric, help, None, MetricType::Counter)?;
        for (name, status, _) in &statuses {
            e.encode_family(&[("slo", *name)])?
                .encode_counter::<NoLabelSet, _, u64>(&pick(status), None)?;
        }
    }
    let gauges: [(&str, &str, GaugeOf); 4] = [
        (
            "ballast_slo_objective",
            "Share of requests that must be good",
            |_, o| o,
        ),
        (
            "ballast_slo_budget_remaining",
            "Bad requests still affordable ((1 - objective) * total - bad)",
            |s, _| s.budget_remaining,
        ),
        (
            "ballast_slo_burn_rate",
            "Bad share over the burn window divided by (1 - objective); NaN until enough requests",
            |s, _| s.burn_rate.unwrap_or(f64::NAN),
        ),
        (
            "ballast_slo_optional_work_allowed",
            "1 while optional work may run",
            |s, _| f64::from(u8::from(s.allows_optional)),
        ),
    ];
    for (metric, help, pick) in gauges {
        let mut e = encoder.encode_descriptor(metric, help, None, MetricType::Gauge)?;
        for (name, status, objective) in &statuses {
            e.encode_family(&[("slo", *name)])?
                .encode_gauge(&pick(status, *objective))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::metrics::{MetricsConfig, SloConfig};
    use crate::Clock;
    use std::time::Duration;

    #[test]
    fn optional_work_stops_while_the_budget_burns_too_fast_and_resumes_after() {
        let mut slo = SloConfig::new("api", Duration::from_millis(100), 0.99);
        slo.burn_window = Duration::from_secs(60);
        slo.max_burn_rate = 2.0;
        slo.min_requests = 50;
        let clock = Clock::manual();
        let metrics = MetricsConfig {
            slos: vec![slo],
            ..Default::default()
        }
        .build_with_clock(clock.clone())
        .unwrap();
        let budget = metrics.budget("api").unwrap();
        let route = metrics.store.route("/");
        let ms = 1_000_000;
        // Too few requests to judge: allowed.
        route.record(0, 4, 5 * ms, clock.now_nanos());
        assert!(budget.allows_optional());
        // 1 % bad: burn rate 1.0.
        for i in 0..1000u64 {
            clock.advance(Duration::from_millis(50));
            let class = if i % 100 == 0 { 4 } else { 1 };
            route.record(0, class, 5 * ms, clock.now_nanos());
        }
        let status = budget.status();
        assert!((status.burn_rate.unwrap() - 1.0).abs() < 0.3, "{status:?}");
        assert!(budget.allows_optional());
        // A slow dependency: 10 % of requests over the 100 ms objective: burn rate ~10.
        for i in 0..1200u64 {
            clock.advance(Duration::from_millis(50));
            let latency = if i % 10 == 0 { 500 * ms } else { 5 * ms };
            route.record(0, 1, latency, clock.now_nanos());
        }
        assert!(!budget.allows_optional(), "{:?}", budget.status());
        // Healthy again for a full window: allowed.
        for _ in 0..1300u64 {
            clock.advance(Duration::from_millis(50));
            route.record(0, 1, 5 * ms, clock.now_nanos());
        }
        assert!(budget.allows_optional(), "{:?}", budget.status());
        let status = budget.status();
        assert_eq!(status.total, 3501);
        assert_eq!(status.total - status.good, 1 + 10 + 120);
        assert!(
            (status.budget_remaining - (35.01 - 131.0)).abs() < 1e-6,
            "{status:?}"
        );
    }

    #[test]
    fn slos_cover_only_their_routes() {
        let mut slo = SloConfig::new("orders", Duration::from_millis(100), 0.99);
        slo.routes = vec!["/orders".into()];
        let metrics = MetricsConfig {
            slos: vec![slo],
            ..Default::default()
        }
        .build()
        .unwrap();
        metrics.store.route("/orders").record(0, 1, 1, 0);
        metrics.store.route("/health").record(0, 1, 1, 0);
        assert_eq!(metrics.budget("orders").unwrap().status().total, 1);
        assert!(metrics.budget("nope").is_none());
    }
}
