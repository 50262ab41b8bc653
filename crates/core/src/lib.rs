//! The signal model every ballast engine shares.
//!
//! ballast is a pipeline — *sense → judge → act* (see `DESIGN.md`). Engines that sense
//! (the load generator, scrapers) produce the types defined here; engines that judge
//! (contracts, SLOs, baselines) consume them. Defining them once keeps the results of
//! different engines, machines and shards mergeable.
//!
//! - [`LatencyHistogram`]: an HDR histogram fixed to 1 µs .. 60 s at 3 significant
//!   digits, with an exact, portable text encoding (HDR V2, deflate, base64).
//! - [`Rate`] and [`RateSpec`]: request rates such as `500/s` or a ramp `100/s..2000/s`.
//! - [`parse_duration`]: durations such as `250ms`, `1.5s`, `1m30s`.
//! - [`TimelinePoint`]: one second of a run.
//! - [`profile`]: pprof profiles and goroutine dumps, whatever format they were read from.
//!
//! ```
//! use ballast_core::{parse_duration, LatencyHistogram, RateSpec};
//! use std::time::Duration;
//!
//! let spec: RateSpec = "100/s..300/s".parse()?;
//! assert_eq!(spec.at_fraction(0.5).per_second(), 200.0);
//!
//! let mut h = LatencyHistogram::new();
//! h.record(parse_duration("12ms")?);
//! let copy = LatencyHistogram::decode(&h.encode())?;
//! assert_eq!(copy.len(), 1);
//! assert!(copy.quantile(0.99) >= Duration::from_micros(11_990));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod alert;
mod error;
mod histogram;
pub mod profile;
mod rate;
pub mod series;
mod signal;
pub mod source;
pub mod stats;
mod timeline;
mod units;

pub use error::Error;
pub use histogram::LatencyHistogram;
pub use rate::{Rate, RateSpec};
pub use series::{Point, Series};
pub use signal::Signal;
pub use source::{SeriesSource, SourceError};
pub use timeline::TimelinePoint;
pub use units::{
    duration_text, format_bytes, format_duration, parse_bytes, parse_duration, parse_percent,
};
