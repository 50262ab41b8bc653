use super::*;
use proptest::prelude::*;

/// A small deterministic generator (xorshift), so tests need no `rand`.
pub(crate) struct Noise(u64);
impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn series(f: impl Fn(f64) -> f64, seconds: usize, step: usize) -> Series {
    Series::new(
        "s",
        (0..seconds).step_by(step).map(|t| (t as f64, f(t as f64))),
    )
}

#[test]
fn a_steady_leak_is_growing_with_its_slope() {
    let mut noise = Noise::new(1);
    let s = Series::new(
        "go_goroutines",
        (0..360).map(|i| {
            (
                i as f64 * 10.0,
                50.0 + 0.01 * i as f64 * 10.0 + 3.0 * noise.next(),
            )
        }),
    );
    let t = analyse(&s, &TrendConfig::default(), Some(200.0)).unwrap();
    assert_eq!(t.verdict, Verdict::Growing, "{t:?}");
    assert!(
        (t.slope_per_hour - 36.0).abs() < 6.0,
        "{}",
        t.slope_per_hour
    );
    let hours = t.hours_to_limit.unwrap();
    assert!((3.0..5.0).contains(&hours), "{hours}");
}

#[test]
fn a_shrinking_series_is_shrinking() {
    let s = series(|t| 1000.0 - t, 600, 5);
    assert_eq!(
        analyse(&s, &TrendConfig::default(), None).unwrap().verdict,
        Verdict::Shrinking
    );
}

#[test]
fn a_gc_sawtooth_without_growth_is_stable_and_with_growing_troughs_is_growing() {
    // Heap climbs 20 MB → 40 MB over 30 s, drops back at each collection.
    let tooth = |t: f64| 20e6 + 20e6 * ((t % 30.0) / 30.0);
    let healthy = series(tooth, 600, 1);
    let t = analyse(&healthy, &TrendConfig::default(), None).unwrap();
    assert_eq!(t.verdict, Verdict::Stable, "{t:?}");
    // Raw samples would have fooled Mann–Kendall: within a tooth every pair grows.
    let raw = mann_kendall(&[healthy.points[..25].to_vec()]);
    assert!(raw.p_value < 0.01);
    let leaking = series(|t| tooth(t) + 20_000.0 * t, 600, 1);
    let t = analyse(&leaking, &TrendConfig::default(), None).unwrap();
    assert_eq!(t.verdict, Verdict::Growing, "{t:?}");
}

#[test]
fn restarts_neither_hide_a_leak_nor_make_a_shrink() {
    // A leak that a restart every 200 s brings back to its base.
    let leaking = series(|t| 100.0 + (t % 200.0), 600, 2);
    let t = analyse(&leaking, &TrendConfig::default(), None).unwrap();
    assert_eq!((t.verdict, t.restarts), (Verdict::Growing, 2), "{t:?}");
    // A steady process restarted once: its count dips to the start-up level and returns.
    let mut noise = Noise::new(7);
    let steady = Series::new(
        "s",
        (0..600).map(|i| {
            (
                i as f64,
                if (300..310).contains(&i) {
                    5.0
                } else {
                    40.0 + noise.next()
                },
            )
        }),
    );
    let t = analyse(&steady, &TrendConfig::default(), None).unwrap();
    assert_eq!(t.verdict, Verdict::Stable, "{t:?}");
}

#[test]
fn jittering_counts_are_neither_restarts_nor_growth() {
    for seed in 0..200 {
        // Goroutines coming and going: integers from 12 to 20, often equal minima in a row.
        let mut noise = Noise::new(seed);
        let s = Series::new(
            "g",
            (0..150).map(|i| (i as f64, (16.0 + 4.0 * noise.next()).round())),
        );
        let t = analyse(&s, &TrendConfig::default(), None).unwrap();
        assert_eq!(
            (t.restarts, t.verdict),
            (0, Verdict::Stable),
            "seed {seed}: {t:?}"
        );
        // From 9 to 23, a dip of half the level happens by chance and may read as a
        // restart, but never as growth.
        let mut noise = Noise::new(seed);
        let s = Series::new(
            "g",
            (0..150).map(|i| (i as f64, (16.0 + 7.0 * noise.next()).round())),
        );
        let t = analyse(&s, &TrendConfig::default(), None).unwrap();
        assert_ne!(t.verdict, Verdict::Growing, "seed {seed}: {t:?}");
    }
}

#[test]
fn too_little_data_is_an_error() {
    let e = analyse(&series(|t| t, 5, 1), &TrendConfig::default(), None).unwrap_err();
    assert!(e.to_string().contains("at least 8 samples"), "{e}");
}

#[test]
fn theil_sen_ignores_a_wild_point() {
    let mut points: Vec<Point> = (0..20)
        .map(|i| Point {
            t: i as f64,
            v: 2.0 * i as f64,
        })
        .collect();
    points[10].v = 1e9;
    assert_eq!(theil_sen(&[points]), 2.0);
}

#[test]
fn mann_kendall_matches_a_hand_computed_case() {
    // 1 3 2 4: pairs (+,+,+,-,+,+) → S = 4; var = 4·3·13/18 = 26/3.
    let p: Vec<Point> = [1.0, 3.0, 2.0, 4.0]
        .iter()
        .enumerate()
        .map(|(i, &v)| Point { t: i as f64, v })
        .collect();
    let mk = mann_kendall(&[p]);
    assert_eq!(mk.s, 4.0);
    assert!((mk.z - 3.0 / (26.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert!((mk.tau - 4.0 / 6.0).abs() < 1e-12);
    assert!((normal_tail(1.959_963_985) - 0.025).abs() < 1e-6);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn noise_around_a_level_is_never_growing(seed in any::<u64>(), level in 1.0f64..1e6, spread in 0.0f64..0.3) {
        let mut noise = Noise::new(seed);
        let s = Series::new("s", (0..400).map(|i| (i as f64 * 15.0, level * (1.0 + spread * noise.next()))));
        let t = analyse(&s, &TrendConfig::default(), None).unwrap();
        prop_assert_ne!(t.verdict, Verdict::Growing, "{:?}", t);
        prop_assert!(t.slope_per_hour.is_finite() && t.p_value.is_finite());
    }
}
