//! [`FallbackLayer`] → [`Fallback`] → [`ResponseFuture`].

use super::cache::{Degrade, FallbackCache};
use crate::breaker::{Classify, Outcome};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Wraps services in a [`Fallback`]: `key` names a request's response in the cache (`None`:
/// never cached nor recalled), `classify` says which responses are good.
pub struct FallbackLayer<K, V, F, C> {
    cache: FallbackCache<K, V>,
    key: F,
    classify: C,
}

impl<K, V, F: Clone, C: Clone> Clone for FallbackLayer<K, V, F, C> {
    fn clone(&self) -> Self {
        FallbackLayer {
            cache: self.cache.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<K, V> FallbackCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A layer answering failures from this cache.
    pub fn layer<F, C>(&self, key: F, classify: C) -> FallbackLayer<K, V, F, C> {
        FallbackLayer {
            cache: self.clone(),
            key,
            classify,
        }
    }
}

impl<S, K, V, F: Clone, C: Clone> Layer<S> for FallbackLayer<K, V, F, C> {
    type Service = Fallback<S, K, V, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Fallback {
            inner,
            cache: self.cache.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// A service whose failures are answered from recent good responses when it can.
pub struct Fallback<S, K, V, F, C> {
    inner: S,
    cache: FallbackCache<K, V>,
    key: F,
    classify: C,
}

impl<S: Clone, K, V, F: Clone, C: Clone> Clone for Fallback<S, K, V, F, C> {
    fn clone(&self) -> Self {
        Fallback {
            inner: self.inner.clone(),
            cache: self.cache.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, K, F, C, Request> Service<Request> for Fallback<S, K, S::Response, F, C>
where
    S: Service<Request>,
    S::Response: Clone + Degrade + Send + Sync + 'static,
    K: Hash + Eq + Send + Sync + 'static,
    F: Fn(&Request) -> Option<K>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, K, S::Response, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let key = (self.key)(&request);
        // Forced: the remembered answer without calling the service at all (a probe slot or
        // permit its `poll_ready` reserved goes back when this service is dropped).
        if let Some(cached) = key.as_ref().and_then(|k| self.cache.forced_answer(k)) {
            return ResponseFuture {
                future: None,
                forced: Some(cached.degrade(self.cache.header())),
                key: None,
                cache: self.cache.clone(),
                classify: self.classify.clone(),
            };
        }
        ResponseFuture {
            future: Some(self.inner.call(request)),
            forced: None,
            key,
            cache: self.cache.clone(),
            classify: self.classify.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner call; on failure, the cached answer if there is one. While the cache is
    /// forced, the cached answer without an inner call.
    pub struct ResponseFuture<Fut, K, V, C> {
        #[pin]
        future: Option<Fut>,
        forced: Option<V>,
        key: Option<K>,
        cache: FallbackCache<K, V>,
        classify: C,
    }
}

impl<Fut, K, V, E, C> Future for ResponseFuture<Fut, K, V, C>
where
    Fut: Future<Output = Result<V, E>>,
    V: Clone + Degrade + Send + Sync + 'static,
    K: Hash + Eq + Send + Sync + 'static,
    C: Classify<V, E>,
{
    type Output = Result<V, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            let answer = this.forced.take().expect("a forced answer is polled once");
            return Poll::Ready(Ok(answer));
        };
        let result = std::task::ready!(future.poll(cx));
        let Some(key) = this.key.take() else {
            return Poll::Ready(result);
        };
        let good = this.classify.classify(result.as_ref()) == Outcome::Success;
        if good {
            if let Ok(response) = &result {
                this.cache.offer(key, response);
            }
            return Poll::Ready(result);
        }
        match this.cache.recall(&key) {
            Some(cached) => Poll::Ready(Ok(cached.degrade(this.cache.header()))),
            None => Poll::Ready(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::breaker::HttpClassifier;
    use crate::fallback::{Degraded, FallbackConfig};
    use crate::Clock;
    use std::time::Duration;
    use tower::{service_fn, Layer, ServiceExt};

    type Response = http::Response<&'static str>;

    #[tokio::test]
    async fn failures_are_answered_from_the_last_good_response() {
        let clock = Clock::manual();
        let cache = FallbackConfig::default()
            .build_with_clock::<String, Response>(clock.clone())
            .unwrap();
        let layer = cache.layer(|path: &&'static str| Some(path.to_string()), HttpClassifier);
        let healthy = layer.layer(service_fn(|_: &'static str| async {
            Ok::<_, std::io::Error>(http::Response::new("v1"))
        }));
        let down = layer.layer(service_fn(|_: &'static str| async {
            Err::<Response, _>(std::io::Error::other("refused"))
        }));
        let broken = layer.layer(service_fn(|_: &'static str| async {
            Ok::<_, std::io::Error>(http::Response::builder().status(503).body("oops").unwrap())
        }));

        let fresh = healthy.clone().oneshot("/a").await.unwrap();
        assert!(fresh.extensions().get::<Degraded>().is_none());
        let degraded = down.clone().oneshot("/a").await.unwrap();
        assert_eq!(*degraded.body(), "v1");
        assert_eq!(degraded.headers()["x-ballast-degraded"], "fallback");
        assert!(degraded.extensions().get::<Degraded>().is_some());
        let degraded = broken.clone().oneshot("/a").await.unwrap();
        assert_eq!(
            (degraded.status(), *degraded.body()),
            (http::StatusCode::OK, "v1")
        );
        // Nothing cached for /b: the failure passes through.
        assert!(down.clone().oneshot("/b").await.is_err());
        assert_eq!(broken.clone().oneshot("/b").await.unwrap().status(), 503);
        let stats = cache.stats();
        assert_eq!((stats.served, stats.misses, stats.stored), (2, 2, 1));
    }

    #[tokio::test]
    async fn a_hot_key_is_stored_once_per_refresh_interval() {
        let clock = Clock::manual();
        let config = FallbackConfig {
            refresh_after: Duration::from_secs(1),
            ..Default::default()
        };
        let cache = config
            .build_with_clock::<u8, Response>(clock.clone())
            .unwrap();
        let service = cache
            .layer(|_: &()| Some(1u8), HttpClassifier)
            .layer(service_fn(|_: ()| async {
                Ok::<_, std::io::Error>(http::Response::new("ok"))
            }));
        for _ in 0..10 {
            service.clone().oneshot(()).await.unwrap();
        }
        assert_eq!(cache.stats().stored, 1);
        clock.advance(Duration::from_millis(1001));
        service.clone().oneshot(()).await.unwrap();
        assert_eq!(cache.stats().stored, 2);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let err = FallbackConfig {
            header: "bad header".into(),
            ..Default::default()
        }
        .build::<u8, u8>()
        .unwrap_err();
        assert!(err.to_string().starts_with("header:"), "{err}");
        let err = FallbackConfig {
            capacity: 0,
            ..Default::default()
        }
        .build::<u8, u8>()
        .unwrap_err();
        assert!(err.to_string().starts_with("capacity:"), "{err}");
    }

    #[tokio::test]
    async fn forced_answers_from_the_cache_without_calling_and_calls_through_on_a_miss() {
        let cache = FallbackConfig::default()
            .build::<String, Response>()
            .unwrap();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = calls.clone();
        let service = cache
            .layer(|path: &&'static str| Some(path.to_string()), HttpClassifier)
            .layer(service_fn(move |path: &'static str| {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async move { Ok::<_, std::io::Error>(http::Response::new(path)) }
            }));
        let calls_now = || calls.load(std::sync::atomic::Ordering::Relaxed);
        service.clone().oneshot("/a").await.unwrap();
        assert_eq!(calls_now(), 1);
        cache.switch().force(true);
        assert!(cache.is_forced());
        let forced = service.clone().oneshot("/a").await.unwrap();
        assert_eq!(calls_now(), 1, "a forced hit must not call the service");
        assert_eq!(forced.headers()["x-ballast-degraded"], "fallback");
        assert_eq!(*forced.body(), "/a");
        // Nothing held for /b: the service answers, and its answer is remembered.
        let miss = service.clone().oneshot("/b").await.unwrap();
        assert_eq!(calls_now(), 2);
        assert!(miss.extensions().get::<Degraded>().is_none());
        cache.force(false);
        let fresh = service.clone().oneshot("/a").await.unwrap();
        assert_eq!(calls_now(), 3);
        assert!(fresh.extensions().get::<Degraded>().is_none());
        assert_eq!(cache.stats().served, 1);
    }
}
