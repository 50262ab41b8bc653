//! Faults beyond the network, for a run: the spawned target's own cgroup (for phase
//! limits and stressors inside it), the DNS servers it resolves through, and the checks
//! that refuse a fault that could not work before anything starts.
//!
//! [`phase`] applies one phase's faults on its schedule and removes them when the phase
//! ends, whichever way it ends.

pub(crate) mod phase;

use crate::report::FaultRecord;
use crate::spawn::Joiner;
use crate::supervise::Supervisor;
use crate::Error;
use ballast_contract::faults::{FaultKind, LimitsPlan, MemoryAmount, Upstream};
use ballast_contract::{Contract, PhasePlan};
use ballast_dns::{DnsConfig, DnsServer};
use ballast_fault::{ChildGroup, GroupConfig};
use phase::{PhaseContext, Running, TargetRef};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Where `upstream: system` is read from.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The first `nameserver` of a resolv.conf, on port 53; never the server itself.
fn system_resolver(
    text: &str,
    listen: std::net::SocketAddr,
) -> Result<std::net::SocketAddr, String> {
    let ip = text
        .lines()
        .map(|l| l.split(['#', ';']).next().unwrap_or_default())
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
        .next()
        .ok_or("names no nameserver")?;
    let addr = std::net::SocketAddr::new(ip, 53);
    if addr == listen {
        return Err(format!(
            "its nameserver is {addr}, this very server (a target's resolv.conf pointing here)"
        ));
    }
    Ok(addr)
}

/// The name of the spawned target's cgroups (`ballast-verify-<our pid>-<n>`).
const GROUP_NAME: &str = "ballast-verify";

/// What a run set up for its target's faults; [`TargetSetup::shutdown`] undoes it.
pub(crate) struct TargetSetup {
    /// The spawned target's cgroup, when a phase needs one.
    pub group: Option<Arc<ChildGroup>>,
    /// The DNS servers by name.
    pub dns: BTreeMap<String, Arc<DnsServer>>,
}

/// `file:line: path: message`, as every contract problem reads.
fn at(contract: &Contract, line: usize, path: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{}:{line}: {path}: {message}", contract.source))
}

/// Whether the spawned target gets a cgroup of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupNeed {
    /// No: nothing needs one, or `spawn.cgroup: false`.
    No,
    /// For the stressors to join, as Chaos Mesh's do; beside the target if none can be made.
    Wanted,
    /// Phase limits, a share of the memory limit, or `spawn.cgroup: true`.
    Required,
}

fn group_need(contract: &Contract, phases: &[&PhasePlan]) -> GroupNeed {
    let Some(spawn) = &contract.target.spawn else {
        return GroupNeed::No;
    };
    let faults = || phases.iter().flat_map(|p| &p.faults);
    match spawn.cgroup {
        Some(true) => GroupNeed::Required,
        Some(false) => GroupNeed::No,
        None if phases.iter().any(|p| p.limits.is_some())
            || faults()
                .any(|f| matches!(f.kind, FaultKind::Memory(MemoryAmount::ShareOfLimit(_)))) =>
        {
            GroupNeed::Required
        }
        None if faults().any(|f| {
            matches!(
                f.kind,
                FaultKind::Cpu { .. } | FaultKind::Memory(_) | FaultKind::Io { .. }
            )
        }) =>
        {
            GroupNeed::Wanted
        }
        None => GroupNeed::No,
    }
}

/// Why a run with stressors gives the target no cgroup of its own, if it has stressors.
fn stress_beside(contract: &Contract, phases: &[&PhasePlan]) -> Option<&'static str> {
    let stress = phases.iter().flat_map(|p| &p.faults).any(|f| {
        matches!(
            f.kind,
            FaultKind::Cpu { .. } | FaultKind::Memory(_) | FaultKind::Io { .. }
        )
    });
    match &contract.target.spawn {
        _ if !stress => None,
        None => Some("verify did not start it, so it has no cgroup of verify's"),
        Some(_) => Some("target.spawn.cgroup is false"),
    }
}

