//! Leaks as trends, not thresholds: is a gauge (goroutines, tokio tasks, heap in use, RSS,
//! open fds) growing? A Theil–Sen slope (the median of pairwise slopes: robust to a third
//! of wild points) says how fast; a Mann–Kendall test (are later points larger than
//! earlier ones more often than chance allows?) says whether the growth is real.
//!
//! Two things fool a naive test, and both are handled before it runs:
//! - **GC sawtooth.** Heap climbs between collections and drops at each. Within a tooth
//!   every pair of points is increasing, so a test on raw samples sees growth in a healthy
//!   heap. The series is cut into buckets and each bucket keeps its *minimum* (the trough:
//!   what survives collection), which is flat unless live memory grows.
//! - **Restarts.** A restarted process starts again from its base level. A bucket minimum
//!   that falls by more than half (and by much more than buckets usually move) starts a new
//!   segment; the test and the slope use pairs within
//!   segments only (as the seasonal Kendall test does across seasons), so a leak that
//!   restarts keep hiding is still seen, and a restart is neither growth nor shrinkage.

use crate::series::{Point, Series};
use crate::Error;
use serde::{Deserialize, Serialize};

/// Settings of the trend test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendConfig {
    /// Significance level of the Mann–Kendall test. Default: 0.001: a fleet of hundreds of
    /// healthy series tested every hour must not page anyone by chance.
    pub alpha: f64,
    /// Smallest change over the window, relative to the series' median, that counts as
    /// growth or shrinkage (a significant but small drift is "stable"). Default: 0.2.
    pub min_relative_change: f64,
    /// Buckets the window is cut into (each keeps its minimum). Default: 24.
    pub buckets: usize,
    /// A bucket minimum that falls by more than this fraction of the previous one (and by
    /// more than four times the mean change between buckets) is a restart. Default: 0.5.
    pub restart_drop: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            alpha: 0.001,
            min_relative_change: 0.2,
            buckets: 24,
            restart_drop: 0.5,
        }
    }
}

impl TrendConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(Error::Config(format!(
                "alpha must be in (0, 0.5), got {}",
                self.alpha
            )));
        }
        if !(self.min_relative_change >= 0.0 && self.min_relative_change.is_finite()) {
            return Err(Error::Config(
                "min_relative_change must be 0 or more".into(),
            ));
        }
        if !(8..=10_000).contains(&self.buckets) {
            return Err(Error::Config(format!(
                "buckets must be between 8 and 10000, got {}",
                self.buckets
            )));
        }
        if !(self.restart_drop > 0.0 && self.restart_drop < 1.0) {
            return Err(Error::Config("restart_drop must be in (0, 1)".into()));
        }
        Ok(())
    }
}

/// What the test concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Significant growth, large enough to matter.
    Growing,
    /// No significant trend, or a negligible one.
    Stable,
    /// Significant decrease.
    Shrinking,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Growing => "growing",
            Verdict::Stable => "stable",
            Verdict::Shrinking => "shrinking",
        })
    }
}

/// The trend of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The series.
    pub series: String,
    /// The conclusion.
    pub verdict: Verdict,
    /// Theil–Sen slope, units per hour.
    pub slope_per_hour: f64,
    /// Change over the window ÷ median level.
    pub relative_change: f64,
    /// Mann–Kendall statistic S (concordant − discordant pairs).
    pub mann_kendall_s: f64,
    /// Its normal score.
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Kendall's tau (S ÷ pairs).
    pub tau: f64,
    /// Samples read.
    pub samples: usize,
    /// Buckets tested.
    pub buckets: usize,
    /// Seconds from the first to the last sample.
    pub span_seconds: f64,
    /// Restarts found (and stitched over).
    pub restarts: usize,
    /// The trend line's value at the last sample.
    pub fitted_last: f64,
    /// With a limit, and growing: hours until the trend line reaches it.
    pub hours_to_limit: Option<f64>,
}

/// Fewest buckets a verdict rests on: with 8, a perfectly monotone series is significant at
/// 0.1 %, the default level; with fewer it never could be.
const MIN_BUCKETS: usize = 8;

