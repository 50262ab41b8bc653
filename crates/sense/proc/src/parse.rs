//! Parsers for the kernel's text files, free of I/O so they can be tested on recorded
//! content and fuzzed. Each returns a [`ParseError`] naming the 1-based line it rejects;
//! the readers add the file's path ([`crate::Error::Parse`]).
//!
//! A field the kernel legitimately leaves out (older kernels, a controller that is not
//! enabled) comes back as `None`; a field that is present but not what the kernel writes
//! is an error.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What is wrong with a line of a kernel file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0: the file as a whole, e.g. it is empty).
    pub line: usize,
    /// What was expected.
    pub reason: String,
}

impl ParseError {
    fn new(line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            reason: reason.into(),
        }
    }
}

fn number(line: usize, key: &str, text: &str) -> Result<u64, ParseError> {
    text.parse().map_err(|_| {
        ParseError::new(
            line,
            format!("{key}: expected a whole number of 0 or more, got {text:?}"),
        )
    })
}

/// The fields of `/proc/PID/stat` the watcher uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Process id (field 1).
    pub pid: u32,
    /// `comm`, as in `/proc/PID/comm` (field 2, without the parentheses).
    pub comm: String,
    /// State letter (field 3): `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    /// Parent's pid (field 4).
    pub ppid: u32,
    /// Process group (field 5).
    pub pgrp: i32,
    /// User-mode CPU time, clock ticks (field 14).
    pub utime: u64,
    /// Kernel-mode CPU time, clock ticks (field 15).
    pub stime: u64,
    /// User time of waited-for children, clock ticks (field 16).
    pub cutime: u64,
    /// Kernel time of waited-for children, clock ticks (field 17).
    pub cstime: u64,
    /// Threads (field 20).
    pub threads: u64,
    /// Start time after boot, clock ticks (field 22): with the pid, a process's identity
    /// (pids are reused).
    pub start_ticks: u64,
    /// Resident set, pages (field 24).
    pub rss_pages: u64,
}

impl Stat {
    /// Exited but not yet reaped (`Z`) or being torn down (`X`): no longer running.
    pub fn is_gone(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `/proc/PID/stat`. `comm` may itself contain spaces and parentheses, so the
/// fields after it are found from the *last* `)`.
pub fn stat(text: &str) -> Result<Stat, ParseError> {
    let text = text.trim_end_matches('\n');
    let open = text
        .find(" (")
        .ok_or_else(|| ParseError::new(1, "expected `PID (comm) …`"))?;
    let close = text
        .rfind(')')
        .filter(|&c| c > open)
        .ok_or_else(|| ParseError::new(1, "expected `)` closing the command name"))?;
    let pid = text[..open].parse().map_err(|_| {
        ParseError::new(
            1,
            format!("pid: expected a number, got {:?}", &text[..open]),
        )
    })?;
    let comm = text[open + 2..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // `rest[0]` is field 3.
    let field = |n: usize| -> Result<&str, ParseError> {
        rest.get(n - 3).copied().ok_or_else(|| {
            ParseError::new(
                1,
                format!("expected at least 24 fields, found {}", rest.len() + 2),
            )
        })
    };
    let num = |n: usize, name: &str| -> Result<u64, ParseError> { number(1, name, field(n)?) };
    let state_text = field(3)?;
    let mut chars = state_text.chars();
    let state = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => c,
        _ => {
            return Err(ParseError::new(
                1,
                format!("state: expected one letter, got {state_text:?}"),
            ))
        }
    };
    let pgrp_text = field(5)?;
    Ok(Stat {
        pid,
        comm,
        state,
        ppid: u32::try_from(num(4, "ppid")?)
            .map_err(|_| ParseError::new(1, "ppid: out of range"))?,
        pgrp: pgrp_text.parse().map_err(|_| {
            ParseError::new(1, format!("pgrp: expected a number, got {pgrp_text:?}"))
        })?,
        utime: num(14, "utime")?,
        stime: num(15, "stime")?,
        cutime: num(16, "cutime")?,
        cstime: num(17, "cstime")?,
        threads: num(20, "num_threads")?,
        start_ticks: num(22, "starttime")?,
        rss_pages: num(24, "rss")?,
    })
}

/// `key value` lines (`memory.events`, `cpu.stat`, `memory.oom_control`): every line must
/// be one key and one whole number, and no key may repeat. Unknown keys are kept (newer
/// kernels add some); blank lines are skipped.
pub fn flat_keyed(text: &str) -> Result<Vec<(&str, u64)>, ParseError> {
    let mut out: Vec<(&str, u64)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(ParseError::new(
                n,
                format!("expected `key value`, got {line:?}"),
            ));
        };
        if parts.next().is_some() {
            return Err(ParseError::new(
                n,
                format!("expected `key value`, got more fields: {line:?}"),
            ));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(ParseError::new(n, format!("{key} appears twice")));
        }
        out.push((key, number(n, key, value)?));
    }
    Ok(out)
}

