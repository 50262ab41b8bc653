//! Child cgroups for a spawned target: created under this process's own groups, limited,
//! joined, and removed with everything in them.
//!
//! v1 binds each controller to its own hierarchy, so a v1 group is one directory per
//! controller (`memory/…/x`, `cpu/…/x`, and `cpuacct/…/x` where that is mounted apart
//! from `cpu`, so that the group's CPU use can be read). v2 is one directory; a controller
//! shows in a child only once the parent lists it in `cgroup.subtree_control`, which is
//! done here when needed and undone on removal.

use crate::stress::write_zero;
use crate::{hint, pid_t, Error};
use ballast_proc::parse::{self, Limit};
use ballast_proc::{CgroupPaths, Version};
use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long removal keeps killing and retrying `rmdir`.
const REMOVE_WITHIN: Duration = Duration::from_secs(10);

/// The period written with a v2 quota (the kernel's default; v1 keeps the group's own).
const PERIOD_USEC: u64 = 100_000;

mod config;
mod sweep;

pub use config::GroupConfig;
pub use sweep::sweep_stale;

fn cgroup_err(path: &Path, reason: String) -> Error {
    Error::Cgroup {
        path: path.to_path_buf(),
        reason,
    }
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(|e| {
        let h = hint(e.raw_os_error());
        cgroup_err(path, format!("writing {value:?}: {e}{h}"))
    })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        let h = hint(e.raw_os_error());
        cgroup_err(path, format!("reading: {e}{h}"))
    })
}

fn parsed<T>(
    path: &Path,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, parse::ParseError>,
) -> Result<T, Error> {
    parse(text).map_err(|e| cgroup_err(path, format!("unexpected content: {}", e.reason)))
}

fn procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
/// A cgroup made for a target: a memory limit and CPU quota to set and read back, ways to
/// put processes in, and removal. Drop removes it (best effort, errors to stderr).
#[derive(Debug)]
pub struct ChildGroup {
    memory: Option<(Version, PathBuf)>,
    cpu: Option<(Version, PathBuf)>,
    cpuacct: Option<PathBuf>,
    /// Every directory made, in order.
    dirs: Vec<PathBuf>,
    /// v2 parents and the controllers enabled in their `cgroup.subtree_control`.
    enabled: Vec<(PathBuf, String)>,
    removed: bool,
}

impl ChildGroup {
    /// v1 or v2 (the memory controller's, else the cpu controller's).
    pub fn version(&self) -> Version {
        self.memory
            .as_ref()
            .or(self.cpu.as_ref())
            .map_or(Version::V2, |(v, _)| *v)
    }

