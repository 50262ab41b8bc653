//! Streaming anomaly detectors: one pass in time order, bounded memory per series, each
//! point scored in [0, 1] before the next is read. A threshold turns scores into alerts.
//!
//! - [`ewma`]: a robust EWMA residual (Huber-clipped level and scale), cheap and simple.
//! - [`ensemble`]: the stronger detector, chosen by its NAB score.

pub mod ewma;
#[doc(hidden)]
pub mod lab;

use crate::Error;
use serde::{Deserialize, Serialize};

/// A streaming detector of one series.
pub trait Detector: Send {
    /// Scores the point at `t` (seconds; never decreasing) with value `value`: 0 normal ..
    /// 1 anomalous. Non-finite values are skipped (scored 0) without touching the state.
    fn score(&mut self, t: f64, value: f64) -> f64;
    /// Bytes of state the detector holds (fixed after construction).
    fn memory_bytes(&self) -> usize;
}

/// Which detector, with its settings (`{"kind": "ewma", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum DetectorConfig {
    /// Robust EWMA residual.
    Ewma(ewma::EwmaConfig),
    /// Development only.
    #[doc(hidden)]
    Lab(lab::LabConfig),
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig::Ewma(ewma::EwmaConfig::default())
    }
}

impl DetectorConfig {
    /// The built-in detectors by name, with their default settings.
    pub fn named(name: &str) -> Result<DetectorConfig, Error> {
        match name {
            "ewma" => Ok(DetectorConfig::Ewma(Default::default())),
            other => Err(Error::Config(format!(
                "unknown detector {other:?}; built in: {}",
                Self::NAMES.join(", ")
            ))),
        }
    }

    /// Names [`named`](Self::named) accepts.
    pub const NAMES: &'static [&'static str] = &["ewma"];

    /// The detector's name.
    pub fn name(&self) -> &'static str {
        match self {
            DetectorConfig::Ewma(_) => "ewma",
            DetectorConfig::Lab(_) => "lab",
        }
    }

    /// The threshold NAB's standard profile chose for this detector over the development
    /// corpus (docs/ANOMALY.md): a sensible default for alerts.
    pub fn recommended_threshold(&self) -> f64 {
        match self {
            DetectorConfig::Ewma(_) => 0.99,
            DetectorConfig::Lab(_) => 0.99,
        }
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            DetectorConfig::Ewma(c) => c.validate(),
            DetectorConfig::Lab(c) => c.validate(),
        }
    }

    /// A detector for a series (after [`validate`](Self::validate)).
    pub fn build(&self) -> Result<Box<dyn Detector>, Error> {
        self.validate()?;
        Ok(self.build_for(0))
    }

    /// A detector for a series expected to hold `rows` points (0: unknown). NAB hands every
    /// detector its file's probationary length; this is where it enters.
    pub(crate) fn build_for(&self, rows: usize) -> Box<dyn Detector> {
        match self {
            DetectorConfig::Ewma(c) => Box::new(ewma::Ewma::new(c)),
            DetectorConfig::Lab(c) => Box::new(lab::Lab::new(c, rows)),
        }
    }
}

/// Maps a non-negative surprise `z` (in robust standard deviations) to a score in [0, 1):
/// `1 − exp(−z²/2)`-shaped but computed so that huge or non-finite values give 1, not NaN.
pub(crate) fn squash(z: f64) -> f64 {
    if z.is_nan() {
        return 0.0;
    }
    let z = z.abs().min(1e6);
    1.0 - (-0.5 * z * z).exp()
}
