//! [`MetricsLayer`] → [`MetricsService`] → [`ResponseFuture`].

use super::store::{
    class_index, method_index, HttpMetrics, RouteTemplate, Store, ERROR_CLASS, UNMATCHED,
};
use crate::local::{local, Cache, Local};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Records every request passing through.
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: HttpMetrics,
}

impl HttpMetrics {
    /// A layer recording into these metrics.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            metrics: self.clone(),
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> MetricsService<S> {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// An HTTP service whose requests are measured.
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    metrics: HttpMetrics,
}

/// The route label of a request: [`RouteTemplate`], else axum's `MatchedPath` (feature
/// `axum`), else `unmatched` — never the raw path, whose ids would make a series each.
fn route_of<B>(request: &http::Request<B>) -> &str {
    if let Some(RouteTemplate(route)) = request.extensions().get::<RouteTemplate>() {
        return route;
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return matched.as_str();
    }
    UNMATCHED
}

impl<S, B, RB> Service<http::Request<B>> for MetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // This thread's reference to the store: no shared reference count is touched.
        let store = local(&LOCALS, &self.metrics.store);
        let slot = store.shared.slot(route_of(&request));
        let method = method_index(request.method());
        let started_ns = store.shared.clock.now_nanos();
        ResponseFuture {
            future: self.inner.call(request),
            store,
            slot,
            method,
            started_ns,
        }
    }
}

thread_local! {
    /// This thread's references to the metrics stores it records into (see `crate::local`).
    pub(super) static LOCALS: Cache<Store> = const { RefCell::new([None, None, None, None]) };
}

pin_project_lite::pin_project! {
    /// The inner call, recorded when it ends.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        store: Arc<Local<Store>>,
        slot: usize,
        method: usize,
        started_ns: u64,
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.future.poll(cx));
        let class = match &result {
            Ok(response) => class_index(response.status()),
            Err(_) => ERROR_CLASS,
        };
        let store = &this.store.shared;
        let now = store.clock.now_nanos();
        store.series(*this.slot).record(
            *this.method,
            class,
            now.saturating_sub(*this.started_ns),
            now,
        );
        Poll::Ready(result)
    }
}
