//! Reading SLOs from ballast contracts, OpenSLO v1 and v1alpha documents and Sloth
//! `prometheus/v1` specs into one model. Every problem is reported with file, line, column
//! and field.

use crate::model::{Alerting, Sli, Slo};
use crate::promql::check_query;
use crate::Error;
use ballast_contract::yaml::{self, Node};
use ballast_contract::{Diagnostic, SliSpec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Reads every SLO in `path` (format detected from its content).
pub fn load_file(path: &Path) -> Result<Vec<Slo>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(
        &text,
        &path.display().to_string(),
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// Reads every SLO in `text`; `file` names it in messages.
pub fn load_str(text: &str, file: &str, base_dir: &Path) -> Result<Vec<Slo>, Error> {
    let docs = yaml::parse_documents(text)
        .map_err(|e| Error::Invalid(vec![Diagnostic::syntax(file, &e)]))?;
    let first = docs.first().map(Node::to_json).unwrap_or_default();
    if first.get("version").and_then(Value::as_str) == Some("prometheus/v1") {
        let mut r = Reader::new(file, &docs[0]);
        let slos = r.sloth(&first);
        return r.finish(slos);
    }
    if first
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("openslo/"))
    {
        return openslo(file, &docs);
    }
    if first.get("phases").is_some() || first.get("target").is_some() {
        let contract = ballast_contract::Contract::parse(text, file, base_dir)?;
        return Ok(contract
            .slos
            .iter()
            .map(|s| Slo {
                service: contract.name.clone(),
                name: s.name.clone(),
                description: None,
                objective: s.objective,
                window: s.window,
                sli: match &s.sli {
                    SliSpec::Ratio { good, total } => Sli::Good {
                        good: good.clone(),
                        total: total.clone(),
                    },
                    SliSpec::Availability { request } => Sli::VerifyAvailability {
                        request: request.clone(),
                    },
                    SliSpec::Latency {
                        threshold,
                        request: _,
                        histogram: Some(histogram),
                    } => Sli::Latency {
                        histogram: histogram.clone(),
                        threshold_seconds: ballast_core::parse_duration(threshold)
                            .unwrap_or_default()
                            .as_secs_f64(),
                    },
                    SliSpec::Latency {
                        threshold,
                        request,
                        histogram: None,
                    } => Sli::VerifyLatency {
                        threshold: ballast_core::parse_duration(threshold).unwrap_or_default(),
                        request: request.clone(),
                    },
                },
                labels: BTreeMap::new(),
                alerting: Alerting::defaults(&alert_name(&contract.name, &s.name), s.window),
                origin: file.to_string(),
            })
            .collect());
    }
    Err(Error::Invalid(vec![Diagnostic {
        file: file.into(),
        line: 1,
        column: 1,
        path: String::new(),
        message:
            "unknown SLO format; expected a ballast contract (with slos:), an OpenSLO document \
                  (apiVersion: openslo/v1 or openslo/v1alpha) or a Sloth spec (version: prometheus/v1)"
                .into(),
    }]))
}

/// `ShopCheckoutLatency` from `shop`, `checkout-latency`.
fn alert_name(service: &str, slo: &str) -> String {
    format!("{service} {slo}")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<String>()
        + "BurnRate"
}

/// Parses `28d`, `1w`, `30d`, `7d` (OpenSLO allows weeks).
fn window(text: &str) -> Result<Duration, String> {
    if let Some(weeks) = text
        .trim()
        .strip_suffix('w')
        .and_then(|n| n.parse::<u64>().ok())
    {
        return Ok(Duration::from_secs(weeks * 7 * 86_400));
    }
    ballast_core::parse_duration(text)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if d.is_zero() {
                Err("expected a window above zero, e.g. 30d".into())
            } else {
                Ok(d)
            }
        })
}

