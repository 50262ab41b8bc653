//! What to watch, as data.

use crate::cgroup::CgroupPaths;
use crate::watch::Watcher;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The kernel keeps 15 bytes of a command name (`TASK_COMM_LEN` − 1).
pub const COMM_MAX: usize = 15;

/// Which cgroup to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CgroupChoice {
    /// The watched process's own groups, found from `/proc/PID/cgroup` at the first
    /// sample that finds the process, and kept from then on. The default.
    #[default]
    Auto,
    /// No cgroup: process facts only.
    None,
    /// These directories (a service's group, or a recorded tree).
    Paths(CgroupPaths),
}

/// A watch as data: which process, what else to read, how often. Every field but the
/// process has a default; [`WatchConfig::build`] checks it.
///
/// ```
/// let config: ballast_proc::WatchConfig =
///     serde_json::from_str(r#"{"name": "postgres", "interval": "500ms"}"#).unwrap();
/// assert!(config.descendants);
/// config.build().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// The process by id. One of `pid` and `name` is required.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The process by name (as in `/proc/PID/comm`, at most 15 bytes): the newest
    /// running match is watched, and a match with a new pid counts as a restart.
    #[serde(default)]
    pub name: Option<String>,
    /// With `name`: look for it only in this process's tree (e.g. a supervisor that was
    /// spawned), and account that whole tree. Default: anywhere; the match's own tree.
    #[serde(default)]
    pub under: Option<u32>,
    /// Sum RSS, threads, descriptors and CPU over the process's descendants too
    /// (children found by parent pid, including ones started later). Default: `true`.
    #[serde(default = "yes")]
    pub descendants: bool,
    /// Which cgroup to read. Default: `auto`.
    #[serde(default)]
    pub cgroup: CgroupChoice,
    /// Also read the system-wide `/proc/pressure/*`. Default: `true`.
    #[serde(default = "yes")]
    pub system_pressure: bool,
    /// Period of [`Watcher::spawn`]; `10ms` to `1h`. Default: `1s`.
    #[serde(default = "one_second", with = "ballast_core::duration_text")]
    pub interval: Duration,
    /// Samples kept in the history, oldest dropped first; `1` to `1000000`.
    /// Default: `3600` (an hour at one a second).
    #[serde(default = "an_hour")]
    pub history: usize,
    /// Where procfs is mounted (a host's `/proc` seen from a container, say).
    /// Default: `/proc`.
    #[serde(default = "proc_root")]
    pub proc_root: PathBuf,
}

fn yes() -> bool {
    true
}
fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn an_hour() -> usize {
    3600
}
fn proc_root() -> PathBuf {
    PathBuf::from("/proc")
}

impl WatchConfig {
    /// Watches process `pid` (and its descendants), with the defaults.
    pub fn pid(pid: u32) -> WatchConfig {
        WatchConfig {
            pid: Some(pid),
            ..Self::defaults()
        }
    }

    /// Watches the newest process named `name`, with the defaults.
    pub fn name(name: impl Into<String>) -> WatchConfig {
        WatchConfig {
            name: Some(name.into()),
            ..Self::defaults()
        }
    }

    fn defaults() -> WatchConfig {
        WatchConfig {
            pid: None,
            name: None,
            under: None,
            descendants: true,
            cgroup: CgroupChoice::Auto,
            system_pressure: true,
            interval: one_second(),
            history: an_hour(),
            proc_root: proc_root(),
        }
    }

    /// Checks the configuration and returns the watcher. Nothing is read yet.
    pub fn build(self) -> Result<Watcher, Error> {
        let bad = |field: &'static str, reason: String| Err(Error::Config { field, reason });
        match (&self.pid, &self.name) {
            (None, None) => return bad("pid", "expected `pid` or `name`: which process to watch".into()),
            (Some(_), Some(_)) => {
                return bad(
                    "name",
                    "expected `pid` or `name`, not both (to find a name inside a process's tree, use `name` with `under`)".into(),
                )
            }
            (Some(0), _) => return bad("pid", "0 is not a process".into()),
            _ => {}
        }
        if let Some(name) = &self.name {
            if name.is_empty() || name.contains(['/', '\n', '\0']) {
                return bad(
                    "name",
                    format!("{name:?} cannot be a command name (as in /proc/PID/comm)"),
                );
            }
            if name.len() > COMM_MAX {
                let mut cut = COMM_MAX;
                while !name.is_char_boundary(cut) {
                    cut -= 1;
                }
                return bad(
                    "name",
                    format!(
                        "{name:?} is longer than the {COMM_MAX} bytes the kernel keeps in /proc/PID/comm; use {:?}",
                        &name[..cut]
                    ),
                );
            }
        }
        match self.under {
            Some(_) if self.name.is_none() => {
                return bad(
                    "under",
                    "`under` narrows a `name` search; give `name` too".into(),
                )
            }
            Some(0) => return bad("under", "0 is not a process".into()),
            _ => {}
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&self.interval) {
            return bad(
                "interval",
                format!(
                    "{} is outside 10ms to 1h",
                    ballast_core::format_duration(self.interval)
                ),
            );
        }
        if !(1..=1_000_000).contains(&self.history) {
            return bad(
                "history",
                format!("{} is outside 1 to 1000000 samples", self.history),
            );
        }
        if !self.proc_root.join("self").is_dir() && !self.proc_root.is_dir() {
            return bad(
                "proc_root",
                format!("{} is not a directory", self.proc_root.display()),
            );
        }
        Ok(Watcher::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        serde_json::from_str::<WatchConfig>(json)
            .map_err(|e| e.to_string())
            .and_then(|c| c.build().map(|_| ()).map_err(|e| e.to_string()))
            .unwrap_err()
    }

    #[test]
    fn defaults_are_documented_values() {
        let c: WatchConfig = serde_json::from_str(r#"{"pid": 1}"#).unwrap();
        assert_eq!(c, WatchConfig::pid(1));
        assert!(c.descendants && c.system_pressure);
        assert_eq!((c.interval, c.history), (Duration::from_secs(1), 3600));
        assert_eq!(c.cgroup, CgroupChoice::Auto);
        let c: WatchConfig =
            serde_json::from_str(r#"{"name": "x", "cgroup": {"paths": {"unified": "/x"}}}"#)
                .unwrap();
        assert!(matches!(c.cgroup, CgroupChoice::Paths(_)));
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(err("{}").starts_with("pid: expected `pid` or `name`"));
        assert!(err(r#"{"pid": 1, "name": "x"}"#).starts_with("name: "));
        assert!(err(r#"{"pid": 0}"#).starts_with("pid: 0"));
        assert!(err(r#"{"name": "a-very-long-server-name"}"#).contains("use \"a-very-long-ser\""));
        assert!(err(r#"{"pid": 1, "under": 3}"#).starts_with("under: "));
        let e = err(r#"{"pid": 1, "interval": "1ms"}"#);
        assert!(
            e.starts_with("interval: ") && e.contains("outside 10ms to 1h"),
            "{e}"
        );
        let e = err(r#"{"pid": 1, "interval": "1"}"#);
        assert!(e.contains("missing unit"), "{e}");
        assert!(err(r#"{"pid": 1, "history": 0}"#).starts_with("history: "));
        assert!(err(r#"{"pid": 1, "proc_root": "/nonexistent/proc"}"#).starts_with("proc_root: "));
        assert!(err(r#"{"pid": 1, "pidd": 2}"#).contains("unknown field `pidd`"));
    }
}
