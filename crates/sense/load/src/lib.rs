//! ballast's HTTP load engine (*sense*): open- and closed-model load with
//! coordinated-omission-corrected latencies in mergeable HDR histograms.
//!
//! - [`LoadConfig`] is a run as data (the `ballast load` flags, or a contract phase);
//!   [`LoadConfig::build`] checks it into a [`LoadTest`].
//! - [`LoadTest::run`] sends the load and returns a [`Report`]: counts, status codes,
//!   errors by kind, latency (from the *due* time in the open model) and service time
//!   (from the actual send), a per-second timeline, and the histograms themselves.
//! - [`Report::merge`] combines the reports of shards of one run exactly.
//!
//! HTTP/1.1 goes through a small keep-alive client of our own (the generator must not be
//! the bottleneck); HTTP/2 through hyper; TLS through rustls.
//!
//! ```no_run
//! use ballast_load::{LoadConfig, Model, Stop};
//! use std::time::Duration;
//!
//! # async fn example() -> Result<(), ballast_load::Error> {
//! let mut config = LoadConfig::new("http://127.0.0.1:8080/");
//! config.model = Model::Open { rate: "500/s".parse()? };
//! config.stop = Stop::After(Duration::from_secs(5));
//! let report = config.build()?.run(std::future::pending(), |_| {}).await?;
//! println!("{}", report.summary());
//! # Ok(()) }
//! ```
//!
//! A full, runnable example against a real server is the crate's integration test
//! (`tests/load.rs`) and `ballast demo`.
#![deny(missing_docs)]

mod client;
mod config;
mod error;
mod mix;
mod recorder;
mod report;
mod request;
mod run;
mod schedule;

pub use ballast_spec::Target;
pub use ballast_spec::{template, RequestTemplate, TemplateBody};
pub use client::ErrorKind;
pub use config::{LoadConfig, Model, Shard, Stop};
pub use error::Error;
pub use report::{Mode, Percentiles, Report, RequestStats, HISTOGRAM_ENCODING, SCHEMA};
pub use run::{LoadTest, Progress};

/// Entry points for the fuzz targets in `fuzz/`: the parsers of outside input that are
/// not otherwise public. Not part of the stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses an HTTP/1.x response head the way the client does.
    pub fn parse_response_head(bytes: &[u8]) {
        crate::client::fuzz_parse_head(bytes);
    }
}
