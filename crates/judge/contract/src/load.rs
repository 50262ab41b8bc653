//! Reading a contract: YAML → structure → every value and name checked, all problems
//! collected with their positions before anything runs.

use crate::error::{Diagnostic, Error};
use crate::expr::{self, CheckContext};
use crate::model::*;
use crate::plan::*;
use crate::yaml::{self, Node, NodeKind, Position};
use ballast_core::{parse_duration, RateSpec};
use ballast_spec::template::{CsvTable, Template};
use ballast_spec::{RequestTemplate, TemplateBody};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::Duration;

const TOP_LEVEL: [&str; 9] = [
    "name",
    "description",
    "target",
    "requests",
    "chaos",
    "phases",
    "clauses",
    "slos",
    "dns",
];
const TOXICS: [&str; 11] = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "down",
    "http_delay",
    "http_abort",
    "noop",
];

pub(crate) struct Checker<'a> {
    file: &'a str,
    root: &'a Node,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// The line `path` is written on.
    pub(crate) fn line(&self, path: &str) -> usize {
        self.root.locate(path).line
    }

    fn at(&mut self, position: Position, path: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.file.to_string(),
            line: position.line,
            column: position.column,
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        let position = self.root.locate(path);
        self.at(position, path, message);
    }

    /// Deserializes the node at `path` into `T`, reporting a structural problem with its
    /// exact position (serde stops at the first problem inside one item).
    fn structure<T: DeserializeOwned>(
        &mut self,
        path: &str,
        value: serde_json::Value,
    ) -> Option<T> {
        match yaml::deserialize_at(self.root, self.file, path, value) {
            Ok(v) => Some(v),
            Err(d) => {
                self.diagnostics.push(d);
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, path: &str, text: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(path, format!("{e}"));
                None
            }
        }
    }
}

pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Contract {
    /// Reads and checks the contract at `path`.
    pub fn load(path: &Path) -> Result<Contract, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Contract::parse(&text, &path.display().to_string(), base)
    }

    /// Checks contract `text`; `file` names it in messages, `base_dir` resolves relative
    /// paths (bodies, CSV files, the spawned command's directory).
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Contract, Error> {
        Contract::parse_with_vars(text, file, base_dir, &|name| std::env::var(name).ok())
    }

    /// [`parse`](Contract::parse) with `${VAR}` read from `vars` instead of the
    /// environment (so a program can fill in ports without touching its environment).
    pub fn parse_with_vars(
        text: &str,
        file: &str,
        base_dir: &Path,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Contract, Error> {
        let expanded = crate::env::expand(text, file, vars).map_err(Error::Invalid)?;
        let text = expanded.as_str();
        let root =
            yaml::parse(text).map_err(|e| Error::Invalid(vec![Diagnostic::syntax(file, &e)]))?;
        let mut c = Checker {
            file,
            root: &root,
            diagnostics: Vec::new(),
        };
        let entries = match &root.kind {
            NodeKind::Map(entries) => entries.clone(),
            _ => {
                c.at(
                    root.position,
                    "",
                    "expected a mapping with target, phases and clauses",
                );
                return Err(Error::Invalid(c.diagnostics));
            }
        };
        for (key, position, _) in &entries {
            if !TOP_LEVEL.contains(&key.as_str()) {
                c.at(
                    *position,
                    key,
                    format!(
                        "unknown key `{key}`; expected one of {}",
                        TOP_LEVEL.join(", ")
                    ),
                );
            }
        }
        let section = |name: &str| {
            entries
                .iter()
                .find(|(k, _, _)| k == name)
                .map(|(_, _, v)| v)
        };
        let list = |c: &mut Checker<'_>, name: &str| -> Vec<serde_json::Value> {
            match section(name).map(|n| n.to_json()) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(items)) => items,
                Some(_) => {
                    c.error(name, "expected a list (items start with '- ')");
                    Vec::new()
                }
            }
        };
        let name = match section("name").map(|n| n.to_json()) {
            Some(serde_json::Value::String(s)) => Some(s),
            None => None,
            Some(_) => {
                c.error("name", "expected text");
                None
            }
        };
        let description = section("description")
            .map(|n| n.to_json())
            .and_then(|v| v.as_str().map(str::to_string));
        let target: Option<TargetSpec> = match section("target") {
            Some(node) => c.structure("target", node.to_json()),
            None => {
                c.at(
                    root.position,
                    "target",
                    "missing key `target` (the service under test, with base_url)",
                );
                None
            }
        };
        let requests: Vec<Option<RequestSpec>> = list(&mut c, "requests")
            .into_iter()
            .enumerate()
            .map(|(i, v)| c.structure(&format!("requests[{i}]"), v))
            .collect();
        if section("phases").is_none() {
            c.at(
                root.position,
                "phases",
                "missing key `phases` (at least one load phase)",
            );
        }
        let phases: Vec<Option<PhaseSpec>> = list(&mut c, "phases")
            .into_iter()
            .enumerate()
            .map(|(i, v)| c.structure(&format!("phases[{i}]"), v))
            .collect();
        // An empty list, or a key with nothing after it (`phases:`), holds no phase; any
        // other shape was reported by `list` already.
        let empty_phases = section("phases")
            .is_some_and(|n| matches!(n.kind, NodeKind::Seq(_)) || n.to_json().is_null());
        if empty_phases && phases.is_empty() {
            c.error("phases", "expected at least one phase");
        }
        let clauses: Vec<Option<ClauseSpec>> = list(&mut c, "clauses")
            .into_iter()
            .enumerate()
            .map(|(i, v)| c.structure(&format!("clauses[{i}]"), v))
            .collect();
        let slos: Vec<Option<SloSpec>> = list(&mut c, "slos")
            .into_iter()
            .enumerate()
            .map(|(i, v)| c.structure(&format!("slos[{i}]"), v))
            .collect();

        let target_plan = target
            .as_ref()
            .and_then(|t| check_target(&mut c, t, base_dir));
        let request_templates = check_requests(&mut c, &requests, base_dir);
        let request_names: Vec<String> =
            requests.iter().flatten().map(|r| r.name.clone()).collect();
        let chaos_setup: Option<ChaosSetupSpec> = match section("chaos") {
            Some(node) if !node.to_json().is_null() => c.structure("chaos", node.to_json()),
            _ => None,
        };
        let chaos_plan = chaos_setup
            .as_ref()
            .and_then(|s| check_chaos_setup(&mut c, s));
        let proxies = match &chaos_setup {
            None => Proxies::Missing,
            Some(s) if s.api.is_some() => Proxies::Remote,
            Some(s) => Proxies::Known(s.proxies.iter().map(|p| p.name.clone()).collect()),
        };
        let dns_setup: Option<crate::faults::DnsSetupSpec> = match section("dns") {
            Some(node) if !node.to_json().is_null() => c.structure("dns", node.to_json()),
            _ => None,
        };
        let dns_plans = dns_setup
            .as_ref()
            .map(|d| crate::faults::check::check_dns(&mut c, d))
            .unwrap_or_default();
        let dns_names: Vec<String> = dns_setup
            .iter()
            .flat_map(|d| d.servers.iter().map(|s| s.name.clone()))
            .collect();
        let fault_context = crate::faults::check::FaultContext {
            spawned: target.as_ref().is_some_and(|t| t.spawn.is_some()),
            watched: target.as_ref().is_some_and(|t| t.process.is_some()),
            watched_pid: target
                .as_ref()
                .and_then(|t| t.process.as_ref())
                .and_then(|p| p.pid),
            cgroup_allowed: target
                .as_ref()
                .and_then(|t| t.spawn.as_ref())
                .is_none_or(|s| s.cgroup != Some(false)),
            dns_servers: &dns_names,
            base_dir,
        };
        let base_url = target
            .as_ref()
            .map_or("", |t| t.base_url.trim_end_matches('/'));
        let phase_plans = check_phases(
            &mut c,
            &phases,
            &request_names,
            &proxies,
            &fault_context,
            base_url,
        );
        // Names come from the raw items, so that one broken phase does not make every
        // clause that mentions it look wrong too.
        let phase_names: Vec<String> = list(
            &mut Checker {
                file,
                root: &root,
                diagnostics: Vec::new(),
            },
            "phases",
        )
        .iter()
        .filter_map(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
        let profiled: Vec<(String, Vec<crate::profile::ProfileKind>)> = phase_plans
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.profile.as_ref()?.kinds.clone())))
            .collect();
        let ctx = CheckContext {
            phases: &phase_names,
            requests: &request_names,
            has_metrics: target.as_ref().is_some_and(|t| t.metrics.is_some()),
            has_process: target
                .as_ref()
                .is_some_and(|t| t.spawn.is_some() || t.process.is_some()),
            profiles: &profiled,
            clause_phase: None,
        };
        let clause_plans = check_clauses(&mut c, &clauses, &ctx);
        let slo_plans = check_slos(&mut c, &slos, &request_names);

        if !c.diagnostics.is_empty() {
            c.diagnostics.sort_by_key(|d| (d.line, d.column));
            return Err(Error::Invalid(c.diagnostics));
        }
        let file_model = ContractFile {
            name: name.clone(),
            description,
            target: target.expect("checked above"),
            requests: requests.into_iter().flatten().collect(),
            chaos: chaos_setup,
            phases: phases.into_iter().flatten().collect(),
            clauses: clauses.into_iter().flatten().collect(),
            slos: slos.into_iter().flatten().collect(),
            dns: dns_setup,
        };
        let default_name = Path::new(file)
            .file_stem()
            .map_or("contract".into(), |s| s.to_string_lossy().into_owned());
        Ok(Contract {
            name: name.unwrap_or(default_name),
            source: file.to_string(),
            file: file_model,
            target: target_plan.expect("checked above"),
            requests: request_templates,
            chaos: chaos_plan,
            phases: phase_plans,
            clauses: clause_plans,
            slos: slo_plans,
            dns: dns_plans,
        })
    }
}

