//! Stressors: worker processes that load a CPU, hold memory or write to a disk.

mod child;
mod spawn;

pub(crate) use child::write_zero;

use crate::exit::{self, Slot, Table};
use crate::{system, Error};
use ballast_core::format_bytes;
use child::{Plan, Work};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// At most this many workers per stressor.
pub const MAX_WORKERS: u32 = 256;

/// How long `stop` waits for a killed worker to be reaped.
const REAP_WITHIN: Duration = Duration::from_secs(10);

/// One CPU worker's duty cycle: spin for `load_percent` of this, sleep the rest.
const CPU_PERIOD_NS: i64 = 50_000_000;

/// What an io worker writes at a time.
const IO_CHUNK: usize = 64 << 10;

/// A stressor as data: what to load and how hard. [`build`](StressConfig::build) starts
/// it.
///
/// `cgroup` lists group directories for every worker to join before it starts (v1 has one
/// per controller, say `memory/…/x` and `cpu/…/x`; v2 one): a stressor inside a target's
/// group competes with it under the same limit.
#[derive(Debug, Clone, PartialEq)]
pub enum StressConfig {
    /// Busy CPUs: each worker spins for `load_percent` of every 50 ms and sleeps the rest.
    Cpu {
        /// Worker processes, 1 to 256.
        workers: u32,
        /// Busy share of each worker, 1 to 100 (percent of one CPU).
        load_percent: u8,
        /// Run only on these CPUs (each worker may use all of them); `None`: anywhere this
        /// process may.
        cpus: Option<Vec<usize>>,
        /// Groups to join.
        cgroup: Vec<PathBuf>,
    },
    /// Held memory: one worker maps `bytes`, writes to every page (non-zero) and holds it.
    Memory {
        /// Bytes, 1 up to the machine's memory.
        bytes: u64,
        /// Groups to join.
        cgroup: Vec<PathBuf>,
    },
    /// Disk writes: each worker writes and syncs a file of `bytes` in `dir`, again and
    /// again from its start. The files are removed when the stressor stops.
    Io {
        /// An existing, writable directory.
        dir: PathBuf,
        /// The size of each worker's file, bytes; all of them must fit the free space.
        bytes: u64,
        /// Worker processes, 1 to 256.
        workers: u32,
        /// Groups to join.
        cgroup: Vec<PathBuf>,
    },
}

fn config(field: &'static str, reason: String) -> Error {
    Error::Config { field, reason }
}

fn check_workers(workers: u32) -> Result<(), Error> {
    if (1..=MAX_WORKERS).contains(&workers) {
        Ok(())
    } else {
        Err(config(
            "workers",
            format!("must be 1 to {MAX_WORKERS}, got {workers}"),
        ))
    }
}

fn check_cgroups(dirs: &[PathBuf]) -> Result<(), Error> {
    for dir in dirs {
        if !dir.join("cgroup.procs").is_file() {
            return Err(config(
                "cgroup",
                format!(
                    "{} is not a cgroup directory (it has no cgroup.procs)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

fn check_dir(dir: &Path, bytes: u64, workers: u32) -> Result<(), Error> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        config(
            "dir",
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} does not exist", dir.display())
            } else {
                format!("{}: {e}", dir.display())
            },
        )
    })?;
    if !meta.is_dir() {
        return Err(config(
            "dir",
            format!("{} is not a directory", dir.display()),
        ));
    }
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| config("dir", format!("{} holds a NUL byte", dir.display())))?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(config(
            "dir",
            format!(
                "{} is not writable: {}",
                dir.display(),
                std::io::Error::last_os_error()
            ),
        ));
    }
    // SAFETY: statvfs(3) fills the zeroed struct.
    let mut fs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut fs) } == 0 {
        let free = (fs.f_bavail as u64).saturating_mul(fs.f_frsize as u64);
        let need = bytes.saturating_mul(workers as u64);
        if need > free {
            return Err(config(
                "bytes",
                format!(
                    "{workers} worker(s) x {} need {} but {} has {} free",
                    format_bytes(bytes),
                    format_bytes(need),
                    dir.display(),
                    format_bytes(free)
                ),
            ));
        }
    }
    Ok(())
}

