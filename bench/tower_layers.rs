//! ballast-tower's layers against the bare service: nanoseconds and allocations per call.
//!
//! ```sh
//! nice cargo bench -p ballast-tower --bench tower_layers
//! ```
//!
//! The inner service answers at once (`std::future::Ready`), so what is measured is the
//! layer's own cost on the success path, driven by hand with a no-op waker (no runtime).
//! "2 threads" runs two threads calling clones of the same layer at once (one breaker, one
//! limit, one metrics store, shared), and reports the time per call each thread sees.
//! Allocations are counted by a global allocator over 100,000 calls and printed first; they
//! include what building the request costs, so read them against the bare row.

use ballast_tower::breaker::{BreakerConfig, HttpClassifier};
use ballast_tower::fallback::FallbackConfig;
use ballast_tower::limit::{LimitConfig, LimitKind};
use ballast_tower::metrics::{MetricsConfig, RouteTemplate, SloConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

type Request = http::Request<()>;
type Response = http::Response<()>;

/// The bare service: a 200 at once.
#[derive(Clone)]
struct Bare;

impl Service<Request> for Bare {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Response, Self::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request) -> Self::Future {
        ready(Ok(http::Response::new(())))
    }
}

fn request() -> Request {
    http::Request::new(())
}

fn request_with_route() -> Request {
    let mut r = http::Request::new(());
    r.extensions_mut().insert(RouteTemplate("/orders/{id}"));
    r
}

#[inline]
fn call<S: Service<Request>>(service: &mut S, req: Request) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(req));
    match future.poll(&mut cx) {
        Poll::Ready(result) => {
            black_box(result.is_ok());
        }
        Poll::Pending => unreachable!("every layer's success path is immediate"),
    }
}

fn allocations_per_call<S: Service<Request>>(service: &mut S, make: fn() -> Request) -> f64 {
    const CALLS: u64 = 100_000;
    for _ in 0..1000 {
        call(service, make()); // first-sight work (a route's series, a cache entry)
    }
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..CALLS {
        call(service, make());
    }
    (ALLOCATIONS.load(Relaxed) - before) as f64 / CALLS as f64
}

/// Each layer around `Bare`, built fresh, and the request it is called with.
fn layers() -> Vec<(
    &'static str,
    Box<dyn FnMut(Request) + Send>,
    fn() -> Request,
)> {
    let breaker = BreakerConfig::default().build().unwrap();
    let mut breaker_svc = breaker.layer(HttpClassifier).layer(Bare);
    let metrics = MetricsConfig {
        slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
        ..Default::default()
    }
    .build()
    .unwrap();
    let mut metrics_svc = metrics.layer().layer(Bare);
    let limit = LimitConfig {
        limit: LimitKind::Static {
            max_in_flight: 1_000_000,
        },
        ..Default::default()
    }
    .build()
    .unwrap();
    let mut limit_svc = limit.layer().layer(Bare);
    let gradient = LimitConfig::default().build().unwrap();
    let mut gradient_svc = gradient.layer().layer(Bare);
    let cache = FallbackConfig::default().build::<u8, Response>().unwrap();
    let mut fallback_svc = cache
        .layer(|_: &Request| Some(1u8), HttpClassifier)
        .layer(Bare);
    let budget = metrics.budget("api").unwrap();
    let mut bare = Bare;
    vec![
        ("bare", Box::new(move |r| call(&mut bare, r)), request),
        (
            "breaker",
            Box::new(move |r| call(&mut breaker_svc, r)),
            request,
        ),
        (
            "metrics+slo",
            Box::new(move |r| call(&mut metrics_svc, r)),
            request_with_route,
        ),
        (
            "limit (static)",
            Box::new(move |r| call(&mut limit_svc, r)),
            request,
        ),
        (
            "limit (gradient2)",
            Box::new(move |r| call(&mut gradient_svc, r)),
            request,
        ),
        (
            "fallback (hit key)",
            Box::new(move |r| call(&mut fallback_svc, r)),
            request,
        ),
        (
            "budget.allows_optional()",
            Box::new(move |r| {
                black_box(&r);
                black_box(budget.allows_optional());
            }),
            request,
        ),
    ]
}