fn check_target(c: &mut Checker<'_>, t: &TargetSpec, base_dir: &Path) -> Option<TargetPlan> {
    let mut ok = true;
    match ballast_spec::Target::parse(&t.base_url) {
        Ok(parsed) if parsed.path_and_query.contains('?') => {
            c.error(
                "target.base_url",
                "expected a base URL without a query; put queries in requests[].path",
            );
            ok = false;
        }
        Ok(_) => {}
        Err(e) => {
            c.error(
                "target.base_url",
                e.to_string()
                    .replacen("URL ", "expected an http:// or https:// URL; ", 1),
            );
            ok = false;
        }
    }
    if let Some(metrics) = &t.metrics {
        if let Err(e) = ballast_spec::Target::parse(metrics) {
            c.error(
                "target.metrics",
                format!("expected the URL of a Prometheus /metrics page; {e}"),
            );
            ok = false;
        }
    }
    if let Some(p) = &t.process {
        if p.pid.is_none() == p.name.is_none() {
            c.error("target.process", "expected exactly one of pid or name");
            ok = false;
        } else if p.pid.is_some() && t.spawn.is_some() {
            c.error(
                "target.process.pid",
                "with target.spawn the spawned process is watched; name the server inside it with process.name instead",
            );
            ok = false;
        }
    }
    if t.connections.is_some_and(|n| n == 0 || n > 10_000) {
        c.error("target.connections", "expected 1..=10000");
        ok = false;
    }
    let timeout = match &t.timeout {
        Some(text) => c.duration("target.timeout", text).filter(|d| !d.is_zero()),
        None => Some(Duration::from_secs(2)),
    };
    let spawn = match &t.spawn {
        None => None,
        Some(s) => {
            if s.command.trim().is_empty() {
                c.error("target.spawn.command", "expected a program to run");
                ok = false;
            }
            let ready = s.ready.clone().unwrap_or(ReadySpec {
                http: None,
                tcp: None,
                timeout: None,
            });
            if ready.http.is_some() && ready.tcp.is_some() {
                c.error(
                    "target.spawn.ready",
                    "expected one of http or tcp, not both",
                );
                ok = false;
            }
            if ready.http.as_ref().is_some_and(|p| !p.starts_with('/')) {
                c.error(
                    "target.spawn.ready.http",
                    "expected a path starting with '/', e.g. /healthz",
                );
                ok = false;
            }
            let ready_timeout = match &ready.timeout {
                Some(text) => c.duration("target.spawn.ready.timeout", text),
                None => Some(Duration::from_secs(30)),
            };
            let cwd = match &s.cwd {
                Some(dir) => base_dir.join(dir),
                None => base_dir.to_path_buf(),
            };
            let restart = match &s.restart {
                None => Some(None),
                Some(r) => crate::faults::check::check_restart(c, r).map(Some),
            };
            ok &= restart.is_some();
            ready_timeout.map(|timeout| SpawnPlan {
                restart: restart.flatten(),
                cgroup: s.cgroup,
                command: s.command.clone(),
                args: s.args.clone(),
                env: s.env.clone(),
                cwd,
                ready: ReadyPlan {
                    http: ready.http.clone(),
                    tcp: ready.tcp,
                    timeout,
                },
            })
        }
    };
    if !ok || timeout.is_none() || (t.spawn.is_some() && spawn.is_none()) {
        return None;
    }
    Some(TargetPlan {
        base_url: t.base_url.trim_end_matches('/').to_string(),
        spawn,
        metrics: t.metrics.clone(),
        process: t.process.clone(),
        connections: t.connections.unwrap_or(32),
        timeout: timeout?,
    })
}

