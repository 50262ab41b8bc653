//! What a worker runs after `fork()`, and how it says whether it got ready.
//!
//! The parent may have many threads; the child has only the one that forked, and any lock
//! another thread held (the allocator's, stdio's) stays locked forever. So from `fork()`
//! on, the child calls only async-signal-safe libc functions, on data the parent
//! prepared ([`Plan`]), and never returns into Rust code that could allocate, lock or
//! panic: every path ends in `_exit`.

use std::ffi::CString;
use std::hint::black_box;

/// Everything a worker needs, prepared before `fork()`.
pub(crate) struct Plan {
    /// The process that forks; the worker exits when its parent is someone else.
    pub parent: libc::pid_t,
    /// `<dir>/cgroup.procs` of every group to join.
    pub procs: Vec<CString>,
    /// The CPUs to run on.
    pub affinity: Option<libc::cpu_set_t>,
    /// `/dev/null`, for stdin, stdout and stderr.
    pub devnull: CString,
    /// The worker's name (`comm`), NUL-terminated, at most 16 bytes.
    pub comm: &'static [u8],
    /// What to do.
    pub work: Work,
}

/// A worker's task.
pub(crate) enum Work {
    /// Spin for `busy_ns` of every `period_ns`, sleep the rest.
    Cpu { busy_ns: i64, period_ns: i64 },
    /// Map `bytes`, write to every page, hold.
    Memory { bytes: usize, page: usize },
    /// Write `bytes` to `path` in `chunk`s, syncing, again and again.
    Io {
        path: CString,
        bytes: u64,
        chunk: Vec<u8>,
    },
}

/// The steps a report can name.
pub(crate) const STEP_READY: u32 = 0;
pub(crate) const STEP_JOIN: u32 = 1;
pub(crate) const STEP_AFFINITY: u32 = 2;
pub(crate) const STEP_MMAP: u32 = 3;
pub(crate) const STEP_OPEN: u32 = 4;

/// The report a worker writes to its pipe: step, index (of the group), errno.
pub(crate) const REPORT_LEN: usize = 12;

/// The parent is checked at least this often.
const CHECK_NS: i64 = 50_000_000;

/// Where the report pipe is moved to in the child.
const REPORT_FD: libc::c_int = 3;

/// Runs the worker. Never returns.
///
/// # Safety
/// Only in the child right after `fork()`, with `report` the write end of a pipe.
pub(crate) unsafe fn run(plan: &Plan, report: libc::c_int) -> ! {
    reset_signals();
    let report = keep_only(report, &plan.devnull);
    libc::prctl(
        libc::PR_SET_NAME,
        plan.comm.as_ptr() as libc::c_ulong,
        0,
        0,
        0,
    );
    for (index, procs) in plan.procs.iter().enumerate() {
        if let Err(errno) = write_zero(procs) {
            fail(report, STEP_JOIN, index as u32, errno);
        }
    }
    if let Some(set) = &plan.affinity {
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0 {
            fail(report, STEP_AFFINITY, 0, errno());
        }
    }
    match &plan.work {
        Work::Cpu { busy_ns, period_ns } => {
            ready(report);
            cpu(plan.parent, *busy_ns, *period_ns)
        }
        Work::Memory { bytes, page } => {
            let p = libc::mmap(
                std::ptr::null_mut(),
                *bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                fail(report, STEP_MMAP, 0, errno());
            }
            ready(report);
            memory(plan.parent, p as *mut u8, *bytes, *page)
        }
        Work::Io { path, bytes, chunk } => {
            // O_EXCL | O_NOFOLLOW: never write through a file or link someone else put there.
            let fd = libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600,
            );
            if fd < 0 {
                fail(report, STEP_OPEN, 0, errno());
            }
            ready(report);
            io(plan.parent, fd, path, *bytes, chunk)
        }
    }
}

unsafe fn errno() -> i32 {
    *libc::__errno_location()
}

/// Default dispositions and an empty mask: the parent's handlers (tokio's, say) write to
/// descriptors the worker has closed, and a blocked signal would keep a Ctrl-C from it.
unsafe fn reset_signals() {
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Moves the report pipe to fd 3, closes every other inherited descriptor (sockets,
/// pipes to the test harness…) and puts `/dev/null` on 0, 1 and 2.
unsafe fn keep_only(report: libc::c_int, devnull: &CString) -> libc::c_int {
    if report != REPORT_FD && libc::dup2(report, REPORT_FD) < 0 {
        libc::_exit(102);
    }
    let first = (REPORT_FD + 1) as libc::c_uint;
    if libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) != 0 {
        // Before Linux 5.9: close one by one, up to the descriptor limit.
        let mut limit: libc::rlimit = std::mem::zeroed();
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(1 << 20) as libc::c_int
        } else {
            1 << 16
        };
        for fd in first as libc::c_int..max {
            libc::close(fd);
        }
    }
    let null = libc::open(devnull.as_ptr(), libc::O_RDWR);
    if null >= 0 {
        for fd in 0..3 {
            if null != fd {
                libc::dup2(null, fd);
            }
        }
        if null > REPORT_FD {
            libc::close(null);
        }
    }
    REPORT_FD
}

