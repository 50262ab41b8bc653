//! Properties every built-in detector keeps, whatever it is fed.

use super::*;
use proptest::prelude::*;

fn all() -> Vec<DetectorConfig> {
    DetectorConfig::NAMES
        .iter()
        .map(|n| DetectorConfig::named(n).unwrap())
        .collect()
}

fn run(config: &DetectorConfig, points: &[(f64, f64)]) -> Vec<f64> {
    let mut d = config.build_for(points.len());
    points.iter().map(|&(t, v)| d.score(t, v)).collect()
}

fn assert_scores(name: &str, scores: &[f64]) {
    for (i, s) in scores.iter().enumerate() {
        assert!((0.0..=1.0).contains(s), "{name}: score {s} at {i}");
    }
}

#[test]
fn flat_and_constant_series_score_zero_and_never_nan() {
    for config in all() {
        for level in [0.0, 5.0, -3.0, 1e9, -1e-12] {
            let points: Vec<(f64, f64)> = (0..3000).map(|i| (i as f64 * 60.0, level)).collect();
            let scores = run(&config, &points);
            assert_scores(config.name(), &scores);
            assert!(
                scores.iter().all(|s| *s == 0.0),
                "{} flagged a constant {level}",
                config.name()
            );
        }
    }
}

#[test]
fn gaps_duplicates_and_huge_values_keep_scores_in_range() {
    for config in all() {
        let mut points = Vec::new();
        for i in 0..2000 {
            // A day-long gap in the middle, runs of equal timestamps, extreme values.
            let t = if i < 1000 {
                i as f64 * 60.0
            } else {
                86_400.0 + (i / 3) as f64 * 60.0
            };
            let v = match i % 97 {
                0 => f64::MAX,
                1 => -f64::MAX,
                2 => 1e-308,
                _ => (i % 13) as f64,
            };
            points.push((t, v));
        }
        assert_scores(config.name(), &run(&config, &points));
    }
}

#[test]
fn non_finite_values_are_skipped_without_touching_the_state() {
    for config in all() {
        let clean: Vec<(f64, f64)> = (0..1500)
            .map(|i| (i as f64, ((i * 31) % 17) as f64))
            .collect();
        let mut dirty = clean.clone();
        for (k, bad) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            dirty.insert(700 + k * 100, (700.0 + k as f64 * 100.0, bad));
        }
        let a = run(&config, &clean);
        let b: Vec<f64> = run(&config, &dirty)
            .into_iter()
            .zip(&dirty)
            .filter(|(_, p)| p.1.is_finite())
            .map(|(s, _)| s)
            .collect();
        assert_eq!(a, b, "{}", config.name());
    }
}

#[test]
fn memory_stays_bounded() {
    for config in all() {
        let mut d = config.build_for(0);
        let mut after_warmup = 0;
        for i in 0..100_000u64 {
            // A random walk: always reaching new values, the worst case for any memory.
            let v = (i as f64).sqrt() * if i % 2 == 0 { 1.0 } else { -1.0 } + i as f64 * 1e-3;
            d.score(i as f64, v);
            if i == 2000 {
                after_warmup = d.memory_bytes();
            }
        }
        let end = d.memory_bytes();
        assert!(
            end <= after_warmup && end < 64 * 1024,
            "{}: {after_warmup} then {end} bytes",
            config.name()
        );
    }
}

#[test]
fn a_level_shift_is_one_alert_then_a_rest() {
    let config = DetectorConfig::named("novelty").unwrap();
    let mut points: Vec<(f64, f64)> = (0..2000)
        .map(|i| (i as f64 * 300.0, 10.0 + ((i * 7) % 5) as f64))
        .collect();
    for p in &mut points[1500..] {
        p.1 += 100.0;
    }
    let scores = run(&config, &points);
    assert!(
        scores[1500] >= config.recommended_threshold(),
        "{}",
        scores[1500]
    );
    let later_alerts = scores[1501..]
        .iter()
        .filter(|s| **s >= config.recommended_threshold())
        .count();
    assert!(later_alerts <= 1, "{later_alerts} alerts after the shift");
    assert!(scores[300..1500].iter().all(|s| *s == 0.0));
}

#[test]
fn configs_are_checked_and_read_from_json() {
    let c: DetectorConfig = serde_json::from_str(r#"{"kind": "novelty", "levels": 12}"#).unwrap();
    assert!(matches!(c, DetectorConfig::Novelty(ref n) if n.levels == 12.0));
    assert!(
        serde_json::from_str::<DetectorConfig>(r#"{"kind": "novelty", "levles": 12}"#).is_err()
    );
    let typo = DetectorConfig::from_json(
        "{\n  \"kind\": \"novelty\",\n  \"levles\": 12\n}",
        "d.json".as_ref(),
    );
    assert_eq!(
        typo.unwrap_err().to_string(),
        "d.json:3:3: unknown field `levles`, expected one of `warmup`, `levels`, `mean_levels`, `mean_window`, `compress`, `rest`, `min_step`, `habituation`, `habituation_span`, `season_levels`, `season_correlation`, `season_min_lag`"
    );
    let bad: DetectorConfig = serde_json::from_str(r#"{"kind": "ewma", "alpha": 2}"#).unwrap();
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("ewma.alpha"));
    assert!(DetectorConfig::named("hmm")
        .unwrap_err()
        .to_string()
        .contains("built in: novelty, ewma"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_input_gives_scores_in_range(values in proptest::collection::vec(any::<f64>(), 0..1500), step in 0.0f64..600.0) {
        for config in all() {
            let points: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, &v)| (i as f64 * step, v)).collect();
            let scores = run(&config, &points);
            for s in scores {
                prop_assert!((0.0..=1.0).contains(&s), "{}: {}", config.name(), s);
            }
        }
    }
}
