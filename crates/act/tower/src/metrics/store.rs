//! Where requests are counted: one set of atomic series per route (one copy per core, so
//! threads on different cores do not write the same lines), in a table that is only ever
//! added to. Finding a route is a hash and a few atomic loads: no lock, no allocation, no
//! shared write; a route is added once, by whichever request sees it first.

use super::budget::SloState;
use super::config::MetricsConfig;
use crate::clock::nanos;
use crate::Clock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

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

    #[inline]
    fn record(&self, bounds_ns: &[u64], latency_ns: u64) {
        let bucket = bounds_ns.partition_point(|&bound| bound < latency_ns);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(latency_ns, Relaxed);
    }

    fn add_to(&self, counts: &mut [u64], sum_ns: &mut u64) {
        for (total, bucket) in counts.iter_mut().zip(self.buckets.iter()) {
            *total += bucket.load(Relaxed);
        }
        *sum_ns = sum_ns.wrapping_add(self.sum_ns.load(Relaxed));
    }

    fn requests(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// Series per shard: one per method and status class.
const PER_SHARD: usize = METHODS.len() * CLASSES.len();

/// gRPC series per shard: one per code a call can end with (17 codes and `error`).
const GRPC_PER_SHARD: usize = crate::grpc::LABELS;

/// One gRPC code's histogram, and how many of its calls failed (whether a code fails is
/// the classifier's say, and a non-200 answer fails whatever code it maps to).
struct GrpcRow {
    series: Series,
    failed: AtomicU64,
}

/// A gRPC series added up: bucket counts, calls, sum in seconds, failed calls.
type Totals = (Vec<u64>, u64, f64, u64);

/// Everything recorded for one route template.
pub(crate) struct RouteSeries {
    pub(crate) route: Box<str>,
    bounds_ns: Arc<[u64]>,
    /// `shards` copies of the `PER_SHARD` series, one after the other.
    series: Box<[Series]>,
    /// `shards` copies of the `GRPC_PER_SHARD` gRPC series, made when the route's first
    /// gRPC call ends (a route served over HTTP only never pays for them).
    grpc: OnceLock<Box<[GrpcRow]>>,
    pub(crate) slos: Box<[Arc<SloState>]>,
}

impl RouteSeries {
    fn new(route: &str, bounds_ns: Arc<[u64]>, slos: Box<[Arc<SloState>]>) -> RouteSeries {
        let series = (0..PER_SHARD * crate::shard::count())
            .map(|_| Series::new(bounds_ns.len()))
            .collect();
        RouteSeries {
            route: route.into(),
            bounds_ns,
            series,
            grpc: OnceLock::new(),
            slos,
        }
    }

    /// Counts one request.
    #[inline]
    pub(crate) fn record(&self, method: usize, class: usize, latency_ns: u64, now_ns: u64) {
        let shard = crate::shard::this_thread() * PER_SHARD;
        self.series[shard + method * CLASSES.len() + class].record(&self.bounds_ns, latency_ns);
        self.record_slos(class >= 4, latency_ns, now_ns);
    }

    /// Counts one gRPC call that ended with `code` (`0..=16`, or `error`).
    #[inline]
    pub(crate) fn record_grpc(&self, code: u8, failed: bool, latency_ns: u64, now_ns: u64) {
        let rows = self.grpc.get_or_init(|| {
            (0..GRPC_PER_SHARD * crate::shard::count())
                .map(|_| GrpcRow {
                    series: Series::new(self.bounds_ns.len()),
                    failed: AtomicU64::new(0),
                })
                .collect()
        });
        let row = &rows[crate::shard::this_thread() * GRPC_PER_SHARD + usize::from(code)];
        row.series.record(&self.bounds_ns, latency_ns);
        if failed {
            row.failed.fetch_add(1, Relaxed);
        }
        self.record_slos(failed, latency_ns, now_ns);
    }

    #[inline]
    fn record_slos(&self, failed: bool, latency_ns: u64, now_ns: u64) {
        for slo in self.slos.iter() {
            slo.record(!failed && latency_ns <= slo.latency_ns, now_ns);
        }
    }

    /// Series `i` (of `PER_SHARD`) added up over the shards: bucket counts and sum.
    fn totals(&self, i: usize) -> (Vec<u64>, u64) {
        let mut counts = vec![0; self.bounds_ns.len() + 1];
        let mut sum_ns = 0u64;
        for series in self.series.iter().skip(i).step_by(PER_SHARD) {
            series.add_to(&mut counts, &mut sum_ns);
        }
        (counts, sum_ns)
    }

    /// gRPC series `code` added up over the shards (`None` if the route had no gRPC call).
    fn grpc_totals(&self, code: usize) -> Option<Totals> {
        let rows = self.grpc.get()?;
        let mut counts = vec![0; self.bounds_ns.len() + 1];
        let (mut sum_ns, mut failed) = (0u64, 0u64);
        for row in rows.iter().skip(code).step_by(GRPC_PER_SHARD) {
            row.series.add_to(&mut counts, &mut sum_ns);
            failed += row.failed.load(Relaxed);
        }
        let total = counts.iter().sum();
        Some((counts, total, sum_ns as f64 / 1e9, failed))
    }

    fn requests(&self) -> u64 {
        let grpc = self.grpc.get().map_or(0, |rows| {
            rows.iter().map(|row| row.series.requests()).sum::<u64>()
        });
        self.series.iter().map(Series::requests).sum::<u64>() + grpc
    }
}

/// FNV-1a: route templates are short and trusted (they come from the router, not from
/// request paths), so a fast hash beats SipHash's flood resistance here.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) struct Store {
    pub(crate) clock: Clock,
    bounds_ns: Arc<[u64]>,
    max_routes: usize,
    /// Open addressing, linear probing, at most half full: slots are filled once and never
    /// emptied, so a reader needs no lock.
    table: Box<[OnceLock<RouteSeries>]>,
    /// Routes added besides `other` and `unmatched` (may pass `max_routes` by a racing few).
    added: AtomicUsize,
    pub(crate) slos: Vec<Arc<SloState>>,
}

