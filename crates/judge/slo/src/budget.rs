//! Error-budget arithmetic (seed 2.1): budget = (1 − objective) × window.

use std::time::Duration;

/// A budget and how much of it is spent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Objective, 0..1.
    pub objective: f64,
    /// Window.
    pub window: Duration,
}

/// What a count of events says about a budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    /// Bad events allowed: (1 − objective) × total.
    pub allowed_bad: f64,
    /// Bad events left (negative when overspent).
    pub remaining_bad: f64,
    /// Share of the budget spent (1 = all of it).
    pub consumed: f64,
    /// Error ratio over allowed ratio: 1 spends exactly the budget over the window.
    pub burn_rate: f64,
    /// At this burn rate, how long until the whole budget is gone (`None`: never).
    pub exhausted_after: Option<Duration>,
}

impl Budget {
    /// A budget; `None` unless 0 < objective < 1 and the window is not empty.
    pub fn new(objective: f64, window: Duration) -> Option<Budget> {
        (objective > 0.0 && objective < 1.0 && !window.is_zero())
            .then_some(Budget { objective, window })
    }

    /// The error ratio the objective allows.
    pub fn allowed_ratio(&self) -> f64 {
        1.0 - self.objective
    }

    /// Budget as time of total outage: 99.9 % over 30 days is 43.2 minutes.
    pub fn as_time(&self) -> Duration {
        Duration::from_secs_f64(self.window.as_secs_f64() * self.allowed_ratio())
    }

    /// How `bad` of `total` events spend the budget.
    pub fn spend(&self, total: f64, bad: f64) -> Spend {
        let allowed_bad = self.allowed_ratio() * total;
        let ratio = if total > 0.0 { bad / total } else { 0.0 };
        let burn_rate = ratio / self.allowed_ratio();
        Spend {
            allowed_bad,
            remaining_bad: allowed_bad - bad,
            consumed: if allowed_bad > 0.0 {
                bad / allowed_bad
            } else {
                0.0
            },
            burn_rate,
            exhausted_after: (burn_rate > 0.0)
                .then(|| Duration::from_secs_f64(self.window.as_secs_f64() / burn_rate)),
        }
    }

    /// The burn rate of an observed error ratio.
    pub fn burn_rate(&self, error_ratio: f64) -> f64 {
        error_ratio / self.allowed_ratio()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400;

    #[test]
    fn the_seed_figure() {
        let b = Budget::new(0.999, Duration::from_secs(30 * DAY)).unwrap();
        assert_eq!(b.as_time(), Duration::from_secs(2592)); // 43.2 minutes
        let s = b.spend(1_000_000.0, 250.0);
        assert!((s.allowed_bad - 1000.0).abs() < 1e-6);
        assert!((s.remaining_bad - 750.0).abs() < 1e-6);
        assert!((s.consumed - 0.25).abs() < 1e-9);
        assert!((s.burn_rate - 0.25).abs() < 1e-9);
        let after = s.exhausted_after.unwrap().as_secs_f64();
        assert!((after - (120 * DAY) as f64).abs() < 1e-3, "{after}");
    }

    #[test]
    fn rejects_impossible_objectives() {
        assert!(Budget::new(1.0, Duration::from_secs(1)).is_none());
        assert!(Budget::new(0.0, Duration::from_secs(1)).is_none());
        assert!(Budget::new(0.99, Duration::ZERO).is_none());
    }

    proptest! {
        #[test]
        fn consumed_equals_burn_rate_for_the_same_events(
            nines in 1u32..6, total in 1.0f64..1e9, bad_share in 0.0f64..1.0
        ) {
            let objective = 1.0 - 10f64.powi(-(nines as i32));
            let b = Budget::new(objective, Duration::from_secs(30 * DAY)).unwrap();
            let s = b.spend(total, total * bad_share);
            // Spending measured over the whole window is the burn rate over it.
            prop_assert!((s.consumed - s.burn_rate).abs() <= 1e-9 * s.burn_rate.max(1.0));
            prop_assert!(s.remaining_bad <= s.allowed_bad);
            // Burning at rate r empties the budget in window / r.
            if let Some(after) = s.exhausted_after {
                prop_assert!((after.as_secs_f64() * s.burn_rate - b.window.as_secs_f64()).abs() < 1e-3 * b.window.as_secs_f64());
            }
        }

        #[test]
        fn budget_time_scales_linearly(nines in 1u32..6, days in 1u64..400) {
            let objective = 1.0 - 10f64.powi(-(nines as i32));
            let b = Budget::new(objective, Duration::from_secs(days * DAY)).unwrap();
            let expected = days as f64 * DAY as f64 * 10f64.powi(-(nines as i32));
            prop_assert!((b.as_time().as_secs_f64() - expected).abs() < 1e-6 * expected.max(1.0));
        }
    }
}
