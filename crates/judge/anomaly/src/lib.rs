//! ballast's baseline, anomaly and leak engine (*judge*).
//!
//! - [`detect`]: streaming anomaly detectors (one pass, bounded memory, a score in [0, 1]
//!   per point) behind one [`Detector`] trait, configured by [`DetectorConfig`].
//! - [`nab`]: the Numenta Anomaly Benchmark's scoring, reproduced exactly, and a harness
//!   that runs a detector over a NAB-format corpus and writes NAB result files.
//! - [`input`]: CSV series and NAB corpora, with errors that name file, line and field.
//!
//! ```
//! use ballast_anomaly::{DetectorConfig, Detector};
//!
//! let mut detector = DetectorConfig::named("ewma")?.build()?;
//! let mut scores = Vec::new();
//! for i in 0..300 {
//!     let value = if i == 250 { 500.0 } else { 100.0 + (i % 7) as f64 };
//!     scores.push(detector.score(i as f64 * 60.0, value));
//! }
//! assert!(scores[250] > 0.99);
//! assert!(scores[200..250].iter().all(|s| *s < 0.9));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod alert;
pub mod baseline;
pub mod detect;
mod error;
pub mod growth;
pub mod input;
pub mod nab;
pub mod prom;
pub mod series;
pub mod trend;
pub mod watch;

pub use detect::{Detector, DetectorConfig};
pub use error::Error;
pub use series::{Point, Series};
