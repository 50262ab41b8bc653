//! Finding a process's cgroups (v1, v2 or both — the hybrid layout — as mounted on this
//! machine) and reading their memory, CPU and pressure files.
//!
//! A controller is bound to one hierarchy at a time, so a controller mounted as v1 is
//! read from v1 and everything else from the v2 group (which is also where PSI lives).

use crate::parse::{self, CgroupLine, CpuMax, Limit, Mount, Pressure};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    /// cgroup v1 (one hierarchy per controller, or a few controllers together).
    V1,
    /// cgroup v2 (one unified hierarchy).
    V2,
}

/// The directories to read, found once from a process and then kept: after the process
/// is gone (OOM-killed, say) its group still holds the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    /// The memory controller's group.
    pub memory: Option<(Version, PathBuf)>,
    /// The cpu controller's group (v1 `cpu`, or the v2 group).
    pub cpu: Option<(Version, PathBuf)>,
    /// v1 `cpuacct`'s group (CPU usage in v1).
    pub cpuacct: Option<PathBuf>,
    /// The v2 group, for pressure (PSI) files; also set on hybrid machines.
    pub unified: Option<PathBuf>,
}

impl CgroupPaths {
    /// One v2 group for everything (a pure v2 host, or a recorded tree).
    pub fn v2(dir: impl Into<PathBuf>) -> CgroupPaths {
        let dir = dir.into();
        CgroupPaths {
            memory: Some((Version::V2, dir.clone())),
            cpu: Some((Version::V2, dir.clone())),
            cpuacct: None,
            unified: Some(dir),
        }
    }
}

/// Joins a cgroup path onto a mount of its hierarchy. A mount of a subtree (its `root`
/// is not `/`) serves paths under that subtree; inside a cgroup namespace the paths are
/// already relative to the mount.
fn under_mount(mount: &Mount, path: &str) -> PathBuf {
    let rel = if mount.root != "/"
        && (path == mount.root || path.starts_with(&format!("{}/", mount.root)))
    {
        &path[mount.root.len()..]
    } else {
        path
    };
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount.mount_point.clone()
    } else {
        mount.mount_point.join(rel)
    }
}

/// Where a process's groups are, from the mounts (`/proc/self/mountinfo`) and its
/// `/proc/PID/cgroup` lines.
pub fn locate(mounts: &[Mount], lines: &[CgroupLine]) -> CgroupPaths {
    let v1 = |controller: &str| -> Option<PathBuf> {
        let line = lines
            .iter()
            .find(|l| l.hierarchy != 0 && l.controllers.iter().any(|c| c == controller))?;
        let mount = mounts
            .iter()
            .filter(|m| m.v1_controllers().contains(&controller))
            .find(|m| {
                m.root == "/"
                    || line.path == m.root
                    || line.path.starts_with(&format!("{}/", m.root))
            })
            .or_else(|| {
                mounts
                    .iter()
                    .find(|m| m.v1_controllers().contains(&controller))
            })?;
        Some(under_mount(mount, &line.path))
    };
    let unified = lines
        .iter()
        .find(|l| l.hierarchy == 0 && l.controllers.is_empty())
        .and_then(|line| {
            let mount = mounts.iter().find(|m| m.fs_type == "cgroup2")?;
            Some(under_mount(mount, &line.path))
        });
    let memory = v1("memory")
        .map(|p| (Version::V1, p))
        .or_else(|| unified.clone().map(|p| (Version::V2, p)));
    let cpu = v1("cpu")
        .map(|p| (Version::V1, p))
        .or_else(|| unified.clone().map(|p| (Version::V2, p)));
    CgroupPaths {
        memory,
        cpu,
        cpuacct: v1("cpuacct"),
        unified,
    }
}

/// Finds the groups of process `pid` from `PROC_ROOT/self/mountinfo` and
/// `PROC_ROOT/PID/cgroup`.
pub fn locate_pid(proc_root: &Path, pid: u32) -> Result<CgroupPaths, Error> {
    let mounts = read_parsed(&proc_root.join("self/mountinfo"), parse::mountinfo)?;
    let lines = read_parsed(&proc_root.join(format!("{pid}/cgroup")), parse::proc_cgroup)?;
    Ok(locate(&mounts, &lines))
}

fn read_parsed<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, parse::ParseError>,
) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|e| Error::Parse {
        file: path.to_path_buf(),
        line: e.line,
        reason: e.reason,
    })
}