fn lookup(pairs: &[(&str, u64)], key: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A single number (`memory.current`, `cpuacct.usage`, `memory.failcnt`, …).
pub fn single(text: &str) -> Result<u64, ParseError> {
    let value = text.trim();
    if value.is_empty() {
        return Err(ParseError::new(0, "the file is empty; expected a number"));
    }
    if text.trim_end().contains('\n') {
        return Err(ParseError::new(2, "expected one line holding a number"));
    }
    number(1, "value", value)
}

/// A memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// No limit (`max`, or v1's page-rounded `LONG_MAX`).
    Max,
    /// This many bytes.
    Bytes(u64),
}

/// v1 writes "unlimited" as `LONG_MAX` rounded down to a page (9223372036854771712 with
/// 4 KiB pages); anything from 4 EiB up is that, whatever the page size.
const V1_UNLIMITED_FROM: u64 = 1 << 62;

/// `memory.max`, `memory.high` (v2: `max` or bytes) and `memory.limit_in_bytes` (v1).
pub fn limit(text: &str) -> Result<Limit, ParseError> {
    if text.trim() == "max" {
        return Ok(Limit::Max);
    }
    let n = single(text)?;
    Ok(if n >= V1_UNLIMITED_FROM {
        Limit::Max
    } else {
        Limit::Bytes(n)
    })
}

/// cgroup v2 `memory.events` (hierarchical counts of events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEvents {
    /// Reclaimed while under `memory.low`.
    pub low: Option<u64>,
    /// Throttled for going over `memory.high`.
    pub high: Option<u64>,
    /// About to go over `memory.max`.
    pub max: Option<u64>,
    /// Hit the limit with reclaim failing (the OOM killer was invoked).
    pub oom: Option<u64>,
    /// Processes killed by the OOM killer.
    pub oom_kill: Option<u64>,
    /// Whole-group OOM kills (`memory.oom.group`; kernel 5.17+).
    pub oom_group_kill: Option<u64>,
}

/// Parses cgroup v2 `memory.events`.
pub fn memory_events(text: &str) -> Result<MemoryEvents, ParseError> {
    let p = flat_keyed(text)?;
    Ok(MemoryEvents {
        low: lookup(&p, "low"),
        high: lookup(&p, "high"),
        max: lookup(&p, "max"),
        oom: lookup(&p, "oom"),
        oom_kill: lookup(&p, "oom_kill"),
        oom_group_kill: lookup(&p, "oom_group_kill"),
    })
}

/// cgroup v1 `memory.oom_control`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomControl {
    /// The OOM killer is disabled for the group (tasks hang instead).
    pub oom_kill_disable: Option<bool>,
    /// The group is out of memory right now.
    pub under_oom: Option<bool>,
    /// Processes killed by the OOM killer (kernel 4.13+).
    pub oom_kill: Option<u64>,
}

/// Parses cgroup v1 `memory.oom_control`.
pub fn oom_control(text: &str) -> Result<OomControl, ParseError> {
    let p = flat_keyed(text)?;
    let flag = |key: &str| -> Result<Option<bool>, ParseError> {
        match lookup(&p, key) {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(v) => {
                let line = text
                    .lines()
                    .position(|l| l.split_whitespace().next() == Some(key))
                    .map_or(0, |i| i + 1);
                Err(ParseError::new(
                    line,
                    format!("{key}: expected 0 or 1, got {v}"),
                ))
            }
        }
    };
    Ok(OomControl {
        oom_kill_disable: flag("oom_kill_disable")?,
        under_oom: flag("under_oom")?,
        oom_kill: lookup(&p, "oom_kill"),
    })
}

/// `cpu.stat`, v2 or v1, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStat {
    /// CPU used (v2 only; v1 has it in `cpuacct.usage`).
    pub usage_usec: Option<u64>,
    /// of which in user mode (v2).
    pub user_usec: Option<u64>,
    /// of which in the kernel (v2).
    pub system_usec: Option<u64>,
    /// Enforcement periods that had runnable tasks (needs the cpu controller).
    pub nr_periods: Option<u64>,
    /// Periods in which the group was throttled.
    pub nr_throttled: Option<u64>,
    /// Time throttled (v2 `throttled_usec`; v1 `throttled_time` in ns, converted).
    pub throttled_usec: Option<u64>,
}

