//! Every layer's call path allocates nothing in steady state: the bench's "0 allocations
//! per call", asserted.
//!
//! A global allocator counts allocations (and reallocations) per thread, so the other tests
//! of this binary, running on their own threads, cannot add to a test's count. Each test
//! warms its layer up (a route's first series, a thread's per-thread references, the
//! fallback's first stored response: first-sight work, paid once), then counts `CALLS`
//! calls driven by hand with a no-op waker and asserts the count is zero. Requests and the
//! inner service's responses are made before counting starts, so what is counted is the
//! layers' own work (and the bare service's, which allocates nothing).
//!
//! Time is a manual clock, standing still while calls are counted, so no window bucket
//! turns over in the middle; what a turnover costs is pinned down by its own tests below,
//! one bucket at a time.

use ballast_tower::breaker::{
    BreakerConfig, HttpClassifier, LearnedThresholds, Mode, StaticThresholds, Thresholds,
};
use ballast_tower::fallback::FallbackConfig;
use ballast_tower::grpc::GrpcClassifier;
use ballast_tower::limit::{LimitConfig, LimitKind};
use ballast_tower::metrics::{MetricsConfig, RouteTemplate, SloConfig};
use ballast_tower::Clock;
use bytes::Bytes;
use http_body::{Body, Frame};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service};

struct Counting;

thread_local! {
    /// Allocations made by this thread. Const-initialised and without a destructor, so
    /// reading it from inside the allocator allocates nothing itself.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no thread-locals left; it is not a test's.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread made while `f` ran.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Calls warmed up before counting, and calls counted.
const WARMUP: usize = 1_000;
const CALLS: usize = 10_000;

type Request = http::Request<()>;

fn request() -> Request {
    http::Request::new(())
}

fn request_with_route() -> Request {
    let mut request = http::Request::new(());
    request
        .extensions_mut()
        .insert(RouteTemplate("/orders/{id}"));
    request
}

/// The bare service: a 200 at once, allocating nothing.
#[derive(Clone)]
struct Bare;

impl Service<Request> for Bare {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<()>, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request) -> Self::Future {
        ready(Ok(http::Response::new(())))
    }
}

/// One call, driven to its end by hand; its response.
fn call<S: Service<R>, R>(service: &mut S, request: R) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => panic!("the service failed its readiness"),
        Poll::Pending => panic!("every layer here is ready at once"),
    }
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("every layer's path here is immediate"),
    }
}

/// Asserts that `CALLS` calls of `service`, after `WARMUP` of them, allocate nothing.
fn assert_steady_state_allocates_nothing<S>(name: &str, mut service: S, make: fn() -> Request)
where
    S: Service<Request>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..WARMUP {
        call(&mut service, make()).unwrap();
    }
    let requests: Vec<Request> = (0..CALLS).map(|_| make()).collect();
    let allocations = allocations_in(|| {
        for request in requests {
            call(&mut service, request).unwrap();
        }
    });
    assert_eq!(
        allocations, 0,
        "{name}: {allocations} allocations in {CALLS} calls"
    );
}