/// Memory of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Which version the numbers come from.
    pub version: Version,
    /// The group's directory.
    pub path: PathBuf,
    /// Memory in use, bytes (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub current_bytes: Option<u64>,
    /// The limit (v2 `memory.max`, v1 `memory.limit_in_bytes`).
    pub limit: Option<Limit>,
    /// The most used so far, bytes (v2 `memory.peak`, 5.19+; v1 `memory.max_usage_in_bytes`).
    pub peak_bytes: Option<u64>,
    /// Processes killed by the OOM killer (v2 `memory.events` `oom_kill`; v1
    /// `memory.oom_control` `oom_kill`, 4.13+).
    pub oom_kills: Option<u64>,
    /// Times the group hit its limit and reclaim failed (v2 `memory.events` `oom`).
    pub oom_events: Option<u64>,
    /// Times the usage was about to go over the limit (v2 `memory.events` `max`).
    pub max_events: Option<u64>,
    /// Times the usage went over `memory.high` (v2 `memory.events` `high`).
    pub high_events: Option<u64>,
    /// Times the usage hit the limit (v1 `memory.failcnt`).
    pub failcnt: Option<u64>,
    /// Out of memory right now (v1 `memory.oom_control` `under_oom`).
    pub under_oom: Option<bool>,
}

/// CPU of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Which version the numbers come from.
    pub version: Version,
    /// The group's directory (the `cpu` controller's, for v1).
    pub path: PathBuf,
    /// CPU used, µs (v2 `cpu.stat` `usage_usec`; v1 `cpuacct.usage`, ns, converted).
    pub usage_usec: Option<u64>,
    /// Enforcement periods with runnable tasks.
    pub nr_periods: Option<u64>,
    /// Periods in which the group was throttled.
    pub nr_throttled: Option<u64>,
    /// Time throttled, µs (v1 `throttled_time`, ns, converted).
    pub throttled_usec: Option<u64>,
    /// The bandwidth limit (v2 `cpu.max`; v1 `cpu.cfs_quota_us` + `cpu.cfs_period_us`).
    pub quota: Option<CpuMax>,
}

/// Pressure stall information: the group's (v2) or the whole system's (`/proc/pressure`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureSet {
    /// `cpu.pressure`.
    pub cpu: Option<Pressure>,
    /// `memory.pressure`.
    pub memory: Option<Pressure>,
    /// `io.pressure`.
    pub io: Option<Pressure>,
}

/// Everything read from a process's groups in one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// The directories read.
    pub paths: CgroupPaths,
    /// Memory, when the memory controller's group is known.
    pub memory: Option<MemoryStats>,
    /// CPU, when a cpu group is known.
    pub cpu: Option<CpuStats>,
    /// The v2 group's pressure files.
    pub pressure: PressureSet,
}

/// Reads one file: `None` if it does not exist (the kernel or the controller does not
/// offer it) or cannot be read or parsed — those two are also described in `errors`.
pub(crate) fn read_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, parse::ParseError>,
    errors: &mut Vec<String>,
) -> Option<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => match parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(
                    Error::Parse {
                        file: path.to_path_buf(),
                        line: e.line,
                        reason: e.reason,
                    }
                    .to_string(),
                );
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(format!("reading {}: {e}", path.display()));
            None
        }
    }
}

/// Reads a v2 group's PSI files (`cpu.pressure`, `memory.pressure`, `io.pressure`).
pub fn read_pressure(dir: &Path, errors: &mut Vec<String>) -> PressureSet {
    pressure_files(dir, ".pressure", errors)
}

/// Reads the system's PSI files (`/proc/pressure/cpu`, `memory`, `io`).
pub fn read_system_pressure(proc_root: &Path, errors: &mut Vec<String>) -> PressureSet {
    pressure_files(&proc_root.join("pressure"), "", errors)
}

fn pressure_files(dir: &Path, suffix: &str, errors: &mut Vec<String>) -> PressureSet {
    let mut one = |name: &str| {
        read_file(
            &dir.join(format!("{name}{suffix}")),
            parse::pressure,
            errors,
        )
    };
    PressureSet {
        cpu: one("cpu"),
        memory: one("memory"),
        io: one("io"),
    }
}

/// Reads the groups' counters. Missing groups (removed since) show as missing values
/// and one line in `errors`.
pub fn read(paths: &CgroupPaths, errors: &mut Vec<String>) -> CgroupStats {
    let check_dir = |dir: &Path, errors: &mut Vec<String>| -> bool {
        if dir.is_dir() {
            true
        } else {
            errors.push(format!("cgroup {} no longer exists", dir.display()));
            false
        }
    };
    let memory = paths.memory.as_ref().and_then(|(version, dir)| {
        check_dir(dir, errors).then(|| read_memory(*version, dir, errors))
    });
    let cpu = paths.cpu.as_ref().and_then(|(version, dir)| {
        check_dir(dir, errors).then(|| read_cpu(*version, dir, paths.cpuacct.as_deref(), errors))
    });
    let pressure = paths
        .unified
        .as_ref()
        .filter(|dir| dir.is_dir())
        .map(|dir| read_pressure(dir, errors))
        .unwrap_or_default();
    CgroupStats {
        paths: paths.clone(),
        memory,
        cpu,
        pressure,
    }
}