/// Parses `cpu.stat` of either version (v1 gives `throttled_time` in nanoseconds).
pub fn cpu_stat(text: &str) -> Result<CpuStat, ParseError> {
    let p = flat_keyed(text)?;
    Ok(CpuStat {
        usage_usec: lookup(&p, "usage_usec"),
        user_usec: lookup(&p, "user_usec"),
        system_usec: lookup(&p, "system_usec"),
        nr_periods: lookup(&p, "nr_periods"),
        nr_throttled: lookup(&p, "nr_throttled"),
        throttled_usec: lookup(&p, "throttled_usec")
            .or_else(|| lookup(&p, "throttled_time").map(|ns| ns / 1000)),
    })
}

/// A CPU bandwidth limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuMax {
    /// CPU time allowed per period; `None`: no limit.
    pub quota_usec: Option<u64>,
    /// The period.
    pub period_usec: u64,
}

impl CpuMax {
    /// The limit in CPUs (`1.5` = one and a half cores), `None` without a quota.
    pub fn cpus(&self) -> Option<f64> {
        let q = self.quota_usec?;
        (self.period_usec > 0).then(|| q as f64 / self.period_usec as f64)
    }
}

/// Parses cgroup v2 `cpu.max`: `max 100000` or `50000 100000`.
pub fn cpu_max(text: &str) -> Result<CpuMax, ParseError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if text.trim_end().contains('\n') || fields.len() != 2 {
        return Err(ParseError::new(
            1,
            format!(
                "expected `QUOTA PERIOD` (QUOTA a number or max), got {:?}",
                text.trim()
            ),
        ));
    }
    let quota_usec = match fields[0] {
        "max" => None,
        q => Some(number(1, "quota", q)?),
    };
    let period_usec = number(1, "period", fields[1])?;
    if period_usec == 0 {
        return Err(ParseError::new(1, "period: must be more than 0"));
    }
    Ok(CpuMax {
        quota_usec,
        period_usec,
    })
}

/// cgroup v1 `cpu.cfs_quota_us` (`-1`: no limit) and `cpu.cfs_period_us`.
pub fn cfs_quota(quota: &str, period: &str) -> Result<CpuMax, ParseError> {
    let quota_usec = match quota.trim() {
        "-1" => None,
        _ => Some(single(quota)?),
    };
    let period_usec = single(period)?;
    if period_usec == 0 {
        return Err(ParseError::new(1, "cfs_period_us: must be more than 0"));
    }
    Ok(CpuMax {
        quota_usec,
        period_usec,
    })
}

/// One PSI line: the share of time tasks stalled, averaged over 10 s, 60 s and 300 s
/// (percent), and the total stall time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PressureLine {
    /// Percent over the last 10 s.
    pub avg10: f64,
    /// Percent over the last 60 s.
    pub avg60: f64,
    /// Percent over the last 300 s.
    pub avg300: f64,
    /// Total stall time, µs.
    pub total_usec: u64,
}

/// A PSI file (`cpu.pressure`, `memory.pressure`, `io.pressure`, `/proc/pressure/*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    /// Some task stalled.
    pub some: PressureLine,
    /// All tasks stalled at once; `None` where the kernel writes no `full` line (CPU
    /// before 5.13).
    pub full: Option<PressureLine>,
}

