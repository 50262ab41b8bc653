//! Where requests are counted: one set of atomic series per route, found by a read-locked
//! map lookup that allocates nothing; a route is added once, under the write lock.

use super::budget::SloState;
use super::config::MetricsConfig;
use crate::clock::nanos;
use crate::Clock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

/// The route template of a request, for services without axum's `MatchedPath` (insert it
/// as a request extension: `request.extensions_mut().insert(RouteTemplate("/orders/{id}"))`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTemplate(pub &'static str);

/// Label of requests no route template was found for.
pub(crate) const UNMATCHED: &str = "unmatched";
/// Label of routes beyond `max_routes`.
pub(crate) const OTHER: &str = "other";

pub(crate) const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
];
pub(crate) const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"];
/// Index of the `error` class: the service returned an error instead of a response.
pub(crate) const ERROR_CLASS: usize = 5;

pub(crate) fn method_index(method: &http::Method) -> usize {
    match *method {
        http::Method::GET => 0,
        http::Method::POST => 1,
        http::Method::PUT => 2,
        http::Method::DELETE => 3,
        http::Method::PATCH => 4,
        http::Method::HEAD => 5,
        http::Method::OPTIONS => 6,
        http::Method::CONNECT => 7,
        http::Method::TRACE => 8,
        _ => 9,
    }
}

pub(crate) fn class_index(status: http::StatusCode) -> usize {
    (usize::from(status.as_u16() / 100)).clamp(1, 5) - 1
}

