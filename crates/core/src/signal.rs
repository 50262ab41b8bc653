//! POSIX signals by name, as contracts and flags write them (`SIGKILL`, `KILL`, `kill`,
//! `9`). The numbers are Linux's (x86-64 and arm64 agree on these).

use crate::Error;
use std::fmt;
use std::str::FromStr;

/// The signals a fault may send, with their Linux numbers.
const SIGNALS: [(&str, i32); 20] = [
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGXCPU", 24),
];

/// A signal known by name and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal {
    name: &'static str,
    number: i32,
}

impl Signal {
    /// `SIGKILL`.
    pub const KILL: Signal = Signal {
        name: "SIGKILL",
        number: 9,
    };
    /// `SIGTERM`.
    pub const TERM: Signal = Signal {
        name: "SIGTERM",
        number: 15,
    };
    /// `SIGSTOP`.
    pub const STOP: Signal = Signal {
        name: "SIGSTOP",
        number: 19,
    };
    /// `SIGCONT`.
    pub const CONT: Signal = Signal {
        name: "SIGCONT",
        number: 18,
    };

    /// Its name, e.g. `SIGKILL`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its number, e.g. 9.
    pub fn number(&self) -> i32 {
        self.number
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl FromStr for Signal {
    type Err = Error;

    fn from_str(input: &str) -> Result<Signal, Error> {
        let text = input.trim();
        let found = match text.parse::<i32>() {
            Ok(n) => SIGNALS.iter().find(|(_, number)| *number == n),
            Err(_) => {
                let upper = text.to_ascii_uppercase();
                let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
                SIGNALS.iter().find(|(name, _)| &name[3..] == bare)
            }
        };
        found
            .map(|&(name, number)| Signal { name, number })
            .ok_or_else(|| Error::Signal {
                input: input.to_string(),
                known: SIGNALS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_case() {
        for text in ["SIGKILL", "KILL", "kill", "9", " sigkill "] {
            assert_eq!(text.parse::<Signal>().unwrap(), Signal::KILL, "{text}");
        }
        assert_eq!("term".parse::<Signal>().unwrap().number(), 15);
        let e = "SIGFOO".parse::<Signal>().unwrap_err().to_string();
        assert!(e.contains("\"SIGFOO\"") && e.contains("SIGKILL"), "{e}");
        assert!("64".parse::<Signal>().is_err());
        assert!("".parse::<Signal>().is_err());
    }

    #[test]
    fn the_table_matches_this_kernel() {
        let kernel = [
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
            ("SIGCHLD", libc::SIGCHLD),
            ("SIGCONT", libc::SIGCONT),
            ("SIGSTOP", libc::SIGSTOP),
            ("SIGTSTP", libc::SIGTSTP),
            ("SIGXCPU", libc::SIGXCPU),
        ];
        assert_eq!(SIGNALS.to_vec(), kernel.to_vec());
    }
}
