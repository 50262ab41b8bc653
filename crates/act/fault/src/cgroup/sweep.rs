//! Removing groups left behind by a ballast that died.

use super::{config::check_name, remove_dirs};
use ballast_proc::cgroup as located;
use std::path::{Path, PathBuf};

/// The pid in a group name `<name>-<pid>-<n>`.
pub(super) fn owner(name: &str, group: &str) -> Option<u32> {
    let rest = group.strip_prefix(name)?.strip_prefix('-')?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then(|| pid.parse().ok())?
}

/// Removes the groups `<name>-<pid>-<n>` under this process's own groups whose `<pid>`
/// no longer runs (left by a ballast that was killed), and returns them.
pub fn sweep_stale(name: &str) -> Vec<PathBuf> {
    if check_name(name).is_err() {
        return Vec::new();
    }
    let Ok(own) = located::locate_pid(Path::new("/proc"), std::process::id()) else {
        return Vec::new();
    };
    let mut parents: Vec<PathBuf> = [own.memory.map(|m| m.1), own.cpu.map(|c| c.1), own.cpuacct]
        .into_iter()
        .flatten()
        .collect();
    parents.sort();
    parents.dedup();
    let me = std::process::id();
    let mut removed = Vec::new();
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten().take(100_000) {
            let Some(pid) = entry.file_name().to_str().and_then(|g| owner(name, g)) else {
                continue;
            };
            if pid == me || !entry.path().is_dir() {
                continue;
            }
            let gone = match libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) with signal 0 only checks.
                Ok(p) if p > 0 => {
                    let r = unsafe { libc::kill(p, 0) };
                    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
                }
                _ => true,
            };
            if gone && remove_dirs(vec![entry.path()]).is_empty() {
                removed.push(entry.path());
            }
        }
    }
    removed
}