/// One histogram: cumulative counts are made at scrape time, so a request adds to one bucket.
pub(crate) struct Series {
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Series {
    fn new(bounds: usize) -> Series {
        Series {
            buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// Everything recorded for one route template.
pub(crate) struct RouteSeries {
    pub(crate) route: Box<str>,
    /// Here, so a request in flight holds one reference (this route's), not two.
    pub(crate) clock: Clock,
    bounds_ns: Arc<[u64]>,
    series: Box<[Series]>,
    pub(crate) slos: Box<[Arc<SloState>]>,
}

impl RouteSeries {
    fn new(
        route: &str,
        clock: Clock,
        bounds_ns: Arc<[u64]>,
        slos: Box<[Arc<SloState>]>,
    ) -> RouteSeries {
        let series = (0..METHODS.len() * CLASSES.len())
            .map(|_| Series::new(bounds_ns.len()))
            .collect();
        RouteSeries {
            route: route.into(),
            clock,
            bounds_ns,
            series,
            slos,
        }
    }

    /// Counts one request.
    #[inline]
    pub(crate) fn record(&self, method: usize, class: usize, latency_ns: u64, now_ns: u64) {
        let series = &self.series[method * CLASSES.len() + class];
        let bucket = self.bounds_ns.partition_point(|&bound| bound < latency_ns);
        series.buckets[bucket].fetch_add(1, Relaxed);
        series.sum_ns.fetch_add(latency_ns, Relaxed);
        let failed = class >= 4;
        for slo in self.slos.iter() {
            slo.record(!failed && latency_ns <= slo.latency_ns, now_ns);
        }
    }
}

/// FNV-1a: route templates are short and trusted (they come from the router, not from
/// request paths), so a fast hash beats SipHash's flood resistance here.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

pub(crate) struct Store {
    pub(crate) clock: Clock,
    bounds_ns: Arc<[u64]>,
    max_routes: usize,
    routes: RwLock<HashMap<Box<str>, Arc<RouteSeries>, BuildHasherDefault<Fnv>>>,
    pub(crate) slos: Vec<Arc<SloState>>,
}

impl Store {
    /// The series of `route`, created on first sight (or `other` past `max_routes`).
    #[inline]
    pub(crate) fn route(&self, route: &str) -> Arc<RouteSeries> {
        if let Some(series) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return series.clone();
        }
        self.add_route(route)
    }

    #[cold]
    fn add_route(&self, route: &str) -> Arc<RouteSeries> {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let own = routes
            .keys()
            .filter(|k| !matches!(k.as_ref(), OTHER | UNMATCHED))
            .count();
        let special = matches!(route, OTHER | UNMATCHED);
        let route = if own >= self.max_routes && !special && !routes.contains_key(route) {
            OTHER
        } else {
            route
        };
        if let Some(series) = routes.get(route) {
            return series.clone();
        }
        let slos = self
            .slos
            .iter()
            .filter(|s| s.covers(route))
            .cloned()
            .collect();
        let series = Arc::new(RouteSeries::new(
            route,
            self.clock.clone(),
            self.bounds_ns.clone(),
            slos,
        ));
        routes.insert(route.into(), series.clone());
        series
    }
}

/// The running recorder; clones share it. Make layers with [`layer`](Self::layer), SLO
/// budget handles with [`budget`](Self::budget).
#[derive(Clone)]
pub struct HttpMetrics {
    pub(crate) store: Arc<Store>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("slos", &self.store.slos.len())
            .finish_non_exhaustive()
    }
}

impl HttpMetrics {
    pub(crate) fn new(config: &MetricsConfig, clock: Clock) -> HttpMetrics {
        let bounds_ns: Arc<[u64]> = config.buckets.iter().map(|d| nanos(*d)).collect();
        let slos = config
            .slos
            .iter()
            .map(|s| Arc::new(SloState::new(s)))
            .collect();
        HttpMetrics {
            store: Arc::new(Store {
                clock,
                bounds_ns,
                max_routes: config.max_routes as usize,
                routes: RwLock::new(HashMap::default()),
                slos,
            }),
        }
    }

    /// Adds `http_request_duration_seconds`, `http_requests_total`,
    /// `http_request_errors_total` and the `ballast_slo_*` series.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(MetricsCollector(self.clone())));
    }

    /// Requests recorded on `route` so far (every method and status).
    pub fn requests(&self, route: &str) -> u64 {
        let routes = self.store.routes.read().unwrap_or_else(|p| p.into_inner());
        routes
            .get(route)
            .map_or(0, |r| r.series.iter().map(Series::count).sum())
    }
}

#[derive(Debug)]
struct MetricsCollector(HttpMetrics);

impl Collector for MetricsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let store = &self.0.store;
        let mut routes: Vec<Arc<RouteSeries>> = store
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        routes.sort_by(|a, b| a.route.cmp(&b.route));
        let bounds: Vec<f64> = store
            .bounds_ns
            .iter()
            .map(|&n| n as f64 / 1e9)
            .chain([f64::MAX])
            .collect();
        // Each series read once, so the histogram and the counters agree within a scrape.
        let mut rows = Vec::new();
        for route in &routes {
            for (i, series) in route.series.iter().enumerate() {
                let counts: Vec<u64> = series.buckets.iter().map(|b| b.load(Relaxed)).collect();
                let total: u64 = counts.iter().sum();
                if total > 0 {
                    let sum = series.sum_ns.load(Relaxed) as f64 / 1e9;
                    rows.push((
                        route.route.as_ref(),
                        METHODS[i / CLASSES.len()],
                        i % CLASSES.len(),
                        counts,
                        total,
                        sum,
                    ));
                }
            }
        }
        let mut e = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            None,
            MetricType::Histogram,
        )?;
        for (route, method, class, counts, total, sum) in &rows {
            let labels = [
                ("method", *method),
                ("route", route),
                ("status", CLASSES[*class]),
            ];
            let buckets: Vec<(f64, u64)> =
                bounds.iter().copied().zip(counts.iter().copied()).collect();
            e.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(*sum, *total, &buckets, None)?;
        }
        let mut e = encoder.encode_descriptor(
            "http_requests",
            "HTTP requests answered",
            None,
            MetricType::Counter,
        )?;
        for (route, method, class, _, total, _) in &rows {
            let labels = [
                ("method", *method),
                ("route", route),
                ("status", CLASSES[*class]),
            ];
            e.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(total, None)?;
        }
        let mut e = encoder.encode_descriptor(
            "http_request_errors",
            "HTTP requests answered with a 5xx or an error",
            None,
            MetricType::Counter,
        )?;
        for (route, method, class, _, total, _) in rows.iter().filter(|r| r.2 >= 4) {
            let labels = [
                ("method", *method),
                ("route", route),
                ("status", CLASSES[*class]),
            ];
            e.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(total, None)?;
        }
        super::budget::encode_slos(&store.slos, store.clock.now_nanos(), &mut encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_methods_map_to_their_labels() {
        assert_eq!(CLASSES[class_index(http::StatusCode::OK)], "2xx");
        assert_eq!(CLASSES[class_index(http::StatusCode::NOT_FOUND)], "4xx");
        assert_eq!(CLASSES[class_index(http::StatusCode::BAD_GATEWAY)], "5xx");
        assert_eq!(
            METHODS[method_index(&http::Method::from_bytes(b"PURGE").unwrap())],
            "other"
        );
    }

    #[test]
    fn routes_beyond_the_limit_share_one_series() {
        let metrics = MetricsConfig {
            max_routes: 2,
            ..Default::default()
        }
        .build()
        .unwrap();
        for route in ["/a", "/b", "/c", "/d"] {
            metrics.store.route(route).record(0, 1, 1_000_000, 0);
        }
        assert_eq!((metrics.requests("/a"), metrics.requests("/b")), (1, 1));
        assert_eq!(metrics.requests(OTHER), 2);
    }

    #[test]
    fn latencies_land_in_the_first_bucket_at_or_above_them() {
        let metrics = MetricsConfig::default().build().unwrap();
        let route = metrics.store.route("/x");
        route.record(0, 1, 10_000_000, 0); // exactly 10 ms: le="0.01"
        route.record(0, 1, 10_000_001, 0);
        route.record(0, 1, 5_000_000_000, 0); // beyond 1.28 s: +Inf
        let series = &route.series[1]; // GET 2xx
        let counts: Vec<u64> = series.buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!(counts, vec![1, 1, 0, 0, 0, 0, 0, 0, 1]);
    }
}
