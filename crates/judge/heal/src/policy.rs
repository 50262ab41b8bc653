//! The heal policy file: where the healer listens, where it keeps its state, and which
//! alerts lead to which actions under which limits.
//!
//! Read the way contracts are read: YAML into a positioned tree, structure checked by
//! serde with unknown keys refused, then every value checked, all problems reported at
//! once with file, line, column and field.

use crate::maintenance::{Maintenance, MaintenanceSpec};
use crate::template::Template;
use crate::Error;
use ballast_contract::yaml::{self, join_path, Node};
use ballast_contract::Diagnostic;
use ballast_core::duration_text;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file as written (structure only; [`Policies`] is the checked form).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Where the webhook receiver listens. Default `127.0.0.1:9095`; anything but a
    /// loopback address requires `auth`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// How Alertmanager (and `ballast heal status`) authenticate.
    #[serde(default)]
    pub auth: Option<AuthSpec>,
    /// Where the incident state and the audit log live (relative to the policy file).
    /// Default `heal-state`.
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// The audit log's rotation.
    #[serde(default)]
    pub audit: AuditSpec,
    /// Decide and record, act on nothing. Default false; a policy may set its own.
    #[serde(default)]
    pub dry_run: bool,
    /// The Prometheus (or VictoriaMetrics) that recovery is checked against.
    #[serde(default)]
    pub prometheus: Option<String>,
    /// How long a delivery is remembered for deduplication. Default 7d: longer than any
    /// Alertmanager `repeat_interval` keeps resending a group.
    #[serde(default = "default_dedupe_for", with = "duration_text")]
    pub dedupe_for: Duration,
    /// Times when no action is taken (the decision is recorded).
    #[serde(default)]
    pub maintenance: Vec<MaintenanceSpec>,
    /// Alert → actions, first match wins, in file order.
    pub policies: Vec<PolicySpec>,
}

fn default_listen() -> String {
    "127.0.0.1:9095".into()
}
fn default_state_dir() -> String {
    "heal-state".into()
}
fn default_dedupe_for() -> Duration {
    Duration::from_secs(7 * 86_400)
}

/// Credentials the receiver requires. Secrets are read from the environment, never
/// written in the file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum AuthSpec {
    /// `Authorization: Bearer <value of the variable>`.
    BearerTokenEnv(String),
    /// HTTP basic auth, the password in an environment variable.
    Basic {
        /// The user name.
        username: String,
        /// The variable holding the password.
        password_env: String,
    },
}

/// Audit log rotation: the live file is renamed to `audit.jsonl.1` (older ones shift)
/// when it reaches `max_bytes`; `keep` rotated files are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    /// Default `64MiB`.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: String,
    /// Default 8.
    #[serde(default = "default_keep")]
    pub keep: u32,
}

impl Default for AuditSpec {
    fn default() -> Self {
        AuditSpec {
            max_bytes: default_max_bytes(),
            keep: default_keep(),
        }
    }
}
fn default_max_bytes() -> String {
    "64MiB".into()
}
fn default_keep() -> u32 {
    8
}

/// One policy as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Unique; names the policy in the audit log and metrics.
    pub name: String,
    /// Which alerts it takes.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// What the actions act on, for "one action at a time per target" and the rate
    /// limits: a template such as `{{ labels.service }}`. Default: the policy's name.
    #[serde(default)]
    pub target: Option<String>,
    /// After an action, no new incident of this policy and target is acted on for this
    /// long. Default `10m`.
    #[serde(default = "default_cooldown", with = "duration_text")]
    pub cooldown: Duration,
    /// At most this many actions per policy and target in any hour. Default 6.
    #[serde(default = "default_max_per_hour")]
    pub max_actions_per_hour: u32,
    /// An alert that fires again within this long of resolving is flapping: not acted on
    /// again. Default `5m`.
    #[serde(default = "default_hold_down", with = "duration_text")]
    pub hold_down: Duration,
    /// Tries of each action before escalating to the next one. Default 2.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait between two tries of the same action. Default `5s`.
    #[serde(default = "default_retry_after", with = "duration_text")]
    pub retry_after: Duration,
    /// Overrides the file's `dry_run`.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// How recovery is checked after an action. Without it, an action that succeeded
    /// ends the incident.
    #[serde(default)]
    pub verify: Option<VerifySpec>,
    /// In order: the first, then the next when it fails or recovery does not follow.
    pub actions: Vec<ActionSpec>,
}

