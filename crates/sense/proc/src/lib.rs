//! ballast's process and cgroup watcher (*sense*): what a process tree uses and what
//! its cgroup says about it, read from `/proc` and the cgroup file systems.
//!
//! - [`WatchConfig`] names the process — by pid, or by `comm` name (the newest match;
//!   a new pid counts as a restart), optionally only inside another process's tree —
//!   and [`WatchConfig::build`] checks it into a [`Watcher`].
//! - [`Watcher::sample_now`] returns a [`Sample`]: the main process's identity, restarts
//!   so far, totals over the process and its descendants ([`TreeStats`]: RSS, threads,
//!   descriptors, CPU time), the cgroup's memory, CPU and pressure ([`CgroupStats`]), and
//!   the system's pressure. [`Watcher::spawn`] samples on a tokio task into a bounded
//!   history.
//! - cgroup v1, v2 and the hybrid layout are told apart at run time from
//!   `/proc/self/mountinfo` and `/proc/PID/cgroup` ([`cgroup::locate`]). The groups are
//!   found from the process once, at the first sample that sees it, and kept: when the
//!   process is OOM-killed its group's counters are still read, so the kill is counted.
//! - A value that cannot be read is `None`, never 0; why is in [`Sample::errors`].
//! - The parsers ([`parse`]) do no I/O and never panic, for recorded trees and fuzzing.
//!
//! ```
//! use ballast_proc::WatchConfig;
//!
//! let watcher = WatchConfig::pid(std::process::id()).build()?;
//! let sample = watcher.sample_now();
//! assert_eq!(sample.main.map(|m| m.pid), Some(std::process::id()));
//! let tree = sample.tree.as_ref().expect("this process runs");
//! assert!(tree.rss_bytes > 0 && tree.threads >= 1);
//! if let Some(memory) = sample.cgroup.as_ref().and_then(|c| c.memory.as_ref()) {
//!     println!("memory cgroup {} ({:?}): {:?} bytes in use, {:?} OOM kills",
//!         memory.path.display(), memory.version, memory.current_bytes, memory.oom_kills);
//! }
//! # Ok::<(), ballast_proc::Error>(())
//! ```
#![deny(missing_docs)]

pub mod cgroup;
mod config;
pub mod parse;
mod table;
mod watch;

pub use cgroup::{CgroupPaths, CgroupStats, CpuStats, MemoryStats, PressureSet, Version};
pub use config::{CgroupChoice, WatchConfig, COMM_MAX};
pub use table::{group_members, tree_of, ProcessId, ProcessTable};
pub use watch::{Periodic, Sample, TreeStats, Watcher};

use std::path::PathBuf;

/// Why a watch cannot be set up, or a file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration field is invalid.
    #[error("{field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A kernel file is not in the expected format.
    #[error("{}:{line}: {reason}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What was expected.
        reason: String,
    },
    /// A file or directory cannot be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