#[test]
fn the_counter_sees_an_allocation() {
    // The test of the tests: a layer that allocated would be seen.
    let n = allocations_in(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(n, 1);
    let v = allocations_in(|| {
        let mut v = std::hint::black_box(Vec::<u64>::with_capacity(1));
        v.extend([1, 2, 3]);
    });
    assert_eq!(v, 2, "one allocation, one reallocation");
}

#[test]
fn breaker() {
    let breaker = BreakerConfig::default()
        .build_with_clock(Clock::manual())
        .unwrap();
    assert_steady_state_allocates_nothing(
        "breaker",
        breaker.layer(HttpClassifier).layer(Bare),
        request,
    );
    assert_eq!(breaker.stats().success, (WARMUP + CALLS) as u64);
}

#[test]
fn breaker_static_thresholds_and_every_mode() {
    for mode in [Mode::Enforce, Mode::MetricsOnly, Mode::Disabled] {
        let breaker = BreakerConfig {
            thresholds: Thresholds::Static(StaticThresholds::default()),
            mode,
            ..Default::default()
        };
        let breaker = breaker.build_with_clock(Clock::manual()).unwrap();
        let service = breaker.http_layer().layer(Bare);
        assert_steady_state_allocates_nothing(&format!("breaker ({mode:?})"), service, request);
    }
}

fn metrics_with_slo(clock: Clock) -> ballast_tower::metrics::HttpMetrics {
    MetricsConfig {
        slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
        ..Default::default()
    }
    .build_with_clock(clock)
    .unwrap()
}

#[test]
fn metrics_and_slo_with_and_without_a_route() {
    let metrics = metrics_with_slo(Clock::manual());
    let service = metrics.layer().layer(Bare);
    assert_steady_state_allocates_nothing(
        "metrics+slo (route)",
        service.clone(),
        request_with_route,
    );
    assert_steady_state_allocates_nothing("metrics+slo (no route)", service, request);
    let total = 2 * (WARMUP + CALLS) as u64;
    let status = metrics.budget("api").unwrap().status();
    assert_eq!((status.good, status.total), (total, total));
}

#[test]
fn static_concurrency_limit() {
    let limit = LimitConfig {
        limit: LimitKind::Static {
            max_in_flight: 1_000_000,
        },
        ..Default::default()
    };
    let limit = limit.build_with_clock(Clock::manual()).unwrap();
    assert_steady_state_allocates_nothing("limit (static)", limit.layer().layer(Bare), request);
}

#[test]
fn gradient2_concurrency_limit() {
    let limit = LimitConfig::default()
        .build_with_clock(Clock::manual())
        .unwrap();
    assert_steady_state_allocates_nothing("limit (gradient2)", limit.layer().layer(Bare), request);
}

fn fallback_key(_: &Request) -> Option<u8> {
    Some(1)
}

#[test]
fn fallback_with_a_cached_key() {
    let cache = FallbackConfig::default()
        .build_with_clock::<u8, http::Response<()>>(Clock::manual())
        .unwrap();
    let service = cache
        .layer(fallback_key as fn(&Request) -> Option<u8>, HttpClassifier)
        .layer(Bare);
    assert_steady_state_allocates_nothing("fallback (cached key)", service, request);
    assert_eq!(cache.stats().stored, 1, "stored once, in the warm-up");
}

#[test]
fn budget_allows_optional() {
    let metrics = metrics_with_slo(Clock::manual());
    let budget = metrics.budget("api").unwrap();
    for _ in 0..WARMUP {
        assert!(budget.allows_optional());
    }
    let allocations = allocations_in(|| {
        for _ in 0..CALLS {
            assert!(std::hint::black_box(budget.allows_optional()));
        }
    });
    assert_eq!(
        allocations, 0,
        "budget.allows_optional(): {allocations} allocations"
    );
}

// === gRPC ===

/// A gRPC response body: one message, then the trailers (if any).
struct GrpcBody {
    message: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(if let Some(message) = self.message.take() {
            Some(Ok(Frame::data(message)))
        } else {
            self.trailers.take().map(|t| Ok(Frame::trailers(t)))
        })
    }
}

/// Reads a body to its end.
fn drain<B: Body>(body: B) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut body = pin!(body);
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        assert!(frame.is_ok());
    }
}

fn grpc_status(code: &'static str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("grpc-status", http::HeaderValue::from_static(code));
    headers
}

/// How the status comes.
#[derive(Clone, Copy, Debug)]
enum Status {
    /// `grpc-status` in the headers, no body (an error from a unary handler).
    TrailersOnly,
    /// A message, then `grpc-status` in the trailers (every OK call, streaming errors).
    InTrailers,
}

/// A gRPC server answering from responses made beforehand (so it allocates nothing).
struct Answers(VecDeque<http::Response<GrpcBody>>);

impl Answers {
    fn new(calls: usize, status: Status, code: &'static str) -> Answers {
        Answers(
            (0..calls)
                .map(|_| match status {
                    Status::TrailersOnly => {
                        let mut response = http::Response::new(GrpcBody {
                            message: None,
                            trailers: None,
                        });
                        *response.headers_mut() = grpc_status(code);
                        response
                    }
                    Status::InTrailers => http::Response::new(GrpcBody {
                        message: Some(Bytes::from_static(b"\0\0\0\0\x02\x08\x01")),
                        trailers: Some(grpc_status(code)),
                    }),
                })
                .collect(),
        )
    }
}

impl Service<Request> for Answers {
    type Response = http::Response<GrpcBody>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request) -> Self::Future {
        ready(Ok(self
            .0
            .pop_front()
            .expect("an answer made for every call")))
    }
}

fn grpc_request() -> Request {
    http::Request::post("/shop.Orders/Get").body(()).unwrap()
}

/// The client side (a breaker) and the server side (metrics + SLO) of `CALLS` gRPC calls,
/// each read to the end of its body.
fn assert_grpc_allocates_nothing(status: Status, code: &'static str) {
    let clock = Clock::manual();
    // Failing calls are judged, and counted, but not refused: the failing path is measured.
    let breaker = BreakerConfig {
        mode: Mode::MetricsOnly,
        ..Default::default()
    };
    let breaker = breaker.build_with_clock(clock.clone()).unwrap();
    let metrics = metrics_with_slo(clock);
    let classifier = GrpcClassifier::default();
    let stack = |calls| {
        breaker.grpc_layer(classifier).layer(
            metrics
                .grpc_layer(classifier)
                .layer(Answers::new(calls, status, code)),
        )
    };
    let mut service = stack(WARMUP);
    for _ in 0..WARMUP {
        drain(call(&mut service, grpc_request()).unwrap().into_body());
    }
    let mut service = stack(CALLS);
    let requests: Vec<Request> = (0..CALLS).map(|_| grpc_request()).collect();
    let allocations = allocations_in(|| {
        for request in requests {
            drain(call(&mut service, request).unwrap().into_body());
        }
    });
    assert_eq!(
        allocations, 0,
        "gRPC {status:?} {code}: {allocations} allocations in {CALLS} calls"
    );
    let total = (WARMUP + CALLS) as u64;
    let good = if code == "14" { 0 } else { total };
    let stats = breaker.stats();
    assert_eq!((stats.success, stats.failure), (good, total - good));
    let slo = metrics.budget("api").unwrap().status();
    assert_eq!((slo.good, slo.total), (good, total));
}

