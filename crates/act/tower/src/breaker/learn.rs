//! Learned thresholds: a baseline from healthy buckets, snapshots, rollback.
//!
//! The baseline is an exponential moving average over completed buckets of the failure rate
//! (calls and failures averaged separately, so quiet buckets weigh less) and of the log of a
//! latency quantile. Only healthy buckets teach: the breaker was closed throughout and the
//! bucket and window were below the trip thresholds, so an incident never raises the
//! baseline toward itself. What slips through (a slow creep below the thresholds) is caught
//! by comparing the thresholds with the last snapshot: a move beyond `max_change` rolls back.

use super::config::LearnedThresholds;
use super::window::{quantile, Counts, LATENCY_BINS};
use crate::clock::nanos;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

/// The limits a window is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TripThresholds {
    /// Trip at this share of failures and timeouts.
    pub failure_rate: f64,
    /// Trip at this share of slow calls.
    pub slow_call_rate: f64,
    /// A call this long or longer is slow.
    pub slow_call_duration: Duration,
}

/// The learned state at one moment, to roll back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases by one per snapshot, from 1.
    pub version: u64,
    /// When it was taken, on the breaker's clock.
    pub taken_at: Duration,
    /// Learned failure rate of healthy traffic.
    pub failure_baseline: f64,
    /// Learned latency quantile of healthy traffic.
    pub latency_baseline: Duration,
    /// The failure-rate threshold in force.
    pub failure_threshold: f64,
    /// The slow-call duration in force.
    pub slow_call_duration: Duration,
    /// Healthy buckets learned so far.
    pub learned_buckets: u64,
}

/// Why the learned thresholds were rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackReason {
    /// A threshold moved more than `max_change` since the last snapshot.
    Drift,
    /// The breaker tripped (closed → open) `flap_limit` times within `flap_window`.
    Flapping,
    /// An operator asked (`BreakerHandle::rollback_to`).
    Manual,
}

/// What a learning step did, besides learning.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Nothing,
    Snapshot(Snapshot),
    RolledBack {
        to: Snapshot,
        reason: RollbackReason,
    },
}

pub(crate) struct Learner {
    cfg: LearnedThresholds,
    calls: f64,
    failures: f64,
    log_latency: f64,
    learned: u64,
    snapshots: VecDeque<Snapshot>,
    next_version: u64,
    next_snapshot_ns: u64,
    paused_until_ns: u64,
    opens: VecDeque<u64>,
}

impl Learner {
    /// A learner with nothing learned, or warm from `cfg.snapshot_file` when it exists.
    pub(crate) fn new(cfg: LearnedThresholds) -> Result<Learner, Error> {
        let mut learner = Learner {
            cfg,
            calls: 0.0,
            failures: 0.0,
            log_latency: 0.0,
            learned: 0,
            snapshots: VecDeque::new(),
            next_version: 1,
            next_snapshot_ns: 0,
            paused_until_ns: 0,
            opens: VecDeque::new(),
        };
        if let Some(path) = learner.cfg.snapshot_file.clone() {
            if path.exists() {
                let saved = read_snapshots(&path)?;
                if let Some(newest) = saved.last().cloned() {
                    learner.next_version = newest.version + 1;
                    learner.snapshots = saved.into_iter().collect();
                    learner.restore(&newest);
                }
            }
        }
        Ok(learner)
    }

    fn warm(&self) -> bool {
        self.learned >= u64::from(self.cfg.warmup_buckets)
    }

    /// Failure-rate and latency baselines (the latency once one was learned).
    pub(crate) fn baseline(&self) -> (f64, Option<Duration>) {
        let rate = if self.calls > 0.0 {
            self.failures / self.calls
        } else {
            0.0
        };
        let latency =
            (self.learned > 0).then(|| Duration::from_nanos(self.log_latency.exp() as u64));
        (rate, latency)
    }

