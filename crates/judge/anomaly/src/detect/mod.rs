//! Streaming anomaly detectors: one pass over a series in the order it holds its points
//! (time order, or file order where a file is kept as written), bounded memory per series,
//! each point scored in [0, 1] before the next is read. A threshold turns scores into alerts.
//!
//! - [`ewma`]: a robust EWMA residual (Huber-clipped level and scale), cheap and simple.
//! - [`novelty`]: first visits to cells of the value range, on the value, on its moving
//!   mean and on its change over the warm-up's period, damped in series that alert often;
//!   the stronger one and the default, chosen by its NAB score (docs/ANOMALY.md).

pub mod ewma;
pub mod novelty;

use crate::Error;
use serde::{Deserialize, Serialize};

/// A streaming detector of one series.
pub trait Detector: Send {
    /// Scores the next point, at `t` (seconds) with value `value`: 0 normal .. 1 anomalous.
    /// Points come in the series' order, so `t` may repeat, and steps back where a file is
    /// kept in file order (NAB mode, `--unordered keep`); the detectors here learn from the
    /// order of the calls and do not read `t`. Non-finite values are skipped (scored 0)
    /// without touching the state.
    fn score(&mut self, t: f64, value: f64) -> f64;
    /// Bytes of state the detector holds now (bounded: it never grows with the series).
    fn memory_bytes(&self) -> usize;
}

/// Which detector, with its settings (`{"kind": "ewma", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DetectorConfig {
    /// Robust EWMA residual.
    Ewma(ewma::EwmaConfig),
    /// First visits to cells of the value range (the stronger one).
    Novelty(novelty::NoveltyConfig),
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig::Novelty(novelty::NoveltyConfig::default())
    }
}

impl DetectorConfig {
    /// The built-in detectors by name, with their default settings.
    pub fn named(name: &str) -> Result<DetectorConfig, Error> {
        match name {
            "ewma" => Ok(DetectorConfig::Ewma(Default::default())),
            "novelty" => Ok(DetectorConfig::Novelty(Default::default())),
            other => Err(Error::Config(format!(
                "unknown detector {other:?}; built in: {}",
                Self::NAMES.join(", ")
            ))),
        }
    }

    /// Reads a config from JSON (`{"kind": "novelty", "levels": 12}`). The error names
    /// the file, line and column; for an unknown or misspelt key, those of the key.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<DetectorConfig, Error> {
        serde_json::from_str(text).map_err(|e| {
            // An internally tagged enum is buffered before its fields are read, so serde
            // reports no position for them; find the key named in the message instead.
            let (mut line, mut column) = (e.line(), e.column());
            let message = e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string();
            if line == 0 {
                let key = message
                    .split('`')
                    .nth(1)
                    .and_then(|k| text.find(&format!("\"{k}\"")));
                let offset = key.unwrap_or(0);
                line = text[..offset].matches('\n').count() + 1;
                column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
            }
            Error::Json {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })
    }

    /// Names [`named`](Self::named) accepts.
    pub const NAMES: &'static [&'static str] = &["novelty", "ewma"];

    /// The detector's name.
    pub fn name(&self) -> &'static str {
        match self {
            DetectorConfig::Ewma(_) => "ewma",
            DetectorConfig::Novelty(_) => "novelty",
        }
    }

    /// The threshold NAB's standard profile chose for this detector over the development
    /// corpus (docs/ANOMALY.md): a sensible default for alerts.
    pub fn recommended_threshold(&self) -> f64 {
        match self {
            // NAB standard profile, development corpus: 0.8681 and 0.2733 (docs/ANOMALY.md);
            // the next lower novelty score on the corpus is 0.2724.
            DetectorConfig::Ewma(_) => 0.87,
            DetectorConfig::Novelty(_) => 0.273,
        }
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            DetectorConfig::Ewma(c) => c.validate(),
            DetectorConfig::Novelty(c) => c.validate(),
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
            DetectorConfig::Novelty(c) => Box::new(novelty::Novelty::new(c, rows)),
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

#[cfg(test)]
mod tests;