fn default_cooldown() -> Duration {
    Duration::from_secs(600)
}
fn default_max_per_hour() -> u32 {
    6
}
fn default_hold_down() -> Duration {
    Duration::from_secs(300)
}
fn default_attempts() -> u32 {
    2
}
fn default_retry_after() -> Duration {
    Duration::from_secs(5)
}

/// Alert matchers; all given must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Labels that must be equal.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Labels that must match a regular expression (anchored, as Alertmanager's
    /// `=~`).
    #[serde(default)]
    pub labels_re: BTreeMap<String, String>,
    /// Annotations that must match a regular expression (anchored).
    #[serde(default)]
    pub annotations_re: BTreeMap<String, String>,
}

/// Recovery check: a PromQL query compared with a bound, or an SLO's error ratio over a
/// short window against its objective, polled until it holds for `consecutive` readings
/// or the deadline passes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    /// A PromQL expression with one result (a scalar, or a vector of one sample).
    #[serde(default)]
    pub query: Option<String>,
    /// The query is good while its value is below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// The query is good while its value is above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// An SLO (any format `ballast slo` reads) whose error ratio over `window` must be
    /// within its objective.
    #[serde(default)]
    pub slo: Option<SloRef>,
    /// Give up after this long. Default `5m`.
    #[serde(default = "default_deadline", with = "duration_text")]
    pub deadline: Duration,
    /// Between two readings. Default `10s`.
    #[serde(default = "default_interval", with = "duration_text")]
    pub interval: Duration,
    /// Good readings in a row that count as recovered. Default 2.
    #[serde(default = "default_consecutive")]
    pub consecutive: u32,
}

fn default_deadline() -> Duration {
    Duration::from_secs(300)
}
fn default_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_consecutive() -> u32 {
    2
}

/// An SLO in a file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SloRef {
    /// The SLO file (relative to the policy file).
    pub file: String,
    /// The SLO's name in it.
    pub name: String,
    /// The window the error ratio is read over. Default `1m`.
    #[serde(default = "default_slo_window", with = "duration_text")]
    pub window: Duration,
}

fn default_slo_window() -> Duration {
    Duration::from_secs(60)
}

/// One action as written: a mapping with one key, the action's kind.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ActionSpec {
    /// An HTTP request.
    Http(HttpAction),
    /// A program run with arguments (no shell), with a timeout.
    Exec(ExecAction),
    /// A restart through `ballast supervise`.
    Restart(RestartAction),
    /// A change through the chaos proxy's API (shed or throttle at the proxy).
    Chaos(ChaosAction),
    /// A change through a `ballast-tower` admin endpoint.
    Tower(TowerAction),
    /// The seed's GC rule: set GOGC through the Go integration's admin endpoint.
    GoGc(GoGcAction),
    /// A Kubernetes action (`ballast-kube`: rollout_restart, scale, rollback,
    /// patch_configmap); checked by the healer when it loads the policy.
    Kubernetes(Value),
}

/// `http:`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    /// Default POST.
    #[serde(default = "default_method")]
    pub method: String,
    /// A template.
    pub url: String,
    /// Header values are templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A template.
    #[serde(default)]
    pub body: Option<String>,
    /// A header whose value is read from this environment variable (`Authorization`).
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// Statuses that count as success. Default: any 2xx.
    #[serde(default)]
    pub expect: Vec<u16>,
    /// Default `10s`.
    #[serde(default = "default_http_timeout", with = "duration_text")]
    pub timeout: Duration,
}

fn default_method() -> String {
    "POST".into()
}
fn default_http_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `exec:`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecAction {
    /// The program and its arguments; each a template. Never through a shell.
    pub argv: Vec<String>,
    /// Extra environment (values are templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Killed after this long. Default `30s`.
    #[serde(default = "default_exec_timeout", with = "duration_text")]
    pub timeout: Duration,
}