fn check_requests(
    c: &mut Checker<'_>,
    requests: &[Option<RequestSpec>],
    base_dir: &Path,
) -> Vec<RequestTemplate> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (i, spec) in requests.iter().enumerate() {
        let Some(r) = spec else { continue };
        let path = format!("requests[{i}]");
        if !is_name(&r.name) {
            c.error(
                &format!("{path}.name"),
                format!(
                    "expected a name of letters, digits, _ and -, got {:?}",
                    r.name
                ),
            );
        } else if seen.contains(&r.name) {
            c.error(
                &format!("{path}.name"),
                format!("duplicate request name {:?}", r.name),
            );
        }
        seen.push(r.name.clone());
        if r.weight == Some(0) {
            c.error(&format!("{path}.weight"), "expected a weight of 1 or more");
        }
        if !r.path.starts_with('/') {
            c.error(
                &format!("{path}.path"),
                format!("expected a path starting with '/', got {:?}", r.path),
            );
        }
        let mut templates = vec![(format!("{path}.path"), r.path.clone())];
        templates.extend(
            r.headers
                .iter()
                .map(|(k, v)| (format!("{path}.headers.{k}"), v.clone())),
        );
        let body = match &r.body {
            None => TemplateBody::None,
            Some(BodySpec::Text(text)) => {
                templates.push((format!("{path}.body"), text.clone()));
                TemplateBody::Text(text.clone())
            }
            Some(BodySpec::Json { json }) => {
                let text = json.to_string();
                templates.push((format!("{path}.body.json"), text.clone()));
                TemplateBody::Text(text)
            }
            Some(BodySpec::File { file }) => match std::fs::read(base_dir.join(file)) {
                Ok(bytes) => TemplateBody::Bytes(bytes),
                Err(e) => {
                    c.error(
                        &format!("{path}.body.file"),
                        format!("cannot read {}: {e}", base_dir.join(file).display()),
                    );
                    TemplateBody::None
                }
            },
        };
        let csv = r.csv.as_ref().and_then(|file| {
            let full = base_dir.join(file);
            match std::fs::read_to_string(&full)
                .map_err(|e| e.to_string())
                .and_then(|t| CsvTable::parse(&t))
            {
                Ok(table) => Some(table),
                Err(e) => {
                    c.error(&format!("{path}.csv"), format!("{}: {e}", full.display()));
                    None
                }
            }
        });
        for (field, text) in &templates {
            match Template::parse(text) {
                Err(e) => c.error(field, e),
                Ok(t) => {
                    for column in t.csv_columns() {
                        match &csv {
                            None if r.csv.is_none() => c.error(
                                field,
                                format!("{{{{csv.{column}}}}} needs `csv: FILE` on the request"),
                            ),
                            Some(table) if !table.columns().iter().any(|c| c == column) => c.error(
                                field,
                                format!(
                                    "the CSV file has no column {column:?}; it has {}",
                                    table.columns().join(", ")
                                ),
                            ),
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(codes) = &r.expect {
            if codes.is_empty() || codes.iter().any(|s| !(100..600).contains(s)) {
                c.error(
                    &format!("{path}.expect"),
                    format!("expected status codes 100–599, got {codes:?}"),
                );
            }
        }
        let method = r.method.clone().unwrap_or_else(|| "GET".into());
        if !method.chars().all(|ch| ch.is_ascii_uppercase()) || method.is_empty() {
            c.error(
                &format!("{path}.method"),
                format!("expected an HTTP method in capitals like GET or POST, got {method:?}"),
            );
        }
        out.push(RequestTemplate {
            name: r.name.clone(),
            weight: r.weight.unwrap_or(1),
            method,
            path: r.path.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body,
            expect: r.expect.clone(),
            csv,
        });
    }
    out
}

/// What `phases[].chaos[].proxy` may name.
enum Proxies {
    /// No `chaos:` section: a phase with faults has nowhere to put them.
    Missing,
    /// A running server: its proxies are only known at run time.
    Remote,
    /// The embedded server's proxies.
    Known(Vec<String>),
}

fn check_chaos_setup(c: &mut Checker<'_>, s: &ChaosSetupSpec) -> Option<ChaosPlan> {
    let mut ok = true;
    if let Some(api) = &s.api {
        if let Err(e) = ballast_spec::Target::parse(api) {
            c.error(
                "chaos.api",
                format!("expected the URL of a chaos API, e.g. http://127.0.0.1:8474; {e}"),
            );
            ok = false;
        }
    } else if s.proxies.is_empty() {
        c.error(
            "chaos",
            "expected proxies (started by verify) or api (a running chaos server)",
        );
        ok = false;
    }
    let mut proxies = Vec::new();
    let mut seen = Vec::new();
    for (i, p) in s.proxies.iter().enumerate() {
        let path = format!("chaos.proxies[{i}]");
        if seen.contains(&p.name) {
            c.error(
                &format!("{path}.name"),
                format!("duplicate proxy name {:?}", p.name),
            );
            ok = false;
        }
        seen.push(p.name.clone());
        for (field, addr) in [("listen", &p.listen), ("upstream", &p.upstream)] {
            if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
                c.error(
                    &format!("{path}.{field}"),
                    format!("expected host:port, e.g. 127.0.0.1:16379, got {addr:?}"),
                );
                ok = false;
            }
        }
        let mut config =
            crate::plan::ProxyPlan::new(p.name.clone(), p.listen.clone(), p.upstream.clone());
        config.http = p.http;
        proxies.push(config);
    }
    ok.then(|| ChaosPlan {
        api: s.api.clone(),
        token: s.token.clone(),
        proxies,
    })
}

/// The facts an `abort_when` can read live, once a second.
fn check_abort(expr: &crate::expr::Expr) -> Result<(), String> {
    use crate::expr::{Aggregate, Expr, FactKind, LatencyStat};
    match expr {
        Expr::Fact(f) => {
            if f.scope.phase.is_some() || f.scope.request.is_some() {
                return Err(
                    "abort_when reads the current phase only; drop the phase or request scope"
                        .into(),
                );
            }
            match &f.kind {
                FactKind::Latency(LatencyStat::Quantile(q)) if (*q - 0.99).abs() < 1e-9 => Ok(()),
                FactKind::Rps | FactKind::ErrorRate | FactKind::Requests | FactKind::Errors => Ok(()),
                FactKind::Metric { aggregate: Aggregate::Last | Aggregate::Rate, .. } => Ok(()),
                _ => Err(format!(
                    "{f} is not measured live; abort_when can read p99, rps, error_rate, requests, errors and metric(…).last or .rate"
                )),
            }
        }
        Expr::Neg(e) | Expr::Not(e) => check_abort(e),
        Expr::Binary(_, a, b) => check_abort(a).and(check_abort(b)),
        Expr::Number(..) | Expr::Bool(_) => Ok(()),
    }
}

fn check_phases(
    c: &mut Checker<'_>,
    phases: &[Option<PhaseSpec>],
    request_names: &[String],
    proxies: &Proxies,
    fault_context: &crate::faults::check::FaultContext<'_>,
    base_url: &str,
) -> Vec<PhasePlan> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, spec) in phases.iter().enumerate() {
        let Some(p) = spec else { continue };
        let path = format!("phases[{i}]");
        if !is_name(&p.name) {
            c.error(&format!("{path}.name"), format!("expected a name of letters, digits, _ and - (clauses refer to it as NAME.p95), got {:?}", p.name));
        } else if seen.contains(&p.name.as_str()) {
            c.error(
                &format!("{path}.name"),
                format!("duplicate phase name {:?}", p.name),
            );
        } else if crate::expr::RESERVED.contains(&p.name.as_str()) {
            c.error(
                &format!("{path}.name"),
                format!(
                    "{:?} is a word of the clause language; pick another name",
                    p.name
                ),
            );
        }
        seen.push(&p.name);
        // A bare number is refused in contracts: "500" could mean per second or per
        // minute, and contracts are read by people who did not write them.
        let bare_number = p.rate.trim().parse::<f64>().is_ok();
        let rate = match p.rate.parse::<RateSpec>() {
            Ok(r) if !bare_number => Some(r),
            _ => {
                let hint = if bare_number {
                    format!(" (did you mean \"{}/s\"?)", p.rate.trim())
                } else {
                    String::new()
                };
                c.error(
                    &format!("{path}.rate"),
                    format!("expected a rate like \"500/s\" or a ramp \"100/s..2000/s\", found {:?}{hint}", p.rate),
                );
                None
            }
        };
        let duration = c.duration(&format!("{path}.duration"), &p.duration);
        if duration.is_some_and(|d| d.is_zero()) {
            c.error(
                &format!("{path}.duration"),
                "expected a duration above zero",
            );
        }
        let warmup = match &p.warmup {
            Some(text) => c.duration(&format!("{path}.warmup"), text),
            None => Some(Duration::ZERO),
        };
        let mut toxics = Vec::new();
        let mut indexes = Vec::new();
        match &p.requests {
            None => indexes.extend(0..request_names.len().max(1)),
            Some(names) => {
                for (j, name) in names.iter().enumerate() {
                    match request_names.iter().position(|r| r == name) {
                        Some(k) => indexes.push(k),
                        None => c.error(
                            &format!("{path}.requests[{j}]"),
                            format!(
                                "unknown request {name:?}; the requests are: {}",
                                request_names.join(", ")
                            ),
                        ),
                    }
                }
            }
        }
        for (j, chaos) in p.chaos.iter().enumerate() {
            let cpath = format!("{path}.chaos[{j}]");
            if !TOXICS.contains(&chaos.toxic.as_str()) {
                c.error(
                    &format!("{cpath}.toxic"),
                    format!(
                        "unknown toxic {:?}; expected one of {}",
                        chaos.toxic,
                        TOXICS.join(", ")
                    ),
                );
            }
            if let Some(stream) = &chaos.stream {
                if stream != "upstream" && stream != "downstream" {
                    c.error(
                        &format!("{cpath}.stream"),
                        format!("expected upstream or downstream, got {stream:?}"),
                    );
                }
            }
            if chaos.toxicity.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                c.error(
                    &format!("{cpath}.toxicity"),
                    "expected a share between 0 and 1",
                );
            }
            if chaos.proxy.trim().is_empty() {
                c.error(
                    &format!("{cpath}.proxy"),
                    "expected the name of a proxied dependency",
                );
            }
            match proxies {
                Proxies::Missing => c.error(
                    &format!("{cpath}.proxy"),
                    "faults need a top-level chaos: section (proxies to start, or the api of a running chaos server)",
                ),
                Proxies::Known(names) if !names.contains(&chaos.proxy) => c.error(
                    &format!("{cpath}.proxy"),
                    format!("unknown proxy {:?}; chaos.proxies are: {}", chaos.proxy, names.join(", ")),
                ),
                _ => {}
            }
            if chaos.toxic == "down" || !TOXICS.contains(&chaos.toxic.as_str()) {
                continue;
            }
            // The chaos proxy's own parser checks the attributes, so a contract and the
            // API accept exactly the same toxics.
            let mut json = serde_json::json!({
                "name": format!("ballast-{}-{j}", p.name),
                "type": chaos.toxic,
                "attributes": chaos.attributes,
            });
            if let Some(stream) = &chaos.stream {
                json["stream"] = serde_json::json!(stream);
            }
            if let Some(t) = chaos.toxicity {
                json["toxicity"] = serde_json::json!(t);
            }
            match ballast_spec::Toxic::from_json(&json, true) {
                Ok(toxic) => toxics.push((chaos.proxy.clone(), toxic)),
                Err(e) => c.error(&format!("{cpath}.attributes"), e.to_string()),
            }
        }
        let abort_when = p.abort_when.as_ref().and_then(|a| {
            let apath = format!("{path}.abort_when");
            if p.chaos.is_empty() && p.faults.is_empty() {
                c.error(
                    &apath,
                    "abort_when belongs to a phase with faults (chaos or faults)",
                );
            }
            let after = match &a.after {
                Some(text) => c.duration(&format!("{apath}.for"), text)?,
                None => Duration::from_secs(1),
            };
            let checked = crate::expr::parse(&a.steady_state)
                .map_err(|e| e.to_string())
                .and_then(|e| check_abort(&e).map(|_| e));
            match checked {
                Ok(expr) => Some(AbortPlan {
                    check: a.steady_state.clone(),
                    expr,
                    after,
                }),
                Err(e) => {
                    c.error(
                        &format!("{apath}.steady_state"),
                        format!("{e} in `{}`", a.steady_state),
                    );
                    None
                }
            }
        });
        let beyond = crate::faults::check::check_phase(c, &path, p, fault_context);
        let profile = p
            .profile
            .as_ref()
            .and_then(|spec| crate::profile::check_profile(c, &path, spec, duration, base_url));
        if let (Some(rate), Some(duration), Some(warmup)) = (rate, duration, warmup) {
            out.push(PhasePlan {
                profile,
                faults: beyond.faults,
                limits: beyond.limits,
                env: p.env.clone(),
                name: p.name.clone(),
                rate,
                duration,
                warmup,
                requests: indexes,
                chaos: p.chaos.clone(),
                toxics,
                abort_when,
            });
        }
    }
    out
}

