//! Faults beyond the network: the target's process (pause, kill), its resources (cpu,
//! memory and I/O stress, cgroup limits), its runtime (environment for a phase) and its
//! DNS (a server of ours on loopback). As written ([`FaultSpec`] …) and as checked
//! ([`FaultPlan`] …); `ballast verify` applies them.

pub(crate) mod check;

use crate::model::text;
use ballast_core::Signal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A fault during a phase, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// SIGSTOP the target (its process group), SIGCONT after `for` or at the phase's end.
    Pause {
        /// Start this long after the phase starts. Default: at once.
        #[serde(default, deserialize_with = "text::optional")]
        after: Option<String>,
        /// How long. Default: to the phase's end.
        #[serde(rename = "for", default, deserialize_with = "text::optional")]
        length: Option<String>,
    },
    /// Send a signal to the target (its process group) once.
    Kill {
        /// `SIGKILL`, `TERM`, `9`… Default: SIGKILL.
        #[serde(default)]
        signal: Option<String>,
        /// When, after the phase starts. Default: at once.
        #[serde(default, deserialize_with = "text::optional")]
        after: Option<String>,
    },
    /// CPU hogs pinned to the CPUs the target may run on (in its cgroup when it has one).
    Cpu {
        /// Busy processes. Default: one per CPU the target may run on.
        #[serde(default)]
        workers: Option<u32>,
        /// Share of each worker's time spent busy, e.g. `80%`. Default: 100%.
        #[serde(default, deserialize_with = "text::optional")]
        load: Option<String>,
        /// Start this long after the phase starts. Default: at once.
        #[serde(default, deserialize_with = "text::optional")]
        after: Option<String>,
        /// How long. Default: to the phase's end.
        #[serde(rename = "for", default, deserialize_with = "text::optional")]
        length: Option<String>,
    },
    /// Memory allocated and held (inside the target's cgroup when it has one).
    Memory {
        /// How much, e.g. `200MiB`.
        #[serde(default, deserialize_with = "text::optional")]
        size: Option<String>,
        /// Or a share of the phase's `limits.memory`, e.g. `90%`.
        #[serde(default, deserialize_with = "text::optional")]
        share: Option<String>,
        /// Start this long after the phase starts. Default: at once.
        #[serde(default, deserialize_with = "text::optional")]
        after: Option<String>,
        /// How long. Default: to the phase's end.
        #[serde(rename = "for", default, deserialize_with = "text::optional")]
        length: Option<String>,
    },
    /// Writers that keep a directory's disk busy (write and fsync, bounded files).
    Io {
        /// The directory (relative to the contract), which must exist.
        dir: String,
        /// Size of each writer's file. Default: 64MiB.
        #[serde(default, deserialize_with = "text::optional")]
        size: Option<String>,
        /// Writers. Default: 1.
        #[serde(default)]
        workers: Option<u32>,
        /// Start this long after the phase starts. Default: at once.
        #[serde(default, deserialize_with = "text::optional")]
        after: Option<String>,
        /// How long. Default: to the phase's end.
        #[serde(rename = "for", default, deserialize_with = "text::optional")]
        length: Option<String>,
    },
    /// Wrong DNS answers for names matching a pattern, from one of `dns.servers`.
    Dns {
        /// The server. Default: the only one.
        #[serde(default)]
        server: Option<String>,
        /// Names, exact or with a leading `*.`, or `*` for all.
        names: String,
        /// `nxdomain`, `servfail`, `refused`, `timeout` (no answer), `address` (a wrong
        /// one: give `address`) or `delay` (then the right answer: give `delay`).
        answer: String,
        /// The wrong addresses, for `answer: address`.
        #[serde(default)]
        address: Vec<String>,
        /// How long, for `answer: delay`.
        #[serde(default, deserialize_with = "text::optional")]
        delay: Option<String>,
        /// Share of matching queries affected, e.g. `5%`. Default: 100%.
        #[serde(default, deserialize_with = "text::optional")]
        share: Option<String>,
        /// Start this long after the phase starts. Default: at once.
        #[serde(default, deserialize_with = "text::optional")]
        after: Option<String>,
        /// How long. Default: to the phase's end.
        #[serde(rename = "for", default, deserialize_with = "text::optional")]
        length: Option<String>,
    },
}

/// Limits on the spawned target during a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Memory limit (no swap beyond it), e.g. `256MiB`: above it the kernel OOM-kills.
    #[serde(default, deserialize_with = "text::optional")]
    pub memory: Option<String>,
    /// CPU quota in cores, e.g. `0.5`.
    #[serde(default)]
    pub cpus: Option<f64>,
}