fn print_allocations() {
    let breaker = BreakerConfig::default().build().unwrap();
    let metrics = MetricsConfig {
        slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
        ..Default::default()
    }
    .build()
    .unwrap();
    let limit = LimitConfig::default().build().unwrap();
    let cache = FallbackConfig::default().build::<u8, Response>().unwrap();
    let rows = [
        ("bare", allocations_per_call(&mut Bare, request)),
        (
            "bare (request with route)",
            allocations_per_call(&mut Bare, request_with_route),
        ),
        (
            "breaker",
            allocations_per_call(&mut breaker.layer(HttpClassifier).layer(Bare), request),
        ),
        (
            "metrics+slo (request with route)",
            allocations_per_call(&mut metrics.layer().layer(Bare), request_with_route),
        ),
        (
            "limit (gradient2)",
            allocations_per_call(&mut limit.layer().layer(Bare), request),
        ),
        (
            "fallback (hit key)",
            allocations_per_call(
                &mut cache
                    .layer(|_: &Request| Some(1u8), HttpClassifier)
                    .layer(Bare),
                request,
            ),
        ),
    ];
    println!("\nallocations per call (100,000 calls):");
    for (name, allocations) in rows {
        println!("  {name:<34} {allocations:.3}");
    }
    println!();
}

fn benches(c: &mut Criterion) {
    print_allocations();
    let mut group = c.benchmark_group("1 thread");
    for (name, mut run, make) in layers() {
        group.bench_function(name, |b| {
            b.iter_batched(make, &mut run, criterion::BatchSize::SmallInput)
        });
    }
    group.finish();

    let mut group = c.benchmark_group("2 threads");
    for (name, _, make) in layers() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| two_threads(name, iters, make))
        });
    }
    group.finish();
}

/// Runs `iters` calls on each of two threads over one shared layer; the wall time.
fn two_threads(name: &str, iters: u64, make: fn() -> Request) -> Duration {
    let (mut a, mut b) = shared_pair(name);
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let barrier = &barrier;
        let other = scope.spawn(move || {
            barrier.wait();
            for _ in 0..iters {
                b(make());
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            a(make());
        }
        other.join().unwrap();
        start.elapsed()
    })
}

type Caller = Box<dyn FnMut(Request) + Send>;

/// Two callers sharing one layer's state (one breaker, one limit, ...).
fn shared_pair(name: &str) -> (Caller, Caller) {
    fn pair<S: Service<Request> + Clone + Send + 'static>(service: S) -> (Caller, Caller) {
        let mut a = service.clone();
        let mut b = service;
        (
            Box::new(move |r| call(&mut a, r)),
            Box::new(move |r| call(&mut b, r)),
        )
    }
    match name {
        "bare" => pair(Bare),
        "breaker" => pair(
            BreakerConfig::default()
                .build()
                .unwrap()
                .layer(HttpClassifier)
                .layer(Bare),
        ),
        "metrics+slo" => pair(
            MetricsConfig {
                slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
                ..Default::default()
            }
            .build()
            .unwrap()
            .layer()
            .layer(Bare),
        ),
        "limit (static)" => pair(
            LimitConfig {
                limit: LimitKind::Static {
                    max_in_flight: 1_000_000,
                },
                ..Default::default()
            }
            .build()
            .unwrap()
            .layer()
            .layer(Bare),
        ),
        "limit (gradient2)" => pair(LimitConfig::default().build().unwrap().layer().layer(Bare)),
        "fallback (hit key)" => pair(
            FallbackConfig::default()
                .build::<u8, Response>()
                .unwrap()
                .layer(
                    (|_: &Request| Some(1u8)) as fn(&Request) -> Option<u8>,
                    HttpClassifier,
                )
                .layer(Bare),
        ),
        _ => {
            let metrics = MetricsConfig {
                slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
                ..Default::default()
            }
            .build()
            .unwrap();
            let (a, b) = (
                metrics.budget("api").unwrap(),
                metrics.budget("api").unwrap(),
            );
            (
                Box::new(move |_| {
                    black_box(a.allows_optional());
                }),
                Box::new(move |_| {
                    black_box(b.allows_optional());
                }),
            )
        }
    }
}

fn config() -> Criterion {
    // Short runs: the figures are stable to a few ns and CI must stay fast.
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! { name = tower_layers; config = config(); targets = benches }
criterion_main!(tower_layers);