fn check_clauses(
    c: &mut Checker<'_>,
    clauses: &[Option<ClauseSpec>],
    ctx: &CheckContext<'_>,
) -> Vec<ClausePlan> {
    let mut out = Vec::new();
    for (i, spec) in clauses.iter().enumerate() {
        let Some(clause) = spec else { continue };
        let path = format!("clauses[{i}]");
        if let Some(phase) = &clause.phase {
            if !ctx.phases.contains(phase) {
                c.error(
                    &format!("{path}.phase"),
                    format!(
                        "unknown phase {phase:?}; the phases are: {}",
                        ctx.phases.join(", ")
                    ),
                );
            }
        }
        let check_path = format!("{path}.check");
        let ctx = CheckContext {
            clause_phase: clause.phase.as_deref(),
            ..ctx.clone()
        };
        match expr::parse(&clause.check).and_then(|e| e.check(&ctx).map(|_| e)) {
            Ok(expr) => out.push(ClausePlan {
                name: clause.name.clone(),
                phase: clause.phase.clone(),
                check: clause.check.clone(),
                expr,
                severity: clause.severity.unwrap_or_default(),
                description: clause.description.clone(),
            }),
            Err(e) => {
                let mut position = c.root.locate(&check_path);
                position.column += e.offset;
                c.at(
                    position,
                    &check_path,
                    format!("{} in `{}`", e.message, clause.check),
                );
            }
        }
    }
    out
}

