//! What the breaker reports: state changes, snapshots, rollbacks, mode changes.

use super::config::Mode;
use super::learn::{RollbackReason, Snapshot, TripThresholds};
use super::state::State;
use super::window::Counts;
use serde::Serialize;
use std::time::Duration;

/// Something the breaker did, as the event stream and the replay timeline report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The state changed.
    StateChanged(Transition),
    /// The learned thresholds were snapshotted.
    SnapshotTaken(Snapshot),
    /// The learned thresholds went back to a snapshot.
    RolledBack {
        /// When, on the breaker's clock.
        at: Duration,
        /// The snapshot now in force.
        to: Snapshot,
        /// Why.
        reason: RollbackReason,
    },
    /// An operator changed the mode.
    ModeChanged {
        /// When, on the breaker's clock.
        at: Duration,
        /// The new mode.
        mode: Mode,
    },
}

/// One state change and what the breaker saw when it made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// When, on the breaker's clock.
    pub at: Duration,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The window at that moment.
    pub window: Counts,
    /// The thresholds in force.
    pub thresholds: TripThresholds,
}