struct Reader<'a> {
    file: &'a str,
    root: &'a Node,
    problems: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    fn new(file: &'a str, root: &'a Node) -> Self {
        Reader {
            file,
            root,
            problems: Vec::new(),
        }
    }

    /// An error at the key `key` of the mapping at `parent` (for a field that should not
    /// be there), or at the nearest node when the key cannot be found.
    fn error_key(&mut self, parent: &str, key: &str, message: impl Into<String>) {
        let p = self
            .root
            .locate_key(parent, key)
            .unwrap_or_else(|| self.root.locate(parent));
        self.problems.push(Diagnostic {
            file: self.file.into(),
            line: p.line,
            column: p.column,
            path: join(parent, key),
            message: message.into(),
        });
    }

    /// Every key of the mapping `v` (at `path`) that is not in `known` is an error.
    fn known_keys(&mut self, v: &Value, path: &str, known: &[&str]) {
        if let Some(map) = v.as_object() {
            for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
                self.error_key(
                    path,
                    key,
                    format!("unknown field; expected one of {}", known.join(", ")),
                );
            }
        }
    }

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

    fn text(&mut self, v: &Value, path: &str, field: &str) -> Option<String> {
        match v.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.error(&join(path, field), "expected text");
                None
            }
            None => {
                self.error(path, format!("missing key `{field}`"));
                None
            }
        }
    }

    fn query(&mut self, v: &Value, path: &str, field: &str) -> Option<String> {
        let q = self.text(v, path, field)?;
        match check_query(&q) {
            Ok(()) => Some(q),
            Err(e) => {
                self.error(&join(path, field), e);
                None
            }
        }
    }

    fn map(&mut self, v: &Value, path: &str, field: &str) -> BTreeMap<String, String> {
        match v.get(field) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            Some(_) => {
                self.error(&join(path, field), "expected a mapping of names to values");
                BTreeMap::new()
            }
        }
    }

    fn finish(self, slos: Vec<Slo>) -> Result<Vec<Slo>, Error> {
        if self.problems.is_empty() {
            Ok(slos)
        } else {
            Err(Error::Invalid(self.problems))
        }
    }

    /// Sloth `prometheus/v1`: objective in percent, queries with `{{.window}}`.
    fn sloth(&mut self, doc: &Value) -> Vec<Slo> {
        let service = self.text(doc, "", "service").unwrap_or_default();
        let labels = self.map(doc, "", "labels");
        let Some(items) = doc.get("slos").and_then(Value::as_array) else {
            self.error("slos", "expected a list of SLOs");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("slos[{i}]");
            let name = self.text(item, &path, "name");
            let objective = match item.get("objective").and_then(Value::as_f64) {
                Some(p) if p > 0.0 && p < 100.0 => Some(p / 100.0),
                _ => {
                    self.error(
                        &join(&path, "objective"),
                        "expected a percentage between 0 and 100, e.g. 99.9",
                    );
                    None
                }
            };
            let sli_path = join(&path, "sli");
            let sli = match item.get("sli") {
                Some(sli) if sli.get("events").is_some() => {
                    let events = &sli["events"];
                    let p = join(&sli_path, "events");
                    match (
                        self.query(events, &p, "error_query"),
                        self.query(events, &p, "total_query"),
                    ) {
                        (Some(errors), Some(total)) => Some(Sli::Events { errors, total }),
                        _ => None,
                    }
                }
                Some(sli) if sli.get("raw").is_some() => self
                    .query(&sli["raw"], &join(&sli_path, "raw"), "error_ratio_query")
                    .map(|error_ratio| Sli::Raw { error_ratio }),
                Some(sli) if sli.get("plugin").is_some() => {
                    self.error(
                        &join(&sli_path, "plugin"),
                        "Sloth SLI plugins are not supported; use events or raw",
                    );
                    None
                }
                _ => {
                    self.error(
                        &sli_path,
                        "expected `events` (error_query, total_query) or `raw` (error_ratio_query)",
                    );
                    None
                }
            };
            let alerting = item.get("alerting").cloned().unwrap_or(Value::Null);
            let alert_path = join(&path, "alerting");
            let (Some(name), Some(objective), Some(sli)) = (name, objective, sli) else {
                continue;
            };
            let window = Duration::from_secs(30 * 86_400);
            let mut a = Alerting::defaults(
                alerting
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| alert_name(&service, &name), str::to_string)
                    .as_str(),
                window,
            );
            a.annotations = self.map(&alerting, &alert_path, "annotations");
            let common = self.map(&alerting, &alert_path, "labels");
            a.page_labels = common.clone();
            a.page_labels.extend(self.map(
                alerting.get("page_alert").unwrap_or(&Value::Null),
                &join(&alert_path, "page_alert"),
                "labels",
            ));
            a.ticket_labels = common;
            a.ticket_labels.extend(self.map(
                alerting.get("ticket_alert").unwrap_or(&Value::Null),
                &join(&alert_path, "ticket_alert"),
                "labels",
            ));
            let mut slo_labels = labels.clone();
            slo_labels.extend(self.map(item, &path, "labels"));
            out.push(Slo {
                service: service.clone(),
                name,
                description: item
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                objective,
                window,
                sli,
                labels: slo_labels,
                alerting: a,
                origin: format!("{}:{}", self.file, self.root.locate(&path).line),
            });
        }
        out
    }
}

fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// OpenSLO v1: `SLO` documents with an inline `indicator` or an `indicatorRef` to an
/// `SLI` document in the same file; `ratioMetric` SLIs with Prometheus queries.
fn openslo(file: &str, docs: &[Node]) -> Result<Vec<Slo>, Error> {
    let values: Vec<Value> = docs.iter().map(Node::to_json).collect();
    let mut slis: BTreeMap<String, Value> = BTreeMap::new();
    for v in &values {
        if v.get("kind").and_then(Value::as_str) == Some("SLI") {
            if let Some(name) = v.pointer("/metadata/name").and_then(Value::as_str) {
                slis.insert(name.to_string(), v.get("spec").cloned().unwrap_or_default());
            }
        }
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (doc_index, (node, v)) in docs.iter().zip(&values).enumerate() {
        let mut r = Reader::new(file, node);
        match v.get("apiVersion").and_then(Value::as_str) {
            Some("openslo/v1") => {}
            Some("openslo/v1alpha") => {
                out.extend(v1alpha(&mut r, v));
                problems.extend(r.problems);
                continue;
            }
            _ => {
                r.error(
                    "apiVersion",
                    format!(
                        "expected openslo/v1 or openslo/v1alpha (document {}), got {}",
                        doc_index + 1,
                        found(v.get("apiVersion"))
                    ),
                );
                problems.extend(r.problems);
                continue;
            }
        }
        match v.get("kind").and_then(Value::as_str) {
            Some("SLO") => {}
            Some(
                "SLI"
                | "Service"
                | "AlertPolicy"
                | "AlertCondition"
                | "AlertNotificationTarget"
                | "DataSource",
            ) => continue,
            _ => {
                r.error("kind", format!("expected SLO, SLI, Service, AlertPolicy, AlertCondition, AlertNotificationTarget or DataSource, got {}", found(v.get("kind"))));
                problems.extend(r.problems);
                continue;
            }
        }
        let name = r.text(&v["metadata"], "metadata", "name");
        let spec = &v["spec"];
        let service = r.text(spec, "spec", "service");
        let window = match spec
            .pointer("/timeWindow/0/duration")
            .and_then(Value::as_str)
        {
            Some(d) => match window(d) {
                Ok(w) => Some(w),
                Err(e) => {
                    r.error("spec.timeWindow[0].duration", e);
                    None
                }
            },
            None => {
                r.error(
                    "spec.timeWindow",
                    "expected a list with one { duration: 28d, isRolling: true }",
                );
                None
            }
        };
        if spec
            .get("budgetingMethod")
            .and_then(Value::as_str)
            .is_some_and(|m| m != "Occurrences")
        {
            r.error(
                "spec.budgetingMethod",
                "only Occurrences (good events over all events) is supported",
            );
        }
        let objective = spec.pointer("/objectives/0").and_then(|o| {
            o.get("target").and_then(Value::as_f64).or_else(|| {
                o.get("targetPercent")
                    .and_then(Value::as_f64)
                    .map(|p| p / 100.0)
            })
        });
        let objective = match objective {
            Some(t) if t > 0.0 && t < 1.0 => Some(t),
            _ => {
                r.error(
                    "spec.objectives",
                    "expected objectives: [{ target: 0.999 }] (or targetPercent: 99.9)",
                );
                None
            }
        };
        let (indicator, indicator_path) = match (
            spec.get("indicator"),
            spec.get("indicatorRef").and_then(Value::as_str),
        ) {
            (Some(inline), _) => (
                inline.get("spec").cloned(),
                "spec.indicator.spec".to_string(),
            ),
            (None, Some(reference)) => match slis.get(reference) {
                Some(s) => (Some(s.clone()), "spec.indicatorRef".to_string()),
                None => {
                    r.error(
                        "spec.indicatorRef",
                        format!("no SLI named {reference:?} in this file"),
                    );
                    (None, String::new())
                }
            },
            (None, None) => {
                r.error("spec", "expected indicator (inline SLI) or indicatorRef");
                (None, String::new())
            }
        };
        let objective_spec = spec.pointer("/objectives/0").cloned().unwrap_or_default();
        let sli =
            indicator.and_then(|ind| openslo_sli(&mut r, &ind, &indicator_path, &objective_spec));
        if let (Some(name), Some(service), Some(window), Some(objective), Some(sli)) =
            (name, service, window, objective, sli)
        {
            out.push(Slo {
                alerting: Alerting::defaults(&alert_name(&service, &name), window),
                description: v
                    .pointer("/spec/description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                origin: format!("{file}:{}", node.position.line),
                service,
                name,
                objective,
                window,
                sli,
                labels: BTreeMap::new(),
            });
        }
        problems.extend(r.problems);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// A metric source's `type` (default Prometheus) is the one we read; else an error at `path`.
fn is_prometheus(r: &mut Reader<'_>, source: &Value, path: &str) -> bool {
    let kind = source
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Prometheus");
    if kind != "Prometheus" {
        r.error(
            &format!("{path}.type"),
            format!("only Prometheus sources are supported, got {kind:?}"),
        );
        return false;
    }
    true
}

fn openslo_sli(r: &mut Reader<'_>, ind: &Value, path: &str, objective: &Value) -> Option<Sli> {
    if let Some(threshold) = ind.get("thresholdMetric") {
        // Good while the metric compares with the objective's value as `op` says, judged
        // over time: the error ratio is the share of the window it did not.
        let tpath = join(path, "thresholdMetric");
        let source = threshold.get("metricSource").cloned().unwrap_or_default();
        if !is_prometheus(r, &source, &format!("{tpath}.metricSource")) {
            return None;
        }
        let query = r.text(
            source.get("spec").unwrap_or(&Value::Null),
            &format!("{tpath}.metricSource.spec"),
            "query",
        )?;
        let op = match objective.get("op").and_then(Value::as_str) {
            Some(op @ ("lt" | "lte" | "gt" | "gte")) => op.to_string(),
            _ => {
                r.error(
                    "spec.objectives[0].op",
                    format!(
                        "a thresholdMetric needs op: lt, lte, gt or gte; got {}",
                        found(objective.get("op"))
                    ),
                );
                return None;
            }
        };
        let Some(value) = objective.get("value").and_then(Value::as_f64) else {
            r.error(
                "spec.objectives[0].value",
                "a thresholdMetric needs the value the metric is compared with",
            );
            return None;
        };
        return Some(Sli::Threshold { query, op, value });
    }
    let Some(ratio) = ind.get("ratioMetric") else {
        r.error(path, "expected ratioMetric or thresholdMetric");
        return None;
    };
    let rpath = join(path, "ratioMetric");
    let query = |r: &mut Reader<'_>, which: &str| -> Option<String> {
        let source = ratio.get(which)?.get("metricSource")?;
        if !is_prometheus(r, source, &format!("{rpath}.{which}.metricSource")) {
            return None;
        }
        r.query(
            source.get("spec").unwrap_or(&Value::Null),
            &format!("{rpath}.{which}.metricSource.spec"),
            "query",
        )
    };
    let total = query(r, "total");
    match (ratio.get("good").is_some(), ratio.get("bad").is_some()) {
        (true, _) => Some(Sli::Good {
            good: query(r, "good")?,
            total: total?,
        }),
        (false, true) => Some(Sli::Events {
            errors: query(r, "bad")?,
            total: total?,
        }),
        _ => {
            r.error(&rpath, "expected good or bad, and total");
            None
        }
    }
}

/// A value as a message shows it: JSON text (strings quoted), or `nothing` when absent.
fn found(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "nothing".into(),
        Some(v) => v.to_string(),
    }
}

/// Sloth's window for OpenSLO documents that give none.
const V1ALPHA_DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// OpenSLO v1alpha, the form Sloth reads (`examples/openslo-*.yml` in Sloth): a `kind: SLO`
/// document whose objectives each carry a `target` and, unless `spec.indicator` holds a
/// `thresholdMetric`, their own `ratioMetrics`. Each objective becomes one SLO named
/// `<metadata.name>-<index>`, as Sloth names them, so rule ids stay the same when moving
/// from Sloth. Every field is either read into the model, accepted as display text
/// (`displayName`), or refused where it stands: nothing is ignored.
fn v1alpha(r: &mut Reader<'_>, v: &Value) -> Vec<Slo> {
    match v.get("kind").and_then(Value::as_str) {
        Some("SLO") => {}
        // The other v1alpha kinds say nothing about what is measured.
        Some("Service" | "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget") => {
            return Vec::new()
        }
        _ => {
            r.error(
                "kind",
                format!(
                    "expected SLO, Service, AlertPolicy, AlertCondition or \
                     AlertNotificationTarget (openslo/v1alpha), got {}",
                    found(v.get("kind"))
                ),
            );
            return Vec::new();
        }
    }
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec"]);
    let metadata = mapping(r, v, "", "metadata");
    let spec = mapping(r, v, "", "spec");
    let (Some(metadata), Some(spec)) = (metadata, spec) else {
        return Vec::new();
    };
    r.known_keys(
        metadata,
        "metadata",
        &["name", "displayName", "labels", "annotations"],
    );
    let name = r.text(metadata, "metadata", "name");
    optional_text(r, metadata, "metadata", "displayName");
    if metadata.get("annotations").is_some() {
        r.error_key(
            "metadata",
            "annotations",
            "annotations are metadata for other tools and ballast reads none; remove them",
        );
    }
    let labels = v1alpha_labels(r, metadata.get("labels"));
    r.known_keys(
        spec,
        "spec",
        &[
            "service",
            "description",
            "budgetingMethod",
            "indicator",
            "timeWindows",
            "objectives",
            "alertPolicies",
        ],
    );
    let service = r.text(spec, "spec", "service");
    let description = optional_text(r, spec, "spec", "description");
    match spec.get("budgetingMethod") {
        None => {}
        Some(Value::String(m)) if m == "Occurrences" => {}
        Some(other) => r.error(
            "spec.budgetingMethod",
            format!("only Occurrences (good events over all events) is supported, got {other}"),
        ),
    }
    if spec.get("alertPolicies").is_some() {
        r.error_key(
            "spec",
            "alertPolicies",
            "alert policies are not supported: ballast writes multiwindow burn-rate alerts \
             for every SLO; remove them",
        );
    }
    let window = v1alpha_window(r, spec);
    // `Some(None)`: a thresholdMetric is given but invalid (already reported).
    let threshold = spec.get("indicator").map(|ind| v1alpha_threshold(r, ind));
    let Some(objectives) = spec.get("objectives").and_then(Value::as_array) else {
        r.error(
            "spec.objectives",
            "expected a list of objectives, e.g. [{ target: 0.999, ratioMetrics: { good, total } }]",
        );
        return Vec::new();
    };
    if objectives.is_empty() {
        r.error("spec.objectives", "expected at least one objective");
    }
    if threshold.is_some() && objectives.len() > 1 {
        r.error(
            "spec.objectives",
            format!(
                "a thresholdMetric indicator takes exactly one objective, got {}",
                objectives.len()
            ),
        );
    }
    let mut out = Vec::new();
    for (i, o) in objectives.iter().enumerate() {
        let path = format!("spec.objectives[{i}]");
        if !o.is_object() {
            r.error(
                &path,
                "expected an objective: { target: 0.999, ratioMetrics: ... }",
            );
            continue;
        }
        r.known_keys(
            o,
            &path,
            &[
                "displayName",
                "op",
                "value",
                "target",
                "timeSliceTarget",
                "ratioMetrics",
                "ratioMetric",
            ],
        );
        optional_text(r, o, &path, "displayName");
        let target = match o.get("target").and_then(Value::as_f64) {
            Some(t) if t > 0.0 && t < 1.0 => Some(t),
            _ => {
                r.error(
                    &join(&path, "target"),
                    format!(
                        "expected a ratio between 0 and 1, e.g. 0.999; got {}",
                        found(o.get("target"))
                    ),
                );
                None
            }
        };
        if o.get("timeSliceTarget").is_some() {
            r.error_key(
                &path,
                "timeSliceTarget",
                "time slices are not supported (budgetingMethod Occurrences only)",
            );
        }
        let sli = match &threshold {
            Some(query) => {
                if o.get("ratioMetrics")
                    .or_else(|| o.get("ratioMetric"))
                    .is_some()
                {
                    r.error(
                        &path,
                        "ratioMetrics cannot be combined with the thresholdMetric of \
                         spec.indicator; give one of them",
                    );
                }
                query
                    .clone()
                    .and_then(|q| v1alpha_threshold_objective(r, o, &path, q))
            }
            None => {
                for key in ["op", "value"] {
                    if o.get(key).is_some() {
                        r.error_key(
                            &path,
                            key,
                            "applies to a thresholdMetric (spec.indicator) only; a \
                             ratioMetrics objective has a target alone",
                        );
                    }
                }
                v1alpha_ratio(r, o, &path)
            }
        };
        let (Some(name), Some(service), Some(window), Some(objective), Some(sli)) =
            (&name, &service, window, target, sli)
        else {
            continue;
        };
        let name = format!("{name}-{i}");
        out.push(Slo {
            alerting: Alerting::defaults(&alert_name(service, &name), window),
            description: description.clone(),
            origin: format!("{}:{}", r.file, r.root.locate(&path).line),
            service: service.clone(),
            name,
            objective,
            window,
            sli,
            labels: labels.clone(),
        });
    }
    out
}

/// The mapping at `v[field]`, or an error at `path`.
fn mapping<'v>(r: &mut Reader<'_>, v: &'v Value, path: &str, field: &str) -> Option<&'v Value> {
    match v.get(field) {
        Some(m @ Value::Object(_)) => Some(m),
        Some(_) => {
            r.error(&join(path, field), "expected a mapping");
            None
        }
        None => {
            r.error(path, format!("missing key `{field}`"));
            None
        }
    }
}

/// An optional text field: its text, nothing when absent, an error when not text.
fn optional_text(r: &mut Reader<'_>, v: &Value, path: &str, field: &str) -> Option<String> {
    match v.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            r.error(&join(path, field), format!("expected text, got {other}"));
            None
        }
    }
}

