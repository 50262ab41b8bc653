//! Resilience and SLO middleware for Rust services, as tower layers.
#![deny(missing_docs)]

pub mod breaker;
mod clock;
mod duration_text;
mod error;
pub mod fallback;
pub mod limit;
pub mod metrics;
pub mod runtime;

pub use clock::Clock;
pub use error::Error;