/// Refuses what cannot work on this machine, before anything starts: a directory that
/// is not there, more memory than the machine has, a process verify cannot signal.
pub(crate) fn preflight(contract: &Contract, phases: &[&PhasePlan]) -> Result<(), Error> {
    let total = ballast_fault::memory_total().ok();
    let human = ballast_core::format_bytes;
    for phase in phases {
        if let (Some(limits), Some(total)) = (phase.limits, total) {
            if let Some(limit) = limits.memory.filter(|m| *m > total) {
                let index = contract
                    .phases
                    .iter()
                    .position(|p| p.name == phase.name)
                    .unwrap_or_default();
                return Err(at(
                    contract,
                    limits.line,
                    &format!("phases[{index}].limits.memory"),
                    format!(
                        "{} is above this machine's memory ({})",
                        human(limit),
                        human(total)
                    ),
                ));
            }
        }
        for f in &phase.faults {
            match &f.kind {
                FaultKind::Memory(MemoryAmount::Bytes(b)) => {
                    if let Some(total) = total.filter(|t| b > t) {
                        return Err(at(
                            contract,
                            f.line,
                            &format!("{}.size", f.path),
                            format!(
                                "{} is above this machine's memory ({})",
                                human(*b),
                                human(total)
                            ),
                        ));
                    }
                }
                FaultKind::Io { dir, .. } if !dir.is_dir() => {
                    return Err(at(
                        contract,
                        f.line,
                        &format!("{}.dir", f.path),
                        format!("{} is not a directory here", dir.display()),
                    ));
                }
                FaultKind::Io {
                    dir,
                    bytes,
                    workers,
                } => {
                    // Writable, and room for every writer's file.
                    ballast_fault::StressConfig::Io {
                        dir: dir.clone(),
                        bytes: *bytes,
                        workers: *workers,
                        cgroup: Vec::new(),
                    }
                    .validate()
                    .map_err(|e| match e {
                        // The stressor's field, under the contract's name for it.
                        ballast_fault::Error::Config { field, reason } => at(
                            contract,
                            f.line,
                            &format!(
                                "{}.{}",
                                f.path,
                                if field == "bytes" { "size" } else { field }
                            ),
                            reason,
                        ),
                        other => at(contract, f.line, &f.path, other),
                    })?;
                }
                kind if kind.needs_process() && contract.target.spawn.is_none() => {
                    if let Some(pid) = contract.target.process.as_ref().and_then(|p| p.pid) {
                        ballast_fault::can_signal(pid).map_err(|e| {
                            at(
                                contract,
                                f.line,
                                &f.path,
                                format!("a {} fault on target.process.pid {pid}: {e}", kind.name()),
                            )
                        })?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

impl TargetSetup {
    /// Creates the target's cgroup (when a phase needs one) and starts the DNS servers.
    pub(crate) async fn start(
        contract: &Contract,
        phases: &[&PhasePlan],
        notes: &mut Vec<String>,
    ) -> Result<TargetSetup, Error> {
        let mut setup = TargetSetup {
            group: None,
            dns: BTreeMap::new(),
        };
        let need = group_need(contract, phases);
        if need != GroupNeed::No {
            // Removing stale groups waits for the kernel: off the async threads.
            let (stale, built) = tokio::task::spawn_blocking(|| {
                let stale = ballast_fault::sweep_stale(GROUP_NAME);
                let built = GroupConfig {
                    name: GROUP_NAME.into(),
                    memory: true,
                    cpu: true,
                }
                .build();
                (stale, built)
            })
            .await
            .map_err(|e| Error::Fault(format!("the target's cgroup: {e}")))?;
            for dir in stale {
                notes.push(format!(
                    "removed a cgroup left by an earlier run: {}",
                    dir.display()
                ));
            }
            let group = match (built, need) {
                (Ok(group), _) => group,
                (Err(e), GroupNeed::Wanted) => {
                    notes.push(format!(
                        "the target runs in ballast's cgroup, and the stressors beside it: no cgroup of its own could be made ({e})"
                    ));
                    return setup.start_dns(contract, notes).await;
                }
                (Err(e), _) => return Err(Error::Fault(format!("the target's cgroup: {e}"))),
            };
            notes.push(format!(
                "the target runs in its own cgroup ({}): {}",
                match group.version() {
                    ballast_proc::Version::V1 => "v1",
                    ballast_proc::Version::V2 => "v2",
                },
                group
                    .dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            setup.group = Some(Arc::new(group));
        } else if let Some(why) = stress_beside(contract, phases) {
            notes.push(format!("the stressors run beside the target: {why}"));
        }
        setup.start_dns(contract, notes).await
    }

    /// Starts the contract's DNS servers (on an error, undoes everything set up so far).
    async fn start_dns(
        mut self,
        contract: &Contract,
        notes: &mut Vec<String>,
    ) -> Result<TargetSetup, Error> {
        for server in &contract.dns {
            let mut config = DnsConfig::new(server.listen);
            config.records = server.records.clone();
            config.upstream = match server.upstream {
                None => None,
                Some(Upstream::Address(a)) => Some(a),
                Some(Upstream::System) => {
                    let found = std::fs::read_to_string(RESOLV_CONF)
                        .map_err(|e| format!("{RESOLV_CONF}: {e}"))
                        .and_then(|text| system_resolver(&text, server.listen));
                    match found {
                        Ok(a) => {
                            // The machine's own resolver is where the target's queries
                            // would go anyway: it may be off loopback.
                            config.allow_remote = !a.ip().is_loopback();
                            notes.push(format!(
                                "dns server {} forwards what it does not hold to {a} ({RESOLV_CONF})",
                                server.name
                            ));
                            Some(a)
                        }
                        Err(e) => {
                            self.shutdown().await;
                            return Err(Error::Fault(format!(
                                "dns server {}: upstream system: {e}",
                                server.name
                            )));
                        }
                    }
                }
            };
            match config.build().await {
                Ok(s) => {
                    self.dns.insert(server.name.clone(), Arc::new(s));
                }
                Err(e) => {
                    self.shutdown().await;
                    return Err(Error::Fault(format!("dns server {}: {e}", server.name)));
                }
            }
        }
        Ok(self)
    }

    /// Moves a spawned child into the target's cgroup before it runs anything.
    pub(crate) fn joiner(&self) -> Option<Joiner> {
        self.group.as_ref().map(|g| {
            let join = g.joiner();
            Arc::new(join) as Joiner
        })
    }

    /// Stops the DNS servers and removes the cgroup (after the target has stopped).
    pub(crate) async fn shutdown(self) {
        for (name, server) in self.dns {
            match Arc::try_unwrap(server) {
                Ok(s) => s.shutdown().await,
                Err(_) => eprintln!("warning: dns server {name} is still in use at the end"),
            }
        }
        if let Some(group) = self.group {
            match Arc::try_unwrap(group) {
                // Killing what is left in it and waiting for the kernel blocks.
                Ok(g) => match tokio::task::spawn_blocking(move || g.remove()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("warning: removing the target's cgroup: {e}"),
                    Err(e) => eprintln!("warning: removing the target's cgroup: {e}"),
                },
                Err(_) => eprintln!("warning: the target's cgroup is still in use at the end"),
            }
        }
    }
}

/// A phase's faults on the target, from [`begin`] to [`end`].
pub(crate) struct PhaseFaults {
    running: Running,
    /// The record of the phase's limits, when it has any.
    limits: Option<usize>,
    /// The record of the phase's environment, when it has one.
    env: Option<usize>,
}

impl PhaseFaults {
    /// Turns true when one of the phase's faults could not be put in place.
    pub(crate) fn failed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.running.failed()
    }
}

/// What [`begin`] and [`end`] write to.
pub(crate) struct Ledger<'a> {
    pub records: &'a mut Vec<FaultRecord>,
    /// Restarts verify made on purpose, (from, to) seconds since the run started.
    pub planned: &'a mut Vec<(f64, f64)>,
}

fn record(phase: &PhasePlan, start: Instant, what: String, ledger: &mut Ledger<'_>) -> usize {
    phase::push_record(
        ledger.records,
        &phase.name,
        "the target",
        what,
        start,
        false,
    )
}

/// Sets (or with `None` lifts) both limits, trying each whatever the other did; cgroup
/// writes can block while the kernel reclaims memory, so off the async threads.
async fn set_limits(group: &Arc<ChildGroup>, limits: Option<LimitsPlan>) -> Result<(), String> {
    let group = Arc::clone(group);
    let (memory, cpus) = limits.map_or((None, None), |l| (l.memory, l.cpus));
    tokio::task::spawn_blocking(move || {
        let problems: Vec<String> = [
            group
                .set_memory_limit(memory)
                .err()
                .map(|e| format!("memory: {e}")),
            group
                .set_cpu_quota(cpus)
                .err()
                .map(|e| format!("cpus: {e}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

fn env_text(env: &BTreeMap<String, String>) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn restart(
    supervisor: &Supervisor,
    env: BTreeMap<String, String>,
    start: Instant,
    ledger: &mut Ledger<'_>,
) -> Result<(), Error> {
    let from = start.elapsed().as_secs_f64();
    let result = supervisor.restart_with(env).await;
    ledger.planned.push((from, start.elapsed().as_secs_f64()));
    result
}

/// Puts a phase's limits and environment in place (restarting the target for the
/// latter) and starts its faults' schedule.
pub(crate) async fn begin(
    phase: &PhasePlan,
    setup: &TargetSetup,
    supervisor: Option<&Supervisor>,
    target: TargetRef,
    start: Instant,
    ledger: &mut Ledger<'_>,
) -> Result<PhaseFaults, Error> {
    let mut limits = None;
    if let (Some(l), Some(group)) = (phase.limits, &setup.group) {
        if let Err(e) = set_limits(group, Some(l)).await {
            let _ = set_limits(group, None).await;
            return Err(Error::Fault(format!("phase {}: limits: {e}", phase.name)));
        }
        limits = Some(record(
            phase,
            start,
            format!("limits {}", l.describe()),
            ledger,
        ));
    }
    let mut env = None;
    if let (false, Some(s)) = (phase.env.is_empty(), supervisor) {
        if let Err(e) = restart(s, phase.env.clone(), start, ledger).await {
            if let (Some(index), Some(group)) = (limits, &setup.group) {
                if set_limits(group, None).await.is_ok() {
                    ledger.records[index].removed_s = Some(start.elapsed().as_secs_f64());
                }
            }
            return Err(Error::Fault(format!(
                "phase {}: restarting with env: {e}",
                phase.name
            )));
        }
        env = Some(record(
            phase,
            start,
            format!("env {}", env_text(&phase.env)),
            ledger,
        ));
    }
    let running = phase::start(
        phase,
        PhaseContext {
            target,
            group: setup.group.clone(),
            dns: setup.dns.clone(),
            start,
        },
    );
    Ok(PhaseFaults {
        running,
        limits,
        env,
    })
}

/// Removes what [`begin`] put in place (every step is tried, whatever failed before);
/// returns why the phase was not the experiment asked for, if a fault failed.
pub(crate) async fn end(
    phase: &PhasePlan,
    faults: PhaseFaults,
    setup: &TargetSetup,
    supervisor: Option<&Supervisor>,
    start: Instant,
    ledger: &mut Ledger<'_>,
) -> Option<String> {
    let outcome = faults.running.finish().await;
    ledger.records.extend(outcome.records);
    let mut failures = outcome.failures;
    if let (Some(index), Some(group)) = (faults.limits, &setup.group) {
        match set_limits(group, None).await {
            Ok(()) => ledger.records[index].removed_s = Some(start.elapsed().as_secs_f64()),
            Err(e) => failures.push(format!("removing the limits: {e}")),
        }
    }
    if let (Some(index), Some(s)) = (faults.env, supervisor) {
        match restart(s, BTreeMap::new(), start, ledger).await {
            Ok(()) => ledger.records[index].removed_s = Some(start.elapsed().as_secs_f64()),
            Err(e) => failures.push(format!("restarting without the phase's env: {e}")),
        }
    }
    (!failures.is_empty()).then(|| {
        format!(
            "phase {}: faults did not run as written: {}",
            phase.name,
            failures.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_resolver_is_the_first_nameserver_and_never_ourselves() {
        let listen: std::net::SocketAddr = "127.0.0.1:15353".parse().unwrap();
        let text =
            "# generated\nsearch example.org\nnameserver 10.0.0.2 # office\nnameserver 10.0.0.3\n";
        assert_eq!(
            system_resolver(text, listen).unwrap(),
            "10.0.0.2:53".parse().unwrap()
        );
        assert_eq!(
            system_resolver("nameserver ::1\n", listen).unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert!(system_resolver("search x\n", listen)
            .unwrap_err()
            .contains("no nameserver"));
        let here: std::net::SocketAddr = "127.0.0.1:53".parse().unwrap();
        assert!(system_resolver("nameserver 127.0.0.1\n", here)
            .unwrap_err()
            .contains("this very server"));
    }
}