/// `metadata.labels`: single values become labels of every rule; v1alpha also allows a
/// list of values per key, which one Prometheus label cannot hold.
fn v1alpha_labels(r: &mut Reader<'_>, labels: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let entries = match labels {
        None | Some(Value::Null) => return out,
        Some(Value::Object(m)) => m,
        Some(_) => {
            r.error(
                "metadata.labels",
                "expected a mapping of label names to values",
            );
            return out;
        }
    };
    for (key, value) in entries {
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || key.starts_with("__") {
            r.error_key(
                "metadata.labels",
                key,
                "expected a Prometheus label name (letters, digits and _, not starting with a \
                 digit or __), since it becomes a label of every rule",
            );
            continue;
        }
        if key.starts_with("ballast_") {
            r.error_key(
                "metadata.labels",
                key,
                "labels starting with ballast_ are the ones ballast writes; rename it",
            );
            continue;
        }
        match value {
            Value::String(s) => {
                out.insert(key.clone(), s.clone());
            }
            Value::Number(_) | Value::Bool(_) => {
                out.insert(key.clone(), value.to_string());
            }
            _ => r.error_key(
                "metadata.labels",
                key,
                "expected one value: a list of values cannot be one rule label",
            ),
        }
    }
    out
}

/// `spec.timeWindows`: exactly one rolling window of a fixed length; Sloth's 30 days when
/// absent, as Sloth does.
fn v1alpha_window(r: &mut Reader<'_>, spec: &Value) -> Option<Duration> {
    let Some(windows) = spec.get("timeWindows") else {
        return Some(V1ALPHA_DEFAULT_WINDOW);
    };
    let Some(w) = windows.as_array().filter(|l| l.len() == 1).map(|l| &l[0]) else {
        r.error(
            "spec.timeWindows",
            "expected a list of exactly one window, e.g. [{ count: 30, unit: Day, isRolling: true }]",
        );
        return None;
    };
    let path = "spec.timeWindows[0]";
    if !w.is_object() {
        r.error(path, "expected { count: 30, unit: Day, isRolling: true }");
        return None;
    }
    r.known_keys(w, path, &["unit", "count", "isRolling", "calendar"]);
    let mut ok = true;
    if w.get("calendar").is_some() {
        r.error_key(
            path,
            "calendar",
            "calendar-aligned windows are not supported: ballast's SLO windows are rolling",
        );
        ok = false;
    }
    match w.get("isRolling") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            r.error(
                &join(path, "isRolling"),
                "a window that is not rolling is calendar-aligned, which is not supported: \
                 ballast's SLO windows are rolling",
            );
            ok = false;
        }
        Some(other) => {
            r.error(
                &join(path, "isRolling"),
                format!("expected true or false, got {other}"),
            );
            ok = false;
        }
    }
    let count = match w.get("count").and_then(Value::as_u64) {
        Some(c) if c > 0 => Some(c),
        _ => {
            r.error(
                &join(path, "count"),
                format!(
                    "expected a whole number of units above zero, got {}",
                    found(w.get("count"))
                ),
            );
            None
        }
    };
    let unit = w.get("unit").and_then(Value::as_str);
    let size = match unit.map(str::to_ascii_lowercase).as_deref() {
        Some("second") => Some(1),
        Some("minute") => Some(60),
        Some("hour") => Some(3600),
        Some("day") => Some(86_400),
        Some("week") => Some(7 * 86_400),
        Some("month" | "quarter" | "year") => {
            r.error(
                &join(path, "unit"),
                format!(
                    "a {} has no fixed length; give the window in days or weeks, e.g. \
                     count: 30, unit: Day",
                    unit.unwrap_or_default()
                ),
            );
            None
        }
        _ => {
            r.error(
                &join(path, "unit"),
                format!(
                    "expected Second, Minute, Hour, Day or Week, got {}",
                    found(w.get("unit"))
                ),
            );
            None
        }
    };
    let (Some(count), Some(size), true) = (count, size, ok) else {
        return None;
    };
    match count.checked_mul(size) {
        Some(secs) => Some(Duration::from_secs(secs)),
        None => {
            r.error(&join(path, "count"), "the window is too long");
            None
        }
    }
}

