//! Standard HTTP metrics and the SLO recorder (seed 2.1, 2.5), with error-budget degradation.
//!
//! [`MetricsConfig`] → [`build`](MetricsConfig::build) → [`HttpMetrics`] →
//! [`MetricsLayer`] → [`MetricsService`] around an HTTP service. Every request lands in a
//! duration histogram (default buckets 10 ms × 2^k, k = 0..7) labelled by method, route
//! template and status class, and in the good/total counters of each SLO covering its route.
//! [`HttpMetrics::register`] exposes them in Prometheus text through a `prometheus-client`
//! [`Registry`](prometheus_client::registry::Registry); [`MetricsEndpoint`] serves it at
//! `/metrics`. [`Budget`] turns optional work off while an SLO's budget burns too fast.
//!
//! gRPC services use [`HttpMetrics::grpc_layer`] instead: each call lands in
//! `grpc_request_duration_seconds` (and `grpc_requests_total`, `grpc_request_errors_total`)
//! labelled by route (the method's path) and `grpc_code`, recorded when its `grpc-status`
//! is known (see [`crate::grpc`]), and in the SLOs as good unless it failed or was slow.

mod budget;
mod config;
mod endpoint;
mod grpc;
mod service;
mod store;

pub use budget::{Budget, SloStatus};
pub use config::{MetricsConfig, SloConfig};
pub use endpoint::MetricsEndpoint;
pub use grpc::{GrpcBody, GrpcMetricsLayer, GrpcMetricsService, GrpcResponseFuture};
pub use service::{MetricsLayer, MetricsService, ResponseFuture};
pub use store::{HttpMetrics, RouteTemplate};
