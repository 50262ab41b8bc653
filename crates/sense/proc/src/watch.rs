//! The watcher: one sample of the process tree and its cgroup on demand, or one per
//! interval on a task, into a bounded history.

use crate::cgroup::{self, CgroupPaths, CgroupStats, PressureSet};
use crate::config::{CgroupChoice, WatchConfig};
use crate::parse::Stat;
use crate::table::{gone, ProcessId, ProcessTable};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Totals over the watched process and (unless turned off) its descendants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeStats {
    /// The running processes counted, the tree's top first.
    pub pids: Vec<u32>,
    /// Resident memory, bytes (summed: pages shared between processes count once per
    /// process, as `ps` shows them).
    pub rss_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors; `None` when some process's `/proc/PID/fd` is unreadable
    /// (another user's process, without the privilege to look).
    pub fds: Option<u64>,
    /// CPU time used by the running processes (user + system), seconds.
    pub cpu_seconds: f64,
    /// CPU time of their children that exited and were waited for, seconds.
    pub reaped_cpu_seconds: f64,
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the watcher's start ([`Watcher::since`]; default: [`WatchConfig::build`]).
    pub t: f64,
    /// The watched ("main") process, if it runs.
    pub main: Option<ProcessId>,
    /// Times the main process was replaced by a new one so far (a new pid, or the same
    /// pid with a new start time), counted when the new one is first seen.
    pub restarts: u64,
    /// Totals over the tree; `None` when nothing of it runs.
    pub tree: Option<TreeStats>,
    /// The cgroup's counters; `None` until the group is known (or with `cgroup: none`).
    pub cgroup: Option<CgroupStats>,
    /// System-wide pressure (`/proc/pressure/*`), when asked for and offered.
    pub system_pressure: Option<PressureSet>,
    /// What could not be read, one line each, naming the file (and line, for files
    /// that do not parse). A value missing for one of these reasons is `None`.
    pub errors: Vec<String>,
}

impl Sample {
    /// The cgroup's OOM-kill counter, when readable.
    pub fn oom_kills(&self) -> Option<u64> {
        self.cgroup.as_ref()?.memory.as_ref()?.oom_kills
    }

    /// The tree's resident memory, when something of it runs.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.tree.as_ref().map(|t| t.rss_bytes)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Found once from the main process, then kept (see [`CgroupChoice::Auto`]).
    cgroup: Option<CgroupPaths>,
    last_main: Option<ProcessId>,
    restarts: u64,
    history: VecDeque<Sample>,
}

/// Samples a process tree and its cgroup. Clones share one history.
#[derive(Debug, Clone)]
pub struct Watcher {
    config: Arc<WatchConfig>,
    start: Instant,
    state: Arc<Mutex<State>>,
    ticks_per_second: f64,
    page_size: u64,
}