fn default_exec_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_restart_timeout() -> Duration {
    Duration::from_secs(60)
}

/// `restart:`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RestartAction {
    /// The supervisor's control URL (`ballast supervise --control`).
    pub supervisor: String,
    /// The supervised service's name (a template).
    pub service: String,
    /// The supervisor's token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Until the restarted service is ready again: longer than the supervisor's stop
    /// timeout and ready timeout together, or the healer would retry a restart still
    /// under way. Default `60s`.
    #[serde(default = "default_restart_timeout", with = "duration_text")]
    pub timeout: Duration,
}

/// `chaos:` — the proxy's Toxiproxy-compatible API.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChaosAction {
    /// The chaos proxy's API (`http://127.0.0.1:8474`).
    pub api: String,
    /// The proxy's name.
    pub proxy: String,
    /// Add this toxic (Toxiproxy's JSON: name, type, stream, toxicity, attributes).
    #[serde(default)]
    pub add_toxic: Option<Value>,
    /// Remove the toxic of this name.
    #[serde(default)]
    pub remove_toxic: Option<String>,
    /// Enable or disable the proxy.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Default `10s`.
    #[serde(default = "default_http_timeout", with = "duration_text")]
    pub timeout: Duration,
}

/// `tower:` — a `ballast-tower` admin endpoint.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TowerAction {
    /// The admin base URL (`http://127.0.0.1:18400/admin`).
    pub admin: String,
    /// The variable holding its token.
    pub token_env: String,
    /// A concurrency limit to force (a number), or `auto`.
    #[serde(default)]
    pub limit: Option<Value>,
    /// `force` or `auto`.
    #[serde(default)]
    pub fallback: Option<String>,
    /// A breaker to force open (`{name, state: open|auto}`).
    #[serde(default)]
    pub breaker: Option<BreakerChange>,
    /// Default `10s`.
    #[serde(default = "default_http_timeout", with = "duration_text")]
    pub timeout: Duration,
}

/// A breaker to change.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerChange {
    /// The breaker's name.
    pub name: String,
    /// `open` or `auto`.
    pub state: String,
}

/// `go_gc:` — the Go integration's `/admin/gc`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoGcAction {
    /// The admin base URL (`http://127.0.0.1:6060/admin`).
    pub admin: String,
    /// The variable holding its token.
    pub token_env: String,
    /// The GOGC percent to set (the seed raises it when GC pauses are long).
    pub percent: i32,
    /// Default `10s`.
    #[serde(default = "default_http_timeout", with = "duration_text")]
    pub timeout: Duration,
}

/// The checked policies, ready for the engine and the healer.
#[derive(Debug, Clone)]
pub struct Policies {
    /// The file as given.
    pub file: String,
    /// The receiver's address.
    pub listen: SocketAddr,
    /// Credentials.
    pub auth: Option<AuthSpec>,
    /// Resolved against the policy file's folder.
    pub state_dir: PathBuf,
    /// Audit rotation size.
    pub audit_max_bytes: u64,
    /// Rotated files kept.
    pub audit_keep: u32,
    /// Prometheus for recovery checks.
    pub prometheus: Option<url::Url>,
    /// Dedupe memory.
    pub dedupe_for: Duration,
    /// Maintenance windows.
    pub maintenance: Vec<Maintenance>,
    /// In file order.
    pub policies: Vec<Policy>,
}

/// One checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// The line it starts on, for messages.
    pub line: usize,
    /// Matchers.
    pub matcher: Matcher,
    /// The target template.
    pub target: Template,
    /// Limits.
    pub cooldown: Duration,
    /// Limits.
    pub max_actions_per_hour: u32,
    /// Limits.
    pub hold_down: Duration,
    /// Tries per action.
    pub attempts: u32,
    /// Wait between tries.
    pub retry_after: Duration,
    /// Record only.
    pub dry_run: bool,
    /// Recovery check.
    pub verify: Option<VerifyPlan>,
    /// The actions with the line each is written on.
    pub actions: Vec<(ActionSpec, usize)>,
}

/// Compiled matchers.
#[derive(Debug, Clone)]
pub struct Matcher {
    labels: BTreeMap<String, String>,
    labels_re: Vec<(String, Regex)>,
    annotations_re: Vec<(String, Regex)>,
}