impl StressConfig {
    /// The groups the workers join.
    pub fn cgroup(&self) -> &[PathBuf] {
        match self {
            StressConfig::Cpu { cgroup, .. }
            | StressConfig::Memory { cgroup, .. }
            | StressConfig::Io { cgroup, .. } => cgroup,
        }
    }

    /// Checks every value; the message names the field (`workers`, `load_percent`,
    /// `cpus`, `bytes`, `dir`, `cgroup`).
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            StressConfig::Cpu {
                workers,
                load_percent,
                cpus,
                ..
            } => {
                check_workers(*workers)?;
                if !(1..=100).contains(load_percent) {
                    return Err(config(
                        "load_percent",
                        format!(
                            "must be 1 to 100 (percent of one CPU per worker), got {load_percent}"
                        ),
                    ));
                }
                if let Some(cpus) = cpus {
                    let allowed = system::target_cpus(std::process::id())?;
                    if cpus.is_empty() {
                        return Err(config(
                            "cpus",
                            format!("an empty list; leave it out to run anywhere (allowed: {allowed:?})"),
                        ));
                    }
                    if let Some(cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
                        return Err(config(
                            "cpus",
                            format!("CPU {cpu} is not one this process may run on (allowed: {allowed:?})"),
                        ));
                    }
                }
            }
            StressConfig::Memory { bytes, .. } => {
                let total = system::memory_total()?;
                if *bytes == 0 {
                    return Err(config("bytes", "must be more than 0".into()));
                }
                if *bytes > total || usize::try_from(*bytes).is_err() {
                    return Err(config(
                        "bytes",
                        format!(
                            "{} is more than this machine's memory ({}, MemTotal)",
                            format_bytes(*bytes),
                            format_bytes(total)
                        ),
                    ));
                }
            }
            StressConfig::Io {
                dir,
                bytes,
                workers,
                ..
            } => {
                check_workers(*workers)?;
                if *bytes == 0 {
                    return Err(config("bytes", "must be more than 0".into()));
                }
                check_dir(dir, *bytes, *workers)?;
            }
        }
        check_cgroups(self.cgroup())
    }

    /// Validates, then starts the workers; each has joined its groups and is pinned before
    /// this returns.
    pub fn build(&self) -> Result<Stressor, Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        self.validate()?;
        let cstr = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| config("cgroup", format!("{} holds a NUL byte", p.display())))
        };
        let procs = self
            .cgroup()
            .iter()
            .map(|d| cstr(&d.join("cgroup.procs")))
            .collect::<Result<Vec<_>, _>>()?;
        // SAFETY: getpid(2) and sysconf(3) cannot fail in a way that matters here.
        let (parent, page) = unsafe { (libc::getpid(), libc::sysconf(libc::_SC_PAGESIZE)) };
        let page = usize::try_from(page).unwrap_or(4096).max(8);
        let devnull = CString::new("/dev/null").expect("no NUL");
        let mut stressor = Stressor {
            workers: Vec::new(),
            files: Vec::new(),
        };
        let plan = |affinity, comm, work| Plan {
            parent,
            procs: procs.clone(),
            affinity,
            devnull: devnull.clone(),
            comm,
            work,
        };
        match self {
            StressConfig::Cpu {
                workers,
                load_percent,
                cpus,
                ..
            } => {
                let affinity = cpus.as_ref().map(|cpus| {
                    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it
                    // (validate checked every CPU against the allowed ones).
                    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
                    for &cpu in cpus {
                        unsafe { libc::CPU_SET(cpu, &mut set) };
                    }
                    set
                });
                let busy_ns = CPU_PERIOD_NS * i64::from(*load_percent) / 100;
                let plan = plan(
                    affinity,
                    b"ballast-cpu\0",
                    Work::Cpu {
                        busy_ns,
                        period_ns: CPU_PERIOD_NS,
                    },
                );
                for _ in 0..*workers {
                    stressor.start(&plan)?;
                }
            }
            StressConfig::Memory { bytes, .. } => {
                let plan = plan(
                    None,
                    b"ballast-memory\0",
                    Work::Memory {
                        bytes: *bytes as usize,
                        page,
                    },
                );
                stressor.start(&plan)?;
            }
            StressConfig::Io {
                dir,
                bytes,
                workers,
                ..
            } => {
                let run = NEXT.fetch_add(1, Ordering::Relaxed);
                let chunk: Vec<u8> = (0..IO_CHUNK).map(|i| (i % 251) as u8 + 1).collect();
                for worker in 0..*workers {
                    let path = dir.join(format!("ballast-io-{parent}-{run}-{worker}.tmp"));
                    let plan = plan(
                        None,
                        b"ballast-io\0",
                        Work::Io {
                            path: cstr(&path)?,
                            bytes: *bytes,
                            chunk: chunk.clone(),
                        },
                    );
                    // Listed before the worker creates it, so no exit path forgets it.
                    exit::add_file(path.clone());
                    stressor.files.push(path.clone());
                    if let Err(e) = stressor.start(&plan) {
                        // It did not create the file (O_EXCL): whatever is there is not ours.
                        stressor.files.pop();
                        exit::forget_file(&path);
                        return Err(e);
                    }
                }
            }
        }
        Ok(stressor)
    }
}

