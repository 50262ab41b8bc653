//! Tests of `learn.rs`.

use super::super::window::latency_bin;
use super::*;
use proptest::prelude::*;

const SECOND: u64 = 1_000_000_000;

fn config() -> LearnedThresholds {
    LearnedThresholds {
        warmup_buckets: 10,
        snapshot_every: Duration::from_secs(60),
        ..Default::default()
    }
}

fn bucket(calls: u64, failures: u64, latency: Duration) -> (Counts, [u32; LATENCY_BINS]) {
    let mut bins = [0; LATENCY_BINS];
    bins[latency_bin(nanos(latency))] = calls as u32;
    (
        Counts {
            success: calls - failures,
            failure: failures,
            ..Default::default()
        },
        bins,
    )
}

#[test]
fn cold_learner_trips_at_the_floor_and_slows_at_the_ceiling() {
    let learner = Learner::new(config()).unwrap();
    let t = learner.thresholds();
    assert_eq!(t.failure_rate, 0.2);
    assert_eq!(t.slow_call_duration, Duration::from_secs(10));
}

#[test]
fn warm_learner_scales_the_baseline_by_the_drift_tolerance() {
    let mut learner = Learner::new(config()).unwrap();
    for i in 0..20 {
        let (counts, bins) = bucket(100, 10, Duration::from_millis(200));
        learner.on_bucket(&counts, &bins, true, true, i * SECOND);
    }
    let t = learner.thresholds();
    assert!(
        (t.failure_rate - 0.3).abs() < 1e-9,
        "3 × a 10 % baseline, got {}",
        t.failure_rate
    );
    // 200 ms falls in the bin up to 201 ms; three times that.
    assert!(
        t.slow_call_duration > Duration::from_millis(590),
        "{:?}",
        t.slow_call_duration
    );
    assert!(
        t.slow_call_duration < Duration::from_millis(720),
        "{:?}",
        t.slow_call_duration
    );
}

#[test]
fn unhealthy_buckets_teach_nothing() {
    let mut learner = Learner::new(config()).unwrap();
    let (counts, bins) = bucket(100, 90, Duration::from_secs(1));
    for i in 0..50 {
        learner.on_bucket(&counts, &bins, false, true, i * SECOND);
    }
    assert_eq!(learner.baseline(), (0.0, None));
}

#[test]
fn a_poisoned_learning_phase_is_rolled_back() {
    let mut learner = Learner::new(config()).unwrap();
    let mut now = 0;
    // Healthy: 2 % failures until the first snapshot.
    let mut snapshot = None;
    while snapshot.is_none() {
        let (counts, bins) = bucket(100, 2, Duration::from_millis(20));
        if let Step::Snapshot(s) = learner.on_bucket(&counts, &bins, true, true, now) {
            snapshot = Some(s);
        }
        now += SECOND;
    }
    let snapshot = snapshot.unwrap();
    assert_eq!(snapshot.failure_threshold, 0.2);
    // Poison: 19 % failures, each bucket just under the trip threshold, so each is learned.
    let mut rolled_back = None;
    for _ in 0..200 {
        let (counts, bins) = bucket(100, 19, Duration::from_millis(20));
        if let Step::RolledBack { to, reason } = learner.on_bucket(&counts, &bins, true, true, now)
        {
            rolled_back = Some((to, reason));
            break;
        }
        now += SECOND;
    }
    let (to, reason) = rolled_back.expect("the drift must be caught");
    assert_eq!(
        (to.version, reason),
        (snapshot.version, RollbackReason::Drift)
    );
    assert!(
        (learner.baseline().0 - 0.02).abs() < 1e-9,
        "{:?}",
        learner.baseline()
    );
    assert_eq!(learner.thresholds().failure_rate, 0.2);
    // Learning is paused after a rollback: the same poison teaches nothing for a while.
    let (counts, bins) = bucket(100, 19, Duration::from_millis(20));
    learner.on_bucket(&counts, &bins, true, true, now + SECOND);
    assert!((learner.baseline().0 - 0.02).abs() < 1e-9);
}