fn check_slos(
    c: &mut Checker<'_>,
    slos: &[Option<SloSpec>],
    request_names: &[String],
) -> Vec<SloPlan> {
    let mut out = Vec::new();
    for (i, spec) in slos.iter().enumerate() {
        let Some(s) = spec else { continue };
        let path = format!("slos[{i}]");
        let objective = s
            .objective
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|p| *p > 0.0 && *p < 100.0)
            .map(|p| p / 100.0);
        if objective.is_none() {
            c.error(
                &format!("{path}.objective"),
                format!(
                    "expected a percentage between 0 and 100 like \"99.9%\", got {:?}",
                    s.objective
                ),
            );
        }
        let window = c.duration(&format!("{path}.window"), &s.window);
        let request = match &s.sli {
            SliSpec::Availability { request } => request.as_ref(),
            SliSpec::Latency {
                threshold,
                request,
                histogram,
            } => {
                c.duration(&format!("{path}.sli.latency.threshold"), threshold);
                if histogram
                    .as_ref()
                    .is_some_and(|h| h.contains('[') || h.trim().is_empty())
                {
                    c.error(
                        &format!("{path}.sli.latency.histogram"),
                        "expected a histogram's base name with optional matchers, e.g. http_request_duration_seconds{route=\"/orders\"}",
                    );
                }
                request.as_ref()
            }
            SliSpec::Ratio { good, total } => {
                for (field, selector) in [("good", good), ("total", total)] {
                    if selector.trim().is_empty() {
                        c.error(
                            &format!("{path}.sli.ratio.{field}"),
                            "expected a PromQL selector",
                        );
                    }
                }
                None
            }
        };
        if let Some(request) = request {
            if !request_names.contains(request) {
                c.error(
                    &format!("{path}.sli"),
                    format!("unknown request {request:?}"),
                );
            }
        }
        if let (Some(objective), Some(window)) = (objective, window) {
            out.push(SloPlan {
                name: s.name.clone(),
                objective,
                window,
                sli: s.sli.clone(),
            });
        }
    }
    out
}
