//! The novelty detector's own parts: the period finder, the seasonal channel, the jump
//! filter and habituation. Properties shared by every detector are in `detect/tests.rs`.

use super::season::period;
use super::*;

fn run(config: &NoveltyConfig, values: &[f64]) -> Vec<f64> {
    let mut d = Novelty::new(config, values.len());
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| d.score(i as f64 * 300.0, v))
        .collect()
}

/// A day of 48 points: quiet nights, a jump to a busy day, a little noise.
fn daily(i: usize) -> f64 {
    let noise = ((i * 7919) % 13) as f64 * 0.1;
    if i % 48 >= 20 && i % 48 < 32 {
        80.0 + noise
    } else {
        20.0 + noise
    }
}

/// Noise in [0, 1) without a period (splitmix64 of the index).
fn hash(i: usize) -> f64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as f64 / 2f64.powi(64)
}

#[test]
fn the_period_is_found_only_where_there_is_one() {
    let daily_values: Vec<f64> = (0..600).map(daily).collect();
    assert_eq!(period(&daily_values, 24, 0.7), Some(48));
    let noise: Vec<f64> = (0..600).map(hash).collect();
    assert_eq!(period(&noise, 24, 0.7), None);
    assert_eq!(period(&[5.0; 600], 24, 0.7), None);
    assert_eq!(period(&[], 24, 0.7), None);
    assert_eq!(period(&[1.0, 2.0, 3.0], 24, 0.7), None);
    let huge: Vec<f64> = (0..600)
        .map(|i| if i % 2 == 0 { 1e300 } else { -1e300 })
        .collect();
    assert_eq!(period(&huge, 24, 0.7), None, "an overflowing variance");
}

#[test]
fn a_missing_daily_jump_is_news_though_every_value_is_ordinary() {
    let mut values: Vec<f64> = (0..2000).map(daily).collect();
    // Day 30 never gets busy.
    for v in &mut values[30 * 48 + 20..30 * 48 + 32] {
        *v -= 60.0;
    }
    let config = NoveltyConfig::default();
    let scores = run(&config, &values);
    let alerts: Vec<usize> = (0..values.len()).filter(|&i| scores[i] > 0.0).collect();
    assert_eq!(alerts, vec![30 * 48 + 20], "{alerts:?}");
    // Without it (and without the mean channel, which sees the day's mean drop later),
    // nothing: each value is one the warm-up knows.
    let off = NoveltyConfig {
        season_correlation: 1.5,
        mean_window: 0,
        ..Default::default()
    };
    assert!(run(&off, &values).iter().all(|s| *s == 0.0));
}

#[test]
fn a_spike_does_not_echo_one_period_later() {
    // A rhythm of 9 points (the period found is a multiple of it), one spike: one alert,
    // not a second one when the spike is a period old.
    let values: Vec<f64> = (0..3000)
        .map(|i| {
            if i == 1500 {
                900.0
            } else {
                100.0 + (i % 9) as f64
            }
        })
        .collect();
    let mut d = Novelty::new(&NoveltyConfig::default(), 0);
    let scores: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| d.score(i as f64, v))
        .collect();
    assert!(d.season.is_some());
    let alerts: Vec<usize> = (0..values.len()).filter(|&i| scores[i] > 0.0).collect();
    assert_eq!(alerts, vec![1500]);
}