#[test]
fn grpc_status_in_the_headers() {
    assert_grpc_allocates_nothing(Status::TrailersOnly, "5");
    assert_grpc_allocates_nothing(Status::TrailersOnly, "14");
}

#[test]
fn grpc_status_in_the_trailers() {
    assert_grpc_allocates_nothing(Status::InTrailers, "0");
    assert_grpc_allocates_nothing(Status::InTrailers, "14");
}

// === window turnovers ===

/// Calls per one-second bucket, and buckets, in the turnover tests.
const PER_BUCKET: usize = 10;
const BUCKETS: usize = 3_000;

/// A breaker learning its thresholds and snapshotting them every 10 s (so that the
/// turnover tests take hundreds of snapshots, far past the 16 kept).
fn learning_breaker(
    clock: &Clock,
    snapshot_file: Option<std::path::PathBuf>,
) -> ballast_tower::breaker::BreakerHandle {
    BreakerConfig {
        thresholds: Thresholds::Learned(LearnedThresholds {
            snapshot_every: Duration::from_secs(10),
            snapshot_file,
            ..Default::default()
        }),
        ..Default::default()
    }
    .build_with_clock(clock.clone())
    .unwrap()
}

#[test]
fn window_turnovers_learning_and_snapshots_allocate_nothing() {
    // Every second a new bucket: the breakers' windows (1 s buckets) and the SLO's burn
    // window (10 s buckets) turn over, the learning breaker learns from the bucket that
    // closed and every 10 s takes a snapshot, and the budget decides again.
    let clock = Clock::manual();
    let learning = learning_breaker(&clock, None);
    let fixed = BreakerConfig {
        thresholds: Thresholds::Static(StaticThresholds::default()),
        ..Default::default()
    };
    let fixed = fixed.build_with_clock(clock.clone()).unwrap();
    let metrics = metrics_with_slo(clock.clone());
    let budget = metrics.budget("api").unwrap();
    let mut learning_service = learning.http_layer().layer(Bare);
    let mut fixed_service = fixed.http_layer().layer(Bare);
    let mut metrics_service = metrics.layer().layer(Bare);
    let mut all = |a: Request, b: Request, c: Request| {
        call(&mut learning_service, a).unwrap();
        call(&mut fixed_service, b).unwrap();
        call(&mut metrics_service, c).unwrap();
        assert!(budget.allows_optional());
    };
    for _ in 0..PER_BUCKET {
        all(request(), request(), request_with_route()); // the first bucket: first sight
    }
    let requests: Vec<_> = (0..PER_BUCKET * BUCKETS)
        .map(|_| (request(), request(), request_with_route()))
        .collect();
    let allocations = allocations_in(|| {
        for (i, (a, b, c)) in requests.into_iter().enumerate() {
            if i % PER_BUCKET == 0 {
                clock.advance(Duration::from_secs(1));
            }
            all(a, b, c);
        }
    });
    let snapshots = learning.snapshots();
    assert_eq!(snapshots.len(), 16, "the ring of snapshots is full");
    let newest = snapshots.last().unwrap().version;
    assert!(newest > 250, "only {newest} snapshots taken");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations over {BUCKETS} bucket turnovers and {newest} snapshots"
    );
}

#[test]
fn with_a_snapshot_file_only_the_calls_that_write_it_allocate() {
    // Persisting a snapshot (JSON to a temporary file, fsync, rename) allocates: on the one
    // call per `snapshot_every` that takes the snapshot, and on no other.
    let path =
        std::env::temp_dir().join(format!("ballast-allocations-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let clock = Clock::manual();
    let breaker = learning_breaker(&clock, Some(path.clone()));
    let mut service = breaker.http_layer().layer(Bare);
    let newest = || breaker.snapshots().last().map_or(0, |s| s.version);
    call(&mut service, request()).unwrap();
    let (mut writes, mut allocating_writes) = (0, 0);
    for i in 0..PER_BUCKET * 600 {
        if i % PER_BUCKET == 0 {
            clock.advance(Duration::from_secs(1));
        }
        let r = request();
        let before = newest();
        let allocations = allocations_in(|| {
            call(&mut service, r).unwrap();
        });
        let wrote = newest() > before;
        writes += usize::from(wrote);
        allocating_writes += usize::from(wrote && allocations > 0);
        assert!(
            wrote || allocations == 0,
            "call {i} allocated {allocations} times without taking a snapshot"
        );
    }
    assert!(writes > 50, "only {writes} snapshots");
    assert_eq!(
        allocating_writes, writes,
        "writing the file allocates (the test would see it)"
    );
    assert!(path.exists());
    std::fs::remove_file(&path).unwrap();
}
