//! One pass over `/proc`: every process's `stat`, so trees (by parent pid), process
//! groups and names can be looked up consistently within a sample.

use crate::parse::{self, Stat};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// A process's identity: pids are reused, so the start time tells two holders of one pid
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    /// Process id.
    pub pid: u32,
    /// Start time after boot, clock ticks (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

/// A snapshot of every process visible in a procfs.
#[derive(Debug, Clone)]
pub struct ProcessTable {
    root: PathBuf,
    entries: BTreeMap<u32, Stat>,
    /// Processes whose `stat` could not be read or parsed (other than having exited).
    pub errors: Vec<String>,
}

impl ProcessTable {
    /// Reads `PROC_ROOT/*/stat`. A process that exits while being read is left out; one
    /// whose file is unreadable or malformed is left out and named in [`Self::errors`].
    pub fn scan(proc_root: &Path) -> Result<ProcessTable, Error> {
        let dir = std::fs::read_dir(proc_root).map_err(|source| Error::Io {
            path: proc_root.to_path_buf(),
            source,
        })?;
        let mut entries = BTreeMap::new();
        let mut errors = Vec::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path().join("stat");
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse::stat(&text) {
                    Ok(stat) if stat.pid == pid => {
                        entries.insert(pid, stat);
                    }
                    Ok(stat) => errors.push(format!(
                        "{}: names pid {} inside the directory of pid {pid}",
                        path.display(),
                        stat.pid
                    )),
                    Err(e) => errors.push(
                        Error::Parse {
                            file: path,
                            line: e.line,
                            reason: e.reason,
                        }
                        .to_string(),
                    ),
                },
                Err(e) if gone(&e) => {}
                Err(e) => errors.push(format!("reading {}: {e}", path.display())),
            }
        }
        Ok(ProcessTable {
            root: proc_root.to_path_buf(),
            entries,
            errors,
        })
    }

    /// The procfs this table was read from.
    pub fn proc_root(&self) -> &Path {
        &self.root
    }

    /// A process's `stat`, zombies included.
    pub fn get(&self, pid: u32) -> Option<&Stat> {
        self.entries.get(&pid)
    }

    /// Every process read.
    pub fn iter(&self) -> impl Iterator<Item = &Stat> {
        self.entries.values()
    }

    /// Whether the process with this identity still runs (a zombie does not).
    pub fn is_running(&self, id: ProcessId) -> bool {
        self.get(id.pid)
            .is_some_and(|s| s.start_ticks == id.start_ticks && !s.is_gone())
    }

    /// The running process `pid` and its running descendants (by parent pid), `pid`
    /// first; empty when `pid` does not run.
    pub fn tree(&self, pid: u32) -> Vec<&Stat> {
        let Some(top) = self.get(pid).filter(|s| !s.is_gone()) else {
            return Vec::new();
        };
        let mut children: BTreeMap<u32, Vec<&Stat>> = BTreeMap::new();
        for s in self.entries.values() {
            children.entry(s.ppid).or_default().push(s);
        }
        let mut out = vec![top];
        let mut next = 0;
        while next < out.len() {
            let parent = out[next].pid;
            next += 1;
            // A zombie's children were reparented already; a zombie itself is not counted.
            for child in children.get(&parent).into_iter().flatten() {
                if !child.is_gone()
                    && child.pid != parent
                    && !out.iter().any(|s| s.pid == child.pid)
                {
                    out.push(child);
                }
            }
        }
        out
    }

    /// The running members of process group `pgid`.
    pub fn group(&self, pgid: i32) -> Vec<&Stat> {
        self.entries
            .values()
            .filter(|s| s.pgrp == pgid && !s.is_gone())
            .collect()
    }

    /// The newest running process named `comm` (as in `/proc/PID/comm`), among `within`
    /// when given.
    pub fn newest_named<'a>(&'a self, comm: &str, within: Option<&[&'a Stat]>) -> Option<&'a Stat> {
        let pick = |s: &&Stat| s.comm == comm && !s.is_gone();
        let best = |a: &&Stat, b: &&Stat| (a.start_ticks, a.pid).cmp(&(b.start_ticks, b.pid));
        match within {
            Some(members) => members.iter().copied().filter(pick).max_by(best),
            None => self.entries.values().filter(pick).max_by(best),
        }
    }
}

/// The process exited between listing and reading (`ENOENT`, or `ESRCH` for some files).
pub(crate) fn gone(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// Running processes of group `pgid` (e.g. a target started in its own group), from
/// `/proc`.
pub fn group_members(pgid: i32) -> Result<Vec<ProcessId>, Error> {
    Ok(ProcessTable::scan(Path::new("/proc"))?
        .group(pgid)
        .into_iter()
        .map(Stat::id)
        .collect())
}

/// `pid` and its running descendants, from `/proc`.
pub fn tree_of(pid: u32) -> Result<Vec<ProcessId>, Error> {
    Ok(ProcessTable::scan(Path::new("/proc"))?
        .tree(pid)
        .into_iter()
        .map(Stat::id)
        .collect())
}

impl Stat {
    /// This process's identity.
    pub fn id(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start_ticks: self.start_ticks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_in_its_own_tree_and_group() {
        let table = ProcessTable::scan(Path::new("/proc")).unwrap();
        let me = std::process::id();
        let tree = table.tree(table.get(me).unwrap().ppid);
        assert!(
            tree.iter().any(|s| s.pid == me),
            "the parent's tree holds us"
        );
        let pgrp = table.get(me).unwrap().pgrp;
        assert!(table.group(pgrp).iter().any(|s| s.pid == me));
        assert!(table.is_running(table.get(me).unwrap().id()));
        assert!(!table.is_running(ProcessId {
            pid: me,
            start_ticks: table.get(me).unwrap().start_ticks + 1
        }));
    }
}
