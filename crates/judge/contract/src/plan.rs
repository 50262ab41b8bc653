//! A checked contract: every value parsed, every name resolved, ready to run.

use crate::expr::Expr;
use crate::faults::{DnsServerPlan, FaultPlan, LimitsPlan, RestartPlan};
use crate::model::{ChaosSpec, ContractFile, ProcessSpec, Severity, SliSpec};
use ballast_core::RateSpec;
use ballast_spec::RequestTemplate;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A contract that passed every check.
#[derive(Debug, Clone)]
pub struct Contract {
    /// Name for reports.
    pub name: String,
    /// The file as given (for messages).
    pub source: String,
    /// The file as written.
    pub file: ContractFile,
    /// The service under test.
    pub target: TargetPlan,
    /// Request templates, ready for the load engine.
    pub requests: Vec<RequestTemplate>,
    /// Where faults go, when phases have any.
    pub chaos: Option<ChaosPlan>,
    /// Phases in order.
    pub phases: Vec<PhasePlan>,
    /// Clauses in order.
    pub clauses: Vec<ClausePlan>,
    /// SLOs.
    pub slos: Vec<SloPlan>,
    /// DNS servers verify runs for the target.
    pub dns: Vec<DnsServerPlan>,
}

/// The target, checked.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// Base URL.
    pub base_url: String,
    /// How to start it.
    pub spawn: Option<SpawnPlan>,
    /// Metrics URL.
    pub metrics: Option<String>,
    /// Which process to watch (besides a spawned one).
    pub process: Option<ProcessSpec>,
    /// Connections.
    pub connections: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// How to start the target.
#[derive(Debug, Clone)]
pub struct SpawnPlan {
    /// Program.
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Readiness probe.
    pub ready: ReadyPlan,
    /// Start it again when it exits on its own.
    pub restart: Option<RestartPlan>,
    /// A cgroup of its own: `Some(true)` always, `Some(false)` never, `None` when a phase
    /// needs one.
    pub cgroup: Option<bool>,
}

/// When a spawned target counts as started.
#[derive(Debug, Clone)]
pub struct ReadyPlan {
    /// HTTP path answering 2xx.
    pub http: Option<String>,
    /// TCP port accepting connections.
    pub tcp: Option<u16>,
    /// How long to wait.
    pub timeout: Duration,
}

/// A phase, checked.
#[derive(Debug, Clone)]
pub struct PhasePlan {
    /// Name.
    pub name: String,
    /// Rate.
    pub rate: RateSpec,
    /// Judged length.
    pub duration: Duration,
    /// Unjudged lead-in at the same rate.
    pub warmup: Duration,
    /// Indexes into [`Contract::requests`] this phase sends.
    pub requests: Vec<usize>,
    /// Faults during the phase, as written.
    pub chaos: Vec<ChaosSpec>,
    /// The same faults, checked: (proxy, toxic).
    pub toxics: Vec<(String, ballast_spec::Toxic)>,
    /// The automatic stop, if any.
    pub abort_when: Option<AbortPlan>,
    /// Faults beyond the network (process, resources, DNS).
    pub faults: Vec<FaultPlan>,
    /// Limits on the spawned target.
    pub limits: Option<LimitsPlan>,
    /// Environment the spawned target is restarted with for the phase.
    pub env: BTreeMap<String, String>,
    /// Profiles captured at the phase's end.
    pub profile: Option<crate::profile::ProfilePlan>,
}

/// The steady state of a chaos phase, compiled.
#[derive(Debug, Clone)]
pub struct AbortPlan {
    /// As written.
    pub check: String,
    /// Parsed.
    pub expr: Expr,
    /// Broken this long (whole seconds) before aborting.
    pub after: Duration,
}

/// The proxies of a run.
#[derive(Debug, Clone)]
pub struct ChaosPlan {
    /// A running API, or `None` for an embedded server.
    pub api: Option<String>,
    /// Token for `api`.
    pub token: Option<String>,
    /// Proxies to create.
    pub proxies: Vec<ProxyPlan>,
}

/// One proxy of a run: `verify` starts it (or creates it on a running API) as a chaos
/// proxy from `listen` to `upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPlan {
    /// Unique name; phases' faults name it.
    pub name: String,
    /// `host:port` to listen on.
    pub listen: String,
    /// `host:port` each client is connected to.
    pub upstream: String,
    /// Parse every connection as HTTP/1.1 (for HTTP toxics).
    pub http: bool,
}

impl ProxyPlan {
    /// A plain TCP proxy.
    pub fn new(
        name: impl Into<String>,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        ProxyPlan {
            name: name.into(),
            listen: listen.into(),
            upstream: upstream.into(),
            http: false,
        }
    }
}

impl PhasePlan {
    /// Requests the phase schedules, warm-up included.
    pub fn planned_requests(&self) -> u64 {
        let warm = match self.rate {
            RateSpec::Constant(_) => self.rate.due_by(self.warmup, self.warmup),
            RateSpec::Ramp { from, .. } => {
                RateSpec::Constant(from).due_by(self.warmup, self.warmup)
            }
        };
        warm + self.rate.due_by(self.duration, self.duration)
    }
}

/// A clause, compiled.
#[derive(Debug, Clone)]
pub struct ClausePlan {
    /// Name.
    pub name: String,
    /// Default phase of its metrics (`None`: all phases together).
    pub phase: Option<String>,
    /// The expression as written.
    pub check: String,
    /// The expression, parsed and checked.
    pub expr: Expr,
    /// Fail or warn.
    pub severity: Severity,
    /// Why it exists.
    pub description: Option<String>,
}

/// An SLO, checked.
#[derive(Debug, Clone)]
pub struct SloPlan {
    /// Name.
    pub name: String,
    /// Good share, 0..1 (99.9% = 0.999).
    pub objective: f64,
    /// Compliance window.
    pub window: Duration,
    /// The indicator.
    pub sli: SliSpec,
}
