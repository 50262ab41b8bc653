//! Seasonal baselines and the SLO objective they justify (`ballast baseline suggest`).
//!
//! The series is read over a window (7 days by default). Daily and weekly seasonality are
//! detected by autocorrelation at those lags (or configured); the baseline is then, per
//! slot of the day or week, the median and a band holding the slot's middle values. The
//! proposal turns the same data into an objective: cut the window into SLO windows (5
//! minutes), take each one's worst value, and pick the round threshold that history meets
//! at the objective while using only part of the error budget.

use crate::series::Series;
use crate::trend::median_in_place;
use crate::Error;
use ballast_core::duration_text;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;

/// Which seasonality to model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seasonality {
    /// Detect from the data.
    Auto,
    /// None: one slot.
    None,
    /// By time of day.
    Daily,
    /// By time of week.
    Weekly,
}

/// Whether lower or higher values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Latency, error ratio: the objective is an upper bound (`≤`).
    Below,
    /// Throughput, availability: the objective is a lower bound (`≥`).
    Above,
}

/// Settings of a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Seasonality. Default: auto.
    pub seasonality: Seasonality,
    /// Width of a slot of the day or week. Default: 1h.
    #[serde(with = "duration_text")]
    pub slot: Duration,
    /// The band holds this central share of each slot's values. Default: 0.98 (1st to
    /// 99th percentile).
    pub band: f64,
    /// Autocorrelation above which a seasonality is taken as present. Default: 0.3.
    pub min_autocorrelation: f64,
    /// SLO window the objective counts. Default: 5m.
    #[serde(with = "duration_text")]
    pub slo_window: Duration,
    /// Objective to propose, as a share of SLO windows. Default: 0.995.
    pub objective: f64,
    /// Share of the error budget history may use at the proposed threshold. Default: 0.5.
    pub budget_use: f64,
    /// Default: below.
    pub direction: Direction,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            seasonality: Seasonality::Auto,
            slot: Duration::from_secs(3600),
            band: 0.98,
            min_autocorrelation: 0.3,
            slo_window: Duration::from_secs(300),
            objective: 0.995,
            budget_use: 0.5,
            direction: Direction::Below,
        }
    }
}

impl BaselineConfig {
    fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.slot.is_zero()
            || self.slot.as_secs_f64() > DAY
            || DAY % self.slot.as_secs_f64() != 0.0
        {
            return bad(format!(
                "slot must divide a day evenly, got {:?}",
                self.slot
            ));
        }
        if !(self.band > 0.0 && self.band < 1.0) {
            return bad(format!("band must be in (0, 1), got {}", self.band));
        }
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return bad(format!(
                "objective must be in (0, 1), got {}",
                self.objective
            ));
        }
        if !(self.budget_use > 0.0 && self.budget_use <= 1.0) {
            return bad(format!(
                "budget_use must be in (0, 1], got {}",
                self.budget_use
            ));
        }
        if self.slo_window.is_zero() {
            return bad("slo_window must be above 0".into());
        }
        Ok(())
    }
}

/// One slot of the day or week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    /// `Mon 09:00` (weekly), `09:00` (daily), `all` (none). UTC.
    pub start: String,
    /// Median.
    pub expected: f64,
    /// Lower edge of the band.
    pub lower: f64,
    /// Upper edge of the band.
    pub upper: f64,
    /// Samples in the slot.
    pub samples: usize,
}

/// The objective the data supports, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// `≤` or `≥` this value.
    pub threshold: f64,
    /// Share of SLO windows that must meet it.
    pub objective: f64,
    /// Share that met it over the data.
    pub achieved: f64,
    /// SLO windows in the data.
    pub windows: usize,
    /// Windows that missed it.
    pub bad_windows: usize,
    /// Share of the error budget those used.
    pub budget_used: f64,
    /// The worst window's value.
    pub worst: f64,
    /// Quantiles of the window values: p50, p90, p99, p99.9.
    pub quantiles: [f64; 4],
}

/// A seasonal baseline and its proposed objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// The series.
    pub series: String,
    /// Samples read.
    pub samples: usize,
    /// Seconds from first to last.
    pub span_seconds: f64,
    /// The usual spacing of samples, seconds.
    pub step_seconds: f64,
    /// Autocorrelation at one day (`None`: under two days of data).
    pub daily_autocorrelation: Option<f64>,
    /// Autocorrelation at one week (`None`: under two weeks).
    pub weekly_autocorrelation: Option<f64>,
    /// The seasonality used.
    pub seasonality: Seasonality,
    /// Slot width, seconds.
    pub slot_seconds: f64,
    /// The slots, from midnight (Monday midnight when weekly), UTC.
    pub slots: Vec<Slot>,
    /// The direction of the objective.
    pub direction: Direction,
    /// The proposed objective.
    pub proposal: Objective,
    /// The same at other objectives (99 %, 99.9 %), for comparison.
    pub alternatives: Vec<Objective>,
}