/// When a spawned target that exits on its own is started again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    /// Restarts allowed within `within`; one more is a restart loop, and the target is
    /// left down (the report says so). Default: 5.
    #[serde(default)]
    pub max: Option<u32>,
    /// The window of `max`. Default: `60s`.
    #[serde(default, deserialize_with = "text::optional")]
    pub within: Option<String>,
    /// Wait before each restart. Default: `200ms`.
    #[serde(default, deserialize_with = "text::optional")]
    pub delay: Option<String>,
}

/// DNS servers of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsSetupSpec {
    /// The servers, each on its own loopback address.
    pub servers: Vec<DnsServerSpec>,
}

/// One DNS server `ballast verify` runs for the length of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsServerSpec {
    /// Name, used by `phases[].faults[].server`.
    pub name: String,
    /// `127.0.0.1:PORT` (UDP and TCP); loopback only.
    pub listen: String,
    /// Names it answers itself, with their addresses.
    #[serde(default)]
    pub records: BTreeMap<String, Vec<String>>,
    /// Where other names are asked: `host:port` on loopback, or `system` for the first
    /// `nameserver` of this machine's `/etc/resolv.conf` (its real resolver, which may be
    /// elsewhere). Default: none (NXDOMAIN).
    #[serde(default)]
    pub upstream: Option<String>,
}

/// A fault, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// What it does.
    pub kind: FaultKind,
    /// When it starts, from the phase's start (warm-up included).
    pub after: Duration,
    /// How long it lasts (`None`: to the phase's end; instant faults ignore it).
    pub length: Option<Duration>,
    /// Where it is written (`phases[1].faults[0]`), for messages.
    pub path: String,
    /// Its line in the contract, for messages.
    pub line: usize,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// SIGSTOP … SIGCONT.
    Pause,
    /// One signal.
    Kill(Signal),
    /// CPU hogs.
    Cpu {
        /// Workers (`None`: one per CPU the target may run on).
        workers: Option<u32>,
        /// Busy share of each, 0..=1.
        load: f64,
    },
    /// Memory held.
    Memory(MemoryAmount),
    /// Disk writers.
    Io {
        /// Where.
        dir: PathBuf,
        /// File size per writer.
        bytes: u64,
        /// Writers.
        workers: u32,
    },
    /// DNS answers.
    Dns {
        /// Which server.
        server: String,
        /// The name pattern.
        names: String,
        /// The answer.
        answer: DnsAnswer,
        /// Share of matching queries, 0..=1.
        share: f64,
    },
}

impl FaultKind {
    /// The kind as written (`pause`, `cpu`…).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::Kill(_) => "kill",
            FaultKind::Cpu { .. } => "cpu",
            FaultKind::Memory(_) => "memory",
            FaultKind::Io { .. } => "io",
            FaultKind::Dns { .. } => "dns",
        }
    }

    /// Whether it acts on the target's process (and so needs one verify can signal).
    pub fn needs_process(&self) -> bool {
        matches!(self, FaultKind::Pause | FaultKind::Kill(_))
    }
}

impl FaultPlan {
    /// One line for plans and reports: `cpu 2×80% from 3s for 5s`.
    pub fn describe(&self) -> String {
        let mib = ballast_core::format_bytes;
        let mut out = match &self.kind {
            FaultKind::Pause => "pause".to_string(),
            FaultKind::Kill(s) => format!("kill {s}"),
            FaultKind::Cpu { workers, load } => format!(
                "cpu {}×{:.0}%",
                workers.map_or("(one per CPU)".into(), |n| n.to_string()),
                load * 100.0
            ),
            FaultKind::Memory(MemoryAmount::Bytes(b)) => format!("memory {}", mib(*b)),
            FaultKind::Memory(MemoryAmount::ShareOfLimit(s)) => {
                format!("memory {:.0}% of the limit", s * 100.0)
            }
            FaultKind::Io {
                dir,
                bytes,
                workers,
            } => format!("io {workers}×{} in {}", mib(*bytes), dir.display()),
            FaultKind::Dns {
                server,
                names,
                answer,
                share,
            } => {
                let answer = match answer {
                    DnsAnswer::Address(a) => format!("address {a:?}"),
                    DnsAnswer::Delay(d) => format!("delay {}", ballast_core::format_duration(*d)),
                    other => other.name().to_string(),
                };
                format!(
                    "dns {answer} for {names} ({}% of queries, server {server})",
                    share * 100.0
                )
            }
        };
        if !self.after.is_zero() {
            out.push_str(&format!(
                " from {}",
                ballast_core::format_duration(self.after)
            ));
        }
        if let (Some(l), false) = (self.length, matches!(self.kind, FaultKind::Kill(_))) {
            out.push_str(&format!(" for {}", ballast_core::format_duration(l)));
        }
        out
    }
}

/// How much memory a stress holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryAmount {
    /// Bytes.
    Bytes(u64),
    /// A share of the phase's memory limit, 0..=1.
    ShareOfLimit(f64),
}