/// Parses a PSI file.
pub fn pressure(text: &str) -> Result<Pressure, ParseError> {
    let mut some = None;
    let mut full = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        let slot = match kind {
            "some" => &mut some,
            "full" => &mut full,
            other => {
                return Err(ParseError::new(
                    n,
                    format!("expected a `some` or `full` line, got {other:?}"),
                ))
            }
        };
        if slot.is_some() {
            return Err(ParseError::new(n, format!("a second `{kind}` line")));
        }
        let mut avg = [None; 3];
        let mut total = None;
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ParseError::new(n, format!("expected key=value, got {part:?}")))?;
            let percent = || -> Result<f64, ParseError> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && (0.0..=100.0).contains(v))
                    .ok_or_else(|| {
                        ParseError::new(n, format!("{key}: expected a percentage, got {value:?}"))
                    })
            };
            let seen = match key {
                "avg10" => avg[0].replace(percent()?),
                "avg60" => avg[1].replace(percent()?),
                "avg300" => avg[2].replace(percent()?),
                "total" => total.replace(number(n, key, value)?).map(|t| t as f64),
                // Newer kernels may add fields; ignore them.
                _ => None,
            };
            if seen.is_some() {
                return Err(ParseError::new(n, format!("{key} appears twice")));
            }
        }
        let missing = ["avg10", "avg60", "avg300"]
            .iter()
            .zip(avg)
            .find(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .or(total.is_none().then_some("total"));
        if let Some(key) = missing {
            return Err(ParseError::new(n, format!("`{kind}` line without {key}=")));
        }
        *slot = Some(PressureLine {
            avg10: avg[0].unwrap_or_default(),
            avg60: avg[1].unwrap_or_default(),
            avg300: avg[2].unwrap_or_default(),
            total_usec: total.unwrap_or_default(),
        });
    }
    Ok(Pressure {
        some: some.ok_or_else(|| ParseError::new(0, "no `some` line"))?,
        full,
    })
}

/// One line of `/proc/PID/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The part of the file system mounted here (a cgroup path for cgroup mounts).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `cgroup`, `cgroup2`, `ext4`, …
    pub fs_type: String,
    /// Per-superblock options (for `cgroup`: the controllers, e.g. `rw,memory`).
    pub super_options: Vec<String>,
}

impl Mount {
    /// The v1 controllers of a `cgroup` mount (`memory`, `cpu`, `cpuacct`, …; named
    /// hierarchies such as `name=systemd` are left out).
    pub fn v1_controllers(&self) -> Vec<&str> {
        if self.fs_type != "cgroup" {
            return Vec::new();
        }
        const NOT_CONTROLLERS: [&str; 7] = [
            "rw",
            "ro",
            "clone_children",
            "noprefix",
            "xattr",
            "cpuset_v2_mode",
            "favordynmods",
        ];
        self.super_options
            .iter()
            .map(String::as_str)
            .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.contains('='))
            .collect()
    }
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/PID/mountinfo`.
pub fn mountinfo(text: &str) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields
            .iter()
            .position(|f| *f == "-")
            .ok_or_else(|| ParseError::new(n, "expected ` - ` before the file system type"))?;
        if sep < 6 || fields.len() < sep + 4 {
            return Err(ParseError::new(
                n,
                "expected `ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS … - TYPE SOURCE SUPER-OPTIONS`",
            ));
        }
        out.push(Mount {
            root: unescape(fields[3]),
            mount_point: PathBuf::from(unescape(fields[4])),
            fs_type: fields[sep + 1].to_string(),
            super_options: fields[sep + 3].split(',').map(str::to_string).collect(),
        });
    }
    Ok(out)
}

/// One line of `/proc/PID/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLine {
    /// Hierarchy id (0 for cgroup v2).
    pub hierarchy: u32,
    /// v1 controllers (`memory`, `cpu,cpuacct`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    /// The group, relative to the hierarchy's root as this process sees it.
    pub path: String,
}

