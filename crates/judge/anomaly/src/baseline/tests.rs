use super::*;
use crate::trend::tests::Noise;

/// A week of a p99 latency at a 5-minute step: 120 ms by night, 160 ms by day, noise.
fn week_of_latency(seed: u64) -> Series {
    let mut noise = Noise::new(seed);
    let start = 1_700_438_400.0; // Monday 2023-11-20 00:00 UTC
    Series::new(
        "p99",
        (0..7 * 288).map(|i| {
            let t = start + i as f64 * 300.0;
            let hour = (i % 288) as f64 / 12.0;
            let day = if (8.0..20.0).contains(&hour) {
                0.16
            } else {
                0.12
            };
            (t, day + 0.01 * noise.next())
        }),
    )
}

#[test]
fn finds_daily_seasonality_and_per_hour_bands() {
    let b = Baseline::compute(&week_of_latency(1), &BaselineConfig::default()).unwrap();
    assert_eq!(b.seasonality, Seasonality::Daily);
    assert!(b.daily_autocorrelation.unwrap() > 0.8);
    assert_eq!(b.weekly_autocorrelation, None);
    assert_eq!(b.slots.len(), 24);
    assert_eq!(b.slots[3].start, "03:00");
    assert!(
        (b.slots[3].expected - 0.12).abs() < 0.003,
        "{:?}",
        b.slots[3]
    );
    assert!(
        (b.slots[12].expected - 0.16).abs() < 0.003,
        "{:?}",
        b.slots[12]
    );
    assert!(b.slots[12].lower < b.slots[12].expected && b.slots[12].expected < b.slots[12].upper);
    assert_eq!(b.slots[12].samples, 7 * 12);
}

#[test]
fn proposes_a_round_threshold_that_history_meets_with_budget_to_spare() {
    let b = Baseline::compute(&week_of_latency(2), &BaselineConfig::default()).unwrap();
    let p = &b.proposal;
    assert_eq!(p.objective, 0.995);
    assert_eq!(p.threshold, 0.17);
    assert_eq!(p.windows, 2016);
    assert!(p.achieved >= 0.9975, "{p:?}");
    assert!(p.budget_used <= 0.5);
    assert!(b.alternatives.iter().any(|a| a.objective == 0.999));
    let text = b.to_text(Duration::from_secs(300));
    assert!(
        text.starts_with("proposed: p99 ≤ 0.17 holds 99.5 % of 5m windows over the last 7d"),
        "{text}"
    );
}

#[test]
fn a_contract_snippet_measures_the_proposal() {
    let b = Baseline::compute(&week_of_latency(3), &BaselineConfig::default()).unwrap();
    let yaml = b.contract_snippet(
        "checkout-p99",
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
        Duration::from_secs(300),
    );
    assert!(
        yaml.contains("  - name: checkout-p99\n    objective: \"99.5%\"\n    window: 7d\n"),
        "{yaml}"
    );
    assert!(yaml.contains("<= bool 0.17)[{{.window}}:5m]"), "{yaml}");
}

#[test]
fn higher_is_better_proposes_a_lower_bound() {
    let mut s = week_of_latency(4);
    for p in &mut s.points {
        p.v = 1000.0 - p.v * 1000.0;
    }
    let config = BaselineConfig {
        direction: Direction::Above,
        ..Default::default()
    };
    let b = Baseline::compute(&s, &config).unwrap();
    assert!(
        b.proposal.threshold <= 830.0 && b.proposal.threshold >= 820.0,
        "{:?}",
        b.proposal
    );
    assert!(b.proposal.achieved >= 0.9975);
}

#[test]
fn too_little_data_and_bad_settings_are_errors() {
    let short = Series::new("x", (0..10).map(|i| (i as f64, 1.0)));
    assert!(matches!(
        Baseline::compute(&short, &BaselineConfig::default()),
        Err(Error::TooLittleData(_))
    ));
    let bad = BaselineConfig {
        slot: Duration::from_secs(7 * 60),
        ..Default::default()
    };
    assert!(matches!(
        Baseline::compute(&week_of_latency(1), &bad),
        Err(Error::Config(_))
    ));
}

#[test]
fn rounding_keeps_two_significant_digits() {
    assert_eq!(round_up(0.1734), 0.18);
    assert_eq!(round_up(0.18), 0.18);
    assert_eq!(round_up(1234.0), 1300.0);
    assert_eq!(round_down(0.1734), 0.17);
    assert_eq!(round_up(-0.1734), -0.17);
    assert_eq!(round_up(0.0), 0.0);
}
