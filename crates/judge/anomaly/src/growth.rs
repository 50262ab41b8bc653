//! Heap-growth watch (the seed's 5.4): when a series grows by more than `threshold` over
//! `windows` consecutive windows, each window at least as high as the one before, emit an
//! event (the moment to capture heap profiles). Each window is summarised by its median, so
//! one GC spike or one scrape glitch neither starts nor breaks a run.

use crate::series::{Point, Series};
use crate::trend::median_in_place;
use crate::Error;
use ballast_core::duration_text;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Settings of the growth watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrowthConfig {
    /// Growth that triggers, as a fraction (0.4 = 40 %). Default: 0.4.
    pub threshold: f64,
    /// Consecutive windows the growth must span. Default: 5.
    pub windows: usize,
    /// Length of one window. Default: 1m.
    #[serde(with = "duration_text")]
    pub window: Duration,
}

impl Default for GrowthConfig {
    fn default() -> Self {
        GrowthConfig {
            threshold: 0.4,
            windows: 5,
            window: Duration::from_secs(60),
        }
    }
}

impl GrowthConfig {
    /// Checks the settings and returns a watch with no history.
    pub fn build(&self) -> Result<GrowthWatch, Error> {
        if !(self.threshold > 0.0 && self.threshold.is_finite()) {
            return Err(Error::Config(format!(
                "growth threshold must be above 0, got {}",
                self.threshold
            )));
        }
        if !(2..=1000).contains(&self.windows) {
            return Err(Error::Config(format!(
                "growth windows must be between 2 and 1000, got {}",
                self.windows
            )));
        }
        if self.window.is_zero() {
            return Err(Error::Config("the growth window must be above 0".into()));
        }
        Ok(GrowthWatch {
            config: self.clone(),
            run: VecDeque::with_capacity(self.windows),
        })
    }
}

/// A growth event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowthEvent {
    /// Start of the first window (Unix seconds).
    pub from_time: f64,
    /// End of the last window.
    pub to_time: f64,
    /// Median of the first window.
    pub from_value: f64,
    /// Median of the last window.
    pub to_value: f64,
    /// `to / from − 1`.
    pub growth: f64,
}

/// The watch's state: the current run of non-decreasing window medians (at most
/// `windows` of them).
#[derive(Debug, Clone)]
pub struct GrowthWatch {
    config: GrowthConfig,
    run: VecDeque<(f64, f64, f64)>, // (window start, window end, median)
}

impl GrowthWatch {
    /// Feeds one window's summary; returns an event when the last `windows` windows grew
    /// past the threshold. After an event the run starts afresh, so a steady climb emits
    /// one event per `windows` windows rather than one per window.
    pub fn push_window(&mut self, start: f64, end: f64, median: f64) -> Option<GrowthEvent> {
        if !median.is_finite() {
            self.run.clear();
            return None;
        }
        if self.run.back().is_some_and(|&(_, _, last)| median < last) {
            self.run.clear();
        }
        self.run.push_back((start, end, median));
        if self.run.len() > self.config.windows {
            self.run.pop_front();
        }
        if self.run.len() < self.config.windows {
            return None;
        }
        let (from_time, _, from_value) = self.run[0];
        let (_, to_time, to_value) = self.run[self.run.len() - 1];
        let growth = if from_value > 0.0 {
            to_value / from_value - 1.0
        } else {
            return None;
        };
        if growth <= self.config.threshold {
            return None;
        }
        self.run.clear();
        Some(GrowthEvent {
            from_time,
            to_time,
            from_value,
            to_value,
            growth,
        })
    }

    /// Runs the watch over a whole series, window by window (empty windows are skipped).
    pub fn scan(&mut self, series: &Series) -> Vec<GrowthEvent> {
        let Some(first) = series.points.first() else {
            return Vec::new();
        };
        let width = self.config.window.as_secs_f64();
        let mut events = Vec::new();
        let mut bucket: Vec<f64> = Vec::new();
        let mut bucket_start = first.t;
        let mut flush = |watch: &mut Self, bucket: &mut Vec<f64>, start: f64| {
            if !bucket.is_empty() {
                let m = median_in_place(bucket);
                events.extend(watch.push_window(start, start + width, m));
                bucket.clear();
            }
        };
        for &Point { t, v } in &series.points {
            while t >= bucket_start + width {
                flush(self, &mut bucket, bucket_start);
                bucket_start += width;
            }
            bucket.push(v);
        }
        flush(self, &mut bucket, bucket_start);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_percent_over_five_windows_triggers_once() {
        let mut w = GrowthConfig::default().build().unwrap();
        // 100, 110, 121, 133, 146: +46 % over five windows.
        let medians = [100.0, 110.0, 121.0, 133.1, 146.4];
        let events: Vec<_> = medians
            .iter()
            .enumerate()
            .filter_map(|(i, &m)| w.push_window(i as f64 * 60.0, (i + 1) as f64 * 60.0, m))
            .collect();
        assert_eq!(events.len(), 1);
        assert!((events[0].growth - 0.464).abs() < 1e-9);
        assert_eq!((events[0].from_time, events[0].to_time), (0.0, 300.0));
    }

    #[test]
    fn a_dip_breaks_the_run_and_slow_growth_does_not_trigger() {
        let mut w = GrowthConfig::default().build().unwrap();
        for (i, m) in [100.0, 120.0, 90.0, 95.0, 100.0, 105.0, 110.0]
            .iter()
            .enumerate()
        {
            assert!(w.push_window(i as f64, i as f64 + 1.0, *m).is_none());
        }
        let mut w = GrowthConfig::default().build().unwrap();
        for i in 0..50 {
            assert!(w
                .push_window(i as f64, i as f64 + 1.0, 100.0 + i as f64)
                .is_none());
        }
    }

    #[test]
    fn scans_a_series_by_window_medians() {
        // A heap tripling over ten minutes with a GC spike in every window.
        let s = Series::new(
            "heap",
            (0..600).map(|t| {
                let base = 100e6 * (1.0 + t as f64 / 300.0);
                (t as f64, if t % 60 == 30 { base * 3.0 } else { base })
            }),
        );
        let events = GrowthConfig::default().build().unwrap().scan(&s);
        // Windows 0–4 grow 73 %: one event (not one per window from then on); windows
        // 5–9 grow 38 %: none.
        assert_eq!(events.len(), 1, "{events:?}");
        assert!((events[0].growth - 0.727).abs() < 1e-3);
        assert!(GrowthConfig {
            windows: 1,
            ..Default::default()
        }
        .build()
        .is_err());
    }
}