/// Parses `/proc/PID/cgroup`.
pub fn proc_cgroup(text: &str) -> Result<Vec<CgroupLine>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::new(
                n,
                format!("expected `ID:CONTROLLERS:PATH`, got {line:?}"),
            ));
        };
        let hierarchy = id.parse().map_err(|_| {
            ParseError::new(n, format!("hierarchy id: expected a number, got {id:?}"))
        })?;
        if !path.starts_with('/') {
            return Err(ParseError::new(
                n,
                format!("path: expected an absolute cgroup path, got {path:?}"),
            ));
        }
        out.push(CgroupLine {
            hierarchy,
            controllers: controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            path: path.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let text = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 \
                    9 0 123456 10000000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 \
                    1 0 0 0 0 0\n";
        let s = stat(text).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "my (odd) srv");
        assert_eq!((s.state, s.ppid, s.pgrp), ('S', 1, 4242));
        assert_eq!((s.utime, s.stime, s.cutime, s.cstime), (250, 50, 7, 3));
        assert_eq!((s.threads, s.start_ticks, s.rss_pages), (9, 123456, 2048));
        assert!(!s.is_gone());
    }

    #[test]
    fn stat_errors_say_what_is_wrong() {
        assert!(stat("12 (x) S 1 2")
            .unwrap_err()
            .reason
            .contains("at least 24 fields"));
        let e =
            stat("12 (x) S 1 2 3 4 5 6 7 8 9 10 zz 12 13 14 15 16 17 18 19 20 21 22").unwrap_err();
        assert!(
            e.reason.contains("utime") && e.reason.contains("\"zz\""),
            "{e:?}"
        );
        assert!(stat("no parens").is_err());
    }

    #[test]
    fn flat_keyed_rejects_repeats_and_junk_with_the_line() {
        assert_eq!(
            flat_keyed("a 1\n\nb 2\n").unwrap(),
            vec![("a", 1), ("b", 2)]
        );
        let e = flat_keyed("a 1\nb x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("b: expected a whole number"), "{e:?}");
        assert_eq!(flat_keyed("a 1\na 2\n").unwrap_err().line, 2);
        assert_eq!(flat_keyed("a 1 2\n").unwrap_err().line, 1);
        assert_eq!(flat_keyed("a -1\n").unwrap_err().line, 1);
    }

    #[test]
    fn limits() {
        assert_eq!(limit("max\n").unwrap(), Limit::Max);
        assert_eq!(limit("67108864\n").unwrap(), Limit::Bytes(64 << 20));
        assert_eq!(limit("9223372036854771712\n").unwrap(), Limit::Max);
        assert!(limit("").is_err());
        assert!(limit("12\n13\n").is_err());
    }

    #[test]
    fn cpu_files() {
        assert_eq!(
            cpu_max("max 100000\n").unwrap(),
            CpuMax {
                quota_usec: None,
                period_usec: 100000
            }
        );
        assert_eq!(cpu_max("150000 100000\n").unwrap().cpus(), Some(1.5));
        assert!(cpu_max("150000\n").is_err());
        assert!(cpu_max("1 0\n").is_err());
        assert_eq!(cfs_quota("-1\n", "100000\n").unwrap().quota_usec, None);
        assert_eq!(cfs_quota("50000\n", "100000\n").unwrap().cpus(), Some(0.5));
        let v1 = cpu_stat("nr_periods 10\nnr_throttled 4\nthrottled_time 2500000\n").unwrap();
        assert_eq!(
            (
                v1.nr_periods,
                v1.nr_throttled,
                v1.throttled_usec,
                v1.usage_usec
            ),
            (Some(10), Some(4), Some(2500), None)
        );
    }

    #[test]
    fn pressure_with_and_without_full() {
        let p = pressure("some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\n").unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total_usec, 12345);
        assert_eq!(p.full, None);
        let e = pressure("some avg10=1.50 avg60=0.20 total=1\n").unwrap_err();
        assert!(e.reason.contains("avg300"), "{e:?}");
        assert!(pressure("").is_err());
        assert_eq!(
            pressure("some avg10=0 avg60=0 avg300=0 total=0\nfull avg10=x\n")
                .unwrap_err()
                .line,
            2
        );
    }

    #[test]
    fn mountinfo_and_proc_cgroup() {
        let m = mountinfo(
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
             50 1 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw\n",
        )
        .unwrap();
        assert_eq!(m[0].v1_controllers(), vec!["memory"]);
        assert_eq!(m[1].v1_controllers(), vec!["cpu", "cpuacct"]);
        assert_eq!(m[2].fs_type, "cgroup2");
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(mountinfo("1 2 3\n").unwrap_err().line, 1);

        let c = proc_cgroup("4:memory:/a/b\n1:cpu,cpuacct:/\n0::/user.slice\n").unwrap();
        assert_eq!(c[0].controllers, vec!["memory"]);
        assert_eq!(c[1].controllers, vec!["cpu", "cpuacct"]);
        assert!(c[2].controllers.is_empty());
        assert_eq!(c[2].path, "/user.slice");
        assert_eq!(proc_cgroup("0::/\nbad\n").unwrap_err().line, 2);
        assert!(proc_cgroup("x::/\n").is_err());
    }

    #[test]
    fn oom_control_flags() {
        let o = oom_control("oom_kill_disable 0\nunder_oom 1\noom_kill 3\n").unwrap();
        assert_eq!(
            (o.oom_kill_disable, o.under_oom, o.oom_kill),
            (Some(false), Some(true), Some(3))
        );
        // Before 4.13 there is no oom_kill line: unknown, not 0.
        assert_eq!(
            oom_control("oom_kill_disable 0\nunder_oom 0\n")
                .unwrap()
                .oom_kill,
            None
        );
        assert_eq!(oom_control("under_oom 2\n").unwrap_err().line, 1);
    }
}
