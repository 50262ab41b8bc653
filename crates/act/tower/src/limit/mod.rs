//! Concurrency limit with load shedding: fail fast with 503 instead of queueing.
//!
//! [`LimitConfig`] → [`build`](LimitConfig::build) → [`ConcurrencyLimit`] →
//! [`LimitLayer`] → [`Limit`] around a service. The limit is static, or learned from latency
//! with Netflix's Gradient2: it grows while latency stays near its long-run average and
//! shrinks as queueing pushes latency up (`gradient.rs`).

mod gradient;
mod service;

pub use gradient::Gradient2Config;
pub use service::{
    ConcurrencyLimit, Limit, LimitConfig, LimitKind, LimitLayer, LimitStats, Overloaded,
    ResponseFuture,
};
