//! One phase's faults on the target, on their schedule: each starts `after` the phase
//! starts and ends after its `for`, or with the phase. One task holds what is in place
//! (paused groups, stressors, DNS faults); however the phase ends, [`Running::finish`]
//! removes all of it, and what it holds also undoes itself on drop.

use crate::report::FaultRecord;
use ballast_contract::faults::{DnsAnswer, FaultKind, FaultPlan, MemoryAmount};
use ballast_contract::PhasePlan;
use ballast_dns::{DnsAction, DnsFault, DnsServer};
use ballast_fault::{ChildGroup, Pause, StressConfig, Stressor};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// How to find the target's process when a fault is due.
#[derive(Clone)]
pub(crate) enum TargetRef {
    /// The spawned target (its pid is its process group), as it runs now.
    Spawned(watch::Receiver<Option<u32>>),
    /// `target.process.pid`.
    Pid(u32),
    /// `target.process.name`: the newest process of that name.
    Name(String),
    /// `target.process.name` inside the spawned target's tree (a supervisor or wrapper):
    /// signals go to the named server alone, a pause to the whole spawned group.
    NameUnder(watch::Receiver<Option<u32>>, String),
    /// No process (no process faults were allowed by the contract check).
    None,
}

impl TargetRef {
    /// The process now, and whether its whole group may be signalled (only a group verify
    /// started: a process found by pid or name may share its group with a shell). Never
    /// ballast itself or one of its ancestors.
    fn now(&self) -> Result<(u32, bool), String> {
        let (pid, group) = self.find()?;
        if ancestry().contains(&pid) {
            return Err(format!(
                "process {pid} is ballast itself or one of its parents; it is not faulted"
            ));
        }
        Ok((pid, group))
    }

    /// The group a pause stops: the spawned target's own, or a process that leads its
    /// own group.
    fn group_to_pause(&self) -> Result<u32, String> {
        if let TargetRef::NameUnder(rx, _) = self {
            return rx
                .borrow()
                .ok_or_else(|| "the target is not running".to_string());
        }
        let (pid, group) = self.now()?;
        if !group && process_group(pid) != Some(pid) {
            return Err(format!(
                "process {pid} does not lead a process group of its own (its group may hold other programs); pause needs one"
            ));
        }
        Ok(pid)
    }

    fn find(&self) -> Result<(u32, bool), String> {
        match self {
            TargetRef::Spawned(rx) => rx
                .borrow()
                .map(|pid| (pid, true))
                .ok_or_else(|| "the target is not running".to_string()),
            TargetRef::Pid(pid) => Ok((*pid, false)),
            TargetRef::Name(name) => {
                let table = ballast_proc::ProcessTable::scan(std::path::Path::new("/proc"))
                    .map_err(|e| e.to_string())?;
                table
                    .newest_named(name, None)
                    .map(|p| (p.pid, false))
                    .ok_or_else(|| format!("no process named {name:?} is running"))
            }
            TargetRef::NameUnder(rx, name) => {
                let root = rx
                    .borrow()
                    .ok_or_else(|| "the target is not running".to_string())?;
                let table = ballast_proc::ProcessTable::scan(std::path::Path::new("/proc"))
                    .map_err(|e| e.to_string())?;
                let tree = table.tree(root);
                table
                    .newest_named(name, Some(&tree))
                    .map(|p| (p.pid, false))
                    .ok_or_else(|| format!("no process named {name:?} runs under the target"))
            }
            TargetRef::None => Err("the contract names no process".into()),
        }
    }
}

/// What a phase's faults act on.
#[derive(Clone)]
pub(crate) struct PhaseContext {
    pub target: TargetRef,
    pub group: Option<Arc<ChildGroup>>,
    pub dns: BTreeMap<String, Arc<DnsServer>>,
    pub start: Instant,
}