impl Store {
    fn new(config: &MetricsConfig, clock: Clock) -> Store {
        let bounds_ns: Arc<[u64]> = config.buckets.iter().map(|d| nanos(*d)).collect();
        let slos = config
            .slos
            .iter()
            .map(|s| Arc::new(SloState::new(s)))
            .collect();
        let max_routes = config.max_routes as usize;
        // Room for every route, `other`, `unmatched` and racing adders, at most half full.
        let slots = (2 * (max_routes + 2) + 64).next_power_of_two();
        let store = Store {
            clock,
            bounds_ns,
            max_routes,
            table: (0..slots).map(|_| OnceLock::new()).collect(),
            added: AtomicUsize::new(0),
            slos,
        };
        // Present from the start, so they never take a service route's place.
        store.slot(OTHER);
        store.slot(UNMATCHED);
        store
    }

    /// The slot of `route`'s series, added on first sight (`other` past `max_routes`).
    #[inline]
    pub(crate) fn slot(&self, route: &str) -> usize {
        match self.find(route) {
            Ok(slot) => slot,
            Err(_) => self.add(route),
        }
    }

    /// `Ok(slot)` of `route`, or `Err(first empty slot on its probe sequence)`.
    #[inline]
    fn find(&self, route: &str) -> Result<usize, usize> {
        let mask = self.table.len() - 1;
        let start = fnv(route) as usize;
        for probe in 0..self.table.len() {
            let slot = (start + probe) & mask;
            match self.table[slot].get() {
                Some(series) if &*series.route == route => return Ok(slot),
                Some(_) => continue,
                None => return Err(slot),
            }
        }
        Err(usize::MAX) // unreachable: the table is never more than half full
    }

    #[cold]
    fn add(&self, route: &str) -> usize {
        let special = matches!(route, OTHER | UNMATCHED);
        if !special && self.added.load(Relaxed) >= self.max_routes {
            return self.slot(OTHER);
        }
        let mask = self.table.len() - 1;
        let start = fnv(route) as usize;
        for probe in 0..self.table.len() {
            let slot = (start + probe) & mask;
            // Two requests adding routes at once may race for a slot: one fills it, the other
            // sees someone else's route there and probes on.
            let series = self.table[slot].get_or_init(|| {
                if !special {
                    self.added.fetch_add(1, Relaxed);
                }
                let slos = self
                    .slos
                    .iter()
                    .filter(|s| s.covers(route))
                    .cloned()
                    .collect();
                RouteSeries::new(route, self.bounds_ns.clone(), slos)
            });
            if &*series.route == route {
                return slot;
            }
        }
        self.find(OTHER).expect("added at build")
    }

