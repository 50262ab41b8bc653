//! The metrics around a gRPC server (or client): [`GrpcMetricsLayer`] →
//! [`GrpcMetricsService`] → [`GrpcResponseFuture`] → [`GrpcBody`].
//!
//! A call is recorded once, with the code it ended with (see [`crate::grpc`]): when the
//! response head carries it (trailers-only, or a non-200 answer), else when the trailers
//! pass through the body, or the body ends, fails or is dropped. Its latency runs to that
//! point, so for a unary call it is the whole call and for a stream its whole length.

use super::service::LOCALS;
use super::store::{HttpMetrics, RouteTemplate, Store};
use crate::grpc::body::{Finish, Pending, Watched};
use crate::grpc::{GrpcClassifier, Verdict};
use crate::local::{local, Local};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Records every gRPC call passing through (made by [`HttpMetrics::grpc_layer`]).
#[derive(Clone, Debug)]
pub struct GrpcMetricsLayer {
    metrics: HttpMetrics,
    classifier: GrpcClassifier,
}

impl HttpMetrics {
    /// A layer recording gRPC calls into these metrics (`grpc_request_duration_seconds`,
    /// `grpc_requests_total`, `grpc_request_errors_total`, labelled `route` and
    /// `grpc_code`) and into the SLOs covering their route: a call is good when
    /// `classifier` does not fail it and it ended within the SLO's latency.
    ///
    /// The route is the [`RouteTemplate`] extension if the request has one, else the
    /// request path, which for gRPC names the method (`/shop.Orders/Get`); paths past
    /// `max_routes` (a client calling methods that do not exist) are labelled `other`.
    pub fn grpc_layer(&self, classifier: GrpcClassifier) -> GrpcMetricsLayer {
        GrpcMetricsLayer {
            metrics: self.clone(),
            classifier,
        }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> GrpcMetricsService<S> {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
            classifier: self.classifier,
        }
    }
}

/// A gRPC service whose calls are measured.
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: HttpMetrics,
    classifier: GrpcClassifier,
}

impl<S, B, RB> Service<http::Request<B>> for GrpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<GrpcBody<RB>>;
    type Error = S::Error;
    type Future = GrpcResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let store = local(&LOCALS, &self.metrics.store);
        let route = match request.extensions().get::<RouteTemplate>() {
            Some(RouteTemplate(route)) => route,
            None => request.uri().path(),
        };
        let slot = store.shared.slot(route);
        let started_ns = store.shared.clock.now_nanos();
        let record = Record {
            store,
            slot,
            started_ns,
        };
        GrpcResponseFuture {
            future: self.inner.call(request),
            pending: Pending::new(record, self.classifier),
        }
    }
}

/// Where a call is recorded, and when it started.
struct Record {
    store: Arc<Local<Store>>,
    slot: usize,
    started_ns: u64,
}

impl Finish for Record {
    fn finish(self, verdict: Verdict, _abandoned: bool) {
        let store = &self.store.shared;
        let now = store.clock.now_nanos();
        store.series(self.slot).record_grpc(
            verdict.code,
            verdict.failed,
            now.saturating_sub(self.started_ns),
            now,
        );
    }
}

pin_project_lite::pin_project! {
    /// The inner call: recorded here if the response head says how it ended, else handed
    /// on in the [`GrpcBody`]. Dropped before the head (the peer went away while the
    /// handler ran), the call is recorded as `CANCELLED`.
    pub struct GrpcResponseFuture<F> {
        #[pin]
        future: F,
        pending: Pending<Record>,
    }
}

impl<F, RB, E> Future for GrpcResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<GrpcBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match std::task::ready!(this.future.poll(cx)) {
            Ok(response) => {
                let pending = this.pending.at_head(response.status(), response.headers());
                Ok(response.map(|body| GrpcBody {
                    inner: Watched::new(body, pending),
                }))
            }
            Err(e) => {
                this.pending.finish(GrpcClassifier::error);
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A gRPC response body, recorded when its trailers pass, when it ends or fails, or
    /// when it is dropped (as `CANCELLED`: the peer went away before the end).
    pub struct GrpcBody<B> {
        #[pin]
        inner: Watched<B, Record>,
    }
}

impl<B> GrpcBody<B> {
    /// The body inside.
    pub fn get_ref(&self) -> &B {
        self.inner.get_ref()
    }
}

impl<B: Body> Body for GrpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for GrpcBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GrpcBody").field(&self.inner).finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::grpc::body::frames::{drain, Frames};
    use crate::grpc::GrpcClassifier;
    use crate::metrics::{MetricsConfig, MetricsEndpoint, RouteTemplate, SloConfig};
    use crate::Clock;
    use http_body::Body;
    use prometheus_client::registry::Registry;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tower::{Layer, ServiceExt};

