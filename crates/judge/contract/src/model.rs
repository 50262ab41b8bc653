//! The contract file as written (YAML → these types). Rates, durations and expressions
//! stay text here; [`crate::Contract::load`] checks them all at once, with positions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Values with units are text, but a number written without quotes is read as its text
/// so that the check can say what is missing ("500" → did you mean "500/s"?).
pub(crate) mod text {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(serde_json::Number),
    }

    impl From<TextOrNumber> for String {
        fn from(v: TextOrNumber) -> String {
            match v {
                TextOrNumber::Text(s) => s,
                TextOrNumber::Number(n) => n.to_string(),
            }
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        TextOrNumber::deserialize(d).map(String::from)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<TextOrNumber>::deserialize(d).map(|v| v.map(String::from))
    }
}

/// A stability contract: what traffic to send, what faults to inject, what must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractFile {
    /// Name shown in reports. Default: the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// The service under test.
    pub target: TargetSpec,
    /// Request templates, picked by weight. Default: one `GET /`.
    #[serde(default)]
    pub requests: Vec<RequestSpec>,
    /// The dependency proxies faults are injected through.
    #[serde(default)]
    pub chaos: Option<ChaosSetupSpec>,
    /// Load phases, run in order.
    pub phases: Vec<PhaseSpec>,
    /// Assertions evaluated after the run.
    #[serde(default)]
    pub clauses: Vec<ClauseSpec>,
    /// Service level objectives (used by `ballast slo`).
    #[serde(default)]
    pub slos: Vec<SloSpec>,
    /// DNS servers `ballast verify` runs on loopback for the target to resolve through,
    /// so that phases can inject DNS faults.
    #[serde(default)]
    pub dns: Option<crate::faults::DnsSetupSpec>,
}

/// The service under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Base URL every request path is appended to, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Start the service before the run and stop it after.
    #[serde(default)]
    pub spawn: Option<SpawnSpec>,
    /// Prometheus text exposition URL, scraped every second during the run.
    #[serde(default)]
    pub metrics: Option<String>,
    /// A process to watch (RSS, OOM kills, restarts). A spawned target is watched anyway.
    #[serde(default)]
    pub process: Option<ProcessSpec>,
    /// TCP connections the load uses. Default: 32.
    #[serde(default)]
    pub connections: Option<u32>,
    /// Per-request timeout. Default: `2s`.
    #[serde(default, deserialize_with = "text::optional")]
    pub timeout: Option<String>,
}

/// How to start the service under test. The command runs directly, never through a shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnSpec {
    /// Program to run (a path, or a name looked up in `PATH`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory. Default: the contract file's directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// When the service counts as started.
    #[serde(default)]
    pub ready: Option<ReadySpec>,
    /// Start it again when it exits on its own (a crash, an OOM kill, a `kill` fault).
    /// Default: never.
    #[serde(default)]
    pub restart: Option<crate::faults::RestartSpec>,
    /// Run it in a cgroup of its own (memory and cpu), which phase `limits` and the
    /// `memory`/`cpu` faults use. Default: only when a phase needs it.
    #[serde(default)]
    pub cgroup: Option<bool>,
}

/// A readiness probe: an HTTP path answering 2xx, or a TCP port accepting connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// HTTP path on `base_url` that must answer 2xx, e.g. `/healthz`.
    #[serde(default)]
    pub http: Option<String>,
    /// TCP port on 127.0.0.1 that must accept a connection.
    #[serde(default)]
    pub tcp: Option<u16>,
    /// How long to wait. Default: `30s`.
    #[serde(default, deserialize_with = "text::optional")]
    pub timeout: Option<String>,
}

/// Which process to watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Process name (as in `/proc/PID/comm`); the newest match is watched, and a new pid
    /// under the same name counts as a restart.
    #[serde(default)]
    pub name: Option<String>,
}

/// A named, weighted request template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Name used in clauses: `request("checkout").p95`.
    pub name: String,
    /// Share of the traffic, relative to the other requests. Default: 1.
    #[serde(default)]
    pub weight: Option<u32>,
    /// HTTP method. Default: GET.
    #[serde(default)]
    pub method: Option<String>,
    /// Path (and query) on `base_url`; may hold `{{seq}}`, `{{uuid}}`, `{{randint 1 100}}`, `{{csv.COLUMN}}`.
    pub path: String,
    /// Headers; values may hold template variables.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body: text, `{json: ...}` or `{file: path}`.
    #[serde(default)]
    pub body: Option<BodySpec>,
    /// Statuses that count as success. Default: 200–399.
    #[serde(default)]
    pub expect: Option<Vec<u16>>,
    /// CSV file whose rows feed `{{csv.COLUMN}}`, one row per request, in turn.
    #[serde(default)]
    pub csv: Option<String>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BodySpec {
    /// Text, sent as is (template variables allowed).
    Text(String),
    /// A JSON value, serialized (template variables allowed in strings).
    Json {
        /// The value.
        json: serde_json::Value,
    },
    /// The bytes of a file, relative to the contract.
    File {
        /// The file.
        file: String,
    },
}

