//! The breaker around a gRPC client: [`GrpcBreakerLayer`] → [`GrpcBreaker`] →
//! [`GrpcResponseFuture`] → [`GrpcBody`].
//!
//! A call whose `grpc-status` is in the response headers (trailers-only) or whose HTTP
//! status is not 200 is judged when the response arrives, as with HTTP. Otherwise the
//! permit rides in the response body and the call is judged when the trailers arrive (or
//! the body ends, fails or is dropped): its latency is then the whole call's, up to the end
//! of its stream. `call_timeout` bounds the wait for the response head only; a stream may
//! rightly run long (give the call a gRPC deadline to bound it).

use super::service::{BoxError, Breaker, BreakerOpen, CallTimeout, Permit};
use super::shared::Shared;
use crate::grpc::body::{Finish, Pending, Watched};
use crate::grpc::{GrpcClassifier, Verdict};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Wraps gRPC clients in a [`GrpcBreaker`] sharing one breaker state (made by
/// [`BreakerHandle::grpc_layer`](super::BreakerHandle::grpc_layer)).
#[derive(Clone)]
pub struct GrpcBreakerLayer {
    shared: Arc<Shared>,
    classifier: GrpcClassifier,
}

impl GrpcBreakerLayer {
    pub(super) fn new(shared: Arc<Shared>, classifier: GrpcClassifier) -> Self {
        GrpcBreakerLayer { shared, classifier }
    }
}

impl std::fmt::Debug for GrpcBreakerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBreakerLayer")
            .field("name", &self.shared.name)
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<S> Layer<S> for GrpcBreakerLayer {
    type Service = GrpcBreaker<S>;

    fn layer(&self, inner: S) -> GrpcBreaker<S> {
        GrpcBreaker(Breaker::new(inner, self.shared.clone(), self.classifier))
    }
}

/// A gRPC client (a tonic `Channel`, or any HTTP/2 service speaking gRPC) behind a circuit
/// breaker that reads `grpc-status`.
pub struct GrpcBreaker<S>(Breaker<S, GrpcClassifier>);

impl<S: Clone> Clone for GrpcBreaker<S> {
    fn clone(&self) -> Self {
        GrpcBreaker(self.0.clone())
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcBreaker<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<GrpcBody<ResBody>>;
    type Error = BoxError;
    type Future = GrpcResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_admit::<http::Request<ReqBody>>(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let breaker = &mut self.0;
        let classifier = breaker.classify;
        let Some(permit) = breaker.admitted() else {
            return GrpcResponseFuture {
                future: None,
                timeout: None,
                pending: Pending::none(classifier),
            };
        };
        let timeout = breaker.shared.call_timeout.map(tokio::time::sleep);
        let started_ns = breaker.shared.clock.now_nanos();
        GrpcResponseFuture {
            future: Some(breaker.inner.call(request)),
            timeout,
            pending: Pending::new(Judge { permit, started_ns }, classifier),
        }
    }
}

pin_project_lite::pin_project! {
    /// The gRPC breaker's response future: judged here if the response head says how the
    /// call ended, else handed on in the [`GrpcBody`]. Dropped before the head, the call
    /// counts as abandoned (`CANCELLED`).
    pub struct GrpcResponseFuture<F> {
        #[pin]
        future: Option<F>,
        #[pin]
        timeout: Option<tokio::time::Sleep>,
        pending: Pending<Judge>,
    }
}

impl<F, B, E> Future for GrpcResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<GrpcBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(Err(BreakerOpen.into()));
        };
        if let Poll::Ready(result) = future.poll(cx) {
            return Poll::Ready(match result {
                Ok(response) => {
                    let pending = this.pending.at_head(response.status(), response.headers());
                    Ok(response.map(|body| GrpcBody {
                        inner: Watched::new(body, pending),
                    }))
                }
                Err(e) => {
                    this.pending.finish(GrpcClassifier::error);
                    Err(e.into())
                }
            });
        }
        if let Some(timeout) = this.timeout.as_pin_mut() {
            if timeout.poll(cx).is_ready() {
                this.pending.finish(|_| Verdict::TIMEOUT);
                return Poll::Ready(Err(CallTimeout.into()));
            }
        }
        Poll::Pending
    }
}

/// The permit of a call still streaming, and when it started.
struct Judge {
    permit: Permit,
    started_ns: u64,
}

impl Finish for Judge {
    fn finish(self, verdict: Verdict, abandoned: bool) {
        if abandoned {
            self.permit.abandon(verdict.outcome(), self.started_ns);
        } else {
            self.permit.finish(verdict.outcome(), self.started_ns);
        }
    }
}

