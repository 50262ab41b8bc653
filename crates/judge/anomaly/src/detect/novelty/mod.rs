//! The stronger detector, chosen by its NAB score (docs/ANOMALY.md): **has the series ever
//! been here before?**
//!
//! The value range seen during a warm-up defines a grid of cells; each point falls in one,
//! and a point in a cell never visited before is news. Two channels watch the series: the
//! value itself, and its mean over a short window (which turns a change in the density of
//! spikes or in the level of a noisy series into a new cell). The grid is linear inside the
//! warm-up range and logarithmic beyond it (`asinh`), so values far outside it share wide
//! cells: a second spike of a size already seen is not news again, a bigger one is.
//!
//! Why this and not a prediction error: on NAB, scoring "first visit to a state" beat
//! residual tests (EWMA, EVT tails), higher-order context models and ART-style prototype
//! matching that we measured; it is also O(1) per point with a few kilobytes per series.
//! After an alert the detector rests (outputs 0) for a tenth of the warm-up, so one
//! incident is one alert, not one per point.

use super::Detector;
use crate::Error;
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
    /// Quiet period after an alert, as a share of the warm-up. Default: 0.1.
    pub rest: f64,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        NoveltyConfig {
            warmup: None,
            levels: 12.0,
            mean_levels: 3.0,
            mean_window: 120,
            compress: 1.0,
            rest: 0.1,
        }
    }
}

impl NoveltyConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(format!("novelty.{m}")));
        if self.warmup.is_some_and(|w| !(10..=100_000).contains(&w)) {
            return bad(format!(
                "warmup must be between 10 and 100000 points, got {:?}",
                self.warmup
            ));
        }
        for (name, v) in [("levels", self.levels), ("mean_levels", self.mean_levels)] {
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
        if !(0.0..=10.0).contains(&self.rest) {
            return bad(format!("rest must be between 0 and 10, got {}", self.rest));
        }
        Ok(())
    }
}

/// Cells are `i32`s; this many either side of the warm-up centre are tracked exactly (a
/// bitset), and farther ones fold into the outermost. With `asinh` compression a value
/// would need to be ~e^250 warm-up ranges away to get there.
const HALF_SPAN: i32 = 4096;

/// One channel: its grid, the cells visited, and (for the mean) its window.
#[derive(Debug, Clone)]
struct Channel {
    levels: f64,
    compress: f64,
    /// The weight of a first visit here: the value channel outranks the mean channel.
    base: f64,
    window: usize,
    recent: std::collections::VecDeque<f64>,
    sum: f64,
    pushed: usize,
    centre: f64,
    half_range: f64,
    visited: Vec<u64>,
    warm: Vec<f64>,
    /// Where cells -TABLE..=TABLE start, in value space: finding a cell is then a binary
    /// search instead of an `asinh`.
    edges: Vec<f64>,
    /// Whether the grid is fixed (after a warm-up that gave the channel features).
    ready: bool,
}

/// Cells either side of the centre whose edges are tabulated (some 6,000 half-ranges with the
/// defaults); cells farther out are computed.
const TABLE: i32 = 64;

impl Channel {
    fn new(levels: f64, compress: f64, base: f64, window: usize) -> Self {
        Channel {
            levels,
            compress,
            base,
            window: window.max(1),
            recent: std::collections::VecDeque::with_capacity(window.max(1) + 1),
            sum: 0.0,
            pushed: 0,
            centre: 0.0,
            half_range: 1.0,
            visited: vec![0; (2 * HALF_SPAN as usize) / 64],
            warm: Vec::new(),
            edges: Vec::new(),
            ready: false,
        }
    }

    /// The channel's view of the next value: itself, or the mean of the window once the
    /// window is full (a mean of the first few points would stretch the grid).
    fn feature(&mut self, value: f64) -> Option<f64> {
        if self.window == 1 {
            return Some(value);
        }
        self.recent.push_back(value);
        self.sum += value;
        if self.recent.len() > self.window {
            self.sum -= self.recent.pop_front().unwrap_or(0.0);
        }
        // Re-add now and then, so rounding in the running sum cannot drift.
        self.pushed += 1;
        if self.pushed % 4096 == 0 {
            self.sum = self.recent.iter().sum();
        }
        (self.recent.len() == self.window).then(|| self.sum / self.window as f64)
    }