/// A DNS fault's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum DnsAnswer {
    /// The name does not exist.
    NxDomain,
    /// The server failed.
    ServFail,
    /// The server refuses.
    Refused,
    /// No answer at all.
    Timeout,
    /// These addresses instead of the real ones.
    Address(Vec<IpAddr>),
    /// The right answer, this much later.
    Delay(Duration),
}

impl DnsAnswer {
    /// The answer as written (`servfail`, `delay`…).
    pub fn name(&self) -> &'static str {
        match self {
            DnsAnswer::NxDomain => "nxdomain",
            DnsAnswer::ServFail => "servfail",
            DnsAnswer::Refused => "refused",
            DnsAnswer::Timeout => "timeout",
            DnsAnswer::Address(_) => "address",
            DnsAnswer::Delay(_) => "delay",
        }
    }
}

/// A phase's limits, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitsPlan {
    /// Bytes.
    pub memory: Option<u64>,
    /// Cores.
    pub cpus: Option<f64>,
    /// Their line in the contract, for messages.
    pub line: usize,
}

impl LimitsPlan {
    /// `memory 256MiB, cpus 0.5`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.memory {
            parts.push(format!("memory {}", ballast_core::format_bytes(m)));
        }
        if let Some(c) = self.cpus {
            parts.push(format!("cpus {c}"));
        }
        parts.join(", ")
    }
}

/// A restart policy, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPlan {
    /// Restarts allowed within `within`.
    pub max: u32,
    /// Their window.
    pub within: Duration,
    /// Wait before each.
    pub delay: Duration,
}

/// A DNS server, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsServerPlan {
    /// Name.
    pub name: String,
    /// Loopback address (UDP and TCP).
    pub listen: SocketAddr,
    /// Its own records (lower-case names without the trailing dot).
    pub records: BTreeMap<String, Vec<IpAddr>>,
    /// Where other names are asked.
    pub upstream: Option<Upstream>,
}

/// Where a DNS server asks what it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// This loopback address.
    Address(SocketAddr),
    /// The first `nameserver` of `/etc/resolv.conf`, read when the run starts.
    System,
}

/// The largest worker count a stress may ask for.
const MAX_WORKERS: u32 = 256;
/// The longest DNS delay (a resolver gives up long before).
const MAX_DNS_DELAY: Duration = Duration::from_secs(60);
/// The answers a DNS fault may give.
const DNS_ANSWERS: [&str; 6] = [
    "nxdomain", "servfail", "refused", "timeout", "address", "delay",
];

/// A share written `5%` or `0.05`.
pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    if text.trim().ends_with('%') {
        return ballast_core::parse_percent(text).map_err(|e| e.to_string());
    }
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a share like \"5%\" or 0.05 (0 to 1), got {text:?}"
        )),
    }
}

/// A loopback `host:port` (faults and test servers never leave the machine).
pub(crate) fn parse_loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .trim()
        .parse()
        .map_err(|_| format!("expected an address like 127.0.0.1:15353, got {text:?}"))?;
    if addr.port() == 0 {
        return Err(format!(
            "{addr}: expected a port of its own (port 0 would be a different one each run, which the target cannot be told)"
        ));
    }
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: ballast's DNS servers listen on 127.0.0.0/8 or ::1 only"
        ));
    }
    Ok(addr)
}

/// A DNS name as the server keys it: lower case, no trailing dot, valid labels.
pub(crate) fn dns_name(text: &str, pattern: bool) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if pattern && name == "*" {
        return Ok(name);
    }
    let body = if pattern {
        name.strip_prefix("*.").unwrap_or(&name)
    } else {
        &name
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if body.is_empty() || body.len() > 253 || !body.split('.').all(valid_label) {
        let form = if pattern {
            "a name like db.shop.test, *.shop.test or *"
        } else {
            "a name like db.shop.test"
        };
        return Err(format!("expected {form}, got {text:?}"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_names_and_addresses() {
        assert_eq!(parse_share("5%").unwrap(), 0.05);
        assert_eq!(parse_share("0.25").unwrap(), 0.25);
        assert!(parse_share("1.5").is_err() && parse_share("x").is_err());
        assert_eq!(dns_name("DB.Shop.Test.", false).unwrap(), "db.shop.test");
        assert_eq!(dns_name("*.shop.test", true).unwrap(), "*.shop.test");
        assert_eq!(dns_name("*", true).unwrap(), "*");
        for bad in ["*.shop.test", "a..b", "-a.b", "", "a b"] {
            assert!(dns_name(bad, false).is_err(), "{bad}");
        }
        assert!(parse_loopback("127.0.0.1:53").is_ok());
        assert!(parse_loopback("[::1]:53").is_ok());
        let e = parse_loopback("10.0.0.1:53").unwrap_err();
        assert!(e.contains("not a loopback"), "{e}");
    }
}
