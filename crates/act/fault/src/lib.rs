//! ballast's process and resource faults (*act*): signals to a target, pausing it,
//! stressors that compete with it for CPU, memory and disk, and child cgroups that hold
//! it under a memory limit or CPU quota.
//!
//! - [`Signal`] parses `SIGKILL`, `KILL`, `kill` or `9`; [`signal_pid`], [`signal_group`]
//!   and [`can_signal`] send it (or check that it could be sent).
//! - [`Pause`] stops a process group with `SIGSTOP` and continues it on
//!   [`Pause::resume`] or drop.
//! - [`StressConfig`] (cpu, memory or io) is checked by [`StressConfig::validate`] and
//!   started by [`StressConfig::build`] as worker processes made with `fork()` (no exec,
//!   so it works from any binary); [`Stressor`] kills and reaps them on
//!   [`stop`](Stressor::stop) or drop. Workers exit by themselves within 100 ms when the
//!   process that started them is gone.
//! - [`GroupConfig::build`] makes a [`ChildGroup`] under this process's own cgroups (v1:
//!   one directory per controller; v2: one directory), with a memory limit and a CPU
//!   quota to set and read back, a [`joiner`](ChildGroup::joiner) for
//!   `Command::pre_exec`, and removal of everything on [`remove`](ChildGroup::remove) or
//!   drop. [`sweep_stale`] removes groups left by a run that died.
//! - What must not outlive ballast is also kept in a fixed table that an `atexit` hook
//!   reads: paused groups are continued and stressors killed on every normal exit
//!   (`std::process::exit` included), even if the values that own them never drop.
//!
//! ```
//! use ballast_fault::{Signal, StressConfig};
//!
//! let kill: Signal = "kill".parse()?;
//! assert_eq!((kill.name(), kill.number()), ("SIGKILL", 9));
//!
//! // One worker keeping a fifth of one of our CPUs busy, for a moment.
//! let cpus = ballast_fault::target_cpus(std::process::id())?;
//! let stress = StressConfig::Cpu {
//!     workers: 1,
//!     load_percent: 20,
//!     cpus: Some(vec![cpus[0]]),
//!     cgroup: vec![],
//! }
//! .build()?;
//! assert_eq!(stress.pids().len(), 1);
//! ballast_fault::can_signal(stress.pids()[0])?;
//! stress.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod cgroup;
mod exit;
mod signal;
mod stress;
mod system;

pub use cgroup::{sweep_stale, ChildGroup, GroupConfig};
pub use signal::{can_signal, signal_group, signal_pid, Pause, Signal};
pub use stress::{StressConfig, Stressor, WorkerExit, MAX_WORKERS};
pub use system::{memory_total, target_cpus};

use std::path::PathBuf;

/// Why a fault cannot be set up, started or undone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is invalid.
    #[error("{field}: {reason}")]
    Config {
        /// The field (`workers`, `load_percent`, `dir`, …).
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A signal could not be sent.
    #[error("sending {signal} to {target}: {source}{hint}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// `process 123` or `process group 123`.
        target: String,
        /// The error from `kill(2)`.
        source: std::io::Error,
        /// A hint (may be empty).
        hint: &'static str,
    },
    /// A cgroup cannot be created, written, read or removed.
    #[error("cgroup {}: {reason}", path.display())]
    Cgroup {
        /// The directory or file.
        path: PathBuf,
        /// What failed and why, with a hint.
        reason: String,
    },
    /// A stressor worker could not be started or stopped.
    #[error("stressor: {0}")]
    Stressor(String),
    /// A file or directory cannot be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// This process's cgroups cannot be found.
    #[error("finding this process's cgroups: {0}")]
    Proc(#[from] ballast_proc::Error),
}

/// A hint for an error number from a kernel interface, or "".
pub(crate) fn hint(errno: Option<i32>) -> &'static str {
    match errno {
        Some(libc::EPERM) | Some(libc::EACCES) => " (not permitted: not root?)",
        Some(libc::EROFS) => " (mounted read-only)",
        Some(libc::ENOENT) => " (not there: controller not mounted?)",
        Some(libc::ESRCH) => " (no such process)",
        _ => "",
    }
}

/// A pid as the kernel's `pid_t`, refusing 0 (our own group to `kill`) and values that
/// would turn negative (a process group to `kill`).
pub(crate) fn pid_t(field: &'static str, pid: u32) -> Result<libc::pid_t, Error> {
    match libc::pid_t::try_from(pid) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::Config {
            field,
            reason: format!("{pid} is not a process id (expected 1..={})", i32::MAX),
        }),
    }
}