impl Baseline {
    /// Builds the baseline of `series`.
    pub fn compute(series: &Series, config: &BaselineConfig) -> Result<Baseline, Error> {
        config.validate()?;
        let points: Vec<_> = series.points.iter().filter(|p| p.v.is_finite()).collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Err(Error::TooLittleData(format!("{}: no samples", series.name)));
        };
        let span = last.t - first.t;
        let windows_needed = 20.0 * config.slo_window.as_secs_f64();
        if points.len() < 20 || span < windows_needed {
            return Err(Error::TooLittleData(format!(
                "{}: a baseline needs at least 20 samples over 20 SLO windows ({}), got {} samples over {:.0} s",
                series.name,
                ballast_core::format_duration(Duration::from_secs_f64(windows_needed)),
                points.len(),
                span
            )));
        }
        let step = series.typical_step().unwrap_or(60.0);
        // Two periods of data are needed to see one repeat; the samples cover one step more
        // than first-to-last.
        let covered = span + step;
        let daily = (covered >= 2.0 * DAY).then(|| autocorrelation(series, step, DAY));
        let weekly = (covered >= 2.0 * WEEK).then(|| autocorrelation(series, step, WEEK));
        let seasonality = match config.seasonality {
            Seasonality::Auto => {
                if weekly.is_some_and(|a| a >= config.min_autocorrelation) {
                    Seasonality::Weekly
                } else if daily.is_some_and(|a| a >= config.min_autocorrelation) {
                    Seasonality::Daily
                } else {
                    Seasonality::None
                }
            }
            chosen => chosen,
        };
        let slot = config.slot.as_secs_f64();
        let (period, count) = match seasonality {
            Seasonality::Weekly => (WEEK, (WEEK / slot) as usize),
            Seasonality::Daily => (DAY, (DAY / slot) as usize),
            _ => (f64::INFINITY, 1),
        };
        let mut by_slot: Vec<Vec<f64>> = vec![Vec::new(); count];
        for p in &points {
            by_slot[slot_of(p.t, period, slot, count)].push(p.v);
        }
        let tail = (1.0 - config.band) / 2.0;
        let slots = by_slot
            .iter_mut()
            .enumerate()
            .map(|(i, values)| {
                values.sort_by(f64::total_cmp);
                Slot {
                    start: slot_label(i, seasonality, slot),
                    expected: quantile_sorted(values, 0.5),
                    lower: quantile_sorted(values, tail),
                    upper: quantile_sorted(values, 1.0 - tail),
                    samples: values.len(),
                }
            })
            .collect();
        let window_values = worst_per_window(series, config);
        let propose = |objective| objective_for(&window_values, objective, config);
        let alternatives = [0.99, 0.999]
            .into_iter()
            .filter(|o| (o - config.objective).abs() > 1e-12)
            .map(propose)
            .collect();
        Ok(Baseline {
            series: series.name.clone(),
            samples: points.len(),
            span_seconds: span,
            step_seconds: step,
            daily_autocorrelation: daily,
            weekly_autocorrelation: weekly,
            seasonality,
            slot_seconds: slot,
            slots,
            direction: config.direction,
            proposal: propose(config.objective),
            alternatives,
        })
    }
}

fn slot_of(t: f64, period: f64, slot: f64, count: usize) -> usize {
    if !period.is_finite() {
        return 0;
    }
    // Weeks start on Monday; the epoch was a Thursday (3 days after a Monday).
    let shifted = if period == WEEK { t + 3.0 * DAY } else { t };
    ((shifted.rem_euclid(period) / slot) as usize).min(count - 1)
}

fn slot_label(i: usize, seasonality: Seasonality, slot: f64) -> String {
    let start = i as f64 * slot;
    let hm = |s: f64| {
        format!(
            "{:02}:{:02}",
            (s / 3600.0) as u32 % 24,
            (s / 60.0) as u32 % 60
        )
    };
    match seasonality {
        Seasonality::Weekly => {
            let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][(start / DAY) as usize % 7];
            format!("{day} {}", hm(start % DAY))
        }
        Seasonality::Daily => hm(start),
        _ => "all".into(),
    }
}

