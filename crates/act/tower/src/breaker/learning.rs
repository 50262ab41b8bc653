//! The slow path of [`Shared`]: learning from each completed bucket (once per bucket, by
//! whichever call opened the next one), snapshots, rollbacks and their announcements.

use super::{Event, Shared};
use crate::breaker::learn::{self, Learner, RollbackReason, Snapshot, Step, TripThresholds};
use crate::breaker::state::{State, Word};
use crate::clock::nanos;
use crate::Error;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

pub(super) struct Learning {
    pub(super) learner: Learner,
    pub(super) transitions_seen: u64,
    /// The last bucket learned: with one ring per shard, each shard's first call of a
    /// bucket reports it new, and a bucket is learned once.
    pub(super) last_learned: Option<u64>,
}

impl Shared {
    pub(super) fn on_new_bucket(&self, now_ns: u64) {
        let Some(learning) = &self.learning else {
            return;
        };
        // Whoever opened the bucket learns; if an operator holds the lock, skip this bucket
        // rather than wait on the call path.
        let Ok(mut learning) = learning.try_lock() else {
            return;
        };
        let previous = self.window.index(now_ns).saturating_sub(1);
        if learning.last_learned.is_some_and(|last| last >= previous) {
            return;
        }
        learning.last_learned = Some(previous);
        let Some((counts, bins)) = self.window.bucket(previous) else {
            return;
        };
        let transitions = self.transitions.load(Acquire);
        let closed = Word::unpack(self.word.0.load(Acquire)).state == State::Closed;
        let t = self.thresholds();
        let window = self
            .window
            .sum(previous * self.bucket_ns, self.window_from.load(Acquire));
        // The window judges health; a bucket alone only when it holds enough calls to mean
        // something (one failure in a 5-call bucket is 20 %: excluding such buckets would
        // teach a baseline below the truth).
        let bucket_judged = counts.calls() >= self.minimum_calls;
        let healthy = closed
            && transitions == learning.transitions_seen
            && !(bucket_judged && counts.failure_rate() >= t.failure_rate)
            && !(bucket_judged && counts.slow_rate() >= t.slow_call_rate)
            && window.failure_rate() < t.failure_rate
            && window.slow_rate() < t.slow_call_rate;
        learning.transitions_seen = transitions;
        let step = learning
            .learner
            .on_bucket(&counts, &bins, healthy, closed, now_ns);
        // What to write, only when a snapshot was taken: copying the path and the
        // snapshots on every bucket would allocate on the call path once a second.
        let file = match step {
            Step::Snapshot(_) => learning
                .learner
                .snapshot_file()
                .map(|p| (p.to_path_buf(), learning.learner.snapshots())),
            _ => None,
        };
        let thresholds = learning.learner.thresholds();
        drop(learning);
        self.publish(thresholds);
        if let Some((path, snapshots)) = file {
            persist(path, snapshots);
        }
        self.after_step(step, now_ns);
    }

    pub(super) fn after_step(&self, step: Step, now_ns: u64) {
        match step {
            Step::Nothing => {}
            Step::Snapshot(snapshot) => {
                tracing::debug!(breaker = %self.name, version = snapshot.version,
                    failure_threshold = snapshot.failure_threshold, "breaker thresholds snapshotted");
                let _ = self.events.send(Event::SnapshotTaken(snapshot));
            }
            Step::RolledBack { to, reason } => {
                if let Some(learning) = &self.learning {
                    let thresholds = learning
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .learner
                        .thresholds();
                    self.publish(thresholds);
                }
                self.totals.0.rollbacks.fetch_add(1, Relaxed);
                tracing::warn!(breaker = %self.name, version = to.version, ?reason,
                    "breaker thresholds rolled back");
                let _ = self.events.send(Event::RolledBack {
                    at: Duration::from_nanos(now_ns),
                    to,
                    reason,
                });
            }
        }
    }

    pub(super) fn publish(&self, t: TripThresholds) {
        self.failure_rate_bits
            .store(t.failure_rate.to_bits(), Release);
        self.slow_rate_bits
            .store(t.slow_call_rate.to_bits(), Release);
        self.slow_ns.store(nanos(t.slow_call_duration), Release);
    }

    pub(crate) fn with_learner<T>(&self, f: impl FnOnce(&mut Learner) -> T) -> Option<T> {
        let learning = self.learning.as_ref()?;
        let mut guard = learning.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut guard.learner))
    }

    pub(crate) fn rollback_to(&self, version: u64, now_ns: u64) -> Result<Snapshot, Error> {
        let result = self
            .with_learner(|l| l.rollback_to(version, now_ns))
            .ok_or_else(|| Error::NotLearning {
                name: self.name.clone(),
            })?;
        let to = result?;
        self.after_step(
            Step::RolledBack {
                to: to.clone(),
                reason: RollbackReason::Manual,
            },
            now_ns,
        );
        Ok(to)
    }
}

/// Writes the snapshot file off the async threads when there is a runtime, else here.
fn persist(path: std::path::PathBuf, snapshots: Vec<Snapshot>) {
    let write = move || {
        if let Err(e) = learn::write_snapshots(&path, &snapshots) {
            tracing::warn!(error = %e, "cannot persist breaker snapshots");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(write)),
        Err(_) => write(),
    }
}
