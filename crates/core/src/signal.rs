//! POSIX signals by name, as contracts and flags write them (`SIGKILL`, `KILL`, `kill`,
//! `9`). The numbers are Linux's (x86-64 and arm64 agree on these).

use crate::Error;
use std::fmt;
use std::str::FromStr;

/// The standard Linux signals (1–31), by the names `kill -l` gives them.
const SIGNALS: [(&str, i32); 31] = [
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
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
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
    /// `SIGINT`.
    pub const INT: Signal = Signal {
        name: "SIGINT",
        number: 2,
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

    /// The signal numbered `number`, if it is one of the standard ones.
    pub fn from_number(number: i32) -> Option<Signal> {
        SIGNALS
            .iter()
            .find(|(_, n)| *n == number)
            .map(|&(name, number)| Signal { name, number })
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
        let found = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse().ok().and_then(Signal::from_number)
        } else {
            let upper = text.to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
            SIGNALS
                .iter()
                .find(|(name, _)| &name[3..] == bare)
                .map(|&(name, number)| Signal { name, number })
        };
        found.ok_or_else(|| Error::Signal {
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
    use proptest::prelude::*;

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

    #[test]
    fn names_numbers_and_case() {
        for text in ["SIGKILL", "KILL", "kill", "9", " sigkill "] {
            assert_eq!(text.parse::<Signal>().unwrap(), Signal::KILL, "{text}");
        }
        assert_eq!("term".parse::<Signal>().unwrap().number(), 15);
        let e = "SIGFOO".parse::<Signal>().unwrap_err().to_string();
        assert!(e.contains("\"SIGFOO\"") && e.contains("SIGKILL"), "{e}");
        assert!("64".parse::<Signal>().is_err());
        for bad in ["0", "32", "-9", "99999999999", "KILL9", "SIG"] {
            assert!(bad.parse::<Signal>().is_err(), "{bad}");
        }
        assert_eq!(Signal::from_number(2), Some(Signal::INT));
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
        assert_eq!(SIGNALS.to_vec(), kernel.to_vec());
    }
}