/// Tests `series` for a trend; `limit` (same units) adds the projected time to reach it.
pub fn analyse(series: &Series, config: &TrendConfig, limit: Option<f64>) -> Result<Trend, Error> {
    config.validate()?;
    let points: Vec<Point> = series
        .points
        .iter()
        .copied()
        .filter(|p| p.v.is_finite())
        .collect();
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) if l.t > f.t && points.len() >= 8 => (*f, *l),
        _ => {
            return Err(Error::TooLittleData(format!(
                "{}: a trend needs at least 8 samples over some time, got {}",
                series.name,
                points.len()
            )))
        }
    };
    let segments = segmented_bucket_minima(&points, config);
    let buckets: usize = segments.iter().map(Vec::len).sum();
    if buckets < MIN_BUCKETS {
        return Err(Error::TooLittleData(format!(
            "{}: only {buckets} buckets hold samples (a sawtooth needs a whole tooth per bucket); a trend needs {MIN_BUCKETS}",
            series.name
        )));
    }
    let restarts = segments.len() - 1;
    let slope = theil_sen(&segments);
    let mk = mann_kendall(&segments);
    let mut levels: Vec<f64> = segments.iter().flatten().map(|p| p.v).collect();
    let median = median_in_place(&mut levels);
    let last_segment = &segments[segments.len() - 1];
    let intercept = {
        let mut residuals: Vec<f64> = last_segment
            .iter()
            .map(|p| p.v - slope * (p.t - first.t))
            .collect();
        median_in_place(&mut residuals)
    };
    let span = last.t - first.t;
    let relative_change = slope * span / median.abs().max(f64::MIN_POSITIVE);
    let significant = mk.p_value < config.alpha;
    let verdict = if significant && slope > 0.0 && relative_change >= config.min_relative_change {
        Verdict::Growing
    } else if significant && slope < 0.0 && -relative_change >= config.min_relative_change {
        Verdict::Shrinking
    } else {
        Verdict::Stable
    };
    let fitted_last = intercept + slope * span;
    let hours_to_limit = match (limit, verdict) {
        (Some(l), Verdict::Growing) if slope > 0.0 => {
            Some(((l - fitted_last) / slope).max(0.0) / 3600.0)
        }
        _ => None,
    };
    Ok(Trend {
        series: series.name.clone(),
        verdict,
        slope_per_hour: slope * 3600.0,
        relative_change,
        mann_kendall_s: mk.s,
        z: mk.z,
        p_value: mk.p_value,
        tau: mk.tau,
        samples: points.len(),
        buckets,
        span_seconds: span,
        restarts,
        fitted_last,
        hours_to_limit,
    })
}

/// Bucket minima (each at the time of its minimum), cut into segments at restarts.
fn segmented_bucket_minima(points: &[Point], config: &TrendConfig) -> Vec<Vec<Point>> {
    let (t0, t1) = (points[0].t, points[points.len() - 1].t);
    // A bucket must hold a whole tooth of a sawtooth, or its minimum climbs the tooth.
    let buckets = match sawtooth_period(points) {
        Some(period) => (((t1 - t0) / period) as usize).clamp(1, config.buckets),
        None => config.buckets,
    };
    let width = (t1 - t0) / buckets as f64;
    let mut minima: Vec<Option<Point>> = vec![None; buckets];
    for p in points {
        let b = (((p.t - t0) / width) as usize).min(buckets - 1);
        if minima[b].is_none_or(|m| p.v < m.v) {
            minima[b] = Some(*p);
        }
    }
    let minima: Vec<Point> = minima.into_iter().flatten().collect();
    // The mean, not the median: counts (goroutines) often have equal minima in a row,
    // which would make any fall look large.
    let moves: Vec<f64> = minima.windows(2).map(|w| (w[1].v - w[0].v).abs()).collect();
    let typical_move = moves.iter().sum::<f64>() / moves.len().max(1) as f64;
    let mut segments: Vec<Vec<Point>> = vec![Vec::new()];
    for (i, m) in minima.iter().enumerate() {
        if i > 0 {
            let previous = minima[i - 1].v;
            let fall = previous - m.v;
            if previous > 0.0 && fall > config.restart_drop * previous && fall > 4.0 * typical_move
            {
                segments.push(Vec::new());
            }
        }
        segments.last_mut().expect("never empty").push(*m);
    }
    segments
}

