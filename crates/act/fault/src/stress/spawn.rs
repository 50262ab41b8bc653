//! Forking one worker and waiting for its report.

use super::child::{self, Plan, REPORT_LEN, STEP_AFFINITY, STEP_JOIN, STEP_MMAP, STEP_OPEN};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// A worker that says nothing for this long is killed.
const READY_WITHIN_MS: libc::c_int = 5_000;

/// Forks a worker running `plan` and returns its pid once it has joined its groups,
/// pinned itself and set up its work; or why it could not.
pub(crate) fn start(plan: &Plan) -> Result<libc::pid_t, String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2(2) fills two descriptors. CLOEXEC: a program another thread execs
    // meanwhile must not hold the write end (we would miss the end of a worker).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let [read, write] = fds;
    // SAFETY: the child runs only async-signal-safe code on prepared data and never
    // returns (child::run ends in _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: our own descriptors.
        unsafe {
            libc::close(read);
            libc::close(write);
        }
        return Err(format!("fork: {e}"));
    }
    if pid == 0 {
        // SAFETY: in the child, right after fork.
        unsafe {
            libc::close(read);
            child::run(plan, write)
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(write) };
    let report = read_report(read);
    // SAFETY: our own descriptor.
    unsafe { libc::close(read) };
    match report {
        Ok(Some([0, _, _])) => Ok(pid),
        Ok(Some([step, index, errno])) => {
            let status = reap(pid, false);
            let e = std::io::Error::from_raw_os_error(errno as i32);
            let hint = crate::hint(Some(errno as i32));
            let what = match step {
                STEP_JOIN => format!(
                    "joining cgroup {}",
                    plan.procs
                        .get(index as usize)
                        .map_or("?".into(), |p| p.to_string_lossy().into_owned())
                ),
                STEP_AFFINITY => "pinning to the CPUs asked for".into(),
                STEP_MMAP => "mapping its memory".into(),
                STEP_OPEN => match &plan.work {
                    child::Work::Io { path, .. } => {
                        format!("creating {}", path.to_string_lossy())
                    }
                    _ => "opening its file".into(),
                },
                _ => format!("step {step}"),
            };
            Err(format!("worker {pid} failed {what}: {e}{hint} ({status})"))
        }
        Ok(None) => {
            let status = reap(pid, false);
            Err(format!("worker {pid} ended before it was ready ({status})"))
        }
        Err(why) => {
            let status = reap(pid, true);
            Err(format!("worker {pid}: {why}; killed ({status})"))
        }
    }
}

/// The report, `None` at end of file (the worker died first), or why none came.
fn read_report(fd: libc::c_int) -> Result<Option<[u32; 3]>, String> {
    let mut buf = [0u8; REPORT_LEN];
    let mut got = 0;
    let started = std::time::Instant::now();
    while got < REPORT_LEN {
        let left = READY_WITHIN_MS - started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        if left <= 0 {
            return Err(format!("no report within {READY_WITHIN_MS} ms"));
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if r == 0 {
            continue;
        }
        // SAFETY: reads into the rest of buf.
        let n = unsafe {
            libc::read(
                fd,
                buf[got..].as_mut_ptr() as *mut libc::c_void,
                REPORT_LEN - got,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("read: {e}"));
        }
        if n == 0 {
            return Ok(None);
        }
        got += n as usize;
    }
    let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    Ok(Some([word(0), word(4), word(8)]))
}

/// Waits for a worker that is ending (`kill`: kills it first).
fn reap(pid: libc::pid_t, kill: bool) -> ExitStatus {
    let mut status = 0;
    // SAFETY: our own child, not reaped yet.
    unsafe {
        if kill {
            libc::kill(pid, libc::SIGKILL);
        }
        libc::waitpid(pid, &mut status, 0);
    }
    ExitStatus::from_raw(status)
}
