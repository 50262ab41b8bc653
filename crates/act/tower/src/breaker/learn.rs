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
        // Room for every snapshot kept and the one pushed before the oldest leaves, so
        // taking a snapshot (on the call path, once per `snapshot_every`) never allocates.
        let room = cfg.snapshots_kept as usize + 1;
        let mut learner = Learner {
            cfg,
            calls: 0.0,
            failures: 0.0,
            log_latency: 0.0,
            learned: 0,
            snapshots: VecDeque::with_capacity(room),
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
                    learner.snapshots.extend(saved);
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
#[path = "learn_tests.rs"]
mod tests;
