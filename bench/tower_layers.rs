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
//! include what building the request costs, so read them against the bare row (the gRPC rows
//! against the bare gRPC row, whose inner service makes a trailers map per call). That the
//! layers themselves allocate nothing is asserted by `crates/act/tower/tests/allocations.rs`.
//!
//! The gRPC rows read each response body to its end: the status comes in the trailers, so
//! the layer judges the call at the trailers frame (the longer of tonic's two paths; an
//! error from a unary handler comes trailers-only and is judged at the head).

use ballast_tower::breaker::{BreakerConfig, HttpClassifier};
use ballast_tower::fallback::FallbackConfig;
use ballast_tower::grpc::GrpcClassifier;
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

/// A gRPC answer: one message, then `grpc-status: 0` in the trailers.
struct GrpcBody {
    message: Option<bytes::Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl http_body::Body for GrpcBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        Poll::Ready(if let Some(message) = self.message.take() {
            Some(Ok(http_body::Frame::data(message)))
        } else {
            self.trailers
                .take()
                .map(|t| Ok(http_body::Frame::trailers(t)))
        })
    }
}

/// The bare gRPC service: OK at once, the status in the trailers.
#[derive(Clone)]
struct BareGrpc;

impl Service<Request> for BareGrpc {
    type Response = http::Response<GrpcBody>;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self::Response, Self::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request) -> Self::Future {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        ready(Ok(http::Response::new(GrpcBody {
            message: Some(bytes::Bytes::from_static(b"\0\0\0\0\x02\x08\x01")),
            trailers: Some(trailers),
        })))
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

/// One gRPC call: the response, then its body read to the end.
#[inline]
fn call_grpc<S, B>(service: &mut S, req: Request)
where
    S: Service<Request, Response = http::Response<B>>,
    B: http_body::Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(req));
    let Poll::Ready(Ok(response)) = future.poll(&mut cx) else {
        unreachable!("every layer's success path is immediate");
    };
    let mut body = pin!(response.into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        black_box(frame.is_ok());
    }
}

/// Builds the request a layer is called with.
type MakeRequest = fn() -> Request;

const LAYERS: [(&str, MakeRequest); 14] = [
    ("bare", request),
    ("bare + 2 clock reads", request),
    ("bare (request with route)", request_with_route),
    ("breaker", request),
    ("breaker (disabled mode)", request),
    ("metrics+slo (request with route)", request_with_route),
    ("metrics+slo (no route)", request),
    ("limit (static)", request),
    ("limit (gradient2)", request),
    ("fallback (hit key)", request),
    ("budget.allows_optional()", request),
    ("bare gRPC (status in trailers)", grpc_request),
    ("grpc breaker (status in trailers)", grpc_request),
    ("grpc metrics+slo (status in trailers)", grpc_request),
];

fn grpc_request() -> Request {
    http::Request::post("/shop.Orders/Get").body(()).unwrap()
}

fn print_allocations() {
    println!("\nallocations per call (100,000 calls; the request's own are in the bare rows):");
    for (name, make) in LAYERS {
        let (mut caller, _) = shared_pair(name);
        for _ in 0..1000 {
            caller(make()); // first-sight work (a route's series, a cache entry)
        }
        let before = ALLOCATIONS.load(Relaxed);
        for _ in 0..100_000 {
            caller(make());
        }
        let per_call = (ALLOCATIONS.load(Relaxed) - before) as f64 / 100_000.0;
        println!("  {name:<38} {per_call:.3}");
    }
}

/// Best of `rounds` rounds of `calls` calls: on a shared machine other processes only ever
/// add time, so the fastest round is the closest to the layer's own cost.
fn print_best_of() {
    // Short rounds (about 2 ms) so that many of them run without being preempted.
    const ROUNDS: u32 = 300;
    const CALLS: u64 = 20_000;
    println!(
        "\nns per call, best of {ROUNDS} rounds of {CALLS} calls (1 thread | 2 threads contended):"
    );
    for (name, make) in LAYERS {
        let (mut caller, _) = shared_pair(name);
        let mut best_one = f64::MAX;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..CALLS {
                caller(make());
            }
            best_one = best_one.min(start.elapsed().as_nanos() as f64 / CALLS as f64);
        }
        let mut best_two = f64::MAX;
        for _ in 0..ROUNDS {
            let elapsed = two_threads(name, CALLS, make);
            best_two = best_two.min(elapsed.as_nanos() as f64 / CALLS as f64);
        }
        println!("  {name:<38} {best_one:>8.1} | {best_two:>8.1}");
    }
    println!();
}

