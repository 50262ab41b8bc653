//! A heap that keeps growing: the trigger for an automatic heap capture (seed 5.4).

use serde::Serialize;

/// When [`HeapGrowth`] fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeapGrowthConfig {
    /// Fire when the heap grew by more than this fraction (0.40 = 40 %) from the first
    /// window of a rising run to the last. Default 0.40.
    pub growth: f64,
    /// ... over at least this many consecutive rising windows. Default 5.
    pub windows: usize,
}

impl Default for HeapGrowthConfig {
    fn default() -> Self {
        HeapGrowthConfig {
            growth: 0.40,
            windows: 5,
        }
    }
}

/// Why [`HeapGrowth::push`] fired.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trigger {
    /// The heap at the start of the rising run, bytes.
    pub from: u64,
    /// The heap now, bytes.
    pub to: u64,
    /// How many consecutive windows rose.
    pub windows: usize,
    /// `to / from - 1`.
    pub growth: f64,
}

/// Watches one heap size per window; pure (no clock, no I/O): the caller pushes a value
/// each window.
#[derive(Debug, Clone)]
pub struct HeapGrowth {
    config: HeapGrowthConfig,
    /// The heap where the current rising run started, and the last value.
    run_start: Option<u64>,
    last: Option<u64>,
    rising: usize,
}

impl HeapGrowth {
    /// A detector with nothing seen yet.
    pub fn new(config: HeapGrowthConfig) -> Self {
        HeapGrowth {
            config,
            run_start: None,
            last: None,
            rising: 0,
        }
    }

    /// Records one window's heap size. Fires when the last `windows` windows each rose
    /// over the one before and the heap grew by more than `growth` across them; after
    /// firing the run starts again from this value, so a steady climb fires once per
    /// `windows` windows, not every window.
    pub fn push(&mut self, bytes: u64) -> Option<Trigger> {
        let rose = self.last.is_some_and(|last| bytes > last);
        if rose {
            self.rising += 1;
        } else {
            self.rising = 0;
            self.run_start = Some(bytes);
        }
        self.last = Some(bytes);
        let from = self.run_start.unwrap_or(bytes);
        if self.rising >= self.config.windows.max(1) && from > 0 {
            let growth = bytes as f64 / from as f64 - 1.0;
            if growth > self.config.growth {
                let trigger = Trigger {
                    from,
                    to: bytes,
                    windows: self.rising,
                    growth,
                };
                self.rising = 0;
                self.run_start = Some(bytes);
                return Some(trigger);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[u64]) -> Vec<Option<Trigger>> {
        let mut g = HeapGrowth::new(HeapGrowthConfig::default());
        values.iter().map(|&v| g.push(v)).collect()
    }

    #[test]
    fn five_rising_windows_past_forty_percent_fire_once() {
        let fired = run(&[100, 110, 120, 130, 140, 150, 160]);
        assert_eq!(fired.iter().filter(|t| t.is_some()).count(), 1);
        let t = fired[5].unwrap();
        assert_eq!((t.from, t.to, t.windows), (100, 150, 5));
        assert!((t.growth - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_dip_restarts_the_run_and_slow_growth_does_not_fire() {
        assert!(run(&[100, 130, 160, 190, 180, 200, 220])
            .iter()
            .all(Option::is_none));
        assert!(run(&[100, 101, 102, 103, 104, 105, 106, 107])
            .iter()
            .all(Option::is_none));
        // A flat window is not rising.
        assert!(run(&[100, 150, 150, 200, 250, 300])
            .iter()
            .all(Option::is_none));
    }

    #[test]
    fn growth_from_zero_never_divides_by_zero() {
        assert!(run(&[0, 1, 2, 3, 4, 5, 6]).iter().all(Option::is_none));
    }
}
