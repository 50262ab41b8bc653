//! The seasonal channel: when the warm-up repeats itself (a daily cycle, a fixed rhythm), the
//! change from one period ago, `x(t) − x(t − period)`, on its own grid. A missing daily jump,
//! or a jump at the wrong hour, lands in a cell the warm-up never visited, although every
//! value on its own is an ordinary one.
//!
//! A point that was news itself (a spike, a missing jump) would echo one period later, as a
//! change from an odd value: the channel remembers which of the last period's points visited a
//! new cell and does not score the changes from those.

use super::channel::Channel;
use std::collections::VecDeque;

/// The longest period looked for, in points (bounds the ring of past values).
pub(super) const MAX_PERIOD: usize = 1000;

/// The lag from `min_lag` to half the warm-up (at most [`MAX_PERIOD`]) with the highest
/// autocorrelation, when that is at least `min_correlation`. Each lag's autocovariance is
/// scaled by `n / (n − lag)`, so long lags are not penalised for having fewer pairs.
pub(super) fn period(values: &[f64], min_lag: usize, min_correlation: f64) -> Option<usize> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let variance: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
    if !(variance > 0.0 && variance.is_finite()) {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    for lag in min_lag.max(1)..=(n / 2).min(MAX_PERIOD) {
        let covariance: f64 = (lag..n)
            .map(|i| (values[i] - mean) * (values[i - lag] - mean))
            .sum();
        let r = covariance / variance * (n as f64 / (n - lag) as f64);
        if best.is_none_or(|(_, b)| r > b) {
            best = Some((lag, r));
        }
    }
    best.filter(|&(_, r)| r >= min_correlation)
        .map(|(lag, _)| lag)
}

/// The channel and the last `period` values, each with whether it visited a new cell.
#[derive(Debug, Clone)]
pub(super) struct Season {
    channel: Channel,
    past: VecDeque<(f64, bool)>,
}

impl Season {
    /// Looks for a period in the warm-up's values; with one, fits the grid of the changes
    /// over a period the warm-up shows.
    pub(super) fn fit(
        warmup: &[f64],
        min_lag: usize,
        min_correlation: f64,
        mut channel: Channel,
    ) -> Option<Season> {
        let period = period(warmup, min_lag, min_correlation)?;
        channel.warm = (period..warmup.len())
            .map(|i| warmup[i] - warmup[i - period])
            .collect();
        channel.fit();
        channel.ready.then(|| Season {
            channel,
            past: warmup[warmup.len() - period..]
                .iter()
                .map(|&v| (v, false))
                .collect(),
        })
    }

    /// The score of a first visit of the change over a period (0 when not one, or when the
    /// value a period ago was news), whether the change visited a new cell, then remembers
    /// `value` (as not news: see [`mark_news`](Self::mark_news)).
    pub(super) fn score(&mut self, value: f64) -> (f64, bool) {
        let Some((old, old_news)) = self.past.pop_front() else {
            return (0.0, false);
        };
        self.past.push_back((value, false));
        match self.channel.first_visit(value - old) {
            Some(_) if old_news => (0.0, true),
            Some(d) => (self.channel.base + 0.4 * (1.0 - 1.0 / f64::from(d)), true),
            None => (0.0, false),
        }
    }

    /// Marks the value last remembered as news: the change from it will not be scored.
    pub(super) fn mark_news(&mut self) {
        if let Some(last) = self.past.back_mut() {
            last.1 = true;
        }
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.channel.memory_bytes() + self.past.capacity() * std::mem::size_of::<(f64, bool)>()
    }
}
