//! ballast's baseline, anomaly and leak engine (*judge*): series in, judgements out.
//!
//! - [`detect`]: streaming anomaly detectors behind one [`Detector`] trait (one pass in time
//!   order, bounded memory, a score in [0, 1] per point), configured by [`DetectorConfig`]
//!   → `build()`: `novelty` (first visits to cells of the value range, its moving mean and
//!   its change over a period; the default) and `ewma`.
//! - [`nab`]: the Numenta Anomaly Benchmark's scoring, reproduced exactly, and a harness that
//!   runs a detector over a NAB-format corpus and writes NAB result files.
//! - [`baseline`]: seasonal baselines per slot of the day or week, and the SLO objective a
//!   series' history supports.
//! - [`trend`] and [`growth`]: leaks as trends (Theil–Sen slope, Mann–Kendall test, robust to
//!   GC sawtooth and restarts) and the heap-growth watch.
//! - [`watch`]: detectors run live on the series a [`SeriesSource`](ballast_core::SeriesSource)
//!   hands in (`ballast-http`'s Prometheus client, in the CLI), each anomaly also an
//!   Alertmanager-shaped alert. The engine opens no socket of its own.
//! - [`input`]: CSV series and NAB corpora, with errors naming file, line and field.
//!
//! ```
//! use ballast_anomaly::{trend, Detector, DetectorConfig, Series};
//!
//! // A queue depth with a rhythm, then a jump; both detectors see the jump and only it.
//! for name in ["novelty", "ewma"] {
//!     let config = DetectorConfig::named(name)?;
//!     let mut detector = config.build()?;
//!     let mut alerts = Vec::new();
//!     for i in 0..1500 {
//!         let value = if i == 1200 { 500.0 } else { 100.0 + (i % 7) as f64 };
//!         if detector.score(i as f64 * 60.0, value) >= config.recommended_threshold() {
//!             alerts.push(i);
//!         }
//!     }
//!     assert_eq!(alerts, vec![1200], "{name}");
//! }
//!
//! // Is it leaking? Goroutines growing by one a minute over six hours.
//! let goroutines = Series::new("go_goroutines", (0..360).map(|m| (m as f64 * 60.0, 40.0 + m as f64)));
//! let trend = trend::analyse(&goroutines, &Default::default(), Some(1000.0))?;
//! assert_eq!(trend.verdict, trend::Verdict::Growing);
//! assert!((trend.slope_per_hour - 60.0).abs() < 1e-9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod baseline;
pub mod detect;
mod error;
pub mod growth;
pub mod input;
pub mod nab;
/// Series and timestamps: the shared model of `ballast-core`.
pub use ballast_core::series;
pub mod trend;
pub mod watch;

pub use detect::{Detector, DetectorConfig};
pub use error::Error;
pub use series::{Point, Series};
