//! The stronger detector, chosen by its NAB score (docs/ANOMALY.md): **has the series ever
//! been here before?**
//!
//! The value range seen during a warm-up defines a grid of cells; each point falls in one,
//! and a point in a cell never visited before is news. Three channels watch the series: the
//! value itself; its mean over a short window (which turns a change in the density of spikes
//! or in the level of a noisy series into a new cell); and, when the warm-up repeats itself,
//! the change from one period ago ([`season`]: a missing daily jump is news although each
//! value is ordinary). Grids are linear inside the warm-up range and logarithmic beyond it
//! (`asinh`), so values far outside it share wide cells: a second spike of a size already
//! seen is not news again, a bigger one is.
//!
//! Two filters keep drift from paging: a first visit to a cell next to a known one counts
//! only when the series *jumped* there (a step at least 1.5 times the warm-up's 75th
//! percentile step; creeping into it is drift), and the detector **habituates**: each alert
//! scores `s / (1 + 0.5·r)`, where `r` counts recent alerts (decaying over one warm-up), so
//! a series that keeps finding new cells is trusted less. After an alert the detector rests
//! (outputs 0) for 12 % of the warm-up, so one incident is one alert, not one per point.
//!
//! Why this and not a prediction error: on NAB, scoring "first visit to a state" beat
//! residual tests (EWMA, EVT tails), higher-order context models and ART-style prototype
//! matching that we measured; it is also O(1) per point with a few kilobytes per series.

mod channel;
mod season;
#[cfg(test)]
mod tests;

use super::Detector;
use crate::Error;
use channel::Channel;
use season::Season;
use serde::{Deserialize, Serialize};

/// Settings of the novelty detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoveltyConfig {
    /// Points learned before anything is scored. Default: none given, so NAB's rule for a
    /// series of known length (15 % of it, at most 750), or 750.
    pub warmup: Option<usize>,
    /// Cells across the warm-up range on the value channel. Default: 12.
    pub levels: f64,
    /// Cells across the warm-up range on the mean channel. Default: 3.
    pub mean_levels: f64,
    /// Points averaged by the mean channel; 0 turns it off. Default: 120.
    pub mean_window: usize,
    /// How fast cells widen beyond the warm-up range (`asinh(z·c)/asinh(c)`; near 0 is
    /// linear). Default: 1.
    pub compress: f64,
    /// Quiet period after an alert, as a share of the warm-up. Default: 0.12.
    pub rest: f64,
    /// A first visit to a value cell next to a known one is news only when the step to it
    /// is at least this many times the warm-up's 75th-percentile step; 0 counts every
    /// one. Default: 1.5.
    pub min_step: f64,
    /// How much recent alerts damp the next: scores are divided by `1 + habituation·r`,
    /// `r` the alerts so far, each decaying with a time constant of `habituation_span`
    /// warm-ups; 0 turns it off. Default: 0.5.
    pub habituation: f64,
    /// See `habituation`. Default: 1.
    pub habituation_span: f64,
    /// Cells across the warm-up range of the change over a period. Default: 9.
    pub season_levels: f64,
    /// The autocorrelation at the period the warm-up needs for the seasonal channel to
    /// run; above 1 turns it off. Default: 0.7.
    pub season_correlation: f64,
    /// The shortest period looked for, in points (shorter lags correlate in any smooth
    /// series). Default: 24.
    pub season_min_lag: usize,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        NoveltyConfig {
            warmup: None,
            levels: 12.0,
            mean_levels: 3.0,
            mean_window: 120,
            compress: 1.0,
            rest: 0.12,
            min_step: 1.5,
            habituation: 0.5,
            habituation_span: 1.0,
            season_levels: 9.0,
            season_correlation: 0.7,
            season_min_lag: 24,
        }
    }
}

impl NoveltyConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(format!("novelty.{m}")));
        if self.warmup.is_some_and(|w| !(10..=100_000).contains(&w)) {
            return bad(format!(
                "warmup must be between 10 and 100000 points, got {}",
                self.warmup.unwrap_or_default()
            ));
        }
        for (name, v) in [
            ("levels", self.levels),
            ("mean_levels", self.mean_levels),
            ("season_levels", self.season_levels),
        ] {
            if !(1.0..=1000.0).contains(&v) {
                return bad(format!("{name} must be between 1 and 1000, got {v}"));
            }
        }
        if self.mean_window > 10_000 {
            return bad(format!(
                "mean_window must be at most 10000, got {}",
                self.mean_window
            ));
        }
        if !(self.compress > 0.0 && self.compress <= 100.0) {
            return bad(format!(
                "compress must be in (0, 100], got {}",
                self.compress
            ));
        }
        for (name, v) in [
            ("rest", self.rest),
            ("min_step", self.min_step),
            ("habituation", self.habituation),
        ] {
            if !(0.0..=10.0).contains(&v) {
                return bad(format!("{name} must be between 0 and 10, got {v}"));
            }
        }
        if !(self.habituation_span > 0.0 && self.habituation_span <= 100.0) {
            return bad(format!(
                "habituation_span must be in (0, 100], got {}",
                self.habituation_span
            ));
        }
        if !(-1.0..=2.0).contains(&self.season_correlation) {
            return bad(format!(
                "season_correlation must be between -1 and 2, got {}",
                self.season_correlation
            ));
        }
        if !(1..=season::MAX_PERIOD).contains(&self.season_min_lag) {
            return bad(format!(
                "season_min_lag must be between 1 and {}, got {}",
                season::MAX_PERIOD,
                self.season_min_lag
            ));
        }
        Ok(())
    }
}