/// One load phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Name, used in clauses (`baseline.p95`): letters, digits, `_` and `-`.
    pub name: String,
    /// Rate: `"500/s"` or a ramp `"100/s..2000/s"`.
    #[serde(deserialize_with = "text::required")]
    pub rate: String,
    /// How long it lasts (warm-up not included), e.g. `"30s"`.
    #[serde(deserialize_with = "text::required")]
    pub duration: String,
    /// Load at the same rate before the phase, excluded from judging.
    #[serde(default, deserialize_with = "text::optional")]
    pub warmup: Option<String>,
    /// Only these requests (by name) in this phase. Default: all.
    #[serde(default)]
    pub requests: Option<Vec<String>>,
    /// Faults injected during the phase (through `ballast chaos`), from its start (warm-up
    /// included) to its end.
    #[serde(default)]
    pub chaos: Vec<ChaosSpec>,
    /// Stop the experiment when the steady state breaks during the phase.
    #[serde(default)]
    pub abort_when: Option<AbortSpec>,
    /// Faults on the target's process, its resources or its DNS (not its network: that
    /// is `chaos`), from the phase's start (warm-up included, unless `after`) to its end.
    #[serde(default)]
    pub faults: Vec<crate::faults::FaultSpec>,
    /// Resource limits on the spawned target for the phase (its own cgroup).
    #[serde(default)]
    pub limits: Option<crate::faults::LimitsSpec>,
    /// Environment for the spawned target during the phase (e.g. `GOGC: "50"`): it is
    /// restarted with these at the phase's start and without them at its end.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Profiles to capture at the phase's end, for `profile.*` clauses and the report.
    #[serde(default)]
    pub profile: Option<crate::profile::ProfileSpec>,
}

/// Where faults go: proxies `ballast verify` starts itself, or a running chaos server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosSetupSpec {
    /// A running `ballast chaos serve` (or Toxiproxy) API, e.g. `http://127.0.0.1:8474`.
    /// Default: an embedded proxy server that lives for the run.
    #[serde(default)]
    pub api: Option<String>,
    /// Bearer token for `api`.
    #[serde(default)]
    pub token: Option<String>,
    /// Proxies to create (embedded) or expect (with `api`).
    #[serde(default)]
    pub proxies: Vec<ProxySpec>,
}

/// A proxy between the service and one dependency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// Name, used by `phases[].chaos[].proxy`.
    pub name: String,
    /// Where the service connects, e.g. `127.0.0.1:16379`.
    pub listen: String,
    /// The real dependency, e.g. `127.0.0.1:6379`.
    pub upstream: String,
    /// Parse all traffic as HTTP/1.1 (for HTTP toxics and per-request counts).
    #[serde(default)]
    pub http: bool,
}

/// An automatic stop: the steady state, checked every second of a chaos phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortSpec {
    /// What must hold, over each last second: `p99`, `rps`, `error_rate`, `requests`,
    /// `errors`, `metric("…").last` or `.rate`, e.g. `error_rate < 50%`.
    pub steady_state: String,
    /// How long it may be broken before the faults are removed and the run stops.
    #[serde(rename = "for", default, deserialize_with = "text::optional")]
    pub after: Option<String>,
}

/// A fault applied to a dependency proxy for the length of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosSpec {
    /// The proxy (dependency) name.
    pub proxy: String,
    /// Toxic type: latency, bandwidth, slow_close, timeout, reset_peer, slicer,
    /// limit_data, down, http_delay, http_abort.
    pub toxic: String,
    /// Which direction: `upstream` or `downstream`. Default: downstream.
    #[serde(default)]
    pub stream: Option<String>,
    /// Share of connections (or requests) affected, 0–1. Default: 1.
    #[serde(default)]
    pub toxicity: Option<f64>,
    /// The toxic's attributes, as in Toxiproxy (e.g. `latency: 100`, `jitter: 10`).
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// An assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClauseSpec {
    /// Shown in the verdict.
    pub name: String,
    /// The phase bare metrics refer to. Default: all phases together.
    #[serde(default)]
    pub phase: Option<String>,
    /// The expression that must hold, e.g. `p95 <= 2 * baseline.p95 and process.oom_kills == 0`.
    pub check: String,
    /// `fail` (the verdict fails) or `warn` (reported only). Default: fail.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Why the clause exists, shown in reports.
    #[serde(default)]
    pub description: Option<String>,
}

/// What a broken clause does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The verdict fails (exit code 1).
    #[default]
    Fail,
    /// Reported, the verdict still passes.
    Warn,
}

/// A service level objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Name.
    pub name: String,
    /// Target share of good events, e.g. `"99.9%"`.
    #[serde(deserialize_with = "text::required")]
    pub objective: String,
    /// Compliance window, e.g. `"30d"`.
    #[serde(deserialize_with = "text::required")]
    pub window: String,
    /// What counts as good.
    pub sli: SliSpec,
}

/// A service level indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SliSpec {
    /// Good = answered with an expected status.
    Availability {
        /// Limit to one request template. Default: all.
        #[serde(default)]
        request: Option<String>,
    },
    /// Good = answered within `threshold`.
    Latency {
        /// E.g. `"300ms"`.
        #[serde(deserialize_with = "text::required")]
        threshold: String,
        /// Limit to one request template. Default: all.
        #[serde(default)]
        request: Option<String>,
        /// The service's own latency histogram (base name and matchers, e.g.
        /// `http_request_duration_seconds{route="/orders"}`), for Prometheus rules and
        /// `slo status`; the threshold must be one of its bucket bounds.
        #[serde(default)]
        histogram: Option<String>,
    },
    /// Good and total events from the target's metrics (PromQL selectors).
    Ratio {
        /// Selector of good events, e.g. `http_requests_total{code!~"5.."}`.
        good: String,
        /// Selector of all events.
        total: String,
    },
}
