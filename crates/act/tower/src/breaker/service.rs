//! The tower side: [`BreakerLayer`] → [`Breaker`] → [`ResponseFuture`].
//!
//! The call path reads the clock twice, checks one atomic word and adds to a few counters;
//! it takes no lock and allocates nothing. What `poll_ready` reserves (a probe slot while
//! half-open) is held by a [`Permit`] that gives it back if the call never completes.

use super::shared::{Admission, Shared};
use super::window::Outcome;
use crate::local::{local, Cache, Local};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Boxed error, as tower's own middleware returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Decides whether a call's result counts as a success for the breaker.
pub trait Classify<R, E> {
    /// The outcome of one call.
    fn classify(&self, result: Result<&R, &E>) -> Outcome;
}

impl<R, E, F> Classify<R, E> for F
where
    F: Fn(Result<&R, &E>) -> Outcome,
{
    fn classify(&self, result: Result<&R, &E>) -> Outcome {
        self(result)
    }
}

/// HTTP: a 5xx response or an error fails; anything else (4xx included: the caller's
/// mistake, not the dependency's) succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier;

impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    fn classify(&self, result: Result<&http::Response<B>, &E>) -> Outcome {
        match result {
            Ok(response) if response.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// The call was refused because the breaker is open (or half-open with every probe slot
/// taken, or forced open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BreakerOpen;

impl std::fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("circuit breaker open: call refused")
    }
}
impl std::error::Error for BreakerOpen {}

/// The call ran past the breaker's `call_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallTimeout;

impl std::fmt::Display for CallTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("call timed out (breaker call_timeout)")
    }
}
impl std::error::Error for CallTimeout {}

/// Wraps services in a [`Breaker`] sharing one breaker state.
#[derive(Clone)]
pub struct BreakerLayer<C> {
    shared: Arc<Shared>,
    classify: C,
}

impl<C> BreakerLayer<C> {
    pub(crate) fn new(shared: Arc<Shared>, classify: C) -> Self {
        BreakerLayer { shared, classify }
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for BreakerLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerLayer")
            .field("name", &self.shared.name)
            .field("classify", &self.classify)
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = Breaker<S, C>;

    fn layer(&self, inner: S) -> Breaker<S, C> {
        Breaker::new(inner, self.shared.clone(), self.classify.clone())
    }
}

thread_local! {
    /// This thread's references to the breakers it calls (see `crate::local`).
    static LOCALS: Cache<Shared> = const { RefCell::new([None, None, None, None]) };
}

/// A reserved right to call: released (a probe slot given back) if dropped unused.
#[derive(Debug)]
pub struct Permit {
    local: Arc<Local<Shared>>,
    admission: Admission,
}

impl Permit {
    pub(super) fn finish(mut self, outcome: Outcome, started_ns: u64) {
        if let Admission::Call { probe } = self.admission {
            let shared = &self.local.shared;
            let now = shared.clock.now_nanos();
            shared.complete(probe, outcome, now.saturating_sub(started_ns), now);
        }
        self.admission = Admission::Pass; // nothing left to release
    }

    /// A call its caller gave up on before it ended (a gRPC body dropped unread): counted
    /// with `outcome`, but a probe that did not fail does not vouch for the dependency; its
    /// slot is given back for another probe instead.
    pub(super) fn abandon(self, outcome: Outcome, started_ns: u64) {
        match self.admission {
            Admission::Call { probe: Some(_) } if outcome == Outcome::Success => {
                let shared = &self.local.shared;
                let now = shared.clock.now_nanos();
                shared.complete(None, outcome, now.saturating_sub(started_ns), now);
                // Dropping the permit gives the probe slot back.
            }
            _ => self.finish(outcome, started_ns),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Admission::Call {
            probe: Some(episode),
        } = self.admission
        {
            self.local.shared.release_probe(episode);
        }
    }
}

/// A service behind a circuit breaker.
pub struct Breaker<S, C> {
    pub(super) inner: S,
    pub(super) shared: Arc<Shared>,
    pub(super) classify: C,
    reserved: Option<Permit>,
}

impl<S: Clone, C: Clone> Clone for Breaker<S, C> {
    fn clone(&self) -> Self {
        // A clone reserves for itself: permits are not shared.
        Breaker::new(
            self.inner.clone(),
            self.shared.clone(),
            self.classify.clone(),
        )
    }
}

impl<S, C> Breaker<S, C> {
    pub(super) fn new(inner: S, shared: Arc<Shared>, classify: C) -> Self {
        Breaker {
            inner,
            shared,
            classify,
            reserved: None,
        }
    }

    fn reserve(&mut self) -> &Permit {
        if self.reserved.is_none() {
            let clock = &self.shared.clock;
            let admission = self.shared.admit(|| clock.now_nanos());
            self.reserved = Some(Permit {
                local: local(&LOCALS, &self.shared),
                admission,
            });
        }
        self.reserved.as_ref().expect("just reserved")
    }

    /// Admission for the next call, then the inner service's readiness.
    pub(super) fn poll_admit<Request>(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>
    where
        S: Service<Request>,
        S::Error: Into<BoxError>,
    {
        // A refusal is not kept across polls: a caller that polls ahead (a pool, a buffer)
        // must not be refused later for what the breaker thought earlier.
        if self
            .reserved
            .as_ref()
            .is_some_and(|p| p.admission == Admission::Reject)
        {
            self.reserved = None;
        }
        if self.reserve().admission == Admission::Reject {
            // Refused calls never reach the inner service, so its readiness does not matter.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                self.reserved = None; // gives the probe slot back
                Poll::Ready(Err(e.into()))
            }
            other => other.map_err(Into::into),
        }
    }

    /// The permit of the next call; `None` if it is refused (and counted so).
    pub(super) fn admitted(&mut self) -> Option<Permit> {
        self.reserve();
        let permit = self.reserved.take().expect("reserved above");
        if permit.admission == Admission::Reject {
            self.shared.count_refusal();
            return None;
        }
        Some(permit)
    }
}

impl<S, C, Request> Service<Request> for Breaker<S, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.poll_admit::<Request>(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(permit) = self.admitted() else {
            return ResponseFuture {
                future: None,
                timeout: None,
                permit: None,
                classify: self.classify.clone(),
                started_ns: 0,
            };
        };
        let timeout = self.shared.call_timeout.map(tokio::time::sleep);
        let started_ns = self.shared.clock.now_nanos();
        ResponseFuture {
            future: Some(self.inner.call(request)),
            timeout,
            permit: Some(permit),
            classify: self.classify.clone(),
            started_ns,
        }
    }
}

pin_project_lite::pin_project! {
    /// The breaker's response future: the inner call, timed and judged when it ends.
    pub struct ResponseFuture<F, C> {
        #[pin]
        future: Option<F>,
        #[pin]
        timeout: Option<tokio::time::Sleep>,
        permit: Option<Permit>,
        classify: C,
        started_ns: u64,
    }
}

impl<F, C, R, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
    C: Classify<R, E>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(Err(BreakerOpen.into()));
        };
        if let Poll::Ready(result) = future.poll(cx) {
            if let Some(permit) = this.permit.take() {
                permit.finish(this.classify.classify(result.as_ref()), *this.started_ns);
            }
            return Poll::Ready(result.map_err(Into::into));
        }
        if let Some(timeout) = this.timeout.as_pin_mut() {
            if timeout.poll(cx).is_ready() {
                if let Some(permit) = this.permit.take() {
                    permit.finish(Outcome::Timeout, *this.started_ns);
                }
                return Poll::Ready(Err(CallTimeout.into()));
            }
        }
        Poll::Pending
    }
}
