//! The adaptive circuit breaker (seed 4.2 "circuit sandbox", 5.1).
//!
//! [`BreakerConfig`] → [`build`](BreakerConfig::build) → [`BreakerHandle`] (steer, watch,
//! roll back) → [`BreakerLayer`] (one per classifier) → [`Breaker`] around a service;
//! for gRPC clients [`BreakerHandle::grpc_layer`] → [`GrpcBreaker`], judged by `grpc-status`.
//!
//! - **Window** (`window.rs`): a ring of time buckets of atomics counting successes,
//!   failures, timeouts, slow calls and a coarse latency histogram.
//! - **State** (`state.rs`): closed → open → half-open in one atomic word; half-open lets a
//!   bounded number of probes through.
//! - **Learning** (`learn.rs`): baselines from healthy buckets, snapshots, rollback.
//! - **Replay** (`replay.rs`): the same breaker over a recorded trace, on simulated time.

mod config;
mod event;
mod grpc;
mod handle;
mod learn;
pub mod replay;
mod service;
mod shared;
mod state;
#[cfg(test)]
mod tests;
// Also the SLO burn-rate windows' ring.
pub(crate) mod window;

pub use config::{BreakerConfig, LearnedThresholds, Mode, StaticThresholds, Thresholds};
pub use event::{Event, Transition};
pub use grpc::{GrpcBody, GrpcBreaker, GrpcBreakerLayer, GrpcResponseFuture};
pub use handle::{BreakerHandle, BreakerStats};
pub use learn::{RollbackReason, Snapshot, TripThresholds};
pub use service::{
    BoxError, Breaker, BreakerLayer, BreakerOpen, CallTimeout, Classify, HttpClassifier, Permit,
    ResponseFuture,
};
pub use state::State;
pub use window::{Counts, Outcome};
