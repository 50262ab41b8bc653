//! What is measured: histogram buckets, route cardinality, SLOs.

use super::store::HttpMetrics;
use crate::{Clock, Error};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// HTTP metrics and SLOs (contract key `metrics:`, or code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Upper bounds of the duration histogram's buckets, increasing. Default: 10 ms × 2^k
    /// for k = 0..7 (10 ms … 1.28 s, the seed's standard buckets).
    #[serde(default = "default_buckets", with = "crate::duration_text::vec")]
    pub buckets: Vec<Duration>,
    /// Distinct route labels kept; requests on further routes are labelled `other`, so a
    /// service that puts ids in paths cannot blow up the series count. Default: 200.
    #[serde(default = "default_max_routes")]
    pub max_routes: u32,
    /// Service-level objectives recorded. Default: none.
    #[serde(default)]
    pub slos: Vec<SloConfig>,
}

/// One SLO: a request is *good* when it is answered without a 5xx or an error within
/// `latency` (a gRPC call: without a failure code, a transport or protocol error, see
/// [`crate::grpc`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Name (label `slo`), e.g. `checkout-latency`.
    pub name: String,
    /// A good request answers within this long.
    #[serde(with = "crate::duration_text")]
    pub latency: Duration,
    /// Share of requests that must be good, e.g. 0.999.
    pub objective: f64,
    /// Route templates covered (`/orders/{id}`); empty: every route. Default: every route.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Window over which the burn rate is measured for [`Budget`](super::Budget).
    /// Default: 5 min.
    #[serde(default = "default_burn_window", with = "crate::duration_text")]
    pub burn_window: Duration,
    /// [`Budget::allows_optional`](super::Budget::allows_optional) turns false above this
    /// burn rate (1.0 spends the budget exactly over the SLO period). Default: 2.0.
    #[serde(default = "default_max_burn_rate")]
    pub max_burn_rate: f64,
    /// Requests the burn window needs before it is judged. Default: 100.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
}

fn default_buckets() -> Vec<Duration> {
    (0..8).map(|k| Duration::from_millis(10 << k)).collect()
}
fn default_max_routes() -> u32 {
    200
}
fn default_burn_window() -> Duration {
    Duration::from_secs(300)
}
fn default_max_burn_rate() -> f64 {
    2.0
}
fn default_min_requests() -> u32 {
    100
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            buckets: default_buckets(),
            max_routes: default_max_routes(),
            slos: Vec::new(),
        }
    }
}

impl SloConfig {
    /// An SLO over every route with the default burn settings.
    pub fn new(name: impl Into<String>, latency: Duration, objective: f64) -> SloConfig {
        SloConfig {
            name: name.into(),
            latency,
            objective,
            routes: Vec::new(),
            burn_window: default_burn_window(),
            max_burn_rate: default_max_burn_rate(),
            min_requests: default_min_requests(),
        }
    }
}

impl MetricsConfig {
    /// Checks the settings and returns the running recorder on the system clock.
    pub fn build(&self) -> Result<HttpMetrics, Error> {
        self.build_with_clock(Clock::system())
    }

    /// Like [`build`](Self::build), timing requests and burn windows with `clock`.
    pub fn build_with_clock(&self, clock: Clock) -> Result<HttpMetrics, Error> {
        self.validate()?;
        Ok(HttpMetrics::new(self, clock))
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid =
            |field: &'static str, message: String| Err(Error::InvalidConfig { field, message });
        if self.buckets.is_empty() || self.buckets.len() > 64 {
            return invalid(
                "buckets",
                format!("expected 1..=64 bucket bounds, got {}", self.buckets.len()),
            );
        }
        if self.buckets.windows(2).any(|w| w[0] >= w[1]) || self.buckets[0].is_zero() {
            return invalid(
                "buckets",
                format!(
                    "expected increasing durations above zero, got {:?}",
                    self.buckets
                ),
            );
        }
        if self.max_routes == 0 {
            return invalid("max_routes", "expected at least 1".into());
        }
        for (i, slo) in self.slos.iter().enumerate() {
            if slo.name.is_empty() || self.slos[..i].iter().any(|s| s.name == slo.name) {
                return invalid(
                    "slos.name",
                    format!("expected a unique, non-empty name, got {:?}", slo.name),
                );
            }
            if !(slo.objective > 0.0 && slo.objective < 1.0) {
                return invalid(
                    "slos.objective",
                    format!(
                        "{}: expected a fraction in (0, 1) such as 0.999, got {}",
                        slo.name, slo.objective
                    ),
                );
            }
            if slo.latency.is_zero() {
                return invalid(
                    "slos.latency",
                    format!("{}: expected a duration above zero", slo.name),
                );
            }
            if slo.burn_window < Duration::from_secs(1) {
                return invalid(
                    "slos.burn_window",
                    format!(
                        "{}: expected at least 1s, got {:?}",
                        slo.name, slo.burn_window
                    ),
                );
            }
            if !(slo.max_burn_rate.is_finite() && slo.max_burn_rate > 0.0) {
                return invalid(
                    "slos.max_burn_rate",
                    format!(
                        "{}: expected a number above 0, got {}",
                        slo.name, slo.max_burn_rate
                    ),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buckets_are_the_seeds_10ms_doublings() {
        let b = MetricsConfig::default().buckets;
        assert_eq!(b.len(), 8);
        assert_eq!(b[0], Duration::from_millis(10));
        assert_eq!(b[7], Duration::from_millis(1280));
    }

    #[test]
    fn slos_parse_from_text_and_are_checked() {
        let config: MetricsConfig = serde_json::from_str(
            r#"{"buckets": ["5ms", "50ms", "500ms"],
                "slos": [{"name": "api", "latency": "300ms", "objective": 0.999, "routes": ["/orders/{id}"]}]}"#,
        )
        .unwrap();
        assert_eq!(config.slos[0].burn_window, Duration::from_secs(300));
        config.build().unwrap();
        let mut bad = config.clone();
        bad.slos[0].objective = 99.9;
        assert!(bad
            .build()
            .unwrap_err()
            .to_string()
            .starts_with("slos.objective: api:"));
        bad = config;
        bad.buckets = vec![Duration::from_millis(50), Duration::from_millis(5)];
        assert!(bad.build().unwrap_err().to_string().starts_with("buckets:"));
    }
}
