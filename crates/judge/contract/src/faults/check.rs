//! Checking a phase's faults, limits and environment, the DNS servers and the restart
//! policy: every value parsed and every reference resolved, with positions, before
//! anything runs.

use super::*;
use crate::load::Checker;
use crate::model::PhaseSpec;
use ballast_core::{parse_bytes, parse_duration};
use std::path::Path;

/// What a phase's faults may refer to.
pub(crate) struct FaultContext<'a> {
    /// The target is spawned by verify.
    pub spawned: bool,
    /// `target.process` names a process to watch (and signal).
    pub watched: bool,
    /// `target.process.pid`, when given.
    pub watched_pid: Option<u32>,
    /// `target.spawn.cgroup` is not `false`.
    pub cgroup_allowed: bool,
    /// `dns.servers[].name`.
    pub dns_servers: &'a [String],
    /// The contract's directory.
    pub base_dir: &'a Path,
}

/// What a phase holds beyond its load and proxy faults.
#[derive(Default)]
pub(crate) struct PhaseFaults {
    pub faults: Vec<FaultPlan>,
    pub limits: Option<LimitsPlan>,
}

fn optional_duration(c: &mut Checker<'_>, path: &str, text: &Option<String>) -> Option<Duration> {
    c.duration(path, text.as_ref()?)
}

/// IP addresses, each one checked; the problems named by their position.
fn addresses(c: &mut Checker<'_>, path: &str, texts: &[String]) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for (k, a) in texts.iter().enumerate() {
        match a.trim().parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => c.error(
                &format!("{path}[{k}]"),
                format!("expected an IP address, got {a:?}"),
            ),
        }
    }
    ips
}

fn bytes(c: &mut Checker<'_>, path: &str, text: &str) -> Option<u64> {
    match parse_bytes(text) {
        Ok(0) => {
            c.error(path, "expected a size above zero");
            None
        }
        Ok(b) => Some(b),
        Err(e) => {
            c.error(path, e.to_string());
            None
        }
    }
}

fn workers(c: &mut Checker<'_>, path: &str, n: Option<u32>) -> Option<u32> {
    if n.is_some_and(|n| n == 0 || n > MAX_WORKERS) {
        c.error(path, format!("expected 1..={MAX_WORKERS} workers"));
    }
    n
}

