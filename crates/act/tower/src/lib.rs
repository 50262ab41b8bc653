//! Resilience and SLO middleware for Rust services, as tower layers.
#![deny(missing_docs)]

pub mod breaker;
mod clock;
mod error;

pub use clock::Clock;
pub use error::Error;