    type Answer = Result<http::Response<Frames>, std::io::Error>;

    fn with_status(status: u16, grpc_status: Option<&str>, body: Frames) -> Answer {
        let mut response = http::Response::new(body);
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        if let Some(code) = grpc_status {
            response
                .headers_mut()
                .insert("grpc-status", code.parse().unwrap());
        }
        Ok(response)
    }

    #[tokio::test]
    async fn every_way_a_call_ends_is_recorded_with_its_code() {
        let clock = Clock::manual();
        let config = MetricsConfig {
            slos: vec![SloConfig::new("api", Duration::from_millis(100), 0.99)],
            ..Default::default()
        };
        let metrics = config.build_with_clock(clock.clone()).unwrap();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let answers: Vec<Answer> = vec![
            with_status(200, None, Frames::then_status(2, "0")), // OK, slow
            with_status(200, None, Frames::then_status(1, "0")), // OK
            with_status(200, Some("5"), Frames::default()),      // NOT_FOUND, trailers-only
            with_status(200, None, Frames::then_status(1, "15")), // DATA_LOSS in the trailers
            with_status(200, None, Frames::default()),           // ends at once, no status
            with_status(200, None, Frames::then_error(1)),       // fails mid-stream
            with_status(503, None, Frames::default()),           // a proxy: UNAVAILABLE
            with_status(401, None, Frames::default()),           // UNAUTHENTICATED, but not 200
            with_status(200, None, Frames::then_status(3, "0")), // dropped after one frame
            Err(std::io::Error::other("refused")),
        ];
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let service = metrics
            .grpc_layer(GrpcClassifier::default())
            .layer(tower::service_fn(move |_: http::Request<()>| {
                std::future::ready(answers.lock().unwrap().pop_front().unwrap())
            }));
        let request = || {
            let mut request = http::Request::post("http://shop/shop.Orders/Get")
                .body(())
                .unwrap();
            request
                .extensions_mut()
                .insert(RouteTemplate("/shop.Orders/Get"));
            request
        };
        for i in 0..10 {
            match service.clone().oneshot(request()).await {
                Ok(response) => {
                    let mut body = response.into_body();
                    if i == 0 {
                        clock.advance(Duration::from_millis(500));
                    }
                    if i == 4 {
                        assert!(!body.is_end_stream(), "the status is still to come");
                    }
                    if i == 8 {
                        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                        let _ = std::pin::Pin::new(&mut body).poll_frame(&mut cx);
                        drop(body);
                    } else {
                        drain(&mut body);
                    }
                }
                Err(e) => assert_eq!(i, 9, "{e}"),
            }
        }
        let status = metrics.budget("api").unwrap().status();
        // Good: the fast OK, NOT_FOUND and the abandoned call (CANCELLED).
        assert_eq!((status.good, status.total), (3, 10), "{status:?}");
        assert_eq!(metrics.requests("/shop.Orders/Get"), 10);
        let text = MetricsEndpoint::new(registry).render();
        let route = r#"route="/shop.Orders/Get""#;
        for (code, calls, errors) in [
            ("OK", 2, 0),
            ("NOT_FOUND", 1, 0),
            ("DATA_LOSS", 1, 1),
            ("error", 3, 3),
            ("UNAVAILABLE", 1, 1),
            ("UNAUTHENTICATED", 1, 1),
            ("CANCELLED", 1, 0),
        ] {
            let line = format!(r#"grpc_requests_total{{{route},grpc_code="{code}"}} {calls}"#);
            assert!(text.contains(&line), "missing {line} in\n{text}");
            let line = format!(r#"grpc_request_errors_total{{{route},grpc_code="{code}"}}"#);
            match errors {
                0 => assert!(!text.contains(&line), "{line} in\n{text}"),
                n => assert!(
                    text.contains(&format!("{line} {n}")),
                    "missing {line} {n} in\n{text}"
                ),
            }
        }
        let slow = format!(
            r#"grpc_request_duration_seconds_bucket{{le="0.64",{route},grpc_code="OK"}} 2"#
        );
        assert!(text.contains(&slow), "missing {slow} in\n{text}");
        assert!(
            !text.contains("http_requests_total{"),
            "gRPC calls are not HTTP rows"
        );
    }

    #[tokio::test]
    async fn without_a_route_template_the_path_names_the_method() {
        let metrics = MetricsConfig::default().build().unwrap();
        let service = metrics
            .grpc_layer(GrpcClassifier::default())
            .layer(tower::service_fn(|_: http::Request<()>| {
                std::future::ready(with_status(200, Some("0"), Frames::default()))
            }));
        let request = http::Request::post("http://shop/shop.Orders/List")
            .body(())
            .unwrap();
        service.oneshot(request).await.unwrap();
        assert_eq!(metrics.requests("/shop.Orders/List"), 1);
    }
}