/// A phase's faults, running.
pub(crate) struct Running {
    end: Option<oneshot::Sender<()>>,
    /// The DNS servers, to clear if the task dies (what else it holds undoes itself on
    /// drop).
    dns: Vec<Arc<DnsServer>>,
    task: tokio::task::JoinHandle<Outcome>,
    failed: watch::Receiver<bool>,
}

/// What a phase's faults did.
#[derive(Default)]
pub(crate) struct Outcome {
    pub records: Vec<FaultRecord>,
    /// Faults that could not be put in place (the phase is not the experiment asked for).
    pub failures: Vec<String>,
}

enum Held {
    Pause(Pause),
    Stress(Stressor),
    Dns(String, DnsFault),
}

struct Schedule {
    phase: String,
    ctx: PhaseContext,
    held: BTreeMap<usize, (Held, usize)>,
    out: Outcome,
    /// Turns true at the first fault that cannot be put in place.
    failed: watch::Sender<bool>,
}

/// Starts the schedule of `phase`'s faults (none: a task that only waits for the end).
pub(crate) fn start(phase: &PhasePlan, ctx: PhaseContext) -> Running {
    let (end, ended) = oneshot::channel();
    let (failed_tx, failed) = watch::channel(false);
    let faults = phase.faults.clone();
    let dns = ctx.dns.values().cloned().collect();
    let name = phase.name.clone();
    let task = tokio::spawn(async move {
        let began = Instant::now();
        let mut events: Vec<(Duration, bool, usize)> = Vec::new();
        for (i, f) in faults.iter().enumerate() {
            events.push((f.after, true, i));
            if let (Some(length), false) = (f.length, matches!(f.kind, FaultKind::Kill(_))) {
                events.push((f.after + length, false, i));
            }
        }
        // Removals before applications at the same moment.
        events.sort_by_key(|&(t, apply, i)| (t, apply, i));
        let mut schedule = Schedule {
            phase: name,
            ctx,
            held: BTreeMap::new(),
            out: Outcome::default(),
            failed: failed_tx,
        };
        let mut ended = ended;
        // Faults still due when the phase ends (early, or an `after + for` past its end)
        // are never applied.
        let mut ended_early = false;
        for (t, apply, i) in events {
            tokio::select! {
                _ = tokio::time::sleep_until((began + t).into()) => {}
                _ = &mut ended => {
                    ended_early = true;
                    break;
                }
            }
            if apply {
                schedule.apply(i, &faults[i]).await;
            } else {
                schedule.remove(i).await;
            }
        }
        if !ended_early {
            let _ = ended.await;
        }
        let keys: Vec<usize> = schedule.held.keys().copied().collect();
        for i in keys {
            schedule.remove(i).await;
        }
        schedule.out
    });
    Running {
        end: Some(end),
        dns,
        task,
        failed,
    }
}

impl Running {
    /// Turns true when a fault could not be put in place: the phase should stop.
    pub(crate) fn failed(&self) -> watch::Receiver<bool> {
        self.failed.clone()
    }

    /// Ends the phase's faults: everything still in place is removed.
    pub(crate) async fn finish(mut self) -> Outcome {
        if let Some(end) = self.end.take() {
            let _ = end.send(());
        }
        match (&mut self.task).await {
            Ok(outcome) => outcome,
            Err(e) => {
                for server in &self.dns {
                    server.clear_faults();
                }
                Outcome {
                    failures: vec![format!("the phase's fault task failed: {e}")],
                    ..Outcome::default()
                }
            }
        }
    }
}

impl Schedule {
    fn now(&self) -> f64 {
        self.ctx.start.elapsed().as_secs_f64()
    }

    fn record(&mut self, on: String, what: String, instant: bool) -> usize {
        push_record(
            &mut self.out.records,
            &self.phase,
            &on,
            what,
            self.ctx.start,
            instant,
        )
    }

    async fn apply(&mut self, i: usize, fault: &FaultPlan) {
        match self.put(fault).await {
            Ok(Some((held, on, what))) => {
                let record = self.record(on, what, false);
                self.held.insert(i, (held, record));
            }
            Ok(None) => {}
            Err(e) => {
                self.out
                    .failures
                    .push(format!("{} ({}): {e}", fault.path, fault.kind.name()));
                self.failed.send_replace(true);
            }
        }
    }