/// Autocorrelation of the series at `lag` seconds, on a grid of `step` (gaps skipped).
fn autocorrelation(series: &Series, step: f64, lag: f64) -> f64 {
    let mut grid: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
    for p in &series.points {
        grid.insert((p.t / step).round() as i64, p.v);
    }
    let lag_steps = (lag / step).round() as i64;
    let mean = grid.values().sum::<f64>() / grid.len() as f64;
    let variance = grid.values().map(|v| (v - mean).powi(2)).sum::<f64>();
    if variance <= 0.0 {
        return 0.0;
    }
    let mut covariance = 0.0;
    let mut pairs = 0usize;
    for (k, v) in &grid {
        if let Some(w) = grid.get(&(k + lag_steps)) {
            covariance += (v - mean) * (w - mean);
            pairs += 1;
        }
    }
    if pairs == 0 {
        return 0.0;
    }
    // Scale by the pairs found, so gaps do not shrink it.
    (covariance / pairs as f64) / (variance / grid.len() as f64)
}

/// Each SLO window's worst value (max when lower is better, min when higher is).
fn worst_per_window(series: &Series, config: &BaselineConfig) -> Vec<f64> {
    let w = config.slo_window.as_secs_f64();
    let mut out: Vec<f64> = Vec::new();
    let mut current: Option<(i64, f64)> = None;
    for p in series.points.iter().filter(|p| p.v.is_finite()) {
        let k = (p.t / w).floor() as i64;
        current = match current {
            Some((ck, worst)) if ck == k => Some((
                ck,
                match config.direction {
                    Direction::Below => worst.max(p.v),
                    Direction::Above => worst.min(p.v),
                },
            )),
            Some((_, worst)) => {
                out.push(worst);
                Some((k, p.v))
            }
            None => Some((k, p.v)),
        };
    }
    out.extend(current.map(|c| c.1));
    out
}

fn objective_for(window_values: &[f64], objective: f64, config: &BaselineConfig) -> Objective {
    let mut sorted = window_values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // The threshold history meets at 1 − budget_use·(1 − objective), rounded outwards.
    let target = 1.0 - config.budget_use * (1.0 - objective);
    let (raw, threshold) = match config.direction {
        Direction::Below => {
            let q = quantile_sorted(&sorted, target);
            (q, round_up(q))
        }
        Direction::Above => {
            let q = quantile_sorted(&sorted, 1.0 - target);
            (q, round_down(q))
        }
    };
    debug_assert!(raw.is_nan() || threshold.is_finite());
    let bad_windows = sorted
        .iter()
        .filter(|&&v| match config.direction {
            Direction::Below => v > threshold,
            Direction::Above => v < threshold,
        })
        .count();
    let windows = sorted.len();
    let achieved = 1.0 - bad_windows as f64 / windows.max(1) as f64;
    let q = |p| quantile_sorted(&sorted, p);
    Objective {
        threshold,
        objective,
        achieved,
        windows,
        bad_windows,
        budget_used: (1.0 - achieved) / (1.0 - objective),
        worst: match config.direction {
            Direction::Below => sorted.last().copied().unwrap_or(f64::NAN),
            Direction::Above => sorted.first().copied().unwrap_or(f64::NAN),
        },
        quantiles: [q(0.5), q(0.9), q(0.99), q(0.999)],
    }
}

/// Linear interpolation between closest ranks.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Rounds up to two significant digits: 0.1734 → 0.18, 1234 → 1300.
pub fn round_up(x: f64) -> f64 {
    round_to_two_digits(x, f64::ceil)
}

/// Rounds down to two significant digits: 0.1734 → 0.17.
pub fn round_down(x: f64) -> f64 {
    round_to_two_digits(x, f64::floor)
}

fn round_to_two_digits(x: f64, f: fn(f64) -> f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    // Scale by an exact power of ten and divide back, so 0.18 comes out as 0.18; round the
    // scaled value first so that 17.999999999 is 18, not 19 when rounding up.
    let exponent = x.abs().log10().floor() as i32 - 1;
    let power = 10f64.powi(exponent.abs());
    let scaled = if exponent < 0 { x * power } else { x / power };
    let scaled = f((scaled * 1e9).round() / 1e9);
    if exponent < 0 {
        scaled / power
    } else {
        scaled * power
    }
}

/// The middle value (NaN for none).
pub fn median(values: &[f64]) -> f64 {
    median_in_place(&mut values.to_vec())
}

mod render;

#[cfg(test)]
mod tests;
