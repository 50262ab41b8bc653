//! The leak test over the series recorded from the Go programs (tests/fixtures/leak, made
//! by `BALLAST_RECORD_LEAK=DIR` on the live test): twenty steady instances (seeds 1–20)
//! and one leaky one, goroutines and heap in use, 150 s at 1 s. Property-style: for any
//! seed of the test's generator, a random window of at least 100 s from a steady series,
//! shifted in time and scaled, is never "growing"; the leaky goroutines always are.

use ballast_anomaly::input::csv::read_series;
use ballast_anomaly::trend::{analyse, TrendConfig, Verdict};
use ballast_anomaly::Series;
use proptest::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> Series {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/leak")
        .join(name);
    read_series(&path).unwrap()
}

fn window(s: &Series, from: f64, seconds: f64, shift: f64, scale: f64) -> Series {
    let t0 = s.points[0].t + from;
    Series::new(
        s.name.clone(),
        s.points
            .iter()
            .filter(|p| p.t >= t0 && p.t <= t0 + seconds)
            .map(|p| (p.t + shift, p.v * scale)),
    )
}

#[test]
fn every_recorded_steady_series_is_stable_and_the_leaky_ones_grow() {
    // Steady: never growing, at the default level (0.1 %) nor at a ten times looser one.
    let loose = TrendConfig {
        alpha: 0.01,
        ..Default::default()
    };
    for seed in 1..=20 {
        for metric in ["goroutines", "heap"] {
            let s = fixture(&format!("steady-{seed}-{metric}.csv"));
            for config in [&TrendConfig::default(), &loose] {
                let t = analyse(&s, config, None).unwrap();
                assert_ne!(
                    t.verdict,
                    Verdict::Growing,
                    "steady seed {seed} {metric}: {t:?}"
                );
            }
        }
    }
    let t = analyse(
        &fixture("leaky-1-goroutines.csv"),
        &TrendConfig::default(),
        None,
    )
    .unwrap();
    assert_eq!(t.verdict, Verdict::Growing, "leaky goroutines: {t:?}");
    // The leaky heap climbs too (τ 0.89), but 150 s of a 16-second GC sawtooth is nine
    // buckets: significant at 1 %, not at the default 0.1 %.
    let heap = fixture("leaky-1-heap.csv");
    let t = analyse(&heap, &loose, None).unwrap();
    assert_eq!(t.verdict, Verdict::Growing, "leaky heap at 1 %: {t:?}");
    assert_eq!(
        analyse(&heap, &TrendConfig::default(), None)
            .unwrap()
            .verdict,
        Verdict::Stable
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20))]
    #[test]
    fn a_steady_window_is_never_growing_and_a_leaky_one_always_is(
        instance in 1u32..=20,
        heap in any::<bool>(),
        from in 0.0f64..45.0,
        seconds in 100.0f64..150.0,
        shift in 0.0f64..1e6,
        scale in 0.5f64..2.0,
    ) {
        let metric = if heap { "heap" } else { "goroutines" };
        let steady = window(&fixture(&format!("steady-{instance}-{metric}.csv")), from, seconds, shift, scale);
        match analyse(&steady, &TrendConfig::default(), None) {
            Ok(t) => prop_assert_ne!(t.verdict, Verdict::Growing, "steady {} {}: {:?}", instance, metric, t),
            // A window with too few sawtooth teeth is undecided, never a false alarm.
            Err(e) => prop_assert!(e.to_string().contains("buckets"), "{}", e),
        }
        let leaky = window(&fixture("leaky-1-goroutines.csv"), from, seconds, shift, scale);
        let t = analyse(&leaky, &TrendConfig::default(), None).unwrap();
        prop_assert_eq!(t.verdict, Verdict::Growing, "leaky: {:?}", t);
    }
}