    /// Puts one fault in place; `None` for an instant one (already recorded).
    async fn put(&mut self, fault: &FaultPlan) -> Result<Option<(Held, String, String)>, String> {
        let dirs = |g: &Option<Arc<ChildGroup>>| -> Vec<PathBuf> {
            g.as_ref().map(|g| g.dirs()).unwrap_or_default()
        };
        // Stressors join the target's cgroup when it has one (they compete under its
        // limits); otherwise they compete for the machine.
        let (inside, beside) = ("the target's cgroup", "the machine");
        let place = if self.ctx.group.is_some() {
            inside
        } else {
            beside
        };
        match &fault.kind {
            FaultKind::Pause => {
                let group = self.ctx.target.group_to_pause()?;
                let pause = Pause::start(group).map_err(|e| e.to_string())?;
                Ok(Some((
                    Held::Pause(pause),
                    "the target".into(),
                    "pause".into(),
                )))
            }
            FaultKind::Kill(signal) => {
                let (pid, group) = self.ctx.target.now()?;
                if group {
                    ballast_fault::signal_group(pid, *signal)
                } else {
                    ballast_fault::signal_pid(pid, *signal)
                }
                .map_err(|e| e.to_string())?;
                self.record("the target".into(), format!("kill {signal}"), true);
                Ok(None)
            }
            FaultKind::Cpu { workers, load } => {
                let cpus = match self.ctx.target.now() {
                    Ok((pid, _)) => ballast_fault::target_cpus(pid),
                    Err(_) => ballast_fault::target_cpus(std::process::id()),
                }
                .map_err(|e| e.to_string())?;
                let workers = workers.unwrap_or(cpus.len().max(1) as u32);
                let load_percent = (load * 100.0).round().clamp(1.0, 100.0) as u8;
                let stress = start_stress(StressConfig::Cpu {
                    workers,
                    load_percent,
                    cpus: Some(cpus.clone()),
                    cgroup: dirs(&self.ctx.group),
                })
                .await?;
                let what = format!("cpu stress {workers}×{load_percent}% (CPUs {cpus:?})");
                let on = if self.ctx.group.is_some() {
                    inside
                } else {
                    "the target's CPUs"
                };
                Ok(Some((Held::Stress(stress), on.into(), what)))
            }
            FaultKind::Memory(amount) => {
                let bytes = match amount {
                    MemoryAmount::Bytes(b) => *b,
                    MemoryAmount::ShareOfLimit(share) => {
                        let limit = self
                            .ctx
                            .group
                            .as_ref()
                            .ok_or("the target has no cgroup")?
                            .memory_limit()
                            .map_err(|e| e.to_string())?
                            .ok_or("the target's cgroup has no memory limit now")?;
                        (limit as f64 * share) as u64
                    }
                };
                let stress = start_stress(StressConfig::Memory {
                    bytes,
                    cgroup: dirs(&self.ctx.group),
                })
                .await?;
                let what = format!("memory stress {}", ballast_core::format_bytes(bytes));
                Ok(Some((Held::Stress(stress), place.into(), what)))
            }
            FaultKind::Io {
                dir,
                bytes,
                workers,
            } => {
                let stress = start_stress(StressConfig::Io {
                    dir: dir.clone(),
                    bytes: *bytes,
                    workers: *workers,
                    cgroup: dirs(&self.ctx.group),
                })
                .await?;
                let what = format!(
                    "io stress {workers}×{} in {}",
                    ballast_core::format_bytes(*bytes),
                    dir.display()
                );
                Ok(Some((Held::Stress(stress), place.into(), what)))
            }
            FaultKind::Dns {
                server,
                names,
                answer,
                share,
            } => {
                let action = match answer {
                    DnsAnswer::NxDomain => DnsAction::NxDomain,
                    DnsAnswer::ServFail => DnsAction::ServFail,
                    DnsAnswer::Refused => DnsAction::Refused,
                    DnsAnswer::Timeout => DnsAction::Timeout,
                    DnsAnswer::Address(a) => DnsAction::Address(a.clone()),
                    DnsAnswer::Delay(d) => DnsAction::Delay(*d),
                };
                let what = format!(
                    "{} for {names} ({:.4}% of queries)",
                    action.name(),
                    share * 100.0
                );
                let fault = DnsFault::new(names.clone(), action).share(*share);
                self.sync_dns(server, Some(&fault))?;
                Ok(Some((
                    Held::Dns(server.clone(), fault),
                    format!("dns server {server}"),
                    what,
                )))
            }
        }
    }

