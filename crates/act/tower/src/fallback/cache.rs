//! The cache of good responses and its settings.

use crate::clock::nanos;
use crate::{Clock, Error};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// A fallback cache (contract key `fallback:`, or code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Name in metrics. Default: `default`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Responses kept at most (least recently used leave first). Default: 10,000.
    #[serde(default = "default_capacity")]
    pub capacity: u64,
    /// A remembered response is served for at most this long after it was stored.
    /// Default: 10 min.
    #[serde(default = "default_ttl", with = "crate::duration_text")]
    pub ttl: Duration,
    /// A key's response is stored again at most this often, so a hot key costs a lookup,
    /// not a clone, per call. Default: 1 s.
    #[serde(default = "default_refresh_after", with = "crate::duration_text")]
    pub refresh_after: Duration,
    /// Header set on degraded HTTP responses (value `fallback`). Default: `x-ballast-degraded`.
    #[serde(default = "default_header")]
    pub header: String,
}

fn default_name() -> String {
    "default".to_string()
}
fn default_capacity() -> u64 {
    10_000
}
fn default_ttl() -> Duration {
    Duration::from_secs(600)
}
fn default_refresh_after() -> Duration {
    Duration::from_secs(1)
}
fn default_header() -> String {
    "x-ballast-degraded".to_string()
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            name: default_name(),
            capacity: default_capacity(),
            ttl: default_ttl(),
            refresh_after: default_refresh_after(),
            header: default_header(),
        }
    }
}

impl FallbackConfig {
    /// Checks the settings and makes the cache, for keys `K` and responses `V`.
    pub fn build<K, V>(&self) -> Result<FallbackCache<K, V>, Error>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.build_with_clock(Clock::system())
    }

    /// Like [`build`](Self::build); `clock` decides when a key is due for refreshing.
    pub fn build_with_clock<K, V>(&self, clock: Clock) -> Result<FallbackCache<K, V>, Error>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let invalid =
            |field: &'static str, message: String| Err(Error::InvalidConfig { field, message });
        if self.capacity == 0 {
            return invalid("capacity", "expected at least 1".into());
        }
        if self.ttl.is_zero() {
            return invalid("ttl", "expected a duration above zero".into());
        }
        let header = match http::HeaderName::try_from(self.header.as_str()) {
            Ok(h) => h,
            Err(_) => {
                return invalid(
                    "header",
                    format!("expected an HTTP header name, got {:?}", self.header),
                )
            }
        };
        let cache = moka::sync::Cache::builder()
            .max_capacity(self.capacity)
            .time_to_live(self.ttl)
            .build();
        Ok(FallbackCache {
            inner: Arc::new(Inner {
                name: self.name.clone(),
                switch: FallbackSwitch {
                    inner: Arc::new(Switch {
                        name: self.name.clone(),
                        forced: AtomicBool::new(false),
                    }),
                },
                cache,
                clock,
                refresh_after_ns: nanos(self.refresh_after),
                header,
                stats: Stats::default(),
            }),
        })
    }
}

/// Marks a response as served from the fallback cache.
pub trait Degrade {
    /// The response, marked degraded; `header` is the configured header name.
    fn degrade(self, header: &http::HeaderName) -> Self;
}

/// The extension set on degraded HTTP responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Degraded;

impl<B> Degrade for http::Response<B> {
    fn degrade(mut self, header: &http::HeaderName) -> Self {
        self.extensions_mut().insert(Degraded);
        self.headers_mut()
            .insert(header.clone(), http::HeaderValue::from_static("fallback"));
        self
    }
}

#[derive(Debug, Default)]
struct Stats {
    served: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
}

/// Counts since the cache was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FallbackStats {
    /// Failures answered from the cache (and, while forced, requests answered from it).
    pub served: u64,
    /// Failures the cache could not answer (passed on as they were).
    pub misses: u64,
    /// Good responses stored.
    pub stored: u64,
}

struct Inner<K, V> {
    name: String,
    switch: FallbackSwitch,
    cache: moka::sync::Cache<K, (u64, V)>,
    clock: Clock,
    refresh_after_ns: u64,
    header: http::HeaderName,
    stats: Stats,
}

