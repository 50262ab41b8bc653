//! Watching the process under test: resident memory, OOM kills, restarts — from /proc
//! and the memory cgroup (v2 `memory.events`, or v1 `memory.oom_control`), whichever
//! the machine has, detected at run time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to find the process each second.
#[derive(Debug, Clone)]
pub enum Watched {
    /// A fixed pid (a spawned target, or `process.pid`).
    Pid(u32),
    /// The newest process with this `comm` name; a new pid counts as a restart.
    Name(String),
}

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSample {
    /// Seconds since the run started.
    pub t: f64,
    /// The pid seen, if the process was running.
    pub pid: Option<u32>,
    /// Resident set size, bytes.
    pub rss_bytes: Option<u64>,
    /// The cgroup's OOM-kill counter (cumulative), when readable.
    pub oom_kills: Option<u64>,
}

/// Samples a process every second into a shared list.
#[derive(Clone)]
pub struct ProcessWatch {
    watched: Watched,
    start: Instant,
    samples: Arc<Mutex<Vec<ProcessSample>>>,
}

impl ProcessWatch {
    /// A watch whose sample times count from `start`.
    pub fn new(watched: Watched, start: Instant) -> Self {
        ProcessWatch {
            watched,
            start,
            samples: Default::default(),
        }
    }

    /// Takes one sample now.
    pub fn sample_now(&self) {
        let pid = match &self.watched {
            Watched::Pid(pid) => Some(*pid).filter(|p| is_running(*p)),
            Watched::Name(name) => newest_by_name(Path::new("/proc"), name),
        };
        let sample = ProcessSample {
            t: self.start.elapsed().as_secs_f64(),
            pid,
            rss_bytes: pid.and_then(|p| {
                rss_bytes(&std::fs::read_to_string(format!("/proc/{p}/status")).ok()?)
            }),
            oom_kills: pid.and_then(|p| {
                oom_kills(
                    Path::new("/sys/fs/cgroup"),
                    &std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok()?,
                )
            }),
        };
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sample);
    }

    /// Samples every second until the task is aborted.
    pub fn spawn_every_second(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                me.sample_now();
            }
        })
    }

    /// All samples so far.
    pub fn samples(&self) -> Vec<ProcessSample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn is_running(pid: u32) -> bool {
    // A zombie (exited, not yet reaped) is not running.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn newest_by_name(proc_root: &Path, name: &str) -> Option<u32> {
    let mut best: Option<(u64, u32)> = None;
    for entry in std::fs::read_dir(proc_root).ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if comm.trim_end() != name {
            continue;
        }
        // Field 22 of /proc/PID/stat is the start time; the newest process wins.
        let started = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(19)?.parse().ok())
            })
            .unwrap_or(0);
        if best.is_none_or(|(t, _)| started >= t) {
            best = Some((started, pid));
        }
    }
    best.map(|(_, pid)| pid)
}

/// `VmRSS` from `/proc/PID/status`, in bytes.
pub fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The OOM-kill counter of the memory cgroup named in `/proc/PID/cgroup` content:
/// cgroup v2 (`0::/path` → `memory.events` `oom_kill`), else v1 (`N:memory:/path` →
/// `memory.oom_control` `oom_kill`).
pub fn oom_kills(cgroup_root: &Path, proc_cgroup: &str) -> Option<u64> {
    let mut v1 = None;
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        }
    }
    let read_counter = |file: PathBuf| -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
    };
    if let Some(path) = v1 {
        let rel = path.trim_start_matches('/');
        if let Some(n) = read_counter(
            cgroup_root
                .join("memory")
                .join(rel)
                .join("memory.oom_control"),
        ) {
            return Some(n);
        }
    }
    let rel = v2?.trim_start_matches('/').to_string();
    read_counter(cgroup_root.join(&rel).join("memory.events"))
        .or_else(|| read_counter(cgroup_root.join("unified").join(&rel).join("memory.events")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss() {
        let status = "Name:\tshop\nVmPeak:\t  9000 kB\nVmRSS:\t  2048 kB\n";
        assert_eq!(rss_bytes(status), Some(2048 * 1024));
        assert_eq!(rss_bytes("Name: x\n"), None);
    }

    #[test]
    fn reads_oom_kills_from_recorded_v1_and_v2_trees() {
        let root = std::env::temp_dir().join(format!("ballast-cgroup-test-{}", std::process::id()));
        let v2 = root.join("v2");
        std::fs::create_dir_all(v2.join("system.slice/shop.service")).unwrap();
        std::fs::write(
            v2.join("system.slice/shop.service/memory.events"),
            "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n",
        )
        .unwrap();
        assert_eq!(oom_kills(&v2, "0::/system.slice/shop.service\n"), Some(2));

        let v1 = root.join("v1");
        std::fs::create_dir_all(v1.join("memory/shop")).unwrap();
        std::fs::write(
            v1.join("memory/shop/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n",
        )
        .unwrap();
        assert_eq!(oom_kills(&v1, "12:memory:/shop\n0::/shop\n"), Some(5));
        assert_eq!(oom_kills(&v1, "12:cpu:/x\n"), None);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn watches_this_process() {
        let watch = ProcessWatch::new(Watched::Pid(std::process::id()), Instant::now());
        watch.sample_now();
        let s = &watch.samples()[0];
        assert_eq!(s.pid, Some(std::process::id()));
        assert!(s.rss_bytes.unwrap() > 1024 * 1024);
    }
}
