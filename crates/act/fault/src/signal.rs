//! Signals by name, sending them, and pausing a process group.

use crate::exit::{self, Slot, Table};
use crate::{hint, pid_t, Error};
pub use ballast_core::Signal;

fn send(target: String, sig: Signal, result: libc::c_int) -> Result<(), Error> {
    if result == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    Err(Error::Signal {
        signal: sig.name(),
        target,
        hint: hint(source.raw_os_error()),
        source,
    })
}

/// The group to signal: a real one, not ours (we would stop or kill ourselves) and not
/// init's.
fn group_t(pgid: u32) -> Result<libc::pid_t, Error> {
    let g = pid_t("pgid", pgid)?;
    // SAFETY: getpgrp(2) cannot fail.
    let ours = unsafe { libc::getpgrp() };
    if g == 1 || g == ours {
        return Err(Error::Config {
            field: "pgid",
            reason: format!(
                "{pgid} is {}; only a target's own group may be signalled",
                if g == 1 {
                    "init's process group"
                } else {
                    "this process's own group"
                }
            ),
        });
    }
    Ok(g)
}

/// Sends `sig` to every process in group `pgid` (`killpg(2)`). Refuses group 1 and this
/// process's own group.
pub fn signal_group(pgid: u32, sig: Signal) -> Result<(), Error> {
    let g = group_t(pgid)?;
    // SAFETY: killpg(2) with a checked positive group id.
    let r = unsafe { libc::killpg(g, sig.number()) };
    send(format!("process group {pgid}"), sig, r)
}

/// Sends `sig` to process `pid` (`kill(2)`).
pub fn signal_pid(pid: u32, sig: Signal) -> Result<(), Error> {
    let p = pid_t("pid", pid)?;
    // SAFETY: kill(2) with a checked positive pid (never a group).
    let r = unsafe { libc::kill(p, sig.number()) };
    send(format!("process {pid}"), sig, r)
}

/// Whether process `pid` exists and this process may signal it (`kill(pid, 0)`).
pub fn can_signal(pid: u32) -> Result<(), Error> {
    let p = pid_t("pid", pid)?;
    // SAFETY: kill(2) with signal 0 only checks.
    let r = unsafe { libc::kill(p, 0) };
    if r == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    Err(Error::Signal {
        signal: "signal 0 (a check)",
        target: format!("process {pid}"),
        hint: hint(source.raw_os_error()),
        source,
    })
}

/// A stopped process group: `SIGSTOP` now, `SIGCONT` on [`resume`](Pause::resume) or drop,
/// and at exit (the group is in the table an `atexit` hook reads) so that a normal exit
/// never leaves it stopped.
#[derive(Debug)]
pub struct Pause {
    pgid: u32,
    slot: Option<Slot>,
}

impl Pause {
    /// Stops every process in group `pgid`.
    pub fn start(pgid: u32) -> Result<Pause, Error> {
        let g = group_t(pgid)?;
        // In the table before the stop: no moment where it is stopped and not listed.
        let slot = exit::register(Table::Paused, g)?;
        // SAFETY: killpg(2) with a checked positive group id.
        let r = unsafe { libc::killpg(g, libc::SIGSTOP) };
        if let Err(e) = send(format!("process group {pgid}"), Signal::STOP, r) {
            exit::release(slot);
            return Err(e);
        }
        Ok(Pause {
            pgid,
            slot: Some(slot),
        })
    }

    /// The group.
    pub fn pgid(&self) -> u32 {
        self.pgid
    }

    /// Continues the group. A group that is gone meanwhile is not an error: there is
    /// nothing left stopped.
    pub fn resume(mut self) -> Result<(), Error> {
        self.cont()
    }

    fn cont(&mut self) -> Result<(), Error> {
        let Some(slot) = self.slot.take() else {
            return Ok(());
        };
        // SAFETY: killpg(2) with the group we stopped (> 1, checked in start).
        let r = unsafe { libc::killpg(self.pgid as libc::pid_t, libc::SIGCONT) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        exit::release(slot);
        if r != 0 && errno == Some(libc::ESRCH) {
            return Ok(());
        }
        send(format!("process group {}", self.pgid), Signal::CONT, r)
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        if let Err(e) = self.cont() {
            eprintln!("ballast-fault: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_our_own_group_init_and_non_pids() {
        let ours = unsafe { libc::getpgrp() } as u32;
        for pgid in [0, 1, ours, u32::MAX] {
            let e = signal_group(pgid, Signal::CONT).unwrap_err().to_string();
            assert!(e.starts_with("pgid: "), "{e}");
            assert!(Pause::start(pgid).is_err());
        }
        for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
            let e = signal_pid(pid, Signal::CONT).unwrap_err().to_string();
            assert!(e.starts_with("pid: "), "{e}");
        }
    }

    #[test]
    fn can_signal_ourselves_and_not_a_missing_process() {
        can_signal(std::process::id()).unwrap();
        // Above the kernel's pid_max (at most 2^22).
        let e = can_signal(1 << 23).unwrap_err().to_string();
        assert!(
            e.contains("process 8388608") && e.contains("no such process"),
            "{e}"
        );
    }
}
