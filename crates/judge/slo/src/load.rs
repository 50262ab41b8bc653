//! Reading SLOs from ballast contracts, OpenSLO v1 documents and Sloth `prometheus/v1`
//! specs into one model. Every problem is reported with file, line, column and field.

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
            "unknown SLO format; expected a ballast contract (with slos:), an OpenSLO v1 document \
                  (apiVersion: openslo/v1) or a Sloth spec (version: prometheus/v1)"
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
            other => {
                r.error(
                    "apiVersion",
                    format!(
                        "expected openslo/v1 (document {}), got {other:?}",
                        doc_index + 1
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
            other => {
                r.error("kind", format!("expected SLO, SLI, Service, AlertPolicy, AlertCondition, AlertNotificationTarget or DataSource, got {other:?}"));
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
            other => {
                r.error(
                    "spec.objectives[0].op",
                    format!("a thresholdMetric needs op: lt, lte, gt or gte; got {other:?}"),
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
