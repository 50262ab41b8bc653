//! Fallback to recent good responses (seed ch.1: "degrade to the local LRU cache").
//!
//! [`FallbackConfig`] → [`build`](FallbackConfig::build) → [`FallbackCache`] (a size- and
//! TTL-bounded cache, TinyLFU admission, LRU eviction: `moka`) → [`FallbackLayer`] with a key
//! function → [`Fallback`] around a service. Good responses are remembered (at most once per
//! `refresh_after` per key); when the service fails, times out or its breaker is open, the
//! remembered response is answered instead, marked degraded ([`Degrade`]). An operator can
//! force the cache ([`FallbackCache::force`], or a [`FallbackSwitch`] through the
//! [`admin`](crate::admin) endpoint): requests with a remembered answer then get it at once,
//! degraded, without calling the service.

mod cache;
mod service;

pub use cache::{Degrade, Degraded, FallbackCache, FallbackConfig, FallbackStats, FallbackSwitch};
pub use service::{Fallback, FallbackLayer, ResponseFuture};
