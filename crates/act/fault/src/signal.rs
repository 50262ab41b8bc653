//! Signals by name, sending them, and pausing a process group.

use crate::exit::{self, Slot, Table};
use crate::{hint, pid_t, Error};
use std::fmt;
use std::str::FromStr;

/// The standard Linux signals, by the name `kill -l` gives them.
const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGSTKFLT", libc::SIGSTKFLT),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// A signal, one of the standard Linux ones (1–31).
///
/// Parsed from its name with or without `SIG`, in any case (`SIGKILL`, `KILL`, `kill`),
/// or its number (`9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// `SIGKILL`.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// `SIGTERM`.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// `SIGINT`.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// `SIGSTOP`.
    pub const STOP: Signal = Signal(libc::SIGSTOP);
    /// `SIGCONT`.
    pub const CONT: Signal = Signal(libc::SIGCONT);

    /// The name, `SIGKILL`.
    pub fn name(&self) -> &'static str {
        SIGNALS
            .iter()
            .find(|(_, n)| *n == self.0)
            .map_or("SIG?", |(name, _)| name)
    }

    /// The number, 9.
    pub fn number(&self) -> i32 {
        self.0
    }

    /// The signal numbered `number`, if it is one of the standard ones.
    pub fn from_number(number: i32) -> Option<Signal> {
        SIGNALS
            .iter()
            .any(|(_, n)| *n == number)
            .then_some(Signal(number))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Signal {
    type Err = Error;

    fn from_str(s: &str) -> Result<Signal, Error> {
        let text = s.trim();
        let found = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse().ok().and_then(Signal::from_number)
        } else {
            let upper = text.to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
            SIGNALS
                .iter()
                .find(|(name, _)| &name[3..] == bare)
                .map(|(_, n)| Signal(*n))
        };
        found.ok_or_else(|| Error::Config {
            field: "signal",
            reason: format!(
                "unknown signal {s:?}; expected a name (SIGKILL, KILL or kill) or number of one of {}",
                SIGNALS
                    .iter()
                    .map(|(name, n)| format!("{name} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

fn send(target: String, sig: i32, result: libc::c_int) -> Result<(), Error> {
    if result == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    Err(Error::Signal {
        signal: Signal(sig).name(),
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
    let r = unsafe { libc::killpg(g, sig.0) };
    send(format!("process group {pgid}"), sig.0, r)
}

/// Sends `sig` to process `pid` (`kill(2)`).
pub fn signal_pid(pid: u32, sig: Signal) -> Result<(), Error> {
    let p = pid_t("pid", pid)?;
    // SAFETY: kill(2) with a checked positive pid (never a group).
    let r = unsafe { libc::kill(p, sig.0) };
    send(format!("process {pid}"), sig.0, r)
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
        if let Err(e) = send(format!("process group {pgid}"), libc::SIGSTOP, r) {
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
        send(format!("process group {}", self.pgid), libc::SIGCONT, r)
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
    use proptest::prelude::*;

    #[test]
    fn names_numbers_and_case() {
        for text in ["SIGKILL", "KILL", "kill", "Sigkill", "9", " 9 "] {
            let s: Signal = text.parse().unwrap();
            assert_eq!((s.name(), s.number()), ("SIGKILL", 9), "{text}");
        }
        assert_eq!("term".parse::<Signal>().unwrap(), Signal::TERM);
        assert_eq!("SIGSTOP".parse::<Signal>().unwrap().number(), libc::SIGSTOP);
        assert_eq!(Signal::CONT.to_string(), "SIGCONT");
    }

    #[test]
    fn unknown_names_the_known_ones() {
        for text in ["", "SIG", "SIGFOO", "0", "32", "-9", "99999999999", "KILL9"] {
            let e = text.parse::<Signal>().unwrap_err().to_string();
            assert!(
                e.starts_with("signal: unknown signal") && e.contains("SIGKILL (9)"),
                "{text}: {e}"
            );
        }
    }

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

    proptest! {
        #[test]
        fn every_signal_round_trips(i in 0..SIGNALS.len(), lower: bool, prefix: bool) {
            let (name, n) = SIGNALS[i];
            let mut text = if prefix { name.to_string() } else { name[3..].to_string() };
            if lower { text = text.to_lowercase(); }
            let s: Signal = text.parse().unwrap();
            prop_assert_eq!((s.name(), s.number()), (name, n));
            prop_assert_eq!(n.to_string().parse::<Signal>().unwrap(), s);
        }

        #[test]
        fn any_text_parses_to_a_known_signal_or_an_error(text in "\\PC{0,12}") {
            if let Ok(s) = text.parse::<Signal>() {
                prop_assert!(SIGNALS.iter().any(|(_, n)| *n == s.number()));
            }
        }
    }
}