    /// Gives a DNS server the faults held for it now (in the order they came), and
    /// `new` after them.
    fn sync_dns(&self, server: &str, new: Option<&DnsFault>) -> Result<(), String> {
        let faults: Vec<DnsFault> = self
            .held
            .values()
            .filter_map(|(h, _)| match h {
                Held::Dns(s, f) if s == server => Some(f),
                _ => None,
            })
            .chain(new)
            .cloned()
            .collect();
        let dns = self
            .ctx
            .dns
            .get(server)
            .ok_or_else(|| format!("no dns server {server}"))?;
        dns.set_faults(faults).map_err(|e| e.to_string())
    }

    async fn remove(&mut self, i: usize) {
        let Some((held, record)) = self.held.remove(&i) else {
            return;
        };
        let result = match held {
            Held::Pause(p) => p.resume().map_err(|e| e.to_string()),
            // Killing and reaping the workers (and removing their files) blocks.
            Held::Stress(s) => tokio::task::spawn_blocking(move || s.stop())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string())),
            Held::Dns(server, _) => self.sync_dns(&server, None),
        };
        match result {
            Ok(()) => {
                let t = self.now();
                if let Some(r) = self.out.records.get_mut(record) {
                    r.removed_s = Some(t);
                }
            }
            Err(e) => {
                let what = self
                    .out
                    .records
                    .get(record)
                    .map_or("a fault".into(), |r| r.toxic.clone());
                eprintln!("warning: removing {what}: {e}");
                self.out.failures.push(format!("removing {what}: {e}"));
            }
        }
    }
}

/// Adds the record of a fault put in place now (and, for an instant one, over at once).
pub(crate) fn push_record(
    records: &mut Vec<FaultRecord>,
    phase: &str,
    on: &str,
    what: String,
    start: Instant,
    instant: bool,
) -> usize {
    let t = start.elapsed().as_secs_f64();
    records.push(FaultRecord {
        phase: phase.to_string(),
        proxy: on.to_string(),
        toxic: what,
        applied_s: t,
        removed_s: instant.then_some(t),
    });
    records.len() - 1
}

/// Starts stressors, which blocks until every worker is ready (memory mapped and
/// touched, files open).
async fn start_stress(config: StressConfig) -> Result<Stressor, String> {
    tokio::task::spawn_blocking(move || config.build())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// This process and its ancestors, up to init (never a fault's target).
fn ancestry() -> Vec<u32> {
    let mut out = vec![std::process::id()];
    let Ok(table) = ballast_proc::ProcessTable::scan(std::path::Path::new("/proc")) else {
        return out;
    };
    while let Some(parent) = out
        .last()
        .and_then(|&pid| table.get(pid))
        .map(|p| p.ppid)
        .filter(|&p| p > 0 && !out.contains(&p))
    {
        out.push(parent);
    }
    out
}

/// The process group of `pid`, if it runs.
fn process_group(pid: u32) -> Option<u32> {
    ballast_proc::ProcessTable::scan(std::path::Path::new("/proc"))
        .ok()?
        .get(pid)
        .filter(|p| !p.is_gone())
        .map(|p| p.pgrp as u32)
}