/// The period of a sawtooth, if the series has one: the median time between drops, a
/// drop being a fall between neighbouring samples larger than 4 times the median absolute
/// step (a collection, not noise). A sawtooth also climbs between its drops: other steps
/// must go up at least twice as often as down, which tells a heap apart from a count that
/// merely jitters (goroutines coming and going drop sharply too). `None` with fewer than
/// three drops, or when drops are so frequent that they are just noise.
fn sawtooth_period(points: &[Point]) -> Option<f64> {
    let mut steps: Vec<f64> = points.windows(2).map(|w| (w[1].v - w[0].v).abs()).collect();
    let typical = median_in_place(&mut steps);
    if typical.is_nan() || typical <= 0.0 {
        return None;
    }
    let is_drop = |w: &[Point]| w[0].v - w[1].v > 4.0 * typical;
    let drops: Vec<f64> = points
        .windows(2)
        .filter(|w| is_drop(w))
        .map(|w| w[1].t)
        .collect();
    let rises = points.windows(2).filter(|w| w[1].v > w[0].v).count();
    let falls = points
        .windows(2)
        .filter(|w| w[1].v < w[0].v && !is_drop(w))
        .count();
    if drops.len() < 3 || drops.len() * 4 > points.len() || rises < 2 * falls {
        return None;
    }
    let mut gaps: Vec<f64> = drops.windows(2).map(|w| w[1] - w[0]).collect();
    Some(median_in_place(&mut gaps))
}

/// Theil–Sen slope: the median of the slopes of all pairs with distinct times, pairs
/// taken within each segment.
pub fn theil_sen(segments: &[Vec<Point>]) -> f64 {
    let mut slopes = Vec::new();
    for points in segments {
        for (i, a) in points.iter().enumerate() {
            for b in &points[i + 1..] {
                if b.t != a.t {
                    slopes.push((b.v - a.v) / (b.t - a.t));
                }
            }
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    median_in_place(&mut slopes)
}

/// The Mann–Kendall test's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    /// Concordant minus discordant pairs.
    pub s: f64,
    /// Normal score (with continuity correction).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// S over the number of pairs.
    pub tau: f64,
}

/// Mann–Kendall trend test with the tie correction of its variance; with several
/// segments, their statistics and variances are summed (seasonal Kendall).
pub fn mann_kendall(segments: &[Vec<Point>]) -> MannKendall {
    let (mut s, mut variance, mut pairs) = (0.0, 0.0, 0.0);
    for points in segments {
        let n = points.len() as f64;
        for (i, a) in points.iter().enumerate() {
            for b in &points[i + 1..] {
                s += match b.v.partial_cmp(&a.v) {
                    Some(std::cmp::Ordering::Greater) => 1.0,
                    Some(std::cmp::Ordering::Less) => -1.0,
                    _ => 0.0,
                };
            }
        }
        let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
        values.sort_by(f64::total_cmp);
        let mut ties = 0.0;
        let mut run = 1.0;
        for w in values.windows(2) {
            if w[0] == w[1] {
                run += 1.0;
            } else {
                ties += run * (run - 1.0) * (2.0 * run + 5.0);
                run = 1.0;
            }
        }
        ties += run * (run - 1.0) * (2.0 * run + 5.0);
        variance += (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0;
        pairs += n * (n - 1.0) / 2.0;
    }
    let z = if variance <= 0.0 {
        0.0
    } else if s > 0.0 {
        (s - 1.0) / variance.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / variance.sqrt()
    } else {
        0.0
    };
    MannKendall {
        s,
        z,
        p_value: (2.0 * normal_tail(z.abs())).min(1.0),
        tau: if pairs > 0.0 { s / pairs } else { 0.0 },
    }
}

pub(crate) use ballast_core::stats::{median_in_place, normal_tail};

#[cfg(test)]
pub(crate) mod tests;