pub(crate) fn check_phase(
    c: &mut Checker<'_>,
    path: &str,
    p: &PhaseSpec,
    ctx: &FaultContext<'_>,
) -> PhaseFaults {
    let mut out = PhaseFaults::default();
    let phase_length = parse_duration(&p.duration).ok().map(|d| {
        d + p
            .warmup
            .as_deref()
            .and_then(|w| parse_duration(w).ok())
            .unwrap_or_default()
    });

    if let Some(l) = &p.limits {
        let lpath = format!("{path}.limits");
        if !ctx.spawned {
            c.error(
                &lpath,
                "limits need a target verify starts (target.spawn): they are the cgroup it runs in",
            );
        } else if !ctx.cgroup_allowed {
            c.error(
                &lpath,
                "limits need the target in a cgroup of its own, and target.spawn.cgroup is false",
            );
        }
        if l.memory.is_none() && l.cpus.is_none() {
            c.error(&lpath, "expected memory, cpus or both");
        }
        let memory = l.memory.as_ref().and_then(|m| {
            let b = bytes(c, &format!("{lpath}.memory"), m)?;
            if b < 4 << 20 {
                c.error(
                    &format!("{lpath}.memory"),
                    "expected at least 4MiB (below that a process cannot start)",
                );
            }
            Some(b)
        });
        if let Some(cpus) = l.cpus {
            if !(0.01..=1024.0).contains(&cpus) {
                c.error(
                    &format!("{lpath}.cpus"),
                    "expected a number of cores from 0.01 to 1024, e.g. 0.5",
                );
            }
        }
        out.limits = Some(LimitsPlan {
            memory,
            cpus: l.cpus,
            line: c.line(&lpath),
        });
    }
    if !p.env.is_empty() && !ctx.spawned {
        c.error(
            &format!("{path}.env"),
            "env needs a target verify starts (target.spawn): it is restarted with it",
        );
    }
    for key in p.env.keys() {
        let valid = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            c.error(
                &format!("{path}.env.{key}"),
                "expected a variable name of letters, digits and _",
            );
        }
    }

    for (j, spec) in p.faults.iter().enumerate() {
        let fpath = format!("{path}.faults[{j}]");
        let line = c.line(&fpath);
        let (after_text, length_text) = match spec {
            FaultSpec::Pause { after, length }
            | FaultSpec::Cpu { after, length, .. }
            | FaultSpec::Memory { after, length, .. }
            | FaultSpec::Io { after, length, .. }
            | FaultSpec::Dns { after, length, .. } => (after, length.clone()),
            FaultSpec::Kill { after, .. } => (after, None),
        };
        let after = optional_duration(c, &format!("{fpath}.after"), after_text).unwrap_or_default();
        let length = optional_duration(c, &format!("{fpath}.for"), &length_text);
        if length.is_some_and(|d| d.is_zero()) {
            c.error(&format!("{fpath}.for"), "expected a duration above zero");
        }
        if let Some(total) = phase_length {
            let lasts = ballast_core::format_duration(total);
            if after >= total {
                c.error(
                    &format!("{fpath}.after"),
                    format!("starts after the phase has ended (the phase lasts {lasts}, warm-up included)"),
                );
            } else if length.is_some_and(|l| after + l > total) {
                c.error(
                    &format!("{fpath}.for"),
                    format!("ends after the phase does (it lasts {lasts}, warm-up included); leave `for` out to last to the phase's end"),
                );
            }
        }
        let kind = match spec {
            FaultSpec::Pause { .. } => Some(FaultKind::Pause),
            FaultSpec::Kill { signal, .. } => {
                match signal.as_deref().unwrap_or("SIGKILL").parse::<Signal>() {
                    // Stop signals would leave the target stopped with nothing to continue it.
                    Ok(s) if [18, 19, 20, 21, 22].contains(&s.number()) => {
                        c.error(
                            &format!("{fpath}.signal"),
                            format!("{s} stops or continues a process: that is what kind: pause does (with a length), and undoes; use it"),
                        );
                        None
                    }
                    Ok(s) => Some(FaultKind::Kill(s)),
                    Err(e) => {
                        c.error(&format!("{fpath}.signal"), e.to_string());
                        None
                    }
                }
            }
            FaultSpec::Cpu {
                workers: n, load, ..
            } => {
                let n = workers(c, &format!("{fpath}.workers"), *n);
                let load = match load.as_deref().map(ballast_core::parse_percent) {
                    None => Some(1.0),
                    Some(Ok(l)) if l >= 0.01 => Some(l),
                    Some(Ok(_)) => {
                        c.error(&format!("{fpath}.load"), "expected a load of 1% to 100%");
                        None
                    }
                    Some(Err(e)) => {
                        c.error(&format!("{fpath}.load"), e.to_string());
                        None
                    }
                };
                load.map(|load| FaultKind::Cpu { workers: n, load })
            }
            FaultSpec::Memory { size, share, .. } => match (size, share) {
                (Some(size), None) => bytes(c, &format!("{fpath}.size"), size)
                    .map(|b| FaultKind::Memory(MemoryAmount::Bytes(b))),
                (None, Some(share)) => {
                    if out.limits.and_then(|l| l.memory).is_none() {
                        c.error(
                            &format!("{fpath}.share"),
                            "a share of the memory limit needs limits.memory in the same phase",
                        );
                    }
                    match ballast_core::parse_percent(share) {
                        Ok(s) if s > 0.0 => Some(FaultKind::Memory(MemoryAmount::ShareOfLimit(s))),
                        Ok(_) => {
                            c.error(&format!("{fpath}.share"), "expected a share above 0%");
                            None
                        }
                        Err(e) => {
                            c.error(&format!("{fpath}.share"), e.to_string());
                            None
                        }
                    }
                }
                _ => {
                    c.error(&fpath, "expected exactly one of size (e.g. 200MiB) or share (of limits.memory, e.g. 90%)");
                    None
                }
            },
            FaultSpec::Io {
                dir,
                size,
                workers: n,
                ..
            } => {
                let n = workers(c, &format!("{fpath}.workers"), *n).unwrap_or(1);
                let b = match size {
                    Some(s) => bytes(c, &format!("{fpath}.size"), s),
                    None => Some(64 << 20),
                };
                if dir.trim().is_empty() {
                    c.error(&format!("{fpath}.dir"), "expected a directory to write in");
                }
                b.map(|bytes| FaultKind::Io {
                    dir: ctx.base_dir.join(dir),
                    bytes,
                    workers: n,
                })
            }
            FaultSpec::Dns {
                server,
                names,
                answer,
                address,
                delay,
                share,
                ..
            } => check_dns_fault(
                c,
                &fpath,
                ctx,
                (server, names, answer, address, delay, share),
            ),
        };
        let Some(kind) = kind else { continue };
        if kind.needs_process() && ctx.watched_pid.is_some_and(|p| p <= 1) {
            c.error(
                &format!("{fpath}.kind"),
                "target.process.pid 0 or 1 is not a target faults may act on",
            );
        }
        if kind.needs_process() && !ctx.spawned && !ctx.watched {
            c.error(
                &format!("{fpath}.kind"),
                format!(
                    "a {} fault needs the target's process: target.spawn, or target.process (pid or name)",
                    kind.name()
                ),
            );
        }
        if matches!(kind, FaultKind::Memory(MemoryAmount::ShareOfLimit(_))) && !ctx.spawned {
            c.error(
                &fpath,
                "a share of the memory limit needs a target verify starts",
            );
        }
        out.faults.push(FaultPlan {
            kind,
            after,
            length,
            path: fpath,
            line,
        });
    }
    out
}

