use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong building or steering a layer, or reading a trace.
///
/// Failures of individual calls are not errors of this type: they are the wrapped service's
/// errors, or [`BreakerOpen`](crate::breaker::BreakerOpen), [`CallTimeout`](crate::breaker::CallTimeout).
#[derive(Debug, Error)]
pub enum Error {
    /// A setting is out of range or contradicts another.
    #[error("{field}: {message}")]
    InvalidConfig {
        /// The setting's name as written in YAML (`thresholds.learned.max_change`).
        field: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// `rollback_to` named a snapshot the breaker does not hold.
    #[error("no snapshot version {version} (held: {known:?})")]
    UnknownSnapshot {
        /// The version asked for.
        version: u64,
        /// The versions held, oldest first.
        known: Vec<u64>,
    },
    /// A breaker with static thresholds has nothing to roll back.
    #[error("breaker {name:?} has static thresholds: nothing learned to roll back")]
    NotLearning {
        /// The breaker's name.
        name: String,
    },
    /// The snapshot file could not be read or written.
    #[error("snapshot file {path}: {source}")]
    SnapshotFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The snapshot file is not a list of snapshots.
    #[error("snapshot file {path}: {message}")]
    SnapshotFormat {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A line of a recorded trace is malformed.
    #[error("{file}:{line}: {field}: {message}")]
    Trace {
        /// The trace file (or `-`).
        file: String,
        /// 1-based line number.
        line: usize,
        /// The column's name (`time_s`, `latency_ms`, `outcome`) or `header`.
        field: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A runtime probe or metric could not be set up.
    #[error("{0}")]
    Setup(String),
}