    /// The series in `slot` (a slot [`slot`](Self::slot) returned).
    #[inline]
    pub(crate) fn series(&self, slot: usize) -> &RouteSeries {
        self.table[slot]
            .get()
            .expect("slots are filled before they are handed out")
    }

    /// The series of `route` (tests record through it directly).
    #[cfg(test)]
    pub(crate) fn route(&self, route: &str) -> &RouteSeries {
        self.series(self.slot(route))
    }

    fn routes(&self) -> impl Iterator<Item = &RouteSeries> {
        self.table.iter().filter_map(OnceLock::get)
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
        HttpMetrics {
            store: Arc::new(Store::new(config, clock)),
        }
    }

    /// Adds `http_request_duration_seconds`, `http_requests_total`,
    /// `http_request_errors_total`, their gRPC counterparts `grpc_request_duration_seconds`,
    /// `grpc_requests_total` and `grpc_request_errors_total` (once a gRPC call was
    /// recorded) and the `ballast_slo_*` series.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(MetricsCollector(self.clone())));
    }

    /// Requests recorded on `route` so far (every method and status, gRPC calls included).
    pub fn requests(&self, route: &str) -> u64 {
        self.store
            .find(route)
            .map_or(0, |slot| self.store.series(slot).requests())
    }
}

#[derive(Debug)]
struct MetricsCollector(HttpMetrics);

impl Collector for MetricsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let store = &self.0.store;
        let mut routes: Vec<&RouteSeries> = store.routes().collect();
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
            for i in 0..PER_SHARD {
                let (counts, sum_ns) = route.totals(i);
                let total: u64 = counts.iter().sum();
                if total > 0 {
                    rows.push((
                        route.route.as_ref(),
                        METHODS[i / CLASSES.len()],
                        i % CLASSES.len(),
                        counts,
                        total,
                        sum_ns as f64 / 1e9,
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
        encode_grpc(&routes, &bounds, &mut encoder)?;
        super::budget::encode_slos(&store.slos, store.clock.now_nanos(), &mut encoder)
    }
}

/// The gRPC families, labelled `route` and `grpc_code`; absent while no gRPC call ended.
fn encode_grpc(
    routes: &[&RouteSeries],
    bounds: &[f64],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut rows = Vec::new();
    for route in routes {
        for code in 0..GRPC_PER_SHARD {
            match route.grpc_totals(code) {
                Some(totals) if totals.1 > 0 => rows.push((
                    [
                        ("route", route.route.as_ref()),
                        ("grpc_code", crate::grpc::label(code as u8)),
                    ],
                    totals,
                )),
                _ => {}
            }
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut e = encoder.encode_descriptor(
        "grpc_request_duration_seconds",
        "Time to complete gRPC calls (to the end of the response stream)",
        None,
        MetricType::Histogram,
    )?;
    for (labels, (counts, total, sum, _)) in &rows {
        let buckets: Vec<(f64, u64)> = bounds.iter().copied().zip(counts.iter().copied()).collect();
        e.encode_family(labels)?
            .encode_histogram::<NoLabelSet>(*sum, *total, &buckets, None)?;
    }
    let mut e = encoder.encode_descriptor(
        "grpc_requests",
        "gRPC calls completed, by the code they ended with",
        None,
        MetricType::Counter,
    )?;
    for (labels, (_, total, _, _)) in &rows {
        e.encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(total, None)?;
    }
    let mut e = encoder.encode_descriptor(
        "grpc_request_errors",
        "gRPC calls that failed: a failure code, a non-200 answer, a transport or protocol error",
        None,
        MetricType::Counter,
    )?;
    for (labels, (_, _, _, failed)) in rows.iter().filter(|r| r.1 .3 > 0) {
        e.encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(failed, None)?;
    }
    Ok(())
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
    fn threads_adding_routes_at_once_get_one_series_each() {
        let metrics = MetricsConfig {
            max_routes: 50,
            ..Default::default()
        }
        .build()
        .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..40 {
                        metrics
                            .store
                            .route(&format!("/r{i}"))
                            .record(0, 1, 1_000, 0);
                    }
                });
            }
        });
        for i in 0..40 {
            assert_eq!(metrics.requests(&format!("/r{i}")), 4, "/r{i}");
        }
        assert_eq!(
            metrics.store.routes().count(),
            42,
            "40 routes, other, unmatched"
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
        let (counts, _) = route.totals(1); // GET 2xx
        assert_eq!(counts, vec![1, 1, 0, 0, 0, 0, 0, 0, 1]);
    }
}