type DnsFields<'a> = (
    &'a Option<String>,
    &'a String,
    &'a String,
    &'a Vec<String>,
    &'a Option<String>,
    &'a Option<String>,
);

fn check_dns_fault(
    c: &mut Checker<'_>,
    fpath: &str,
    ctx: &FaultContext<'_>,
    (server, names, answer, address, delay, share): DnsFields<'_>,
) -> Option<FaultKind> {
    let server = match (server, ctx.dns_servers) {
        (_, []) => {
            c.error(
                &format!("{fpath}.kind"),
                "dns faults need a top-level dns: section (the servers the target resolves through)",
            );
            None
        }
        (None, [only]) => Some(only.clone()),
        (None, many) => {
            c.error(
                &format!("{fpath}.server"),
                format!(
                    "expected which server; dns.servers are: {}",
                    many.join(", ")
                ),
            );
            None
        }
        (Some(name), known) if !known.contains(name) => {
            c.error(
                &format!("{fpath}.server"),
                format!(
                    "unknown server {name:?}; dns.servers are: {}",
                    known.join(", ")
                ),
            );
            None
        }
        (Some(name), _) => Some(name.clone()),
    };
    let names = match dns_name(names, true) {
        Ok(n) => Some(n),
        Err(e) => {
            c.error(&format!("{fpath}.names"), e);
            None
        }
    };
    let kind = answer.trim().to_ascii_lowercase();
    if kind != "address" && !address.is_empty() {
        c.error(
            &format!("{fpath}.address"),
            "address belongs to answer: address",
        );
    }
    if kind != "delay" && delay.is_some() {
        c.error(&format!("{fpath}.delay"), "delay belongs to answer: delay");
    }
    let answer = match kind.as_str() {
        "nxdomain" => Some(DnsAnswer::NxDomain),
        "servfail" => Some(DnsAnswer::ServFail),
        "refused" => Some(DnsAnswer::Refused),
        "timeout" => Some(DnsAnswer::Timeout),
        "address" => {
            if address.is_empty() {
                c.error(
                    &format!("{fpath}.address"),
                    "answer: address needs the wrong addresses, e.g. [10.0.0.9]",
                );
            }
            Some(DnsAnswer::Address(addresses(
                c,
                &format!("{fpath}.address"),
                address,
            )))
        }
        "delay" => match delay {
            None => {
                c.error(
                    &format!("{fpath}.delay"),
                    "answer: delay needs how long, e.g. 200ms",
                );
                None
            }
            Some(text) => match parse_duration(text) {
                Ok(d) if !d.is_zero() && d <= MAX_DNS_DELAY => Some(DnsAnswer::Delay(d)),
                Ok(_) => {
                    c.error(
                        &format!("{fpath}.delay"),
                        "expected a delay above zero, at most 60s (use timeout for no answer)",
                    );
                    None
                }
                Err(e) => {
                    c.error(&format!("{fpath}.delay"), e.to_string());
                    None
                }
            },
        },
        _ => {
            c.error(
                &format!("{fpath}.answer"),
                format!(
                    "unknown answer {answer:?}; expected one of {}",
                    DNS_ANSWERS.join(", ")
                ),
            );
            None
        }
    };
    let share = match share {
        None => Some(1.0),
        Some(text) => match parse_share(text) {
            Ok(s) if s > 0.0 => Some(s),
            Ok(_) => {
                c.error(&format!("{fpath}.share"), "expected a share above 0%");
                None
            }
            Err(e) => {
                c.error(&format!("{fpath}.share"), e);
                None
            }
        },
    };
    Some(FaultKind::Dns {
        server: server?,
        names: names?,
        answer: answer?,
        share: share?,
    })
}