#[test]
fn creeping_into_the_next_cell_is_drift_but_jumping_there_is_news() {
    // A warm-up over 0, 0.1, .., 1.2 in steps of 0.2 (and one wrap-around), a cell per
    // value; beyond 1.33 lies the next cell. The series creeps there in steps of 0.01.
    let warm = |i: usize| ((i * 2) % 13) as f64 * 0.1;
    let mut creep: Vec<f64> = (0..1000).map(warm).collect();
    creep.extend((0..=20).map(|k| 1.2 + k as f64 * 0.01));
    creep.extend((1021..1500).map(warm));
    // (The warm-up repeats every 13 points: the seasonal channel, off here, would see
    // the creep as a change from a period ago.)
    let config = NoveltyConfig {
        mean_window: 0,
        warmup: Some(300),
        season_correlation: 1.5,
        ..Default::default()
    };
    assert!(run(&config, &creep).iter().all(|s| *s == 0.0));
    // Jumping there from 0 is news.
    let mut jump: Vec<f64> = (0..1000).map(warm).collect();
    jump.extend([0.0, 1.4]);
    let scores = run(&config, &jump);
    assert!(scores[1001] >= 0.6, "{}", scores[1001]);
    // Creeping on, cell after cell, stays drift for the value channel; the mean channel
    // is the one that sees the level leave its range.
    let mut far: Vec<f64> = (0..1000).map(warm).collect();
    far.extend((0..=100).map(|k| 1.2 + k as f64 * 0.01));
    assert!(run(&config, &far).iter().all(|s| *s == 0.0));
    let with_mean = NoveltyConfig {
        mean_window: 120,
        ..config
    };
    assert!(run(&with_mean, &far).iter().any(|s| *s > 0.0));
}

#[test]
fn a_series_that_keeps_finding_new_cells_is_trusted_less() {
    // A staircase: a new level every 200 points, each a jump into a new cell.
    let values: Vec<f64> = (0..3000)
        .map(|i| {
            let noise = ((i * 7919) % 7) as f64 * 0.1;
            if i < 1000 {
                noise
            } else {
                ((i - 1000) / 200 + 1) as f64 * 2.0 + noise
            }
        })
        .collect();
    let config = NoveltyConfig {
        mean_window: 0,
        ..Default::default()
    };
    let alerts: Vec<f64> = run(&config, &values)
        .into_iter()
        .filter(|s| *s > 0.0)
        .collect();
    assert!(alerts.len() >= 5, "{alerts:?}");
    let plain = NoveltyConfig {
        habituation: 0.0,
        ..config
    };
    let undamped: Vec<f64> = run(&plain, &values)
        .into_iter()
        .filter(|s| *s > 0.0)
        .collect();
    assert_eq!(undamped.len(), alerts.len());
    assert!(undamped.iter().all(|s| *s >= 0.6), "{undamped:?}");
    // The same alerts, each damped by the ones before it (the first by none).
    assert_eq!(alerts[0], undamped[0]);
    for (k, (a, u)) in alerts.iter().zip(&undamped).enumerate().skip(1) {
        assert!(*a < u * 0.8, "alert {k}: {a} against {u}");
    }
}

#[test]
fn a_periodic_series_keeps_its_memory_bounded() {
    let mut d = Novelty::new(&NoveltyConfig::default(), 0);
    let mut after_warmup = 0;
    for i in 0..50_000usize {
        // A daily cycle whose level wanders: the seasonal channel runs and keeps finding cells.
        d.score(i as f64, daily(i) + (i as f64).sqrt());
        if i == 1000 {
            after_warmup = d.memory_bytes();
        }
    }
    assert!(d.season.is_some());
    let end = d.memory_bytes();
    assert!(
        end <= after_warmup && end < 64 * 1024,
        "{after_warmup} then {end}"
    );
}

#[test]
fn settings_are_checked() {
    for bad in [
        r#"{"min_step": -1}"#,
        r#"{"habituation": 11}"#,
        r#"{"habituation_span": 0}"#,
        r#"{"season_levels": 0.5}"#,
        r#"{"season_correlation": 3}"#,
        r#"{"season_min_lag": 0}"#,
        r#"{"season_min_lag": 5000}"#,
    ] {
        let c: NoveltyConfig = serde_json::from_str(bad).unwrap();
        assert!(c.validate().is_err(), "{bad}");
    }
    NoveltyConfig::default().validate().unwrap();
}