/// The novelty detector's state: two channels of a few hundred bytes each, the seasonal
/// one when the warm-up has a period, and the warm-up's features until the grids are fixed.
#[derive(Debug, Clone)]
pub struct Novelty {
    config: NoveltyConfig,
    warmup: usize,
    rest: usize,
    seen: usize,
    since_alert: usize,
    /// The value channel first, then the mean channel (when on).
    channels: Vec<Channel>,
    season: Option<Season>,
    /// The last value (for the step to the next one).
    last: Option<f64>,
    /// Steps during the warm-up, then (empty) the typical step they give.
    steps: Vec<f64>,
    typical_step: f64,
    /// Recent alerts, decaying by `decay` a point.
    recent_alerts: f64,
    decay: f64,
}

impl Novelty {
    /// A detector for a series of `rows` points (0 when unknown).
    pub fn new(config: &NoveltyConfig, rows: usize) -> Self {
        let warmup = config.warmup.unwrap_or(if rows > 0 {
            crate::nab::probationary_length(rows).max(10)
        } else {
            750
        });
        let mut channels = vec![Channel::new(config.levels, config.compress, 0.6, 1)];
        if config.mean_window > 1 {
            channels.push(Channel::new(
                config.mean_levels,
                config.compress,
                0.5,
                config.mean_window,
            ));
        }
        for c in &mut channels {
            c.warm.reserve_exact(warmup);
        }
        Novelty {
            config: config.clone(),
            warmup,
            rest: (warmup as f64 * config.rest).round() as usize,
            seen: 0,
            since_alert: usize::MAX,
            channels,
            season: None,
            last: None,
            steps: Vec::with_capacity(warmup),
            typical_step: 0.0,
            recent_alerts: 0.0,
            decay: (-1.0 / (config.habituation_span * warmup as f64)).exp(),
        }
    }

    /// At the end of the warm-up: the typical step, and the seasonal channel if the
    /// warm-up has a period. Called before the channels fit (the value channel's warm-up
    /// features are the values themselves).
    fn fit(&mut self) {
        let mut steps = std::mem::take(&mut self.steps);
        steps.sort_by(f64::total_cmp);
        self.typical_step = steps
            .get((steps.len() as f64 * 0.75) as usize)
            .copied()
            .unwrap_or(0.0);
        if self.config.season_correlation <= 1.0 {
            let channel = Channel::new(self.config.season_levels, self.config.compress, 0.4, 1);
            self.season = Season::fit(
                &self.channels[0].warm,
                self.config.season_min_lag,
                self.config.season_correlation,
                channel,
            );
        }
    }

    /// Whether a step of `step` is a jump (rather than drift) for this series.
    fn is_jump(&self, step: f64) -> bool {
        let z = if self.typical_step > 0.0 {
            step / self.typical_step
        } else if step == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        z >= self.config.min_step
    }
}

impl Detector for Novelty {
    fn score(&mut self, _t: f64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        // Keep arithmetic finite for values near f64::MAX.
        let value = value.clamp(-1e300, 1e300);
        let step = self.last.replace(value).map(|last| (value - last).abs());
        self.seen += 1;
        let warming = self.seen <= self.warmup;
        if warming {
            self.steps.extend(step);
            for channel in &mut self.channels {
                let f = channel.feature(value);
                channel.warm.extend(f);
            }
            if self.seen == self.warmup {
                self.fit();
                for channel in &mut self.channels {
                    channel.fit();
                }
            }
            return 0.0;
        }
        let (mut score, mut news) = match &mut self.season {
            Some(season) => season.score(value),
            None => (0.0, false),
        };
        let jump = self.is_jump(step.unwrap_or(0.0));
        for (i, channel) in self.channels.iter_mut().enumerate() {
            let f = channel.feature(value);
            let (Some(f), true) = (f, channel.ready) else {
                continue;
            };
            // Farther from anything seen scores higher: 1 cell away gives the base. Creeping
            // into the value cell next door is drift: visited, but not news.
            if let Some(d) = channel.first_visit(f) {
                news |= i == 0;
                if i > 0 || d > 1 || jump {
                    score = score.max(channel.base + 0.4 * (1.0 - 1.0 / f64::from(d)));
                }
            }
        }
        if news {
            // A value in a new cell (or a new change from a period ago) is no reference for
            // the change one period later.
            if let Some(season) = &mut self.season {
                season.mark_news();
            }
        }
        self.since_alert = self.since_alert.saturating_add(1);
        self.recent_alerts *= self.decay;
        let resting = self.since_alert <= self.rest;
        if score > 0.0 {
            // A new cell while resting extends the rest: the incident is still going on.
            self.since_alert = 0;
        }
        if resting || score == 0.0 {
            return 0.0;
        }
        let damped = score / (1.0 + self.config.habituation * self.recent_alerts);
        self.recent_alerts += 1.0;
        damped
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.steps.capacity() * 8
            + self
                .channels
                .iter()
                .map(Channel::memory_bytes)
                .sum::<usize>()
            + self.season.as_ref().map_or(0, Season::memory_bytes)
    }
}
