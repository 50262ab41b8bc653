//! [`LimitConfig`] → [`ConcurrencyLimit`] → [`LimitLayer`] → [`Limit`] → [`ResponseFuture`].

use super::gradient::{Gradient2, Gradient2Config};
use crate::{Clock, Error};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// A concurrency limit (contract key `limit:`, or code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Name in metrics. Default: `default`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Static or learned. Default: Gradient2 with its defaults.
    #[serde(default)]
    pub limit: LimitKind,
}

fn default_name() -> String {
    "default".to_string()
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            name: default_name(),
            limit: LimitKind::default(),
        }
    }
}

/// How the limit is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LimitKind {
    /// A fixed number of calls in flight.
    Static {
        /// Calls in flight at most.
        max_in_flight: u32,
    },
    /// Learned from latency (Netflix Gradient2).
    Gradient2(Gradient2Config),
}

impl Default for LimitKind {
    fn default() -> Self {
        LimitKind::Gradient2(Gradient2Config::default())
    }
}

impl LimitConfig {
    /// Checks the settings and returns the running limit on the system clock.
    pub fn build(&self) -> Result<ConcurrencyLimit, Error> {
        self.build_with_clock(Clock::system())
    }

    /// Like [`build`](Self::build), timing calls with `clock`.
    pub fn build_with_clock(&self, clock: Clock) -> Result<ConcurrencyLimit, Error> {
        let (limit, gradient) = match &self.limit {
            LimitKind::Static { max_in_flight: 0 } => {
                return Err(Error::InvalidConfig {
                    field: "limit.static.max_in_flight",
                    message: "expected at least 1".into(),
                })
            }
            LimitKind::Static { max_in_flight } => (*max_in_flight, None),
            LimitKind::Gradient2(g) => {
                g.validate()?;
                (g.initial, Some(Mutex::new(Gradient2::new(g.clone()))))
            }
        };
        Ok(ConcurrencyLimit {
            shared: Arc::new(Shared {
                name: self.name.clone(),
                clock,
                in_flight: AtomicU64::new(0),
                limit: AtomicU64::new(u64::from(limit)),
                forced: AtomicU64::new(NOT_FORCED),
                shed: AtomicU64::new(0),
                gradient,
            }),
        })
    }
}

/// `Shared::forced` when the learned (or static) limit is in force.
const NOT_FORCED: u64 = 0;

struct Shared {
    name: String,
    clock: Clock,
    in_flight: AtomicU64,
    /// The configured or learned limit; Gradient2 keeps updating it while a limit is forced,
    /// so returning to automatic picks up what it learned meanwhile.
    limit: AtomicU64,
    /// An operator's limit overriding `limit`, or [`NOT_FORCED`].
    forced: AtomicU64,
    shed: AtomicU64,
    gradient: Option<Mutex<Gradient2>>,
}

impl Shared {
    /// The limit calls are admitted against: the forced one, else the learned one.
    fn effective(&self) -> u64 {
        match self.forced.load(Relaxed) {
            NOT_FORCED => self.limit.load(Relaxed),
            forced => forced,
        }
    }

    fn sample(&self, rtt_ns: u64, in_flight: u64) {
        let Some(gradient) = &self.gradient else {
            return;
        };
        // A sample lost to contention changes nothing: the next one arrives microseconds later.
        if let Ok(mut g) = gradient.try_lock() {
            let limit = g.update(rtt_ns, in_flight);
            self.limit.store(u64::from(limit), Relaxed);
        }
    }
}

/// Counts and gauges of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LimitStats {
    /// The limit now (the forced one while [`ConcurrencyLimit::force`] holds one).
    pub limit: u64,
    /// Calls in flight now.
    pub in_flight: u64,
    /// Calls refused since the limit was built.
    pub shed: u64,
}

