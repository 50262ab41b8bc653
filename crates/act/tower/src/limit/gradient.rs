//! Gradient2 (Netflix concurrency-limits): compare each latency sample with a long-run
//! average; while `tolerance × long / short ≥ 1` the limit grows by `queue_size` per step,
//! and as queueing inflates the short latency it shrinks by up to half. Smoothing damps both.

use serde::{Deserialize, Serialize};

/// Settings of the Gradient2 limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gradient2Config {
    /// Limit at start. Default: 20.
    #[serde(default = "default_initial")]
    pub initial: u32,
    /// Never below this. Default: 4.
    #[serde(default = "default_min")]
    pub min: u32,
    /// Never above this. Default: 1000.
    #[serde(default = "default_max")]
    pub max: u32,
    /// How much latency above the long-run average is tolerated before shrinking.
    /// Default: 1.5.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Weight of each new estimate. Default: 0.2.
    #[serde(default = "default_smoothing")]
    pub smoothing: f64,
    /// Headroom added per step (room for a queue while probing upward). Default: 4.
    #[serde(default = "default_queue_size")]
    pub queue_size: u32,
    /// Samples the long-run latency average spans. Default: 600.
    #[serde(default = "default_long_window")]
    pub long_window: u32,
}

fn default_initial() -> u32 {
    20
}
fn default_min() -> u32 {
    4
}
fn default_max() -> u32 {
    1000
}
fn default_tolerance() -> f64 {
    1.5
}
fn default_smoothing() -> f64 {
    0.2
}
fn default_queue_size() -> u32 {
    4
}
fn default_long_window() -> u32 {
    600
}

impl Default for Gradient2Config {
    fn default() -> Self {
        Gradient2Config {
            initial: default_initial(),
            min: default_min(),
            max: default_max(),
            tolerance: default_tolerance(),
            smoothing: default_smoothing(),
            queue_size: default_queue_size(),
            long_window: default_long_window(),
        }
    }
}

impl Gradient2Config {
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        let invalid = |field: &'static str, message: String| {
            Err(crate::Error::InvalidConfig { field, message })
        };
        if self.min == 0 || self.min > self.max {
            return invalid(
                "limit.gradient2.min",
                format!("expected 1..=max ({}), got {}", self.max, self.min),
            );
        }
        if !(self.min..=self.max).contains(&self.initial) {
            return invalid(
                "limit.gradient2.initial",
                format!(
                    "expected min..=max ({}..={}), got {}",
                    self.min, self.max, self.initial
                ),
            );
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 1.0) {
            return invalid(
                "limit.gradient2.tolerance",
                format!("expected a number ≥ 1, got {}", self.tolerance),
            );
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return invalid(
                "limit.gradient2.smoothing",
                format!("expected a number in (0, 1], got {}", self.smoothing),
            );
        }
        if self.long_window < 10 {
            return invalid(
                "limit.gradient2.long_window",
                format!("expected at least 10 samples, got {}", self.long_window),
            );
        }
        Ok(())
    }
}

/// Samples averaged plainly before the long average turns exponential.
const WARMUP_SAMPLES: u64 = 10;

pub(crate) struct Gradient2 {
    cfg: Gradient2Config,
    estimate: f64,
    long_rtt: f64,
    samples: u64,
}

impl Gradient2 {
    pub(crate) fn new(cfg: Gradient2Config) -> Gradient2 {
        Gradient2 {
            estimate: f64::from(cfg.initial),
            cfg,
            long_rtt: 0.0,
            samples: 0,
        }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.estimate as u32
    }

    /// One latency sample (nanoseconds) taken with `in_flight` calls running; the new limit.
    pub(crate) fn update(&mut self, rtt_ns: u64, in_flight: u64) -> u32 {
        let short = rtt_ns.max(1) as f64;
        self.samples += 1;
        if self.samples <= WARMUP_SAMPLES {
            self.long_rtt += (short - self.long_rtt) / self.samples as f64;
        } else {
            let factor = 2.0 / (f64::from(self.cfg.long_window) + 1.0);
            self.long_rtt += factor * (short - self.long_rtt);
        }
        // After a lasting rise the long average lags far above; pull it down so the limit
        // can grow again once latency recovers.
        if self.long_rtt / short > 2.0 {
            self.long_rtt *= 0.95;
        }
        // Too little traffic to tell whether more would queue: keep the limit.
        if (in_flight as f64) < self.estimate / 2.0 {
            return self.limit();
        }
        let gradient = (self.cfg.tolerance * self.long_rtt / short).clamp(0.5, 1.0);
        let proposed = self.estimate * gradient + f64::from(self.cfg.queue_size);
        let smoothed = self.estimate * (1.0 - self.cfg.smoothing) + proposed * self.cfg.smoothing;
        self.estimate = smoothed.clamp(f64::from(self.cfg.min), f64::from(self.cfg.max));
        self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn steady_latency_at_the_limit_grows_it_to_the_max() {
        let mut g = Gradient2::new(Gradient2Config {
            max: 200,
            ..Default::default()
        });
        for _ in 0..2000 {
            let limit = g.limit();
            g.update(10 * MS, u64::from(limit));
        }
        assert_eq!(g.limit(), 200);
    }

    #[test]
    fn queueing_latency_shrinks_the_limit_and_recovery_grows_it_back() {
        let mut g = Gradient2::new(Gradient2Config {
            initial: 100,
            max: 200,
            ..Default::default()
        });
        for _ in 0..300 {
            g.update(10 * MS, u64::from(g.limit()));
        }
        let before = g.limit();
        for _ in 0..30 {
            g.update(40 * MS, u64::from(g.limit()));
        }
        let during = g.limit();
        assert!(during < before / 2, "{before} → {during}");
        for _ in 0..2000 {
            g.update(10 * MS, u64::from(g.limit()));
        }
        assert!(g.limit() > during * 2, "{during} → {}", g.limit());
    }

    #[test]
    fn idle_traffic_leaves_the_limit_alone() {
        let mut g = Gradient2::new(Gradient2Config::default());
        for _ in 0..100 {
            g.update(500 * MS, 1);
        }
        assert_eq!(g.limit(), 20);
    }

    #[test]
    fn the_limit_stays_within_min_and_max() {
        let mut g = Gradient2::new(Gradient2Config {
            min: 5,
            max: 50,
            initial: 20,
            ..Default::default()
        });
        for i in 0..5000u64 {
            let rtt = if (i / 100) % 2 == 0 { MS } else { 100 * MS };
            let limit = g.update(rtt, 1000);
            assert!((5..=50).contains(&limit), "{limit}");
        }
    }
}