pub(crate) fn check_dns(c: &mut Checker<'_>, spec: &DnsSetupSpec) -> Vec<DnsServerPlan> {
    let mut out = Vec::new();
    if spec.servers.is_empty() {
        c.error("dns.servers", "expected at least one server");
    }
    let mut names: Vec<&str> = Vec::new();
    let mut listens: Vec<SocketAddr> = Vec::new();
    for (i, s) in spec.servers.iter().enumerate() {
        let path = format!("dns.servers[{i}]");
        if names.contains(&s.name.as_str()) {
            c.error(
                &format!("{path}.name"),
                format!("duplicate server name {:?}", s.name),
            );
        } else if !crate::load::is_name(&s.name) {
            c.error(
                &format!("{path}.name"),
                format!(
                    "expected a name of letters, digits, _ and -, got {:?}",
                    s.name
                ),
            );
        }
        names.push(&s.name);
        let listen = match parse_loopback(&s.listen) {
            Ok(a) if listens.contains(&a) => {
                c.error(
                    &format!("{path}.listen"),
                    format!("{a} is already another server's"),
                );
                None
            }
            Ok(a) => {
                listens.push(a);
                Some(a)
            }
            Err(e) => {
                c.error(&format!("{path}.listen"), e);
                None
            }
        };
        let upstream = match &s.upstream {
            None => Some(None),
            Some(u) if u.trim() == "system" => Some(Some(Upstream::System)),
            Some(u) => match parse_loopback(u) {
                Ok(a) if Some(a) == listen => {
                    c.error(
                        &format!("{path}.upstream"),
                        "a server cannot forward to itself",
                    );
                    None
                }
                Ok(a) => Some(Some(Upstream::Address(a))),
                Err(e) => {
                    c.error(
                        &format!("{path}.upstream"),
                        format!("{e}; or `system` for this machine's resolver"),
                    );
                    None
                }
            },
        };
        let mut records = BTreeMap::new();
        for (name, addresses_written) in &s.records {
            let rpath = format!("{path}.records.{name}");
            let key = match dns_name(name, false) {
                Ok(k) => k,
                Err(e) => {
                    c.error(&rpath, e);
                    continue;
                }
            };
            if addresses_written.is_empty() {
                c.error(&rpath, "expected at least one address");
            }
            let ips = addresses(c, &rpath, addresses_written);
            if records.insert(key.clone(), ips).is_some() {
                c.error(
                    &rpath,
                    format!("{key:?} is listed twice (names are case-insensitive)"),
                );
            }
        }
        if let (Some(listen), Some(upstream)) = (listen, upstream) {
            out.push(DnsServerPlan {
                name: s.name.clone(),
                listen,
                records,
                upstream,
            });
        }
    }
    out
}

pub(crate) fn check_restart(c: &mut Checker<'_>, r: &RestartSpec) -> Option<RestartPlan> {
    let within = optional_duration(c, "target.spawn.restart.within", &r.within)
        .or_else(|| r.within.is_none().then_some(Duration::from_secs(60)))?;
    let delay = optional_duration(c, "target.spawn.restart.delay", &r.delay)
        .or_else(|| r.delay.is_none().then_some(Duration::from_millis(200)))?;
    if delay > Duration::from_secs(60) {
        c.error("target.spawn.restart.delay", "expected at most 60s");
        return None;
    }
    let max = r.max.unwrap_or(5);
    if max == 0 || max > 1000 {
        c.error("target.spawn.restart.max", "expected 1..=1000 restarts");
        return None;
    }
    if within.is_zero() {
        c.error(
            "target.spawn.restart.within",
            "expected a duration above zero",
        );
        return None;
    }
    Some(RestartPlan { max, within, delay })
}