    /// Fixes the grid from the warm-up's features and marks them visited.
    fn fit(&mut self) {
        let warm = std::mem::take(&mut self.warm);
        let lo = warm.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = warm.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !(lo.is_finite() && hi.is_finite()) {
            // No feature during the warm-up (a window longer than it): the channel stays
            // silent rather than guess a grid.
            return;
        }
        self.ready = true;
        self.centre = lo / 2.0 + hi / 2.0;
        // A flat warm-up has no range: use a sliver of its level, so that leaving the flat
        // line is news.
        self.half_range = if hi > lo {
            (hi / 2.0 - lo / 2.0).max(f64::MIN_POSITIVE)
        } else {
            lo.abs().max(1.0) / 2.0
        };
        self.edges = (-TABLE..=TABLE).map(|k| self.edge(k)).collect();
        for f in warm {
            let cell = self.cell_fast(f);
            self.visit(cell);
        }
    }

    fn cell(&self, f: f64) -> i32 {
        let z = (f - self.centre) / self.half_range;
        let scaled = (z * self.compress).asinh() / self.compress.asinh() * self.levels / 2.0;
        if scaled.is_nan() {
            return 0;
        }
        scaled
            .floor()
            .clamp(-f64::from(HALF_SPAN), f64::from(HALF_SPAN - 1)) as i32
    }

    /// The value where cell `k` starts (the inverse of the formula in [`cell`](Self::cell)).
    fn edge(&self, k: i32) -> f64 {
        let scaled = f64::from(k) * 2.0 / self.levels * self.compress.asinh();
        self.centre + scaled.sinh() / self.compress * self.half_range
    }

    /// The cell of `f`, as [`cell`](Self::cell) computes it, found in the table of edges
    /// near the centre. The table's edges are rounded, so a value within a hair of one
    /// takes the formula: the answer is exactly the formula's either way.
    fn cell_fast(&self, f: f64) -> i32 {
        let (Some(&lo), Some(&hi)) = (self.edges.first(), self.edges.last()) else {
            return self.cell(f);
        };
        if !(f > lo && f < hi) {
            return self.cell(f);
        }
        let i = self.edges.partition_point(|&e| e <= f);
        let (below, above) = (self.edges[i - 1], self.edges[i]);
        let hair = 1e-9 * (above - below);
        if f - below <= hair || above - f <= hair {
            return self.cell(f);
        }
        i as i32 - 1 - TABLE
    }

    fn is_visited(&self, cell: i32) -> bool {
        let i = (cell + HALF_SPAN) as usize;
        self.visited[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Marks `cell` visited; true when it was new.
    fn visit(&mut self, cell: i32) -> bool {
        let new = !self.is_visited(cell);
        let i = (cell + HALF_SPAN) as usize;
        self.visited[i / 64] |= 1u64 << (i % 64);
        new
    }

    /// Cells from `cell` to the nearest visited one (looking at most 64 away).
    fn distance_to_known(&self, cell: i32) -> i32 {
        for d in 1..=64 {
            let near = [cell - d, cell + d];
            if near
                .iter()
                .any(|&c| (-HALF_SPAN..HALF_SPAN).contains(&c) && self.is_visited(c))
            {
                return d;
            }
        }
        64
    }
}

/// The novelty detector's state: two channels of a few hundred bytes each, and the
/// warm-up's features until the grids are fixed.
#[derive(Debug, Clone)]
pub struct Novelty {
    warmup: usize,
    rest: usize,
    seen: usize,
    since_alert: usize,
    channels: Vec<Channel>,
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
            warmup,
            rest: (warmup as f64 * config.rest).round() as usize,
            seen: 0,
            since_alert: usize::MAX,
            channels,
        }
    }
}

impl Detector for Novelty {
    fn score(&mut self, _t: f64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        // Keep arithmetic finite for values near f64::MAX.
        let value = value.clamp(-1e300, 1e300);
        self.seen += 1;
        let warming = self.seen <= self.warmup;
        let mut score: f64 = 0.0;
        for channel in &mut self.channels {
            let f = channel.feature(value);
            if warming {
                channel.warm.extend(f);
                if self.seen == self.warmup {
                    channel.fit();
                }
                continue;
            }
            let (Some(f), true) = (f, channel.ready) else {
                continue;
            };
            let cell = channel.cell_fast(f);
            if !channel.is_visited(cell) {
                // Farther from anything seen scores higher: 1 cell away gives the base.
                let d = f64::from(channel.distance_to_known(cell));
                score = score.max(channel.base + 0.4 * (1.0 - 1.0 / d));
                channel.visit(cell);
            }
        }
        if warming {
            return 0.0;
        }
        self.since_alert = self.since_alert.saturating_add(1);
        let resting = self.since_alert <= self.rest;
        if score > 0.0 {
            // A new cell while resting extends the rest: the incident is still going on.
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
            + self
                .channels
                .iter()
                .map(|c| {
                    std::mem::size_of::<Channel>()
                        + c.visited.len() * 8
                        + c.recent.capacity() * 8
                        + c.warm.capacity() * 8
                        + c.edges.capacity() * 8
                })
                .sum::<usize>()
    }
}