impl Matcher {
    /// Whether an alert with these labels and annotations is taken.
    pub fn matches(
        &self,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self
                .labels_re
                .iter()
                .all(|(k, re)| re.is_match(labels.get(k).map_or("", String::as_str)))
            && self
                .annotations_re
                .iter()
                .all(|(k, re)| re.is_match(annotations.get(k).map_or("", String::as_str)))
    }
}

/// A checked recovery check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyPlan {
    /// The PromQL to read.
    pub query: String,
    /// Good when the value is below (`true`) or above (`false`) `bound`.
    pub below: bool,
    /// The bound.
    pub bound: f64,
    /// Where the query came from, for the audit log (`slo shop-availability`).
    pub origin: String,
    /// Give up after.
    pub deadline: Duration,
    /// Between readings.
    pub interval: Duration,
    /// Good readings in a row.
    pub consecutive: u32,
}

impl VerifyPlan {
    /// Whether a reading is good.
    pub fn good(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        if self.below {
            value < self.bound
        } else {
            value > self.bound
        }
    }
}

const TOP_LEVEL: [&str; 9] = [
    "listen",
    "auth",
    "state_dir",
    "audit",
    "dry_run",
    "prometheus",
    "dedupe_for",
    "maintenance",
    "policies",
];

impl Policies {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policies, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Policies::parse(&text, &path.display().to_string(), base)
    }

    /// Checks a policy text; `base_dir` resolves relative paths.
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Policies, Error> {
        let root = yaml::parse(text).map_err(|e| {
            Error::Invalid(vec![Diagnostic {
                file: file.into(),
                line: e.position.line,
                column: e.position.column,
                path: String::new(),
                message: e.message,
            }])
        })?;
        let value = root.to_json();
        let mut check = Check {
            file,
            root: &root,
            problems: Vec::new(),
        };
        if !value.is_object() {
            check.error(
                "",
                "expected a mapping with `policies:` (a heal policy file)",
            );
            return Err(Error::Invalid(check.problems));
        }
        let raw: PolicyFile = match yaml::deserialize_at(&root, file, "", value) {
            Ok(raw) => raw,
            Err(d) => {
                let mut d = d;
                if d.message.contains("unknown key") && d.path.split('.').count() == 1 {
                    d.message = format!(
                        "{}; expected one of {}",
                        d.message.split(';').next().unwrap_or(""),
                        TOP_LEVEL.join(", ")
                    );
                }
                return Err(Error::Invalid(vec![d]));
            }
        };
        let policies = check.policies(&raw, base_dir);
        if check.problems.is_empty() {
            Ok(policies)
        } else {
            Err(Error::Invalid(check.problems))
        }
    }
}

struct Check<'a> {
    file: &'a str,
    root: &'a Node,
    problems: Vec<Diagnostic>,
}

