//! Resilience and SLO middleware for Rust services, as tower layers: what a service links
//! in so that it degrades predictably instead of falling over (seed 1, 2.1, 2.5, 4.2, 5.1).
//!
//! Every component is a serde `Config` → `build()` → a running handle → a tower `Layer`,
//! so it drops into axum, tonic, hyper and tower-based clients alike:
//!
//! - [`breaker`]: adaptive circuit breaker. A lock-free sliding window of time buckets;
//!   closed → open → half-open with bounded probes; static thresholds or thresholds learned
//!   from healthy traffic, snapshotted, rolled back automatically on drift or flapping and by
//!   hand; forced-open, disabled and metrics-only modes; a replay tool on simulated time.
//! - [`fallback`]: answers failures from a bounded cache of recent good responses, marked
//!   degraded.
//! - [`limit`]: concurrency limit with load shedding (503 at once), static or learned from
//!   latency (Gradient2).
//! - [`metrics`]: request duration histogram, request and error counters labelled by method,
//!   route template and status class; SLO good/total counters; a `/metrics` endpoint; the
//!   error-budget [`Budget`](metrics::Budget) a service checks before optional work.
//! - [`grpc`]: gRPC calls judged by `grpc-status` (from the headers, or the trailers at the
//!   end of the stream) for the breaker and the metrics, with a configurable set of failure
//!   codes.
//! - [`runtime`]: tokio and process gauges with a trend test that raises
//!   `task_leak_suspected` on sustained growth.
//! - `profiling` (features `pprof-cpu`, `pprof-heap`, off by default): Go-style
//!   `/debug/pprof/profile` and `/debug/pprof/heap` answering pprof protobuf, behind a bearer
//!   token.
//!
//! - [`admin`]: an HTTP endpoint (bearer token) forcing the concurrency limit, answers from
//!   the fallback cache and breakers open, and handing each back to automatic.
//!
//! Time-dependent decisions read a [`Clock`]; tests and the replay drive a manual one.
//!
//! ```
//! use ballast_tower::breaker::{BreakerConfig, BreakerOpen, State};
//! use ballast_tower::fallback::FallbackConfig;
//! use ballast_tower::Clock;
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let clock = Clock::manual();
//! let breaker = BreakerConfig { minimum_calls: 5, ..Default::default() }.build_with_clock(clock.clone())?;
//! let cache = FallbackConfig::default().build::<String, http::Response<&str>>()?;
//!
//! // A dependency that answers once, then fails.
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let dependency = tower::service_fn(move |_path: String| {
//!     let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!     async move {
//!         let status = if n == 0 { 200 } else { 503 };
//!         Ok::<_, std::io::Error>(http::Response::builder().status(status).body("price: 12").unwrap())
//!     }
//! });
//! let service = cache
//!     .layer(|path: &String| Some(path.clone()), ballast_tower::breaker::HttpClassifier)
//!     .layer(breaker.http_layer().layer(dependency));
//!
//! let fresh = service.clone().oneshot("/price".to_string()).await?;
//! assert_eq!(fresh.status(), 200);
//! for _ in 0..10 {
//!     clock.advance(Duration::from_millis(100));
//!     // The dependency fails; the cached answer comes back, marked degraded.
//!     let answer = service.clone().oneshot("/price".to_string()).await?;
//!     assert_eq!(answer.headers()["x-ballast-degraded"], "fallback");
//! }
//! assert_eq!(breaker.state(), State::Open);
//! assert!(breaker.stats().rejected > 0);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! A whole axum service with every layer is in `examples/service.rs`; what each layer does
//! and how to configure it is in `docs/tower.md`.
#![deny(missing_docs)]

pub mod admin;
pub mod breaker;
mod clock;
mod duration_text;
mod error;
pub mod fallback;
pub mod grpc;
pub mod limit;
mod local;
pub mod metrics;
#[cfg(any(feature = "pprof-cpu", feature = "pprof-heap"))]
pub mod profiling;
pub mod runtime;
mod shard;

pub use clock::Clock;
pub use error::Error;
