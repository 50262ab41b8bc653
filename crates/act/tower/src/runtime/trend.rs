//! Is a series growing? Theil–Sen slope (the median of pairwise slopes: a few outliers do
//! not move it) with the Mann–Kendall test (does the series rise more often than it falls,
//! beyond chance?). Sustained growth, not a fixed threshold, is what a leak looks like:
//! 10,000 tasks may be normal for one service, and 200 growing by one a minute is not.

/// The trend of a series sampled at equal intervals.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Trend {
    /// Samples tested.
    pub samples: usize,
    /// Theil–Sen slope, per sample.
    pub slope: f64,
    /// Mann–Kendall S: rising pairs minus falling pairs.
    pub mann_kendall_s: i64,
    /// One-sided p-value that the series is *not* rising (small: growth is significant).
    pub p_value: f64,
}

/// Theil–Sen slope per sample of `ys` (0 for fewer than two samples).
pub fn theil_sen_slope(ys: &[f64]) -> f64 {
    let n = ys.len();
    if n < 2 {
        return 0.0;
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            slopes.push((ys[j] - ys[i]) / (j - i) as f64);
        }
    }
    median(&mut slopes)
}

/// The median; 0 for no values (no slope to speak of).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    ballast_core::stats::median_in_place(values)
}

/// Theil–Sen slope and Mann–Kendall significance of `ys`.
pub fn trend(ys: &[f64]) -> Trend {
    let n = ys.len();
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += match ys[j].total_cmp(&ys[i]) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    // Variance of S under "no trend", corrected for ties (runtime counts tie a lot).
    let nf = n as f64;
    let mut variance = nf * (nf - 1.0) * (2.0 * nf + 5.0);
    let mut sorted = ys.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        variance -= t * (t - 1.0) * (2.0 * t + 5.0);
        i = j + 1;
    }
    variance /= 18.0;
    let z = if variance <= 0.0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / variance.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / variance.sqrt()
    } else {
        0.0
    };
    Trend {
        samples: n,
        slope: theil_sen_slope(ys),
        mann_kendall_s: s,
        p_value: 1.0 - normal_cdf(z),
    }
}

/// Standard normal CDF.
fn normal_cdf(z: f64) -> f64 {
    ballast_core::stats::normal_tail(-z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_its_table() {
        for (z, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_7),
            (-1.96, 0.024_997_9),
            (3.0, 0.998_650_1),
        ] {
            assert!(
                (normal_cdf(z) - p).abs() < 1e-6,
                "Φ({z}) = {} not {p}",
                normal_cdf(z)
            );
        }
    }

    #[test]
    fn a_steady_climb_is_significant_and_its_slope_exact() {
        let ys: Vec<f64> = (0..60).map(|i| 100.0 + 2.0 * i as f64).collect();
        let t = trend(&ys);
        assert_eq!(t.slope, 2.0);
        assert!(t.p_value < 1e-10, "{t:?}");
    }

    #[test]
    fn outliers_do_not_move_the_slope() {
        let mut ys: Vec<f64> = (0..40).map(|i| i as f64).collect();
        ys[5] = 1000.0;
        ys[30] = -1000.0;
        assert!((theil_sen_slope(&ys) - 1.0).abs() < 0.05);
    }

    #[test]
    fn a_flat_series_with_ties_is_not_significant() {
        let ys = vec![50.0; 100];
        let t = trend(&ys);
        assert_eq!((t.slope, t.mann_kendall_s), (0.0, 0));
        assert!(t.p_value > 0.499, "{t:?}");
    }

    /// The test is calibrated: on stationary noise (many ties, like task counts) it flags
    /// about as many series as its significance level says. Fixed seeds, so not flaky.
    #[test]
    fn noise_without_trend_is_flagged_at_the_nominal_rate() {
        let mut state = 12345u64;
        let mut splitmix = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let (mut at_5_percent, mut at_1_permille) = (0, 0);
        for _ in 0..1000 {
            let ys: Vec<f64> = (0..60).map(|_| 200.0 + (splitmix() % 21) as f64).collect();
            let p = trend(&ys).p_value;
            at_5_percent += usize::from(p < 0.05);
            at_1_permille += usize::from(p < 0.001);
        }
        assert!(
            (30..=70).contains(&at_5_percent),
            "{at_5_percent} of 1000 at p < 0.05"
        );
        assert!(at_1_permille <= 5, "{at_1_permille} of 1000 at p < 0.001");
    }
}