impl Watcher {
    pub(crate) fn new(config: WatchConfig) -> Watcher {
        // SAFETY: sysconf only reads system constants.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let state = State {
            cgroup: match &config.cgroup {
                CgroupChoice::Paths(p) => Some(p.clone()),
                _ => None,
            },
            ..State::default()
        };
        Watcher {
            config: Arc::new(config),
            start: Instant::now(),
            state: Arc::new(Mutex::new(state)),
            // Linux has used 100 everywhere for decades; the fallbacks only guard sysconf
            // failing.
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as u64 } else { 4096 },
        }
    }

    /// Sample times count from `start` instead (e.g. the start of a run).
    pub fn since(mut self, start: Instant) -> Watcher {
        self.start = start;
        self
    }

    /// Its configuration.
    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a sample now, adds it to the history and returns it. Blocking file reads
    /// (procfs and cgroupfs only, which are in memory).
    pub fn sample_now(&self) -> Sample {
        let cfg = &*self.config;
        let t = self.start.elapsed().as_secs_f64();
        let mut errors = Vec::new();
        let table = match ProcessTable::scan(&cfg.proc_root) {
            Ok(table) => Some(table),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
        let (main, members) = match &table {
            Some(table) => {
                errors.extend(table.errors.iter().cloned());
                let last = self.state().last_main;
                self.find(table, last)
            }
            None => (None, Vec::new()),
        };
        let tree = (!members.is_empty()).then(|| self.totals(&members, &mut errors));

        let mut state = self.state();
        if let Some(id) = main {
            if state.last_main.is_some_and(|last| last != id) {
                state.restarts += 1;
            }
            state.last_main = Some(id);
            if state.cgroup.is_none() && cfg.cgroup == CgroupChoice::Auto {
                match cgroup::locate_pid(&cfg.proc_root, id.pid) {
                    Ok(paths) => state.cgroup = Some(paths),
                    // Gone between the scan and now: found at the next sample.
                    Err(crate::Error::Io { source, .. }) if gone(&source) => {}
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        let cgroup = state.cgroup.as_ref().map(|p| cgroup::read(p, &mut errors));
        let system_pressure = cfg
            .system_pressure
            .then(|| cgroup::read_system_pressure(&cfg.proc_root, &mut errors))
            .filter(|p| p.cpu.is_some() || p.memory.is_some() || p.io.is_some());
        let sample = Sample {
            t,
            main,
            restarts: state.restarts,
            tree,
            cgroup,
            system_pressure,
            errors,
        };
        if state.history.len() >= cfg.history {
            state.history.pop_front();
        }
        state.history.push_back(sample.clone());
        sample
    }

    /// The main process and the members of the tree to account.
    fn find<'t>(
        &self,
        table: &'t ProcessTable,
        last: Option<ProcessId>,
    ) -> (Option<ProcessId>, Vec<&'t Stat>) {
        let cfg = &*self.config;
        let with_tree = |top: &'t Stat| -> Vec<&'t Stat> {
            if cfg.descendants {
                table.tree(top.pid)
            } else {
                vec![top]
            }
        };
        match (cfg.pid, &cfg.name, cfg.under) {
            // A pid is one process: if it is reused by another, the watched one is gone.
            (Some(pid), _, _) => match table
                .get(pid)
                .filter(|s| !s.is_gone() && last.is_none_or(|l| l == s.id()))
            {
                Some(top) => (Some(top.id()), with_tree(top)),
                None => (None, Vec::new()),
            },
            (None, Some(name), Some(under)) => {
                let tree = table.tree(under);
                let main = table.newest_named(name, Some(&tree)).map(Stat::id);
                let members = if cfg.descendants {
                    tree
                } else {
                    main.and_then(|m| table.get(m.pid)).into_iter().collect()
                };
                (main, members)
            }
            (None, Some(name), None) => match table.newest_named(name, None) {
                Some(top) => (Some(top.id()), with_tree(top)),
                None => (None, Vec::new()),
            },
            (None, None, _) => (None, Vec::new()),
        }
    }

    fn totals(&self, members: &[&Stat], errors: &mut Vec<String>) -> TreeStats {
        let ticks = |n: u64| n as f64 / self.ticks_per_second;
        let mut fds = Some(0u64);
        for s in members {
            let dir = self.config.proc_root.join(s.pid.to_string()).join("fd");
            match count_entries(&dir) {
                Ok(n) => fds = fds.map(|f| f + n),
                Err(e) if gone(&e) => {}
                Err(e) => {
                    if fds.is_some() {
                        errors.push(format!("reading {}: {e}", dir.display()));
                    }
                    fds = None;
                }
            }
        }
        TreeStats {
            pids: members.iter().map(|s| s.pid).collect(),
            rss_bytes: members.iter().map(|s| s.rss_pages * self.page_size).sum(),
            threads: members.iter().map(|s| s.threads).sum(),
            fds,
            cpu_seconds: members.iter().map(|s| ticks(s.utime + s.stime)).sum(),
            reaped_cpu_seconds: members.iter().map(|s| ticks(s.cutime + s.cstime)).sum(),
        }
    }

    /// The samples kept so far, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        self.state().history.iter().cloned().collect()
    }

    /// The cgroup directories in use, once known.
    pub fn cgroup_paths(&self) -> Option<CgroupPaths> {
        self.state().cgroup.clone()
    }

    /// Samples every `interval` on the current tokio runtime (reads run on its blocking
    /// pool) until [`Periodic::stop`], or until the handle is dropped. The history
    /// stays bounded.
    pub fn spawn(&self) -> Periodic {
        let me = self.clone();
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.config.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.notified() => return,
                }
                let w = me.clone();
                if tokio::task::spawn_blocking(move || w.sample_now())
                    .await
                    .is_err()
                {
                    // The runtime is shutting down.
                    return;
                }
            }
        });
        Periodic {
            task: Some(task),
            stop,
        }
    }
}

fn count_entries(dir: &Path) -> std::io::Result<u64> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        entry?;
        n += 1;
    }
    Ok(n)
}

/// A running [`Watcher::spawn`] task; dropping it stops the sampling (a sample being
/// taken then may still land in the history).
#[derive(Debug)]
pub struct Periodic {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Arc<tokio::sync::Notify>,
}

impl Periodic {
    /// Stops sampling; when this returns no further sample is added.
    pub async fn stop(mut self) {
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
