//! Watching the process under test with `ballast-proc`: resident memory over the
//! process and its descendants (a `sh -c` or `go run` wrapper does not hide the server),
//! OOM kills from its memory cgroup (v1 or v2, detected at run time), restarts.
//!
//! The cgroup is found from the process at the first sample that sees it and kept, so
//! when the kernel OOM-kills the process (and `/proc/PID` disappears) the group's
//! counter is still read and the kill is counted. A counter that cannot be read is
//! `None`: a clause about it is undecided, never silently 0.

use crate::Error;
use ballast_proc::{Sample, WatchConfig, Watcher};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which process is the "main" one.
#[derive(Debug, Clone)]
pub enum Watched {
    /// A fixed pid (a spawned target, or `process.pid`), with its descendants.
    Pid(u32),
    /// The newest process with this `comm` name, with its descendants; a new pid counts
    /// as a restart.
    Name(String),
    /// The spawned target, whichever pid it has now (it may be restarted): the watch
    /// follows the supervisor's current pid and keeps the cgroup it found first.
    Spawned(tokio::sync::watch::Receiver<Option<u32>>),
    /// The newest process named `name` inside the tree of `root` (a spawned supervisor
    /// or wrapper, whichever pid it has now): restarts are the named server's, memory is
    /// the whole tree's.
    NameUnder {
        /// The spawned process, as the supervisor runs it now.
        root: tokio::sync::watch::Receiver<Option<u32>>,
        /// The server's `comm` name.
        name: String,
    },
}

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSample {
    /// Seconds since the run started.
    pub t: f64,
    /// The main process's pid, if it was running.
    pub pid: Option<u32>,
    /// Its start time (clock ticks after boot): with the pid, its identity.
    pub started: Option<u64>,
    /// Resident set size of the process and its descendants, bytes.
    pub rss_bytes: Option<u64>,
    /// The memory cgroup's OOM-kill counter (cumulative), when readable.
    pub oom_kills: Option<u64>,
}

impl ProcessSample {
    fn from_sample(s: &Sample) -> ProcessSample {
        ProcessSample {
            t: s.t,
            pid: s.main.map(|m| m.pid),
            started: s.main.map(|m| m.start_ticks),
            rss_bytes: s.rss_bytes(),
            oom_kills: s.oom_kills(),
        }
    }
}

/// Why values could not be read, kept once each and only the first few.
const MAX_PROBLEMS: usize = 5;

#[derive(Default)]
struct Shared {
    samples: Vec<ProcessSample>,
    problems: BTreeSet<String>,
}

/// Samples a process every second into a shared list.
#[derive(Clone)]
pub struct ProcessWatch {
    watcher: Arc<Mutex<Watcher>>,
    /// The supervisor's current pid, for [`Watched::Spawned`] and [`Watched::NameUnder`]
    /// (with the server's name).
    follow: Option<(tokio::sync::watch::Receiver<Option<u32>>, Option<String>)>,
    start: Instant,
    shared: Arc<Mutex<Shared>>,
}

impl ProcessWatch {
    /// A watch whose sample times count from `start`; refuses a process name the
    /// kernel could never report (longer than 15 bytes, say).
    pub fn new(watched: Watched, start: Instant) -> Result<Self, Error> {
        let mut follow = None;
        let config = match &watched {
            Watched::Pid(pid) => WatchConfig::pid(*pid),
            Watched::Spawned(rx) => {
                follow = Some((rx.clone(), None));
                // While it is down the first pid stands in: it is gone, which is the truth.
                WatchConfig::pid(rx.borrow().unwrap_or(u32::MAX))
            }
            Watched::Name(name) => WatchConfig::name(name),
            Watched::NameUnder { root, name } => {
                follow = Some((root.clone(), Some(name.clone())));
                let mut c = WatchConfig::name(name);
                c.under = Some(root.borrow().unwrap_or(u32::MAX));
                c
            }
        };
        let watcher = Self::build(config, start)?;
        Ok(ProcessWatch {
            watcher: Arc::new(Mutex::new(watcher)),
            follow,
            start,
            shared: Default::default(),
        })
    }

    fn build(mut config: WatchConfig, start: Instant) -> Result<Watcher, Error> {
        // This watch keeps its own compact samples.
        config.history = 1;
        config.system_pressure = false;
        Ok(config
            .build()
            .map_err(|e| Error::Usage(format!("target.process.{e}")))?
            .since(start))
    }

    /// The watcher for the process that runs now: a restarted target gets a new one,
    /// reading the group the old one found (so OOM kills before the restart still count).
    fn current(&self) -> Watcher {
        let mut watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let Some((rx, name)) = &self.follow else {
            return watcher.clone();
        };
        if let Some(now) = *rx.borrow() {
            let (mut config, followed) = match name {
                None => (WatchConfig::pid(now), watcher.config().pid),
                Some(name) => {
                    let mut c = WatchConfig::name(name);
                    c.under = Some(now);
                    (c, watcher.config().under)
                }
            };
            if followed != Some(now) {
                if let Some(paths) = watcher.cgroup_paths() {
                    config.cgroup = ballast_proc::CgroupChoice::Paths(paths);
                }
                if let Ok(new) = Self::build(config, self.start) {
                    *watcher = new;
                }
            }
        }
        watcher.clone()
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one sample now (a few reads of /proc and cgroupfs, which are in memory).
    pub fn sample_now(&self) {
        let sample = self.current().sample_now();
        let mut shared = self.shared();
        shared.samples.push(ProcessSample::from_sample(&sample));
        for e in sample.errors {
            if shared.problems.len() < MAX_PROBLEMS {
                shared.problems.insert(e);
            }
        }
    }

    /// Samples every second until the task is aborted.
    pub fn spawn_every_second(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let w = me.clone();
                if tokio::task::spawn_blocking(move || w.sample_now())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    }

    /// All samples so far.
    pub fn samples(&self) -> Vec<ProcessSample> {
        self.shared().samples.clone()
    }

    /// What could not be read (first few, once each), for the report's notes.
    pub fn problems(&self) -> Vec<String> {
        self.shared().problems.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_this_process() {
        let watch = ProcessWatch::new(Watched::Pid(std::process::id()), Instant::now()).unwrap();
        watch.sample_now();
        let s = &watch.samples()[0];
        assert_eq!(s.pid, Some(std::process::id()));
        assert!(s.started.is_some());
        assert!(s.rss_bytes.unwrap() > 1024 * 1024);
    }

    #[test]
    fn a_name_the_kernel_cannot_report_is_refused() {
        let e = ProcessWatch::new(
            Watched::Name("a-very-long-server-name".into()),
            Instant::now(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("target.process.name: ") && e.contains("\"a-very-long-ser\""),
            "{e}"
        );
    }
}