fn benches(c: &mut Criterion) {
    print_allocations();
    print_best_of();
    let mut group = c.benchmark_group("1 thread");
    for (name, make) in LAYERS {
        let (mut caller, _) = shared_pair(name);
        group.bench_function(name, |b| {
            b.iter_batched(make, &mut caller, criterion::BatchSize::SmallInput)
        });
    }
    group.finish();

    let mut group = c.benchmark_group("2 threads");
    for (name, make) in LAYERS {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| two_threads(name, iters, make))
        });
    }
    group.finish();
}

/// Runs `iters` calls on each of two threads over one shared layer; the time from the first
/// thread starting to the last one finishing. If the scheduler runs the two one after the
/// other (a busy machine), that span doubles, so best-of rounds keep the truly parallel ones.
fn two_threads(name: &str, iters: u64, make: MakeRequest) -> Duration {
    let (mut a, mut b) = shared_pair(name);
    let barrier = std::sync::Barrier::new(2);
    let run = |caller: &mut Caller, barrier: &std::sync::Barrier| {
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            caller(make());
        }
        (start, Instant::now())
    };
    let ((start_a, end_a), (start_b, end_b)) = std::thread::scope(|scope| {
        let barrier = &barrier;
        let other = scope.spawn(move || run(&mut b, barrier));
        let mine = run(&mut a, barrier);
        (mine, other.join().unwrap())
    });
    end_a.max(end_b) - start_a.min(start_b)
}

type Caller = Box<dyn FnMut(Request) + Send>;

fn fallback_key(_: &Request) -> Option<u8> {
    Some(1)
}

/// Two callers sharing one layer's state (one breaker, one limit, ...).
fn shared_pair(name: &str) -> (Caller, Caller) {
    fn grpc_pair<S, B>(service: S) -> (Caller, Caller)
    where
        S: Service<Request, Response = http::Response<B>> + Clone + Send + 'static,
        B: http_body::Body,
    {
        let mut a = service.clone();
        let mut b = service;
        (
            Box::new(move |r| call_grpc(&mut a, r)),
            Box::new(move |r| call_grpc(&mut b, r)),
        )
    }
    fn pair<S: Service<Request> + Clone + Send + 'static>(service: S) -> (Caller, Caller) {
        let mut a = service.clone();
        let mut b = service;
        (
            Box::new(move |r| call(&mut a, r)),
            Box::new(move |r| call(&mut b, r)),
        )
    }
    match name {
        "bare" | "bare (request with route)" => pair(Bare),
        "bare + 2 clock reads" => {
            // What timing a call costs by itself: every measuring layer pays it.
            let clock = ballast_tower::Clock::system();
            let (c1, c2) = (clock.clone(), clock);
            let (mut a, mut b) = (Bare, Bare);
            (
                Box::new(move |r| {
                    let start = c1.now_nanos();
                    call(&mut a, r);
                    black_box(c1.now_nanos() - start);
                }),
                Box::new(move |r| {
                    let start = c2.now_nanos();
                    call(&mut b, r);
                    black_box(c2.now_nanos() - start);
                }),
            )
        }
        "breaker" => pair(
            BreakerConfig::default()
                .build()
                .unwrap()
                .layer(HttpClassifier)
                .layer(Bare),
        ),
        "breaker (disabled mode)" => {
            // The permit and its reference count without any recording: what contention on
            // the shared state's `Arc` alone costs.
            let breaker = BreakerConfig {
                mode: ballast_tower::breaker::Mode::Disabled,
                ..Default::default()
            };
            pair(breaker.build().unwrap().layer(HttpClassifier).layer(Bare))
        }
        "metrics+slo (request with route)" | "metrics+slo (no route)" => pair(
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
                .layer(fallback_key as fn(&Request) -> Option<u8>, HttpClassifier)
                .layer(Bare),
        ),
        "budget.allows_optional()" => {
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
        "bare gRPC (status in trailers)" => grpc_pair(BareGrpc),
        "grpc breaker (status in trailers)" => grpc_pair(
            BreakerConfig::default()
                .build()
                .unwrap()
                .grpc_layer(GrpcClassifier::default())
                .layer(BareGrpc),
        ),
        "grpc metrics+slo (status in trailers)" => grpc_pair(
            MetricsConfig {
                slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
                ..Default::default()
            }
            .build()
            .unwrap()
            .grpc_layer(GrpcClassifier::default())
            .layer(BareGrpc),
        ),
        other => unreachable!("no layer named {other}"),
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