    /// The thresholds the window is judged against now.
    pub(crate) fn thresholds(&self) -> TripThresholds {
        let cfg = &self.cfg;
        let (rate, latency) = self.baseline();
        let scale = 1.0 + cfg.drift_tolerance;
        let (failure_rate, slow_call_duration) = match latency {
            Some(latency) if self.warm() => (
                (rate * scale).clamp(cfg.failure_rate_floor, cfg.failure_rate_ceiling),
                latency
                    .mul_f64(scale)
                    .clamp(cfg.slow_call_floor, cfg.slow_call_ceiling),
            ),
            _ => (cfg.failure_rate_floor, cfg.slow_call_ceiling),
        };
        TripThresholds {
            failure_rate,
            slow_call_rate: cfg.slow_call_rate,
            slow_call_duration,
        }
    }

    pub(crate) fn snapshots(&self) -> Vec<Snapshot> {
        self.snapshots.iter().cloned().collect()
    }

    pub(crate) fn is_paused(&self, now_ns: u64) -> bool {
        now_ns < self.paused_until_ns
    }

    /// Learns from a completed bucket if `healthy`, then checks drift and takes a snapshot
    /// when one is due. `closed` is whether the breaker is closed now (snapshots are only
    /// taken then).
    pub(crate) fn on_bucket(
        &mut self,
        counts: &Counts,
        bins: &[u32; LATENCY_BINS],
        healthy: bool,
        closed: bool,
        now_ns: u64,
    ) -> Step {
        if self.is_paused(now_ns) {
            return Step::Nothing;
        }
        if healthy && counts.calls() >= u64::from(self.cfg.min_bucket_calls) {
            if let Some(q) = quantile(bins, self.cfg.latency_quantile) {
                self.learn(counts, q);
                if let Some(reference) = self.snapshots.back().cloned() {
                    if self.moved_too_far(&reference) {
                        self.rollback(&reference, now_ns);
                        return Step::RolledBack {
                            to: reference,
                            reason: RollbackReason::Drift,
                        };
                    }
                }
            }
        }
        if closed && self.warm() && now_ns >= self.next_snapshot_ns {
            return Step::Snapshot(self.snapshot(now_ns));
        }
        Step::Nothing
    }

    fn learn(&mut self, counts: &Counts, quantile_ns: u64) {
        // A plain mean while few buckets are in (an EWMA started from the first bucket would
        // carry that one bucket's noise for a long time), the moving average after.
        let alpha = (1.0 / (self.learned + 1) as f64).max(self.cfg.learning_rate);
        let failed = (counts.failure + counts.timeout) as f64;
        self.calls += alpha * (counts.calls() as f64 - self.calls);
        self.failures += alpha * (failed - self.failures);
        self.log_latency += alpha * ((quantile_ns.max(1) as f64).ln() - self.log_latency);
        self.learned += 1;
    }

    /// Whether the learned thresholds moved more than `max_change` since `reference`. The
    /// learned values are compared *before* clamping, so a baseline creeping up under the
    /// floor (where the threshold in force does not move yet) is caught too; the floor is the
    /// unit of change for small values, so noise on a tiny baseline is not a move.
    fn moved_too_far(&self, reference: &Snapshot) -> bool {
        let cfg = &self.cfg;
        let scale = 1.0 + cfg.drift_tolerance;
        let (rate, latency) = self.baseline();
        let moved =
            |new: f64, old: f64, floor: f64| (new - old).abs() > cfg.max_change * old.max(floor);
        let latency_moved = latency.is_some_and(|l| {
            moved(
                l.as_secs_f64() * scale,
                reference.latency_baseline.as_secs_f64() * scale,
                cfg.slow_call_floor.as_secs_f64(),
            )
        });
        moved(
            rate * scale,
            reference.failure_baseline * scale,
            cfg.failure_rate_floor,
        ) || latency_moved
    }