/// A v1alpha metric source (`source`, `queryType`, `query`): its query, when it is
/// PromQL for Prometheus (Sloth's `sloth` source is Prometheus too).
fn v1alpha_source(r: &mut Reader<'_>, v: &Value, path: &str) -> Option<String> {
    if !v.is_object() {
        r.error(
            path,
            "expected { source: prometheus, queryType: promql, query: ... }",
        );
        return None;
    }
    r.known_keys(v, path, &["source", "queryType", "query", "metadata"]);
    let mut ok = true;
    let source = v.get("source").and_then(Value::as_str);
    if !source.is_some_and(|s| s.eq_ignore_ascii_case("prometheus") || s == "sloth") {
        r.error(
            &join(path, "source"),
            format!(
                "only Prometheus sources are supported (source: prometheus), got {}",
                found(v.get("source"))
            ),
        );
        ok = false;
    }
    let query_type = v.get("queryType").and_then(Value::as_str);
    if !query_type.is_some_and(|q| q.eq_ignore_ascii_case("promql")) {
        r.error(
            &join(path, "queryType"),
            format!("expected promql, got {}", found(v.get("queryType"))),
        );
        ok = false;
    }
    if v.get("metadata").is_some() {
        r.error_key(
            path,
            "metadata",
            "data-source metadata is not supported: write everything into the query",
        );
        ok = false;
    }
    let query = r.text(v, path, "query");
    query.filter(|_| ok)
}

