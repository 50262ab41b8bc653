//! A response body watched for the gRPC status in its trailers.
//!
//! The call is judged exactly once: when the trailers frame passes, when the body ends
//! without one or fails, or, if none of those happened, when the body is dropped (the
//! caller abandoned the call). Watching adds a header lookup at the trailers and nothing
//! per data frame; it allocates nothing.

use super::{GrpcClassifier, Verdict};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What is done with a call's verdict: recorded in a breaker, in the metrics.
pub(crate) trait Finish {
    /// `abandoned`: the body was dropped before its end (the verdict is then
    /// [`GrpcClassifier::abandoned`]'s).
    fn finish(self, verdict: Verdict, abandoned: bool);
}

/// A call still to be judged; judged abandoned if dropped first. Held by the response
/// future until the head arrives, then by the body if the status is still to come.
pub(crate) struct Pending<F: Finish> {
    finish: Option<F>,
    classifier: GrpcClassifier,
}

impl<F: Finish> Pending<F> {
    /// A call to judge with `classifier`, by `finish`.
    pub(crate) fn new(finish: F, classifier: GrpcClassifier) -> Self {
        Pending {
            finish: Some(finish),
            classifier,
        }
    }

    /// Nothing to judge (a refused call, or one judged already).
    pub(crate) fn none(classifier: GrpcClassifier) -> Self {
        Pending {
            finish: None,
            classifier,
        }
    }

    /// Judges the call now (if it was not judged yet).
    pub(crate) fn finish(&mut self, verdict: impl FnOnce(&GrpcClassifier) -> Verdict) {
        if let Some(finish) = self.finish.take() {
            finish.finish(verdict(&self.classifier), false);
        }
    }

    /// Judges the call by `status` and `headers` if they say how it ended; else takes it
    /// out, for the body to judge when it ends ([`Watched::new`]).
    #[inline]
    pub(crate) fn at_head(&mut self, status: http::StatusCode, headers: &http::HeaderMap) -> Self {
        match self.classifier.head(status, headers) {
            Some(verdict) => {
                self.finish(|_| verdict);
                Pending::none(self.classifier)
            }
            None => std::mem::replace(self, Pending::none(self.classifier)),
        }
    }
}

impl<F: Finish> Drop for Pending<F> {
    fn drop(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish.finish(self.classifier.abandoned(), true);
        }
    }
}

pin_project_lite::pin_project! {
    /// `body`, judged by `pending` when it ends.
    pub(crate) struct Watched<B, F: Finish> {
        #[pin]
        body: B,
        pending: Pending<F>,
    }
}

impl<B, F: Finish> Watched<B, F> {
    /// `body`, judged by `pending` (if anything is pending) when it ends.
    #[inline]
    pub(crate) fn new(body: B, pending: Pending<F>) -> Self {
        Watched { body, pending }
    }

    /// The body inside.
    pub(crate) fn get_ref(&self) -> &B {
        &self.body
    }
}

impl<B: Body, F: Finish> Body for Watched<B, F> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = std::task::ready!(this.body.poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.pending.finish(|c| c.trailers(trailers));
                }
            }
            // The stream ended without trailers (protocol error) or failed (transport error).
            None | Some(Err(_)) => this.pending.finish(GrpcClassifier::error),
        }
        Poll::Ready(polled)
    }

    /// Not at its end while the status is still to come, even if the body inside says so:
    /// the reader then polls once more, and a body ending without trailers is judged (a
    /// protocol error) instead of being dropped unread as if abandoned.
    fn is_end_stream(&self) -> bool {
        self.pending.finish.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B: std::fmt::Debug, F: Finish> std::fmt::Debug for Watched<B, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("body", &self.body)
            .field("judged", &self.pending.finish.is_none())
            .finish()
    }
}

/// A body of given frames, for tests.
#[cfg(test)]
pub(crate) mod frames {
    use bytes::Bytes;
    use http_body::{Body, Frame};
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub(crate) type Item = Result<Frame<Bytes>, std::io::Error>;

    /// Yields its frames, then ends.
    #[derive(Debug, Default)]
    pub(crate) struct Frames(pub(crate) VecDeque<Item>);

    impl Frames {
        /// `data` frames then trailers carrying `grpc-status: status`.
        pub(crate) fn then_status(data: usize, status: &str) -> Frames {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", status.parse().unwrap());
            let mut frames = Frames::data(data);
            frames.0.push_back(Ok(Frame::trailers(trailers)));
            frames
        }

        /// `data` frames, then the end (no trailers).
        pub(crate) fn data(data: usize) -> Frames {
            Frames(
                (0..data)
                    .map(|_| Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))))
                    .collect(),
            )
        }

        /// `data` frames, then an error.
        pub(crate) fn then_error(data: usize) -> Frames {
            let mut frames = Frames::data(data);
            frames.0.push_back(Err(std::io::Error::other("reset")));
            frames
        }
    }

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Item>> {
            Poll::Ready(self.0.pop_front())
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    /// Reads `body` to its end: the frames read and whether it failed.
    pub(crate) fn drain<B: Body + Unpin>(body: &mut B) -> (usize, bool) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut read = 0;
        loop {
            match Pin::new(&mut *body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(_))) => read += 1,
                Poll::Ready(Some(Err(_))) => return (read, true),
                Poll::Ready(None) => return (read, false),
                Poll::Pending => panic!("test bodies are never pending"),
            }
        }
    }
}