    fn snapshot(&mut self, now_ns: u64) -> Snapshot {
        let thresholds = self.thresholds();
        let (failure_baseline, latency) = self.baseline();
        let snapshot = Snapshot {
            version: self.next_version,
            taken_at: Duration::from_nanos(now_ns),
            failure_baseline,
            latency_baseline: latency.unwrap_or_default(),
            failure_threshold: thresholds.failure_rate,
            slow_call_duration: thresholds.slow_call_duration,
            learned_buckets: self.learned,
        };
        self.next_version += 1;
        self.next_snapshot_ns = now_ns.saturating_add(nanos(self.cfg.snapshot_every));
        self.snapshots.push_back(snapshot.clone());
        while self.snapshots.len() > self.cfg.snapshots_kept as usize {
            self.snapshots.pop_front();
        }
        snapshot
    }

    /// Restores a snapshot's baseline and pauses learning for one snapshot interval, so the
    /// traffic that moved the thresholds does not move them straight back.
    fn rollback(&mut self, to: &Snapshot, now_ns: u64) {
        self.restore(to);
        let pause = nanos(self.cfg.snapshot_every);
        self.paused_until_ns = now_ns.saturating_add(pause);
        self.next_snapshot_ns = self.paused_until_ns.saturating_add(pause);
        self.opens.clear();
    }

    fn restore(&mut self, to: &Snapshot) {
        self.calls = self.calls.max(1.0);
        self.failures = to.failure_baseline * self.calls;
        self.log_latency = (to.latency_baseline.as_nanos().max(1) as f64).ln();
        self.learned = to.learned_buckets;
    }

    /// Rolls back to snapshot `version` (an operator's call).
    pub(crate) fn rollback_to(&mut self, version: u64, now_ns: u64) -> Result<Snapshot, Error> {
        let snapshot = self
            .snapshots
            .iter()
            .find(|s| s.version == version)
            .cloned()
            .ok_or_else(|| Error::UnknownSnapshot {
                version,
                known: self.snapshots.iter().map(|s| s.version).collect(),
            })?;
        self.rollback(&snapshot, now_ns);
        Ok(snapshot)
    }

    /// Notes a trip (closed → open); rolls back to the last snapshot from before the flapping began when
    /// there were `flap_limit` openings within `flap_window`.
    pub(crate) fn on_trip(&mut self, now_ns: u64) -> Step {
        let window = nanos(self.cfg.flap_window);
        self.opens.push_back(now_ns);
        while self
            .opens
            .front()
            .is_some_and(|&t| now_ns.saturating_sub(t) > window)
        {
            self.opens.pop_front();
        }
        if self.opens.len() < self.cfg.flap_limit as usize {
            return Step::Nothing;
        }
        let first = Duration::from_nanos(self.opens[0]);
        let target = self
            .snapshots
            .iter()
            .rev()
            .find(|s| s.taken_at < first)
            .or(self.snapshots.front())
            .cloned();
        match target {
            Some(to) => {
                self.rollback(&to, now_ns);
                Step::RolledBack {
                    to,
                    reason: RollbackReason::Flapping,
                }
            }
            None => Step::Nothing,
        }
    }

    pub(crate) fn snapshot_file(&self) -> Option<&Path> {
        self.cfg.snapshot_file.as_deref()
    }
}

/// Reads a snapshot file written by [`write_snapshots`].
pub(crate) fn read_snapshots(path: &Path) -> Result<Vec<Snapshot>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::SnapshotFile {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::SnapshotFormat {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Writes the snapshots atomically: a temporary file beside the target, synced, then renamed
/// over it, so a crash leaves the old file or the new one, never half of one.
pub(crate) fn write_snapshots(path: &Path, snapshots: &[Snapshot]) -> Result<(), Error> {
    use std::io::Write;
    let fail = |source| Error::SnapshotFile {
        path: path.into(),
        source,
    };
    let text = serde_json::to_vec_pretty(snapshots).map_err(|e| fail(e.into()))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary).map_err(fail)?;
    file.write_all(&text).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

#[cfg(test)]
mod tests {
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
            if let Step::RolledBack { to, reason } =
                learner.on_bucket(&counts, &bins, true, true, now)
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
}
