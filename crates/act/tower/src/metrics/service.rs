//! [`MetricsLayer`] → [`MetricsService`] → [`ResponseFuture`].

use super::store::{
    class_index, method_index, HttpMetrics, RouteSeries, RouteTemplate, ERROR_CLASS, UNMATCHED,
};
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
        let store = &self.metrics.store;
        let route = store.route(route_of(&request));
        let method = method_index(request.method());
        let started_ns = route.clock.now_nanos();
        ResponseFuture {
            future: self.inner.call(request),
            route,
            method,
            started_ns,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner call, recorded when it ends.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        route: Arc<RouteSeries>,
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
        let now = this.route.clock.now_nanos();
        this.route.record(
            *this.method,
            class,
            now.saturating_sub(*this.started_ns),
            now,
        );
        Poll::Ready(result)
    }
}