impl Check<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let p = self.root.locate(path);
        self.problems.push(Diagnostic {
            file: self.file.into(),
            line: p.line,
            column: p.column,
            path: path.into(),
            message: message.into(),
        });
    }

    fn line(&self, path: &str) -> usize {
        self.root.locate(path).line
    }

    fn policies(&mut self, raw: &PolicyFile, base_dir: &Path) -> Policies {
        let listen = match raw.listen.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    "listen",
                    format!(
                        "expected IP:PORT such as 127.0.0.1:9095, found {:?}",
                        raw.listen
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 9095))
            }
        };
        if !listen.ip().is_loopback() && raw.auth.is_none() {
            self.error(
                "listen",
                format!("{listen} is reachable from other machines: set `auth` (bearer_token_env or basic), or listen on 127.0.0.1"),
            );
        }
        match &raw.auth {
            Some(AuthSpec::BearerTokenEnv(v)) if v.trim().is_empty() => self.error(
                "auth.bearer_token_env",
                "expected the name of an environment variable",
            ),
            Some(AuthSpec::Basic {
                username,
                password_env,
            }) => {
                if username.is_empty() || username.contains(':') {
                    self.error("auth.basic.username", "expected a user name without `:`");
                }
                if password_env.trim().is_empty() {
                    self.error(
                        "auth.basic.password_env",
                        "expected the name of an environment variable",
                    );
                }
            }
            _ => {}
        }
        let audit_max_bytes = match ballast_core::parse_bytes(&raw.audit.max_bytes) {
            Ok(b) if b >= 4096 => b,
            Ok(_) => {
                self.error("audit.max_bytes", "expected at least 4KiB");
                64 << 20
            }
            Err(e) => {
                self.error("audit.max_bytes", e.to_string());
                64 << 20
            }
        };
        if raw.audit.keep == 0 || raw.audit.keep > 1000 {
            self.error("audit.keep", "expected 1 to 1000 rotated files");
        }
        let prometheus = raw
            .prometheus
            .as_ref()
            .and_then(|p| match url::Url::parse(p) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                _ => {
                    self.error(
                        "prometheus",
                        format!("expected an http(s) URL, found {p:?}"),
                    );
                    None
                }
            });
        if raw.dedupe_for < Duration::from_secs(60) {
            self.error(
                "dedupe_for",
                "expected at least 1m: Alertmanager resends a group every group_interval",
            );
        }
        let maintenance = raw
            .maintenance
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let path = format!("maintenance[{i}]");
                match m.check() {
                    Ok(w) => Some(w),
                    Err((field, message)) => {
                        self.error(&join_path(&path, field), message);
                        None
                    }
                }
            })
            .collect();
        if raw.policies.is_empty() {
            self.error("policies", "expected at least one policy");
        }
        for (i, m) in raw.maintenance.iter().enumerate() {
            for (j, name) in m.policies.iter().enumerate() {
                if !raw.policies.iter().any(|p| &p.name == name) {
                    let known: Vec<_> = raw.policies.iter().map(|p| p.name.as_str()).collect();
                    self.error(
                        &format!("maintenance[{i}].policies[{j}]"),
                        format!(
                            "no policy is named {name:?}; the policies are: {}",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        let mut names = BTreeMap::new();
        let mut policies = Vec::new();
        for (i, spec) in raw.policies.iter().enumerate() {
            let path = format!("policies[{i}]");
            if !ballast_contract_name(&spec.name) {
                self.error(
                    &format!("{path}.name"),
                    format!(
                        "expected a name of letters, digits, `_` and `-`, found {:?}",
                        spec.name
                    ),
                );
            }
            if let Some(first) = names.insert(spec.name.clone(), i) {
                self.error(
                    &format!("{path}.name"),
                    format!("{:?} is also the name of policies[{first}]", spec.name),
                );
            }
            if let Some(p) = self.policy(spec, &path, raw, base_dir, prometheus.is_some()) {
                policies.push(p);
            }
        }
        Policies {
            file: self.file.into(),
            listen,
            auth: raw.auth.clone(),
            state_dir: base_dir.join(&raw.state_dir),
            audit_max_bytes,
            audit_keep: raw.audit.keep,
            prometheus,
            dedupe_for: raw.dedupe_for,
            maintenance,
            policies,
        }
    }

    fn policy(
        &mut self,
        spec: &PolicySpec,
        path: &str,
        raw: &PolicyFile,
        base_dir: &Path,
        has_prometheus: bool,
    ) -> Option<Policy> {
        let before = self.problems.len();
        let m = &spec.matcher;
        if m.labels.is_empty() && m.labels_re.is_empty() && m.annotations_re.is_empty() {
            self.error(&format!("{path}.match"), "a policy with no matcher would act on every alert; expected labels (e.g. alertname), labels_re or annotations_re");
        }
        let regexes = |check: &mut Self, map: &BTreeMap<String, String>, field: &str| {
            map.iter()
                .filter_map(|(k, re)| match Regex::new(&format!("^(?:{re})$")) {
                    Ok(r) => Some((k.clone(), r)),
                    Err(e) => {
                        check.error(
                            &format!("{path}.match.{field}.{k}"),
                            format!("not a regular expression: {e}"),
                        );
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let labels_re = regexes(self, &m.labels_re, "labels_re");
        let annotations_re = regexes(self, &m.annotations_re, "annotations_re");
        let target_text = spec.target.clone().unwrap_or_else(|| spec.name.clone());
        let target = match Template::parse(&target_text) {
            Ok(t) => t,
            Err(e) => {
                self.error(&format!("{path}.target"), e);
                Template::parse("").ok()?
            }
        };
        if spec.max_actions_per_hour == 0 {
            self.error(&format!("{path}.max_actions_per_hour"), "expected at least 1 (a policy that may never act is a mistake; use dry_run to watch)");
        }
        if spec.attempts == 0 || spec.attempts > 10 {
            self.error(
                &format!("{path}.attempts"),
                "expected 1 to 10 tries per action",
            );
        }
        if spec.actions.is_empty() {
            self.error(&format!("{path}.actions"), "expected at least one action");
        }
        if spec.actions.len() > 20 {
            self.error(&format!("{path}.actions"), "expected at most 20 actions");
        }
        let verify = spec
            .verify
            .as_ref()
            .and_then(|v| self.verify(v, &format!("{path}.verify"), base_dir, has_prometheus));
        let mut actions = Vec::new();
        for (j, action) in spec.actions.iter().enumerate() {
            let apath = format!("{path}.actions[{j}]");
            self.action(action, &apath);
            actions.push((action.clone(), self.line(&apath)));
        }
        (self.problems.len() == before).then(|| Policy {
            name: spec.name.clone(),
            line: self.line(path),
            matcher: Matcher {
                labels: m.labels.clone(),
                labels_re,
                annotations_re,
            },
            target,
            cooldown: spec.cooldown,
            max_actions_per_hour: spec.max_actions_per_hour,
            hold_down: spec.hold_down,
            attempts: spec.attempts,
            retry_after: spec.retry_after,
            dry_run: spec.dry_run.unwrap_or(raw.dry_run),
            verify,
            actions,
        })
    }

    fn verify(
        &mut self,
        v: &VerifySpec,
        path: &str,
        base_dir: &Path,
        has_prometheus: bool,
    ) -> Option<VerifyPlan> {
        if !has_prometheus {
            self.error(
                path,
                "recovery is checked with PromQL: set the file's `prometheus:` URL",
            );
        }
        if v.consecutive == 0 {
            self.error(
                &format!("{path}.consecutive"),
                "expected at least 1 good reading",
            );
        }
        if v.interval.is_zero() || v.interval > v.deadline {
            self.error(
                &format!("{path}.interval"),
                "expected more than 0 and at most the deadline",
            );
        }
        let (query, below, bound, origin) = match (&v.query, &v.slo) {
            (Some(q), None) => {
                if let Err(e) = promql_parser::parser::parse(q) {
                    self.error(&format!("{path}.query"), format!("not PromQL: {e}"));
                }
                match (v.below, v.above) {
                    (Some(b), None) if b.is_finite() => (q.clone(), true, b, "query".to_string()),
                    (None, Some(a)) if a.is_finite() => (q.clone(), false, a, "query".to_string()),
                    _ => {
                        self.error(
                            path,
                            "expected exactly one of below or above (a finite number) with query",
                        );
                        return None;
                    }
                }
            }
            (None, Some(slo)) => {
                if v.below.is_some() || v.above.is_some() {
                    self.error(
                        path,
                        "below/above go with query; an SLO's bound is its objective",
                    );
                }
                let file = base_dir.join(&slo.file);
                let slos = match ballast_slo::load_file(&file) {
                    Ok(s) => s,
                    Err(e) => {
                        self.error(&format!("{path}.slo.file"), format!("{e}"));
                        return None;
                    }
                };
                let Some(found) = slos.iter().find(|s| s.name == slo.name) else {
                    let names: Vec<_> = slos.iter().map(|s| s.name.as_str()).collect();
                    self.error(
                        &format!("{path}.slo.name"),
                        format!(
                            "no SLO {:?} in {}; it has: {}",
                            slo.name,
                            file.display(),
                            names.join(", ")
                        ),
                    );
                    return None;
                };
                let Some(q) = ballast_slo::promql::error_ratio(&found.sli, slo.window) else {
                    self.error(&format!("{path}.slo.name"), "this SLO is judged from a verify report, not from Prometheus; it cannot check recovery");
                    return None;
                };
                (
                    q,
                    true,
                    1.0 - found.objective + 1e-12,
                    format!("slo {} ({})", found.name, file.display()),
                )
            }
            _ => {
                self.error(
                    path,
                    "expected exactly one of query (with below/above) or slo",
                );
                return None;
            }
        };
        Some(VerifyPlan {
            query,
            below,
            bound,
            origin,
            deadline: v.deadline,
            interval: v.interval,
            consecutive: v.consecutive.max(1),
        })
    }

    fn action(&mut self, action: &ActionSpec, path: &str) {
        let templates = |check: &mut Self, field: &str, text: &str| {
            if let Err(e) = Template::parse(text) {
                check.error(&format!("{path}.{field}"), e);
            }
        };
        let url = |check: &mut Self, field: &str, text: &str| {
            // A template may fill the host; check the shape once filled with a dummy.
            let probe = text.replace("{{", "").replace("}}", "");
            if Template::parse(text).is_err()
                || !(probe.starts_with("http://") || probe.starts_with("https://"))
            {
                check.error(
                    &format!("{path}.{field}"),
                    format!("expected an http:// or https:// URL, found {text:?}"),
                );
            }
        };
        let env_name = |check: &mut Self, field: &str, name: &str| {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                check.error(
                    &format!("{path}.{field}"),
                    format!("expected an environment variable's name, found {name:?}"),
                );
            }
        };
        match action {
            ActionSpec::Http(h) => {
                let p = "http";
                // The path and query may carry the alert's values; the scheme and host only
                // when no token goes with the request.
                let origin_end = h.url.find("://").map(|i| i + 3).and_then(|start| {
                    h.url[start..]
                        .find(['/', '?', '#'])
                        .map(|j| start + j)
                        .or(Some(h.url.len()))
                });
                let origin = origin_end.map_or(h.url.as_str(), |e| &h.url[..e]);
                if let Err(e) = Template::parse(&h.url) {
                    self.error(&format!("{path}.{p}.url"), e);
                } else if origin.contains("{{")
                    && (h.bearer_token_env.is_some() || !h.headers.is_empty())
                {
                    self.error(&format!("{path}.{p}.url"), "the host is filled from the alert and the request carries a token or headers: write the host out, so that labels cannot send them elsewhere");
                } else if !origin.contains("{{") {
                    let probe = h.url.replace("{{", "").replace("}}", "");
                    if !matches!(url::Url::parse(&probe), Ok(u) if matches!(u.scheme(), "http" | "https"))
                    {
                        self.error(
                            &format!("{path}.{p}.url"),
                            format!("expected an http:// or https:// URL, found {:?}", h.url),
                        );
                    }
                }
                if http_method(&h.method).is_none() {
                    self.error(
                        &format!("{path}.{p}.method"),
                        format!(
                            "expected GET, POST, PUT, PATCH or DELETE, found {:?}",
                            h.method
                        ),
                    );
                }
                for (k, v) in &h.headers {
                    templates(self, &format!("{p}.headers.{k}"), v);
                }
                if let Some(b) = &h.body {
                    templates(self, &format!("{p}.body"), b);
                }
                if let Some(e) = &h.bearer_token_env {
                    env_name(self, &format!("{p}.bearer_token_env"), e);
                }
                if h.expect.iter().any(|s| !(100..=599).contains(s)) {
                    self.error(
                        &format!("{path}.{p}.expect"),
                        "expected HTTP statuses (100 to 599)",
                    );
                }
            }
            ActionSpec::Exec(e) => {
                if e.argv.is_empty() || e.argv[0].trim().is_empty() {
                    self.error(
                        &format!("{path}.exec.argv"),
                        "expected the program and its arguments, e.g. [systemctl, restart, shop]",
                    );
                }
                if e.argv.first().is_some_and(|p| {
                    matches!(p.rsplit('/').next(), Some("sh" | "bash" | "zsh" | "dash"))
                }) {
                    self.error(
                        &format!("{path}.exec.argv"),
                        "actions never go through a shell: name the program itself",
                    );
                }
                if e.argv.first().is_some_and(|p| p.contains("{{")) {
                    self.error(
                        &format!("{path}.exec.argv[0]"),
                        "the program is written out: an alert's labels never choose what runs",
                    );
                }
                for (k, a) in e.argv.iter().enumerate() {
                    templates(self, &format!("exec.argv[{k}]"), a);
                }
                for (k, v) in &e.env {
                    templates(self, &format!("exec.env.{k}"), v);
                }
            }
            ActionSpec::Restart(r) => {
                url(self, "restart.supervisor", &r.supervisor);
                templates(self, "restart.service", &r.service);
                if let Some(t) = &r.token_env {
                    env_name(self, "restart.token_env", t);
                }
            }
            ActionSpec::Chaos(c) => {
                url(self, "chaos.api", &c.api);
                let given = [
                    c.add_toxic.is_some(),
                    c.remove_toxic.is_some(),
                    c.enabled.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if given != 1 {
                    self.error(
                        &format!("{path}.chaos"),
                        "expected exactly one of add_toxic, remove_toxic or enabled",
                    );
                }
                if let Some(t) = &c.add_toxic {
                    if t.get("type").and_then(Value::as_str).is_none() {
                        self.error(&format!("{path}.chaos.add_toxic"), "expected a toxic with a `type` (Toxiproxy's JSON: name, type, stream, toxicity, attributes)");
                    }
                }
            }
            ActionSpec::Tower(t) => {
                url(self, "tower.admin", &t.admin);
                env_name(self, "tower.token_env", &t.token_env);
                if t.limit.is_none() && t.fallback.is_none() && t.breaker.is_none() {
                    self.error(
                        &format!("{path}.tower"),
                        "expected at least one of limit, fallback or breaker",
                    );
                }
                match &t.limit {
                    None => {}
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {}
                    Some(Value::String(s)) if s == "auto" => {}
                    Some(other) => self.error(
                        &format!("{path}.tower.limit"),
                        format!("expected a limit of at least 1, or auto, found {other}"),
                    ),
                }
                if let Some(f) = &t.fallback {
                    if f != "force" && f != "auto" {
                        self.error(
                            &format!("{path}.tower.fallback"),
                            format!("expected force or auto, found {f:?}"),
                        );
                    }
                }
                if let Some(b) = &t.breaker {
                    if b.state != "open" && b.state != "auto" {
                        self.error(
                            &format!("{path}.tower.breaker.state"),
                            format!("expected open or auto, found {:?}", b.state),
                        );
                    }
                }
            }
            ActionSpec::GoGc(g) => {
                url(self, "go_gc.admin", &g.admin);
                env_name(self, "go_gc.token_env", &g.token_env);
                if g.percent < -1 || g.percent == 0 {
                    self.error(
                        &format!("{path}.go_gc.percent"),
                        "expected a GOGC percent of at least 1, or -1 (off)",
                    );
                }
            }
            ActionSpec::Kubernetes(v) => {
                if !v.is_object() {
                    self.error(&format!("{path}.kubernetes"), "expected one of rollout_restart, scale, rollback, patch_configmap with its fields");
                }
            }
        }
    }
}

/// The HTTP methods an action may use.
pub fn http_method(m: &str) -> Option<&'static str> {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .find(|x| x.eq_ignore_ascii_case(m))
}

fn ballast_contract_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl ActionSpec {
    /// The action's kind, as written.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionSpec::Http(_) => "http",
            ActionSpec::Exec(_) => "exec",
            ActionSpec::Restart(_) => "restart",
            ActionSpec::Chaos(_) => "chaos",
            ActionSpec::Tower(_) => "tower",
            ActionSpec::GoGc(_) => "go_gc",
            ActionSpec::Kubernetes(_) => "kubernetes",
        }
    }
}

impl Policies {
    /// The first policy that takes an alert with these labels and annotations.
    pub fn find(
        &self,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.matcher.matches(labels, annotations))
    }

    /// The line of the action `index` of `policy`, for errors found when the healer
    /// builds it (Kubernetes actions).
    pub fn diagnostic(&self, line: usize, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line,
            column: 1,
            path: path.into(),
            message: message.into(),
        }
    }
}