    /// Every directory of the group (pass them to a stressor's `cgroup`, or join them).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.clone()
    }

    /// The memory controller's directory.
    pub fn memory_dir(&self) -> Option<&Path> {
        self.memory.as_ref().map(|(_, d)| d.as_path())
    }

    /// The cpu controller's directory.
    pub fn cpu_dir(&self) -> Option<&Path> {
        self.cpu.as_ref().map(|(_, d)| d.as_path())
    }

    /// The group as `ballast_proc` reads it (`ballast_proc::cgroup::read`): memory, OOM
    /// kills, CPU use and throttling of what runs inside.
    pub fn paths(&self) -> CgroupPaths {
        let unified = [&self.memory, &self.cpu]
            .into_iter()
            .flatten()
            .find(|(v, _)| *v == Version::V2)
            .map(|(_, d)| d.clone());
        CgroupPaths {
            memory: self.memory.clone(),
            cpu: self.cpu.clone(),
            cpuacct: self.cpuacct.clone(),
            unified,
        }
    }

    /// For `Command::pre_exec`: moves the child into every directory of the group, between
    /// fork and exec. Async-signal-safe (the paths are prepared here).
    pub fn joiner(&self) -> impl Fn() -> std::io::Result<()> + Send + Sync + 'static {
        let procs: Vec<CString> = self
            .dirs
            .iter()
            .filter_map(|d| CString::new(d.join("cgroup.procs").into_os_string().into_vec()).ok())
            .collect();
        move || {
            for p in &procs {
                // SAFETY: open/write/close on a prepared path.
                unsafe { write_zero(p) }.map_err(std::io::Error::from_raw_os_error)?;
            }
            Ok(())
        }
    }

    /// Moves process `pid` (all its threads) into every directory of the group.
    pub fn add_pid(&self, pid: u32) -> Result<(), Error> {
        pid_t("pid", pid)?;
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn memory_or_err(&self) -> Result<&(Version, PathBuf), Error> {
        self.memory.as_ref().ok_or_else(|| Error::Config {
            field: "memory",
            reason: "this group was made without the memory controller".into(),
        })
    }

    fn cpu_or_err(&self) -> Result<&(Version, PathBuf), Error> {
        self.cpu.as_ref().ok_or_else(|| Error::Config {
            field: "cpus",
            reason: "this group was made without the cpu controller".into(),
        })
    }

    /// Limits the group's memory, and its swap to nothing (v1 `memory.limit_in_bytes` and
    /// `memory.memsw.limit_in_bytes` where swap accounting is on; v2 `memory.max` and
    /// `memory.swap.max` 0). `None`: no limit (and swap as the parent allows).
    pub fn set_memory_limit(&self, bytes: Option<u64>) -> Result<(), Error> {
        if bytes == Some(0) {
            return Err(Error::Config {
                field: "memory",
                reason: "a limit of 0 bytes; use None for no limit".into(),
            });
        }
        let (version, dir) = self.memory_or_err()?;
        match version {
            Version::V1 => {
                let value = bytes.map_or("-1".to_string(), |b| b.to_string());
                let limit = dir.join("memory.limit_in_bytes");
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                if !memsw.exists() {
                    return write(&limit, &value);
                }
                // The kernel keeps memsw >= the memory limit at every step: raise memsw
                // first, lower the memory limit first.
                let current = match parsed(&limit, &read(&limit)?, parse::limit)? {
                    Limit::Max => None,
                    Limit::Bytes(b) => Some(b),
                };
                let raising = match (bytes, current) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(new), Some(old)) => new > old,
                };
                if raising {
                    write(&memsw, &value)?;
                    write(&limit, &value)
                } else {
                    write(&limit, &value)?;
                    write(&memsw, &value)
                }
            }
            Version::V2 => {
                write(
                    &dir.join("memory.max"),
                    &bytes.map_or("max".to_string(), |b| b.to_string()),
                )?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, if bytes.is_some() { "0" } else { "max" })?;
                }
                Ok(())
            }
        }
    }

    /// The memory limit, `None` for none (v1 rounds a limit down to whole pages).
    pub fn memory_limit(&self) -> Result<Option<u64>, Error> {
        let (version, dir) = self.memory_or_err()?;
        let file = dir.join(match version {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        });
        Ok(match parsed(&file, &read(&file)?, parse::limit)? {
            Limit::Max => None,
            Limit::Bytes(b) => Some(b),
        })
    }

    /// Limits the group to `cores` CPUs' worth of time (0.01 to 4096; `0.5` = half of
    /// one), `None` for no limit (v1 `cpu.cfs_quota_us` over `cpu.cfs_period_us`; v2
    /// `cpu.max`).
    pub fn set_cpu_quota(&self, cores: Option<f64>) -> Result<(), Error> {
        if let Some(c) = cores {
            if !(0.01..=4096.0).contains(&c) {
                return Err(Error::Config {
                    field: "cpus",
                    reason: format!("must be 0.01 to 4096 CPUs, got {c}"),
                });
            }
        }
        let (version, dir) = self.cpu_or_err()?;
        match version {
            Version::V1 => {
                let Some(c) = cores else {
                    return write(&dir.join("cpu.cfs_quota_us"), "-1");
                };
                let period_file = dir.join("cpu.cfs_period_us");
                let period = parsed(&period_file, &read(&period_file)?, parse::single)?;
                // The kernel takes at least 1 ms.
                let quota = ((c * period as f64).round() as u64).max(1000);
                write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())
            }
            Version::V2 => {
                let value = match cores {
                    Some(c) => format!(
                        "{} {PERIOD_USEC}",
                        ((c * PERIOD_USEC as f64).round() as u64).max(1000)
                    ),
                    None => format!("max {PERIOD_USEC}"),
                };
                write(&dir.join("cpu.max"), &value)
            }
        }
    }

    /// The CPU quota in CPUs, `None` for none.
    pub fn cpu_quota(&self) -> Result<Option<f64>, Error> {
        let (version, dir) = self.cpu_or_err()?;
        let max = match version {
            Version::V1 => {
                let q = dir.join("cpu.cfs_quota_us");
                let p = dir.join("cpu.cfs_period_us");
                let (quota, period) = (read(&q)?, read(&p)?);
                parse::cfs_quota(&quota, &period)
                    .map_err(|e| cgroup_err(&q, format!("unexpected content: {}", e.reason)))?
            }
            Version::V2 => {
                let f = dir.join("cpu.max");
                parsed(&f, &read(&f)?, parse::cpu_max)?
            }
        };
        Ok(max.cpus())
    }

    /// The processes in the group (in any of its directories), ascending.
    pub fn pids(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.dirs.iter().flat_map(|d| procs(d)).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Kills what is left inside (`SIGKILL`), removes every directory once empty and
    /// undoes what was enabled in a v2 parent's `cgroup.subtree_control`.
    pub fn remove(mut self) -> Result<(), Error> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> Result<(), Error> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let mut problems = remove_dirs(self.dirs.clone());
        for (parent, controllers) in self.enabled.drain(..) {
            // Another group under the same parent may still use the controllers.
            let others = std::fs::read_dir(&parent)
                .map(|entries| entries.flatten().any(|e| e.path().is_dir()))
                .unwrap_or(true);
            if others {
                continue;
            }
            let value = controllers
                .split_whitespace()
                .map(|c| format!("-{c}"))
                .collect::<Vec<_>>()
                .join(" ");
            if let Err(e) = write(&parent.join("cgroup.subtree_control"), &value) {
                problems.push(e.to_string());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(cgroup_err(
                self.dirs.first().map_or(Path::new("?"), |d| d.as_path()),
                format!("removing: {}", problems.join("; ")),
            ))
        }
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            eprintln!("ballast-fault: {e}");
        }
    }
}
/// Kills the processes in `dirs` and removes the directories, retrying for a while;
/// returns what could not be done.
fn remove_dirs(mut dirs: Vec<PathBuf>) -> Vec<String> {
    let deadline = Instant::now() + REMOVE_WITHIN;
    loop {
        for dir in &dirs {
            for pid in procs(dir) {
                if let Ok(p) = libc::pid_t::try_from(pid) {
                    // SAFETY: kill(2) on a process listed in a group we made.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
        dirs.retain(|dir| match std::fs::remove_dir(dir) {
            Ok(()) => false,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        });
        if dirs.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    dirs.iter()
        .map(|d| {
            format!(
                "{} still there after {REMOVE_WITHIN:?} (holding {:?})",
                d.display(),
                procs(d)
            )
        })
        .collect()
}
#[cfg(test)]
mod tests;