/// A running limit; clones share it. Make layers with [`layer`](Self::layer).
#[derive(Clone)]
pub struct ConcurrencyLimit {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("name", &self.shared.name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ConcurrencyLimit {
    /// A layer sharing this limit.
    pub fn layer(&self) -> LimitLayer {
        LimitLayer {
            shared: self.shared.clone(),
        }
    }

    /// The limit, calls in flight and calls shed.
    pub fn stats(&self) -> LimitStats {
        LimitStats {
            limit: self.shared.effective(),
            in_flight: self.shared.in_flight.load(Relaxed),
            shed: self.shared.shed.load(Relaxed),
        }
    }

    /// The limit's name (in metrics and the admin endpoint).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Overrides the limit with `max` calls in flight (`Some`), or returns to the static or
    /// learned limit (`None`). Calls already in flight finish; new ones beyond `max` are
    /// shed at once. `Some(0)` is refused: shedding everything is what a forced-open
    /// breaker is for.
    pub fn force(&self, max: Option<u32>) -> Result<(), Error> {
        let bits = match max {
            Some(0) => {
                return Err(Error::InvalidConfig {
                    field: "max",
                    message: "expected a whole number ≥ 1 or null, got 0".into(),
                })
            }
            Some(n) => u64::from(n),
            None => NOT_FORCED,
        };
        let before = self.shared.forced.swap(bits, Relaxed);
        tracing::info!(
            limit = %self.shared.name,
            forced = ?max,
            previous = ?(before != NOT_FORCED).then_some(before),
            learned = self.shared.limit.load(Relaxed),
            "concurrency limit override changed"
        );
        Ok(())
    }

    /// The forced limit, if one is in force.
    pub fn forced(&self) -> Option<u64> {
        match self.shared.forced.load(Relaxed) {
            NOT_FORCED => None,
            n => Some(n),
        }
    }

    /// The static or learned limit, whether or not a forced one overrides it.
    pub fn learned(&self) -> u64 {
        self.shared.limit.load(Relaxed)
    }

    /// Adds `ballast_limit_{limit,in_flight}` and `ballast_limit_shed_total{limit="name"}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(LimitCollector(self.clone())));
    }
}

#[derive(Debug)]
struct LimitCollector(ConcurrencyLimit);

impl Collector for LimitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let labels = [("limit", self.0.shared.name.as_str())];
        let mut e = encoder.encode_descriptor(
            "ballast_limit_shed",
            "Calls refused over the concurrency limit",
            None,
            MetricType::Counter,
        )?;
        e.encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&stats.shed, None)?;
        for (name, help, value) in [
            ("ballast_limit_limit", "Concurrency limit now", stats.limit),
            (
                "ballast_limit_in_flight",
                "Calls in flight now",
                stats.in_flight,
            ),
        ] {
            let mut e = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            e.encode_family(&labels)?.encode_gauge(&value)?;
        }
        Ok(())
    }
}

/// The answer given to a call over the limit.
pub trait Overloaded {
    /// A refusal (HTTP: 503 with `retry-after: 1`).
    fn overloaded() -> Self;
}

impl<B: Default> Overloaded for http::Response<B> {
    fn overloaded() -> Self {
        let mut response = http::Response::new(B::default());
        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        response
    }
}

