//! Starting the service under test (never through a shell) in a process group of its
//! own, waiting until it is ready, and stopping the whole group afterwards — SIGTERM,
//! then SIGKILL after a grace period, reaped — on every way out: the normal end, errors,
//! Ctrl-C (the run ends and stops it), a second Ctrl-C (which exits: an `atexit` hook
//! kills what is still running) and drops (panics).
//!
//! A wrapper (`sh -c`, `go run`, a supervisor) does not hide the server from the stop:
//! the group is signalled, and so are descendants that left it (found by parent pid
//! before the first signal, and known by start time, since pids are reused).

use crate::Error;
use ballast_contract::SpawnPlan;
use ballast_proc::{ProcessId, ProcessTable};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::sync::Once;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Runs in the child between fork and exec.
pub type Joiner = Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// How long the target has to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Process groups started and not yet stopped, for the `atexit` hook: fixed slots of
/// atomics, because `exit` may run while another thread holds any lock.
static GROUPS: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];
static HOOK: Once = Once::new();

extern "C" fn kill_remaining_groups() {
    for slot in &GROUPS {
        let pgid = slot.swap(0, Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: killpg(2) on a group this process started; async-signal-safe.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

fn register(pgid: i32) -> Option<usize> {
    HOOK.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn` that only calls killpg.
        unsafe {
            libc::atexit(kill_remaining_groups);
        }
    });
    GROUPS.iter().position(|slot| {
        slot.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// A running target; stopped by [`Spawned::stop`] or, as a last resort, killed with its
/// group on drop.
pub struct Spawned {
    child: Child,
    /// Its process id, which is also its process group's id.
    pub pid: u32,
    slot: Option<usize>,
    stopped: bool,
}

impl Spawned {
    /// Starts `plan` with `extra_env` over its own environment, first running `join` in
    /// the child (between fork and exec: it moves the child into the target's cgroup),
    /// and waits for its readiness probe against `base_url`.
    pub async fn start(
        plan: &SpawnPlan,
        base_url: &str,
        extra_env: &BTreeMap<String, String>,
        join: Option<Joiner>,
    ) -> Result<Spawned, Error> {
        // `ballast` means this very binary, so contracts can spawn `ballast demo serve`
        // without depending on PATH.
        let program = match (plan.command.as_str(), std::env::current_exe()) {
            ("ballast", Ok(me)) if me.file_stem().is_some_and(|s| s == "ballast") => me,
            _ => plan.command.clone().into(),
        };
        let mut command = Command::new(program);
        command
            .args(&plan.args)
            .envs(&plan.env)
            .envs(extra_env)
            .current_dir(&plan.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own group: one signal reaches every process it starts, and a Ctrl-C at
            // the terminal reaches ballast alone, which then stops it in order.
            .process_group(0);
        if let Some(join) = join {
            // SAFETY: the joiner only writes to cgroup files with raw system calls, which
            // is what may run between fork and exec.
            unsafe {
                command.pre_exec(move || join());
            }
        }
        let child = command.spawn().map_err(|e| {
            Error::Spawn(format!(
                "cannot start {:?} in {}: {e}",
                plan.command,
                plan.cwd.display()
            ))
        })?;
        let pid = child
            .id()
            .ok_or_else(|| Error::Spawn(format!("{:?} vanished at start", plan.command)))?;
        let mut spawned = Spawned {
            child,
            pid,
            slot: register(pid as i32),
            stopped: false,
        };
        let deadline = Instant::now() + plan.ready.timeout;
        loop {
            if let Ok(Some(status)) = spawned.child.try_wait() {
                // What it started may still run.
                spawned.terminate().await;
                return Err(Error::Spawn(format!(
                    "{:?} exited before it was ready ({status})",
                    plan.command
                )));
            }
            if probe(plan, base_url).await {
                return Ok(spawned);
            }
            if Instant::now() >= deadline {
                spawned.terminate().await;
                return Err(Error::Spawn(format!(
                    "{:?} was not ready within {} ({})",
                    plan.command,
                    ballast_core::format_duration(plan.ready.timeout),
                    match (&plan.ready.http, plan.ready.tcp) {
                        (Some(path), _) => format!("GET {base_url}{path} never answered 2xx"),
                        (None, Some(port)) => format!("127.0.0.1:{port} never accepted"),
                        (None, None) => format!("{base_url} never accepted a connection"),
                    }
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the target's own process exits (cancel-safe).
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        loop {
            match self.child.wait().await {
                Ok(status) => return status,
                // Only an interrupted wait fails; the child is still ours.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Stops the target and everything it started: SIGTERM, SIGKILL to what is left
    /// after 5 s. Returns a note when something survived even SIGKILL.
    pub async fn stop(mut self) -> Option<String> {
        self.terminate().await
    }

    /// After the target's own process has exited (and been reaped): stops what is left of
    /// its group. Its pid may already be another process's, so no tree is looked up by it;
    /// the group's id cannot be reused while the group has members.
    pub async fn stop_exited(mut self) -> Option<String> {
        if remaining(self.pid as i32, &[]).is_empty() {
            return self.done(None);
        }
        self.terminate_group(Vec::new()).await
    }

    async fn terminate(&mut self) -> Option<String> {
        // Descendants that left the group (setsid, setpgid) are found now, while their
        // parents still link them to the target.
        let strays: Vec<ProcessId> = ProcessTable::scan(Path::new("/proc"))
            .map(|t| t.tree(self.pid).iter().map(|s| s.id()).collect())
            .unwrap_or_default();
        self.terminate_group(strays).await
    }

    async fn terminate_group(&mut self, strays: Vec<ProcessId>) -> Option<String> {
        let pgid = self.pid as i32;
        signal(pgid, &strays, libc::SIGTERM);
        let mut reaped = false;
        let deadline = Instant::now() + GRACE;
        loop {
            reaped = reaped || matches!(self.child.try_wait(), Ok(Some(_)) | Err(_));
            if reaped && remaining(pgid, &strays).is_empty() {
                return self.done(None);
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        signal(pgid, &strays, libc::SIGKILL);
        if !reaped {
            let _ = self.child.wait().await;
        }
        // SIGKILL cannot be refused, but a process in uninterruptible sleep takes a moment.
        for _ in 0..40 {
            if remaining(pgid, &strays).is_empty() {
                return self.done(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<String> = remaining(pgid, &strays)
            .iter()
            .map(|p| p.pid.to_string())
            .collect();
        self.done(Some(format!(
            "the target's process(es) {} outlived SIGKILL by 2 s",
            left.join(", ")
        )))
    }

    fn done(&mut self, note: Option<String>) -> Option<String> {
        self.stopped = true;
        if let Some(slot) = self.slot.take() {
            GROUPS[slot].store(0, Ordering::SeqCst);
        }
        note
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.stopped {
            let strays: Vec<ProcessId> = ProcessTable::scan(Path::new("/proc"))
                .map(|t| t.tree(self.pid).iter().map(|s| s.id()).collect())
                .unwrap_or_default();
            signal(self.pid as i32, &strays, libc::SIGKILL);
            // tokio reaps the dropped child in the background.
            self.done(None);
        }
    }
}

/// Sends `sig` to group `pgid` and to those of `strays` that still run as themselves.
fn signal(pgid: i32, strays: &[ProcessId], sig: libc::c_int) {
    // SAFETY: killpg(2)/kill(2) on processes this run started; no memory involved.
    unsafe {
        libc::killpg(pgid, sig);
    }
    for p in remaining(pgid, strays) {
        unsafe {
            libc::kill(p.pid as libc::pid_t, sig);
        }
    }
}

/// Running members of group `pgid`, and those of `strays` still running.
fn remaining(pgid: i32, strays: &[ProcessId]) -> Vec<ProcessId> {
    let Ok(table) = ProcessTable::scan(Path::new("/proc")) else {
        return Vec::new();
    };
    table
        .iter()
        .filter(|s| !s.is_gone() && (s.pgrp == pgid || strays.contains(&s.id())))
        .map(|s| s.id())
        .collect()
}

async fn probe(plan: &SpawnPlan, base_url: &str) -> bool {
    match (&plan.ready.http, plan.ready.tcp) {
        (Some(path), _) => {
            let url = format!("{base_url}{path}");
            ballast_http::get_once(&url, std::time::Duration::from_secs(2))
                .await
                .is_ok()
        }
        (None, Some(port)) => tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok(),
        (None, None) => match ballast_load::Target::parse(base_url) {
            Ok(t) => tokio::net::TcpStream::connect((t.host.as_str(), t.port))
                .await
                .is_ok(),
            Err(_) => false,
        },
    }
}
