//! Counters per proxy and per toxic, and their Prometheus text exposition (`/metrics`).
//!
//! Counters are plain relaxed atomics: each connection adds what it moved once per chunk,
//! and the rare reader (a scrape, the adaptive controller) sums them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one proxy.
#[derive(Debug, Default)]
pub(crate) struct ProxyMetrics {
    pub connections_total: AtomicU64,
    pub connections_active: AtomicU64,
    pub upstream_connect_errors: AtomicU64,
    /// Bytes read from the client and passed towards the upstream.
    pub bytes_upstream: AtomicU64,
    /// Bytes read from the upstream and passed towards the client.
    pub bytes_downstream: AtomicU64,
    pub http_requests: AtomicU64,
    /// Responses from the upstream by class: index 0 is 1xx ... 4 is 5xx.
    pub http_responses: [AtomicU64; 5],
    /// Current adaptive chaos level; 0 when the proxy has no controller.
    pub chaos_level: AtomicU64,
    pub chaos_level_changes: AtomicU64,
}

impl ProxyMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        Self::add(&self.http_responses[class], 1);
    }
}

/// Counters of one toxic (kept by name, so removing and re-adding a toxic continues them).
#[derive(Debug, Default)]
pub(crate) struct ToxicCounters {
    /// Requests an `http_delay` held back.
    pub delayed: AtomicU64,
    /// Requests an `http_abort` answered itself.
    pub failed: AtomicU64,
}

/// What one proxy contributes to a scrape.
pub(crate) struct ProxySample<'a> {
    pub name: &'a str,
    pub metrics: &'a ProxyMetrics,
    pub toxics_active: usize,
    pub enabled: bool,
    pub toxics: Vec<(String, &'a str, u64, u64)>,
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const FAMILIES: &[Family] = &[
    Family { name: "ballast_chaos_proxy_enabled", kind: "gauge", help: "1 while the proxy accepts connections." },
    Family { name: "ballast_chaos_connections_active", kind: "gauge", help: "Client connections open through the proxy." },
    Family { name: "ballast_chaos_connections_total", kind: "counter", help: "Client connections accepted." },
    Family { name: "ballast_chaos_upstream_connect_errors_total", kind: "counter", help: "Connections to the upstream that failed." },
    Family { name: "ballast_chaos_bytes_total", kind: "counter", help: "Bytes read by the proxy, by direction (upstream: from clients; downstream: from the upstream)." },
    Family { name: "ballast_chaos_toxics_active", kind: "gauge", help: "Toxics on the proxy." },
    Family { name: "ballast_chaos_http_requests_total", kind: "counter", help: "HTTP requests seen on connections the proxy parses." },
    Family { name: "ballast_chaos_http_responses_total", kind: "counter", help: "HTTP responses from the upstream, by status class." },
    Family { name: "ballast_chaos_requests_delayed_total", kind: "counter", help: "Requests an http_delay toxic held back." },
    Family { name: "ballast_chaos_requests_failed_total", kind: "counter", help: "Requests an http_abort toxic answered itself." },
    Family { name: "ballast_chaos_level", kind: "gauge", help: "Adaptive chaos level (0: no controller)." },
    Family { name: "ballast_chaos_level_changes_total", kind: "counter", help: "Times the adaptive controller changed the level." },
];

/// Label values are names the API checked (no quotes, backslashes or newlines), but escape
/// anyway: the exposition format must stay parseable whatever comes in.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Renders every proxy in the text exposition format (version 0.0.4).
pub(crate) fn render(proxies: &[ProxySample<'_>]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for p in proxies {
            let proxy = escape(p.name);
            let m = p.metrics;
            let get = ProxyMetrics::get;
            let mut line = |labels: String, value: u64| {
                let _ = writeln!(out, "{}{{proxy=\"{proxy}\"{labels}}} {value}", family.name);
            };
            match family.name {
                "ballast_chaos_proxy_enabled" => line(String::new(), u64::from(p.enabled)),
                "ballast_chaos_connections_active" => {
                    line(String::new(), get(&m.connections_active))
                }
                "ballast_chaos_connections_total" => line(String::new(), get(&m.connections_total)),
                "ballast_chaos_upstream_connect_errors_total" => {
                    line(String::new(), get(&m.upstream_connect_errors))
                }
                "ballast_chaos_bytes_total" => {
                    line(",direction=\"upstream\"".into(), get(&m.bytes_upstream));
                    line(",direction=\"downstream\"".into(), get(&m.bytes_downstream));
                }
                "ballast_chaos_toxics_active" => line(String::new(), p.toxics_active as u64),
                "ballast_chaos_http_requests_total" => line(String::new(), get(&m.http_requests)),
                "ballast_chaos_http_responses_total" => {
                    for (i, counter) in m.http_responses.iter().enumerate() {
                        line(format!(",class=\"{}xx\"", i + 1), get(counter));
                    }
                }
                "ballast_chaos_requests_delayed_total" | "ballast_chaos_requests_failed_total" => {
                    let delayed = family.name == "ballast_chaos_requests_delayed_total";
                    for (toxic, kind, d, f) in &p.toxics {
                        let value = if delayed { *d } else { *f };
                        let wanted = if delayed { "http_delay" } else { "http_abort" };
                        if *kind == wanted || value > 0 {
                            line(format!(",toxic=\"{}\"", escape(toxic)), value);
                        }
                    }
                }
                "ballast_chaos_level" => line(String::new(), get(&m.chaos_level)),
                "ballast_chaos_level_changes_total" => {
                    line(String::new(), get(&m.chaos_level_changes))
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_help_type_and_labelled_samples() {
        let metrics = ProxyMetrics::default();
        ProxyMetrics::add(&metrics.bytes_upstream, 42);
        metrics.count_response(503);
        metrics.count_response(200);
        let text = render(&[ProxySample {
            name: "re\"dis",
            metrics: &metrics,
            toxics_active: 2,
            enabled: true,
            toxics: vec![("abort".into(), "http_abort", 0, 7)],
        }]);
        assert!(text.contains("# TYPE ballast_chaos_bytes_total counter"));
        assert!(text
            .contains("ballast_chaos_bytes_total{proxy=\"re\\\"dis\",direction=\"upstream\"} 42"));
        assert!(text
            .contains("ballast_chaos_http_responses_total{proxy=\"re\\\"dis\",class=\"5xx\"} 1"));
        assert!(text.contains(
            "ballast_chaos_requests_failed_total{proxy=\"re\\\"dis\",toxic=\"abort\"} 7"
        ));
        assert!(!text.contains("ballast_chaos_requests_delayed_total{"));
        assert!(text.contains("ballast_chaos_toxics_active{proxy=\"re\\\"dis\"} 2"));
        // Every sample line is `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            value.parse::<u64>().unwrap();
        }
    }
}