/// Wraps services in a [`Limit`] sharing one limit.
#[derive(Clone)]
pub struct LimitLayer {
    shared: Arc<Shared>,
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Limit<S> {
        Limit {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// A service that refuses calls over the limit at once instead of queueing them.
#[derive(Clone)]
pub struct Limit<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// A call in flight; leaves the count when dropped, however the call ends.
struct InFlight {
    shared: Arc<Shared>,
    started_ns: u64,
    in_flight: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Release);
    }
}

// Shedding answers with a response, never an error, so the inner error type passes through
// unchanged (axum needs `Infallible` there).
impl<S, Request> Service<Request> for Limit<S>
where
    S: Service<Request>,
    S::Response: Overloaded,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limit = self.shared.effective();
        let before = self.shared.in_flight.fetch_add(1, AcqRel);
        if before >= limit {
            self.shared.in_flight.fetch_sub(1, Release);
            self.shared.shed.fetch_add(1, Relaxed);
            return ResponseFuture {
                future: None,
                guard: None,
            };
        }
        let guard = InFlight {
            shared: self.shared.clone(),
            started_ns: self.shared.clock.now_nanos(),
            in_flight: before + 1,
        };
        ResponseFuture {
            future: Some(self.inner.call(request)),
            guard: Some(guard),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner call (sampled for the limit when it succeeds), or the refusal.
    pub struct ResponseFuture<F> {
        #[pin]
        future: Option<F>,
        guard: Option<InFlight>,
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: Overloaded,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(Ok(R::overloaded()));
        };
        let result = std::task::ready!(future.poll(cx));
        if let Some(guard) = this.guard.take() {
            if result.is_ok() {
                let rtt = guard
                    .shared
                    .clock
                    .now_nanos()
                    .saturating_sub(guard.started_ns);
                guard.shared.sample(rtt, guard.in_flight);
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn calls_over_a_static_limit_get_503_at_once() {
        let config = LimitConfig {
            limit: LimitKind::Static { max_in_flight: 2 },
            ..Default::default()
        };
        let limit = config.build().unwrap();
        let (release, wait) = tokio::sync::watch::channel(false);
        let service = limit.layer().layer(tower::service_fn(move |_: ()| {
            let mut wait = wait.clone();
            async move {
                let _ = wait.wait_for(|go| *go).await;
                Ok::<_, std::io::Error>(http::Response::new(""))
            }
        }));
        let first = tokio::spawn(service.clone().oneshot(()));
        let second = tokio::spawn(service.clone().oneshot(()));
        while limit.stats().in_flight < 2 {
            tokio::task::yield_now().await;
        }
        let third = service.clone().oneshot(()).await.unwrap();
        assert_eq!(third.status(), 503);
        assert_eq!(third.headers()["retry-after"], "1");
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap().unwrap().status(), 200);
        assert_eq!(second.await.unwrap().unwrap().status(), 200);
        assert_eq!(
            limit.stats(),
            LimitStats {
                limit: 2,
                in_flight: 0,
                shed: 1
            }
        );
    }

    #[tokio::test]
    async fn a_dropped_call_leaves_the_count() {
        let config = LimitConfig {
            limit: LimitKind::Static { max_in_flight: 1 },
            ..Default::default()
        };
        let limit = config.build().unwrap();
        let mut service = limit.layer().layer(tower::service_fn(|_: ()| {
            std::future::pending::<Result<http::Response<&str>, std::io::Error>>()
        }));
        let future = service.ready().await.unwrap().call(());
        assert_eq!(limit.stats().in_flight, 1);
        drop(future);
        assert_eq!(limit.stats().in_flight, 0);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let err = LimitConfig {
            limit: LimitKind::Static { max_in_flight: 0 },
            ..Default::default()
        }
        .build()
        .unwrap_err();
        assert!(
            err.to_string().starts_with("limit.static.max_in_flight:"),
            "{err}"
        );
        let g = Gradient2Config {
            min: 50,
            max: 10,
            ..Default::default()
        };
        let err = LimitConfig {
            limit: LimitKind::Gradient2(g),
            ..Default::default()
        }
        .build()
        .unwrap_err();
        assert!(err.to_string().starts_with("limit.gradient2.min:"), "{err}");
    }

    #[tokio::test]
    async fn a_forced_limit_sheds_beyond_it_and_automatic_restores_the_learned_one() {
        let limit = LimitConfig {
            limit: LimitKind::Static { max_in_flight: 3 },
            ..Default::default()
        }
        .build()
        .unwrap();
        let (release, wait) = tokio::sync::watch::channel(false);
        let service = limit.layer().layer(tower::service_fn(move |_: ()| {
            let mut wait = wait.clone();
            async move {
                let _ = wait.wait_for(|go| *go).await;
                Ok::<_, std::io::Error>(http::Response::new(""))
            }
        }));
        limit.force(Some(1)).unwrap();
        assert_eq!(
            (limit.forced(), limit.learned(), limit.stats().limit),
            (Some(1), 3, 1)
        );
        let first = tokio::spawn(service.clone().oneshot(()));
        while limit.stats().in_flight < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(service.clone().oneshot(()).await.unwrap().status(), 503);
        limit.force(None).unwrap();
        assert_eq!((limit.forced(), limit.stats().limit), (None, 3));
        let second = tokio::spawn(service.clone().oneshot(()));
        let third = tokio::spawn(service.clone().oneshot(()));
        while limit.stats().in_flight < 3 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        for call in [first, second, third] {
            assert_eq!(call.await.unwrap().unwrap().status(), 200);
        }
        assert_eq!(limit.stats().shed, 1);
        let err = limit.force(Some(0)).unwrap_err();
        assert!(err.to_string().starts_with("max:"), "{err}");
    }
}