/// How a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerExit {
    /// The worker.
    pub pid: u32,
    /// Its status (`signal()` is `Some(9)` when it was killed, by `stop` or the OOM killer).
    pub status: ExitStatus,
}

#[derive(Debug)]
struct Worker {
    pid: libc::pid_t,
    /// In the atexit table until reaped.
    slot: Option<Slot>,
    exit: Option<ExitStatus>,
    reaped: bool,
}

/// Running workers. [`stop`](Stressor::stop) or drop kills them (`SIGKILL`), reaps them
/// and removes the io files; errors on drop go to stderr.
#[derive(Debug)]
pub struct Stressor {
    workers: Vec<Worker>,
    files: Vec<PathBuf>,
}

impl Stressor {
    fn start(&mut self, plan: &Plan) -> Result<(), Error> {
        let pid = spawn::start(plan).map_err(Error::Stressor)?;
        let mut worker = Worker {
            pid,
            slot: None,
            exit: None,
            reaped: false,
        };
        match exit::register(Table::Workers, pid) {
            Ok(slot) => worker.slot = Some(slot),
            Err(e) => {
                // SAFETY: kill(2) on the child just forked.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                worker.reap(true);
                return Err(e);
            }
        }
        self.workers.push(worker);
        Ok(())
    }

    /// Every worker's pid, in start order (also those that ended since).
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid as u32).collect()
    }

    /// The io workers' files (empty for other kinds).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Workers that ended so far (reaping those that ended since the last call), without
    /// waiting: a memory worker killed by the OOM killer shows here with signal 9.
    pub fn exits(&mut self) -> Vec<WorkerExit> {
        for w in &mut self.workers {
            w.reap(false);
        }
        self.workers
            .iter()
            .filter_map(|w| {
                w.exit.map(|status| WorkerExit {
                    pid: w.pid as u32,
                    status,
                })
            })
            .collect()
    }

    /// Kills every worker, reaps it and removes the io files.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        let mut problems = Vec::new();
        for w in &mut self.workers {
            if !w.reap(false) {
                // SAFETY: kill(2) on our own unreaped child: its pid cannot be reused yet.
                unsafe { libc::kill(w.pid, libc::SIGKILL) };
            }
        }
        let deadline = Instant::now() + REAP_WITHIN;
        for w in &mut self.workers {
            while !w.reap(false) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if !w.reaped {
                problems.push(format!(
                    "worker {} did not end within {REAP_WITHIN:?} of SIGKILL",
                    w.pid
                ));
            }
        }
        for path in self.files.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("removing {}: {e}", path.display())),
            }
            exit::forget_file(&path);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Stressor(problems.join("; ")))
        }
    }
}

impl Worker {
    /// Reaps the worker if it ended (`block`: waits for it). True once it is reaped (or
    /// was reaped elsewhere: `ECHILD`).
    fn reap(&mut self, block: bool) -> bool {
        if self.reaped {
            return true;
        }
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child.
        let r =
            unsafe { libc::waitpid(self.pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
        let done = if r == self.pid {
            self.exit = Some(ExitStatus::from_raw(status));
            true
        } else {
            r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
        };
        if done {
            self.reaped = true;
            if let Some(slot) = self.slot.take() {
                exit::release(slot);
            }
        }
        done
    }
}

impl Drop for Stressor {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("ballast-fault: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