/// Writes "0" to a `cgroup.procs` file: moves the calling process into that group (v1
/// and v2 alike). Async-signal-safe.
pub(crate) unsafe fn write_zero(procs: &CString) -> Result<(), i32> {
    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return Err(errno());
    }
    let n = libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1);
    let e = errno();
    libc::close(fd);
    if n == 1 {
        Ok(())
    } else {
        Err(e)
    }
}

unsafe fn send(report: libc::c_int, step: u32, index: u32, errno: i32) {
    let mut bytes = [0u8; REPORT_LEN];
    bytes[0..4].copy_from_slice(&step.to_ne_bytes());
    bytes[4..8].copy_from_slice(&index.to_ne_bytes());
    bytes[8..12].copy_from_slice(&errno.to_ne_bytes());
    // 12 bytes to a pipe are written whole (less than PIPE_BUF).
    libc::write(report, bytes.as_ptr() as *const libc::c_void, REPORT_LEN);
    libc::close(report);
}

unsafe fn ready(report: libc::c_int) {
    send(report, STEP_READY, 0, 0);
}

unsafe fn fail(report: libc::c_int, step: u32, index: u32, errno: i32) -> ! {
    send(report, step, index, errno);
    libc::_exit(101)
}

unsafe fn now_ns() -> i64 {
    let mut t: libc::timespec = std::mem::zeroed();
    libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t);
    t.tv_sec as i64 * 1_000_000_000 + t.tv_nsec as i64
}

unsafe fn sleep_ns(ns: i64) {
    let t = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // Interrupted early: the caller's loop checks the time or the parent anyway.
    libc::nanosleep(&t, std::ptr::null_mut());
}

unsafe fn parent_gone(parent: libc::pid_t) -> bool {
    libc::getppid() != parent
}

unsafe fn cpu(parent: libc::pid_t, busy_ns: i64, period_ns: i64) -> ! {
    let mut x: u64 = 1;
    loop {
        let start = now_ns();
        while now_ns() - start < busy_ns {
            for _ in 0..256 {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let rest = period_ns - (now_ns() - start);
        if rest > 0 {
            sleep_ns(rest);
        }
        if parent_gone(parent) {
            libc::_exit(0);
        }
    }
}

unsafe fn memory(parent: libc::pid_t, base: *mut u8, bytes: usize, page: usize) -> ! {
    // A different non-zero word on every page: nothing can share or skip them.
    let mut offset = 0usize;
    let mut n: u64 = 0;
    while offset + 8 <= bytes {
        n += 1;
        (base.add(offset) as *mut u64).write_volatile(n);
        offset += page;
        if n % 256 == 0 && parent_gone(parent) {
            libc::_exit(0);
        }
    }
    loop {
        sleep_ns(CHECK_NS);
        if parent_gone(parent) {
            libc::_exit(0);
        }
    }
}

unsafe fn io(parent: libc::pid_t, fd: libc::c_int, path: &CString, bytes: u64, chunk: &[u8]) -> ! {
    const SYNC_EVERY: u64 = 8 << 20;
    // The parent cannot remove the file any more: do it here.
    let leave = || {
        libc::unlink(path.as_ptr());
        libc::_exit(0)
    };
    loop {
        let mut offset: u64 = 0;
        let mut unsynced: u64 = 0;
        while offset < bytes {
            let n = (chunk.len() as u64).min(bytes - offset) as usize;
            let w = libc::pwrite(
                fd,
                chunk.as_ptr() as *const libc::c_void,
                n,
                offset as libc::off_t,
            );
            if w > 0 {
                offset += w as u64;
                unsynced += w as u64;
            } else if errno() != libc::EINTR {
                // A full disk, say: wait and start the pass again.
                sleep_ns(100_000_000);
                if parent_gone(parent) {
                    leave();
                }
                break;
            }
            if unsynced >= SYNC_EVERY {
                libc::fdatasync(fd);
                unsynced = 0;
            }
            if parent_gone(parent) {
                leave();
            }
        }
        libc::fsync(fd);
        if parent_gone(parent) {
            leave();
        }
    }
}