/// `spec.indicator` (v1alpha holds only a `thresholdMetric` there): its instant query.
fn v1alpha_threshold(r: &mut Reader<'_>, indicator: &Value) -> Option<String> {
    let path = "spec.indicator";
    if !indicator.is_object() {
        r.error(
            path,
            "expected { thresholdMetric: { source, queryType, query } }",
        );
        return None;
    }
    r.known_keys(indicator, path, &["thresholdMetric"]);
    match indicator.get("thresholdMetric") {
        Some(metric) => v1alpha_source(r, metric, "spec.indicator.thresholdMetric"),
        None => {
            r.error(path, "missing key `thresholdMetric`");
            None
        }
    }
}

/// A threshold objective: good while `query` compares with `value` as `op` says.
fn v1alpha_threshold_objective(
    r: &mut Reader<'_>,
    o: &Value,
    path: &str,
    query: String,
) -> Option<Sli> {
    let op = match o.get("op").and_then(Value::as_str) {
        Some(op @ ("lt" | "lte" | "gt" | "gte")) => Some(op.to_string()),
        _ => {
            r.error(
                &join(path, "op"),
                format!(
                    "a thresholdMetric needs op: lt, lte, gt or gte; got {}",
                    found(o.get("op"))
                ),
            );
            None
        }
    };
    let value = o.get("value").and_then(Value::as_f64);
    if value.is_none() {
        r.error(
            &join(path, "value"),
            format!(
                "a thresholdMetric needs the number the metric is compared with; got {}",
                found(o.get("value"))
            ),
        );
    }
    Some(Sli::Threshold {
        query,
        op: op?,
        value: value?,
    })
}

