//! The simple detector: how far a point is from an exponentially weighted level, in units
//! of an exponentially weighted mean absolute deviation. Both are updated with the residual
//! clipped at `clip` deviations (a Huber update), so one spike neither drags the level nor
//! inflates the scale, while a lasting shift is absorbed in about `1/alpha` points.

use super::{squash, Detector};
use crate::Error;
use serde::{Deserialize, Serialize};

/// Settings of the EWMA residual detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EwmaConfig {
    /// Weight of a new point in the level. Default: 0.003 (a memory of about 300 points).
    pub alpha: f64,
    /// Weight of a new residual in the scale. Default: 0.0015.
    pub beta: f64,
    /// Residuals are clipped at this many deviations before they update level and scale.
    /// Default: 3.
    pub clip: f64,
    /// Points learned before any score above 0. Default: 30.
    pub warmup: usize,
    /// After a score of at least `alert_at`, this many points score 0, so that one
    /// incident is one alert. Default: 100.
    pub rest: usize,
    /// The score that starts a rest. Default: 0.9.
    pub alert_at: f64,
    /// Deviations (in robust standard deviations) are divided by this before scoring:
    /// the score is `1 − exp(−(z/scale)²/2)`. Default: 4.
    pub scale: f64,
}

impl Default for EwmaConfig {
    fn default() -> Self {
        EwmaConfig {
            alpha: 0.003,
            beta: 0.0015,
            clip: 3.0,
            warmup: 30,
            rest: 100,
            alert_at: 0.9,
            scale: 4.0,
        }
    }
}

impl EwmaConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        for (name, v) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::Config(format!(
                    "ewma.{name} must be in (0, 1], got {v}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.alert_at) {
            return Err(Error::Config(format!(
                "ewma.alert_at must be in [0, 1], got {}",
                self.alert_at
            )));
        }
        if !(self.scale > 0.0 && self.scale.is_finite()) {
            return Err(Error::Config(format!(
                "ewma.scale must be above 0, got {}",
                self.scale
            )));
        }
        if !(self.clip > 0.0 && self.clip.is_finite()) {
            return Err(Error::Config(format!(
                "ewma.clip must be above 0, got {}",
                self.clip
            )));
        }
        Ok(())
    }
}

/// Mean absolute deviation ÷ standard deviation for a normal distribution (√(2/π)).
const MAD_TO_SD: f64 = 0.797_884_560_802_865_4;

/// The EWMA residual detector's state: five numbers.
#[derive(Debug, Clone)]
pub struct Ewma {
    config: EwmaConfig,
    level: f64,
    mean_abs_dev: f64,
    seen: usize,
    since_alert: usize,
}

impl Ewma {
    /// A detector with no history.
    pub fn new(config: &EwmaConfig) -> Self {
        Ewma {
            config: config.clone(),
            level: 0.0,
            mean_abs_dev: 0.0,
            seen: 0,
            since_alert: usize::MAX,
        }
    }
}

impl Detector for Ewma {
    fn score(&mut self, _t: f64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        // Keep residuals finite even for values near f64::MAX.
        let value = value.clamp(-1e300, 1e300);
        self.seen += 1;
        if self.seen == 1 {
            self.level = value;
            return 0.0;
        }
        let residual = value - self.level;
        let sd = self.mean_abs_dev / MAD_TO_SD;
        // A floor on the deviation: a flat series has none, and any change to it is news.
        let floor = 1e-9 * self.level.abs().max(1e-9);
        let z = residual.abs() / sd.max(floor);
        // Learn faster at the start (running means), then exponentially.
        let n = self.seen as f64;
        let alpha = self.config.alpha.max(1.0 / n);
        let beta = self.config.beta.max(1.0 / n);
        let limit = self.config.clip * sd;
        let clipped = if self.seen > 3 && sd > 0.0 {
            residual.clamp(-limit, limit)
        } else {
            residual
        };
        self.level += alpha * clipped;
        self.mean_abs_dev += beta * (clipped.abs() - self.mean_abs_dev);
        if self.seen <= self.config.warmup {
            return 0.0;
        }
        let score = squash(z / self.config.scale);
        self.since_alert = self.since_alert.saturating_add(1);
        let resting = self.since_alert <= self.config.rest;
        if score >= self.config.alert_at {
            // An alert while resting extends the rest: the incident goes on.
            self.since_alert = 0;
        }
        if resting {
            0.0
        } else {
            score
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_scores_high_and_noise_low() {
        let mut d = Ewma::new(&EwmaConfig::default());
        let mut max_noise: f64 = 0.0;
        for i in 0..500 {
            let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
            max_noise = max_noise.max(d.score(i as f64, 10.0 + noise));
        }
        let spike = d.score(500.0, 30.0);
        assert!(
            spike > 0.99 && max_noise < 0.9,
            "spike {spike}, noise {max_noise}"
        );
    }
}
