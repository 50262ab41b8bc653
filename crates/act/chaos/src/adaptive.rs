//! The adaptive chaos level: a task per proxy that measures the proxy's own traffic every
//! interval and turns the fault tier up or down with it.
//!
//! The measurements are the proxy's counters (no extra work on the data path): in HTTP
//! mode QPS counts requests and the error rate is the share of 5xx among the upstream's
//! responses; in TCP mode QPS counts new connections and errors are failed upstream
//! connects. The proxy's own injected failures are not counted as errors, or the level
//! would feed on itself.

use crate::config::{AdaptiveConfig, AdaptiveMode};
use crate::metrics::ProxyMetrics;
use crate::proxy::Proxy;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Instant;
use tokio::task::JoinHandle;

/// Events, errors and outcomes counted so far.
#[derive(Debug, Clone, Copy)]
struct Sample {
    events: u64,
    errors: u64,
    outcomes: u64,
}

impl Sample {
    fn read(metrics: &ProxyMetrics, mode: AdaptiveMode) -> Sample {
        let get = ProxyMetrics::get;
        match mode {
            AdaptiveMode::Http => Sample {
                events: get(&metrics.http_requests),
                errors: get(&metrics.http_responses[4]),
                outcomes: metrics.http_responses.iter().map(get).sum(),
            },
            AdaptiveMode::Tcp => Sample {
                events: get(&metrics.connections_total),
                errors: get(&metrics.upstream_connect_errors),
                outcomes: get(&metrics.connections_total),
            },
        }
    }
}

/// QPS and error rate between two samples `seconds` apart.
fn rates(before: Sample, after: Sample, seconds: f64) -> (f64, f64) {
    let events = after.events.saturating_sub(before.events) as f64;
    let errors = after.errors.saturating_sub(before.errors) as f64;
    let outcomes = after.outcomes.saturating_sub(before.outcomes) as f64;
    let qps = if seconds > 0.0 { events / seconds } else { 0.0 };
    let error_rate = if outcomes > 0.0 {
        (errors / outcomes).min(1.0)
    } else {
        0.0
    };
    (qps, error_rate)
}

pub(crate) fn spawn(
    proxy: Weak<Proxy>,
    config: AdaptiveConfig,
    mode: AdaptiveMode,
) -> JoinHandle<()> {
    tokio::spawn(run(proxy, config, mode))
}

async fn run(proxy: Weak<Proxy>, config: AdaptiveConfig, mode: AdaptiveMode) {
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut level = 0;
    let mut last: Option<(Instant, Sample)> = None;
    loop {
        ticker.tick().await;
        // The proxy going away ends the controller.
        let Some(proxy) = proxy.upgrade() else { return };
        let now = Instant::now();
        let sample = Sample::read(&proxy.metrics, mode);
        let (qps, error_rate) = match last {
            Some((at, before)) => rates(before, sample, now.duration_since(at).as_secs_f64()),
            None => (0.0, 0.0),
        };
        last = Some((now, sample));
        let next = config.level(qps, error_rate);
        if next == level {
            continue;
        }
        let tier = config.tiers[next - 1];
        tracing::info!(
            proxy = %proxy.name,
            from = level,
            to = next,
            qps = format!("{qps:.1}"),
            error_rate = format!("{error_rate:.3}"),
            delay = ?tier.delay,
            failure_ratio = tier.failure_ratio,
            "chaos level changed"
        );
        proxy
            .metrics
            .chaos_level
            .store(next as u64, Ordering::Relaxed);
        ProxyMetrics::add(&proxy.metrics.chaos_level_changes, 1);
        proxy.apply_tier(mode, tier, config.status).await;
        level = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_and_ratios_of_outcomes() {
        let before = Sample {
            events: 100,
            errors: 1,
            outcomes: 100,
        };
        let after = Sample {
            events: 1100,
            errors: 51,
            outcomes: 600,
        };
        let (qps, error_rate) = rates(before, after, 2.0);
        assert_eq!(qps, 500.0);
        assert_eq!(error_rate, 0.1);
        assert_eq!(rates(after, after, 1.0), (0.0, 0.0));
        // Counters never go backwards, but a stale sample must not underflow.
        assert_eq!(rates(after, before, 1.0), (0.0, 0.0));
    }

    #[test]
    fn samples_read_the_mode_s_counters() {
        let metrics = ProxyMetrics::default();
        ProxyMetrics::add(&metrics.http_requests, 10);
        metrics.count_response(200);
        metrics.count_response(502);
        ProxyMetrics::add(&metrics.connections_total, 3);
        let http = Sample::read(&metrics, AdaptiveMode::Http);
        assert_eq!((http.events, http.errors, http.outcomes), (10, 1, 2));
        let tcp = Sample::read(&metrics, AdaptiveMode::Tcp);
        assert_eq!((tcp.events, tcp.errors, tcp.outcomes), (3, 0, 3));
    }
}