/// Forces a fallback cache to answer from what it holds, whatever its type: the operator's
/// side of [`FallbackCache::force`], kept by the [`admin`](crate::admin) endpoint. Cheap to
/// clone; every clone steers the same cache.
#[derive(Clone)]
pub struct FallbackSwitch {
    inner: Arc<Switch>,
}

struct Switch {
    name: String,
    forced: AtomicBool,
}

impl std::fmt::Debug for FallbackSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackSwitch")
            .field("name", &self.inner.name)
            .field("forced", &self.is_forced())
            .finish()
    }
}

impl FallbackSwitch {
    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `true`: answer every request that has a cached answer from the cache, without calling
    /// the service (requests without one still call it); `false`: only failures are
    /// answered from the cache, as usual.
    pub fn force(&self, forced: bool) {
        let before = self.inner.forced.swap(forced, Relaxed);
        tracing::info!(fallback = %self.inner.name, forced, previous = before, "fallback override changed");
    }

    /// Whether the cache is forced.
    pub fn is_forced(&self) -> bool {
        self.inner.forced.load(Relaxed)
    }
}

/// The running cache; clones share it. Make layers with [`layer`](Self::layer).
pub struct FallbackCache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for FallbackCache<K, V> {
    fn clone(&self) -> Self {
        FallbackCache {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for FallbackCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackCache")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> FallbackCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Remembers a good response for `key` unless one younger than `refresh_after` is held.
    pub fn offer(&self, key: K, response: &V) {
        let now = self.inner.clock.now_nanos();
        if let Some((stored_at, _)) = self.inner.cache.get(&key) {
            if now.saturating_sub(stored_at) < self.inner.refresh_after_ns {
                return;
            }
        }
        self.inner.cache.insert(key, (now, response.clone()));
        self.inner.stats.stored.fetch_add(1, Relaxed);
    }

    /// The remembered response for `key`, counted as served or missed.
    pub fn recall(&self, key: &K) -> Option<V> {
        match self.inner.cache.get(key) {
            Some((_, response)) => {
                self.inner.stats.served.fetch_add(1, Relaxed);
                Some(response)
            }
            None => {
                self.inner.stats.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    /// The remembered response for `key` while the cache is forced ([`force`](Self::force)),
    /// counted as served; `None` when not forced or nothing is held.
    pub(crate) fn forced_answer(&self, key: &K) -> Option<V> {
        if !self.inner.switch.is_forced() {
            return None;
        }
        let (_, response) = self.inner.cache.get(key)?;
        self.inner.stats.served.fetch_add(1, Relaxed);
        Some(response)
    }

    /// Forces the cache (see [`FallbackSwitch::force`]).
    pub fn force(&self, forced: bool) {
        self.inner.switch.force(forced);
    }

    /// Whether the cache is forced.
    pub fn is_forced(&self) -> bool {
        self.inner.switch.is_forced()
    }

    /// The switch forcing this cache, for code that must not know its key and response types.
    pub fn switch(&self) -> FallbackSwitch {
        self.inner.switch.clone()
    }

    /// The header degraded HTTP responses carry.
    pub fn header(&self) -> &http::HeaderName {
        &self.inner.header
    }

    /// Counts since the cache was built.
    pub fn stats(&self) -> FallbackStats {
        let s = &self.inner.stats;
        FallbackStats {
            served: s.served.load(Relaxed),
            misses: s.misses.load(Relaxed),
            stored: s.stored.load(Relaxed),
        }
    }

    /// Adds `ballast_fallback_{served,misses,stored}_total{fallback="name"}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(FallbackCollector(self.clone())));
    }
}

struct FallbackCollector<K, V>(FallbackCache<K, V>);

impl<K, V> std::fmt::Debug for FallbackCollector<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<K, V> Collector for FallbackCollector<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let labels = [("fallback", self.0.inner.name.as_str())];
        for (name, help, value) in [
            (
                "ballast_fallback_served",
                "Failures answered from the fallback cache",
                stats.served,
            ),
            (
                "ballast_fallback_misses",
                "Failures the fallback cache could not answer",
                stats.misses,
            ),
            (
                "ballast_fallback_stored",
                "Good responses stored in the fallback cache",
                stats.stored,
            ),
        ] {
            let mut e = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            e.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        Ok(())
    }
}