pin_project_lite::pin_project! {
    /// A gRPC response body, judged by the breaker when its trailers arrive, when it ends
    /// or fails, or when it is dropped (see [`crate::grpc`]). A body dropped before its end
    /// counts as `CANCELLED`; as a half-open probe that is not a failure, it gives its slot
    /// back instead of closing the breaker.
    pub struct GrpcBody<B> {
        #[pin]
        inner: Watched<B, Judge>,
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
    use crate::breaker::{
        BreakerConfig, BreakerHandle, BreakerStats, State, StaticThresholds, Thresholds,
    };
    use crate::grpc::body::frames::{drain, Frames};
    use crate::grpc::{GrpcClassifier, GrpcCodes};
    use crate::Clock;
    use http_body::Body;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tower::{Layer, Service, ServiceExt};

    type Answer = Result<http::Response<Frames>, std::io::Error>;

    fn breaker(clock: &Clock, probes: u32) -> BreakerHandle {
        breaker_judging(clock, probes, 4)
    }

    fn breaker_judging(clock: &Clock, probes: u32, minimum_calls: u32) -> BreakerHandle {
        BreakerConfig {
            minimum_calls,
            half_open_probes: probes,
            open_for: Duration::from_secs(1),
            thresholds: Thresholds::Static(StaticThresholds {
                failure_rate: 0.5,
                ..Default::default()
            }),
            ..Default::default()
        }
        .build_with_clock(clock.clone())
        .unwrap()
    }

    /// A service answering `answers` in turn.
    fn service(
        handle: &BreakerHandle,
        classifier: GrpcClassifier,
        answers: Vec<Answer>,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<super::GrpcBody<Frames>>,
        Error = super::BoxError,
        Future: Send,
    > + Clone {
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        handle
            .grpc_layer(classifier)
            .layer(tower::service_fn(move |_: http::Request<()>| {
                let answer = answers.lock().unwrap().pop_front().expect("an answer left");
                std::future::ready(answer)
            }))
    }

    fn ok(body: Frames) -> Answer {
        Ok(http::Response::new(body))
    }

    fn trailers_only(status: &str) -> Answer {
        let mut response = http::Response::new(Frames::default());
        response
            .headers_mut()
            .insert("grpc-status", status.parse().unwrap());
        Ok(response)
    }

    fn counts(stats: BreakerStats) -> (u64, u64, u64) {
        (stats.success, stats.failure, stats.timeout)
    }

    #[tokio::test]
    async fn every_way_a_call_ends_is_judged_once() {
        let clock = Clock::manual();
        let handle = breaker_judging(&clock, 5, 100);
        let none = GrpcClassifier::new(GrpcCodes::NONE);
        let answers = vec![
            ok(Frames::then_status(2, "0")),  // OK in the trailers
            ok(Frames::then_status(2, "14")), // UNAVAILABLE in the trailers
            ok(Frames::data(2)),              // no status at the end: protocol error
            ok(Frames::then_error(1)),        // transport error mid-stream
            trailers_only("5"),               // NOT_FOUND: a client error
            trailers_only("abc"),             // not a number: protocol error
            Err(std::io::Error::other("refused")),
        ];
        let service = service(&handle, none, answers);
        for (i, expected) in [(1, 0), (2, 0), (2, 1), (2, 2), (3, 2), (3, 3), (3, 4)]
            .into_iter()
            .enumerate()
        {
            let result = service.clone().oneshot(http::Request::new(())).await;
            if let Ok(response) = result {
                let mut body = response.into_body();
                assert!(
                    !body.is_end_stream() || i >= 4,
                    "call {i}: not ended before its status"
                );
                drain(&mut body);
                assert!(body.is_end_stream());
            }
            let (success, failure, _) = counts(handle.stats());
            assert_eq!((success, failure), expected, "after call {i}");
        }
    }

    #[tokio::test]
    async fn a_non_200_answer_fails_whatever_its_grpc_status_says() {
        let clock = Clock::manual();
        let handle = breaker(&clock, 5);
        let mut not_found = http::Response::new(Frames::default());
        *not_found.status_mut() = http::StatusCode::NOT_FOUND;
        let mut teapot = trailers_only("0").unwrap();
        *teapot.status_mut() = http::StatusCode::IM_A_TEAPOT;
        let service = service(
            &handle,
            GrpcClassifier::default(),
            vec![Ok(not_found), Ok(teapot)],
        );
        for _ in 0..2 {
            service
                .clone()
                .oneshot(http::Request::new(()))
                .await
                .unwrap();
        }
        assert_eq!(counts(handle.stats()), (0, 2, 0));
    }

    #[tokio::test]
    async fn a_failing_deadline_exceeded_is_a_timeout_and_latency_runs_to_the_trailers() {
        let clock = Clock::manual();
        let handle = breaker(&clock, 5);
        let service = service(
            &handle,
            GrpcClassifier::default(),
            vec![trailers_only("4"), ok(Frames::then_status(1, "0"))],
        );
        service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(counts(handle.stats()), (0, 0, 1));
        let mut body = service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap()
            .into_body();
        clock.advance(Duration::from_secs(120)); // past the default slow-call duration (60 s)
        drain(&mut body);
        let stats = handle.stats();
        assert_eq!((counts(stats), stats.slow), ((1, 0, 1), 1));
    }

    #[tokio::test]
    async fn abandoned_calls_count_as_cancelled_and_give_probe_slots_back() {
        let clock = Clock::manual();
        let handle = breaker(&clock, 1);
        let failing: Vec<Answer> = (0..4).map(|_| trailers_only("14")).collect();
        let service = service(&handle, GrpcClassifier::default(), failing);
        for _ in 0..4 {
            service
                .clone()
                .oneshot(http::Request::new(()))
                .await
                .unwrap();
        }
        assert_eq!(handle.state(), State::Open);
        clock.advance(Duration::from_secs(2));

        // The probe's body is dropped before its end: a success (CANCELLED), no verdict.
        let answers = vec![
            ok(Frames::then_status(3, "0")),
            ok(Frames::then_status(1, "0")),
        ];
        let layer = handle.grpc_layer(GrpcClassifier::default());
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let service = layer.layer(tower::service_fn(move |_: http::Request<()>| {
            std::future::ready(answers.lock().unwrap().pop_front().unwrap())
        }));
        let response = service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(handle.state(), State::HalfOpen);
        drop(response);
        assert_eq!(counts(handle.stats()), (1, 4, 0));
        assert_eq!(handle.state(), State::HalfOpen);
        // The slot is back: the next call is admitted, and its success closes the breaker.
        let mut body = service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap()
            .into_body();
        drain(&mut body);
        assert_eq!(handle.state(), State::Closed);
        assert_eq!(handle.stats().rejected, 0);

        // With CANCELLED a failure code, an abandoned probe fails and reopens the breaker.
        let strict =
            GrpcClassifier::new(GrpcCodes::from_names(["CANCELLED", "UNAVAILABLE"]).unwrap());
        // A closed breaker judges from the next bucket on.
        clock.advance(Duration::from_secs(2));
        let failing: Vec<Answer> = (0..4).map(|_| trailers_only("14")).collect();
        let service = self::service(&handle, strict, failing);
        for _ in 0..4 {
            service
                .clone()
                .oneshot(http::Request::new(()))
                .await
                .unwrap();
        }
        assert_eq!(handle.state(), State::Open);
        clock.advance(Duration::from_secs(2));
        let answers = Arc::new(Mutex::new(VecDeque::from(vec![ok(Frames::then_status(
            3, "0",
        ))])));
        let service =
            handle
                .grpc_layer(strict)
                .layer(tower::service_fn(move |_: http::Request<()>| {
                    std::future::ready(answers.lock().unwrap().pop_front().unwrap())
                }));
        drop(service.oneshot(http::Request::new(())).await.unwrap());
        assert_eq!(handle.state(), State::Open, "the abandoned probe failed");
    }

    #[tokio::test]
    async fn a_future_dropped_before_the_head_counts_as_cancelled() {
        let clock = Clock::manual();
        let handle = breaker(&clock, 5);
        let mut service = handle
            .grpc_layer(GrpcClassifier::default())
            .layer(tower::service_fn(|_: http::Request<()>| {
                std::future::pending::<Answer>()
            }));
        let future = service.ready().await.unwrap().call(http::Request::new(()));
        drop(future);
        assert_eq!(counts(handle.stats()), (1, 0, 0));
    }

    #[tokio::test]
    async fn refused_calls_reach_nothing_and_count_nothing_but_the_refusal() {
        let clock = Clock::manual();
        let handle = breaker(&clock, 5);
        handle.set_mode(crate::breaker::Mode::ForcedOpen);
        let service = service(&handle, GrpcClassifier::default(), vec![]);
        let err = service.oneshot(http::Request::new(())).await.unwrap_err();
        assert!(err.is::<crate::breaker::BreakerOpen>(), "{err}");
        assert_eq!(counts(handle.stats()), (0, 0, 0));
        assert_eq!(handle.stats().rejected, 1);
    }
}