fn read_memory(version: Version, dir: &Path, errors: &mut Vec<String>) -> MemoryStats {
    let f = |name: &str| dir.join(name);
    match version {
        Version::V2 => {
            let events = read_file(&f("memory.events"), parse::memory_events, errors);
            MemoryStats {
                version,
                path: dir.to_path_buf(),
                current_bytes: read_file(&f("memory.current"), parse::single, errors),
                limit: read_file(&f("memory.max"), parse::limit, errors),
                peak_bytes: read_file(&f("memory.peak"), parse::single, errors),
                oom_kills: events.and_then(|e| e.oom_kill),
                oom_events: events.and_then(|e| e.oom),
                max_events: events.and_then(|e| e.max),
                high_events: events.and_then(|e| e.high),
                failcnt: None,
                under_oom: None,
            }
        }
        Version::V1 => {
            let control = read_file(&f("memory.oom_control"), parse::oom_control, errors);
            MemoryStats {
                version,
                path: dir.to_path_buf(),
                current_bytes: read_file(&f("memory.usage_in_bytes"), parse::single, errors),
                limit: read_file(&f("memory.limit_in_bytes"), parse::limit, errors),
                peak_bytes: read_file(&f("memory.max_usage_in_bytes"), parse::single, errors),
                oom_kills: control.and_then(|c| c.oom_kill),
                oom_events: None,
                max_events: None,
                high_events: None,
                failcnt: read_file(&f("memory.failcnt"), parse::single, errors),
                under_oom: control.and_then(|c| c.under_oom),
            }
        }
    }
}

fn read_cpu(
    version: Version,
    dir: &Path,
    cpuacct: Option<&Path>,
    errors: &mut Vec<String>,
) -> CpuStats {
    let stat = read_file(&dir.join("cpu.stat"), parse::cpu_stat, errors);
    let (usage_usec, quota) = match version {
        Version::V2 => (
            stat.and_then(|s| s.usage_usec),
            read_file(&dir.join("cpu.max"), parse::cpu_max, errors),
        ),
        Version::V1 => {
            let usage = cpuacct
                .and_then(|d| read_file(&d.join("cpuacct.usage"), parse::single, errors))
                .map(|ns| ns / 1000);
            let quota = match (
                read_file(&dir.join("cpu.cfs_quota_us"), |t| Ok(t.to_string()), errors),
                read_file(
                    &dir.join("cpu.cfs_period_us"),
                    |t| Ok(t.to_string()),
                    errors,
                ),
            ) {
                (Some(q), Some(p)) => match parse::cfs_quota(&q, &p) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        errors.push(
                            Error::Parse {
                                file: dir.join("cpu.cfs_quota_us"),
                                line: e.line,
                                reason: e.reason,
                            }
                            .to_string(),
                        );
                        None
                    }
                },
                _ => None,
            };
            (usage, quota)
        }
    };
    CpuStats {
        version,
        path: dir.to_path_buf(),
        usage_usec,
        nr_periods: stat.and_then(|s| s.nr_periods),
        nr_throttled: stat.and_then(|s| s.nr_throttled),
        throttled_usec: stat.and_then(|s| s.throttled_usec),
        quota,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(text: &str) -> Vec<Mount> {
        parse::mountinfo(text).unwrap()
    }

    #[test]
    fn hybrid_layout_reads_controllers_from_v1_and_pressure_from_v2() {
        let m = mounts(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        );
        let lines = parse::proc_cgroup(
            "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n",
        )
        .unwrap();
        let p = locate(&m, &lines);
        assert_eq!(
            p.memory,
            Some((Version::V1, "/sys/fs/cgroup/memory/process_api/abc".into()))
        );
        assert_eq!(p.cpu, Some((Version::V1, "/sys/fs/cgroup/cpu".into())));
        assert_eq!(p.cpuacct, Some("/sys/fs/cgroup/cpuacct".into()));
        assert_eq!(p.unified, Some("/sys/fs/cgroup/unified".into()));
    }

    #[test]
    fn pure_v2_and_comounted_v1() {
        let v2 = mounts("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        let p = locate(
            &v2,
            &parse::proc_cgroup("0::/system.slice/shop.service\n").unwrap(),
        );
        assert_eq!(
            p,
            CgroupPaths::v2("/sys/fs/cgroup/system.slice/shop.service")
        );

        let v1 =
            mounts("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n");
        let p = locate(&v1, &parse::proc_cgroup("3:cpu,cpuacct:/shop\n").unwrap());
        assert_eq!(
            p.cpu,
            Some((Version::V1, "/sys/fs/cgroup/cpu,cpuacct/shop".into()))
        );
        assert_eq!(p.cpuacct, Some("/sys/fs/cgroup/cpu,cpuacct/shop".into()));
        assert_eq!(p.memory, None);
    }

    #[test]
    fn a_mount_of_a_subtree_strips_its_root() {
        let m = mounts("30 23 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        let p = locate(&m, &parse::proc_cgroup("0::/kubepods/pod1/app\n").unwrap());
        assert_eq!(p.unified, Some("/sys/fs/cgroup/app".into()));
    }
}