/// A query ballast wraps as a counter (`sum(rate(q[w]))`): a bare selector, the only
/// query `over` leaves intact inside its output.
fn is_bare_selector(query: &str) -> bool {
    crate::promql::over(query, Duration::from_secs(60)).contains(query.trim())
}

/// An objective's `ratioMetrics` (`ratioMetric` in parts of the v1alpha text): good or bad
/// events over total events.
fn v1alpha_ratio(r: &mut Reader<'_>, o: &Value, path: &str) -> Option<Sli> {
    let key = match (o.get("ratioMetrics"), o.get("ratioMetric")) {
        (Some(_), None) => "ratioMetrics",
        (None, Some(_)) => "ratioMetric",
        (Some(_), Some(_)) => {
            r.error_key(
                path,
                "ratioMetric",
                "give ratioMetrics once, not also as ratioMetric",
            );
            return None;
        }
        (None, None) => {
            r.error(
                path,
                "expected ratioMetrics (good or bad, and total), or a thresholdMetric in \
                 spec.indicator",
            );
            return None;
        }
    };
    let rpath = join(path, key);
    let ratio = &o[key];
    if !ratio.is_object() {
        r.error(
            &rpath,
            "expected { good: ..., total: ... } or { bad: ..., total: ... }",
        );
        return None;
    }
    r.known_keys(
        ratio,
        &rpath,
        &["counter", "incremental", "good", "bad", "total"],
    );
    // `incremental` is the earlier name of `counter`.
    let mut counter = true;
    for flag in ["counter", "incremental"] {
        match ratio.get(flag) {
            None => {}
            Some(Value::Bool(b)) => counter &= *b,
            Some(other) => r.error(
                &join(&rpath, flag),
                format!("expected true or false, got {other}"),
            ),
        }
    }
    let query = |r: &mut Reader<'_>, which: &str| -> Option<String> {
        let qpath = join(&rpath, which);
        let q = v1alpha_source(r, &ratio[which], &qpath)?;
        if let Err(e) = check_query(&q) {
            r.error(&join(&qpath, "query"), e);
            return None;
        }
        if !counter && is_bare_selector(&q) {
            r.error(
                &join(&qpath, "query"),
                "counter: false, but a bare selector is read as a counter \
                 (sum(rate(...)) over each window); write the query with {{.window}}",
            );
            return None;
        }
        Some(q)
    };
    let has = |k: &str| ratio.get(k).is_some();
    if !has("total") {
        r.error(&rpath, "missing key `total`");
    }
    match (has("good"), has("bad")) {
        (true, true) => {
            r.error_key(&rpath, "bad", "give good or bad, not both");
            None
        }
        (true, false) => {
            let good = query(r, "good");
            let total = has("total").then(|| query(r, "total")).flatten();
            Some(Sli::Good {
                good: good?,
                total: total?,
            })
        }
        (false, true) => {
            let bad = query(r, "bad");
            let total = has("total").then(|| query(r, "total")).flatten();
            Some(Sli::Events {
                errors: bad?,
                total: total?,
            })
        }
        (false, false) => {
            r.error(&rpath, "missing key `good` (or `bad`)");
            None
        }
    }
}