#[test]
fn flapping_rolls_back_to_a_snapshot_from_before_it() {
    let mut learner = Learner::new(config()).unwrap();
    let mut versions = Vec::new();
    for i in 0..200 {
        let (counts, bins) = bucket(100, 1, Duration::from_millis(20));
        if let Step::Snapshot(s) = learner.on_bucket(&counts, &bins, true, true, i * SECOND) {
            versions.push((s.version, s.taken_at));
        }
    }
    assert!(versions.len() >= 3, "{versions:?}");
    let now = 200 * SECOND;
    assert_eq!(learner.on_trip(now), Step::Nothing);
    assert_eq!(learner.on_trip(now + 10 * SECOND), Step::Nothing);
    match learner.on_trip(now + 20 * SECOND) {
        Step::RolledBack {
            to,
            reason: RollbackReason::Flapping,
        } => {
            assert!(to.taken_at < Duration::from_nanos(now));
            assert_eq!(to.version, versions.last().unwrap().0);
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
}

#[test]
fn manual_rollback_names_the_known_versions() {
    let mut learner = Learner::new(config()).unwrap();
    let err = learner.rollback_to(7, 0).unwrap_err().to_string();
    assert!(err.contains("7") && err.contains("[]"), "{err}");
}

#[test]
fn snapshots_persist_and_warm_the_next_start() {
    let dir = std::env::temp_dir().join(format!("ballast-tower-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("breaker.json");
    let _ = std::fs::remove_file(&file);
    let cfg = LearnedThresholds {
        snapshot_file: Some(file.clone()),
        ..config()
    };
    let mut learner = Learner::new(cfg.clone()).unwrap();
    for i in 0..20 {
        let (counts, bins) = bucket(100, 10, Duration::from_millis(20));
        if let Step::Snapshot(_) = learner.on_bucket(&counts, &bins, true, true, i * SECOND) {
            write_snapshots(&file, &learner.snapshots()).unwrap();
        }
    }
    let warm = Learner::new(cfg).unwrap();
    assert_eq!(warm.snapshots(), learner.snapshots());
    assert!(
        (warm.thresholds().failure_rate - 0.3).abs() < 1e-9,
        "{:?}",
        warm.thresholds()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Stationary noise (binomial failures around a fixed rate, jittered latency) keeps
    /// the learned thresholds within 25 % of what the true rate calls for and the
    /// slow-call duration within a 25 % band after warm-up, and never rolls back.
    #[test]
    fn learned_thresholds_are_stable_on_stationary_noise(
        rate_permille in 5u64..80,
        seed: u64,
        latency_ms in 5u64..500,
    ) {
        let mut learner = Learner::new(config()).unwrap();
        let mut rng = seed | 1;
        let mut next = || { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; rng };
        let mut seen = Vec::new();
        for i in 0..600u64 {
            let calls = 50 + next() % 50;
            let failures = (0..calls).filter(|_| next() % 1000 < rate_permille).count() as u64;
            let mut bins = [0; LATENCY_BINS];
            for _ in 0..calls {
                let jitter = 0.8 + (next() % 400) as f64 / 1000.0;
                bins[latency_bin((latency_ms as f64 * jitter * 1e6) as u64)] += 1;
            }
            let counts = Counts { success: calls - failures, failure: failures, ..Default::default() };
            let step = learner.on_bucket(&counts, &bins, true, true, i * SECOND);
            prop_assert!(!matches!(step, Step::RolledBack { .. }), "rolled back at {}: {:?}", i, step);
            if i >= 100 { seen.push(learner.thresholds()); }
        }
        // Within 25 % of what the true rate and latency call for: three times the rate
        // (clamped to floor and ceiling), three times the p99 bin's upper edge.
        let expected = (3.0 * rate_permille as f64 / 1000.0).clamp(0.2, 0.5);
        for t in &seen {
            prop_assert!((t.failure_rate - expected).abs() <= 0.25 * expected, "failure threshold {} for {}", t.failure_rate, expected);
        }
        let slow: Vec<f64> = seen.iter().map(|t| t.slow_call_duration.as_secs_f64()).collect();
        let (lo, hi) = (slow.iter().cloned().fold(f64::MAX, f64::min), slow.iter().cloned().fold(0.0, f64::max));
        prop_assert!(hi <= lo * 1.25, "slow-call duration wandered {lo}..{hi}");
        prop_assert!(lo >= 3.0 * latency_ms as f64 * 1e-3, "slow-call duration {lo} below 3 × the latency");
    }
}
