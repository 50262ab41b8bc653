//! Reading SLOs from ballast contracts, OpenSLO v1 and v1alpha documents and Sloth
//! `prometheus/v1` specs into one model. Every problem is reported with file, line, column
//! and field. Nothing is skipped: each document of a file is read or refused, and each key
//! is mapped into the model, accepted as display text (`displayName`, descriptions), or
//! refused where it stands — a field the format defines but ballast does not support with
//! why, any other as unknown with the fields expected there.

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
        return sloth(file, &docs);
    }
    if first
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("openslo/"))
    {
        return openslo(file, &docs);
    }
    if first.get("phases").is_some() || first.get("target").is_some() {
        // The contract reader reads the first document only, so a second one would be
        // ignored without this.
        if let Some(second) = docs.get(1) {
            return Err(Error::Invalid(vec![Diagnostic {
                file: file.into(),
                line: second.position.line,
                column: second.position.column,
                path: String::new(),
                message: "a contract is one YAML document; this second document would not \
                          be read: put it in a file of its own"
                    .into(),
            }]));
        }
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
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (k, value) in m {
                    match value {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        Value::Number(_) | Value::Bool(_) => {
                            out.insert(k.clone(), value.to_string());
                        }
                        _ => self.error_key(
                            &join(path, field),
                            k,
                            "expected one value (text, a number or true/false)",
                        ),
                    }
                }
                out
            }
            Some(_) => {
                self.error(&join(path, field), "expected a mapping of names to values");
                BTreeMap::new()
            }
        }
    }

    /// Sloth `prometheus/v1`: objective in percent, queries with `{{.window}}`. Every key
    /// of Sloth's spec is read or refused where it stands.
    fn sloth(&mut self, doc: &Value) -> Vec<Slo> {
        self.known_keys(doc, "", &["version", "service", "labels", "slos"]);
        let service = self.text(doc, "", "service").unwrap_or_default();
        let labels = self.map(doc, "", "labels");
        let Some(items) = doc.get("slos").and_then(Value::as_array) else {
            self.error("slos", "expected a list of SLOs");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("slos[{i}]");
            if !item.is_object() {
                self.error(&path, "expected an SLO: { name, objective, sli }");
                continue;
            }
            self.known_keys(
                item,
                &path,
                &[
                    "name",
                    "objective",
                    "description",
                    "labels",
                    "sli",
                    "alerting",
                ],
            );
            let name = self.text(item, &path, "name");
            let description = optional_text(self, item, &path, "description");
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
            let sli = self.sloth_sli(item, &join(&path, "sli"));
            let alerting = item.get("alerting").cloned().unwrap_or(Value::Null);
            let alert_path = join(&path, "alerting");
            if !alerting.is_null() && !alerting.is_object() {
                self.error(
                    &alert_path,
                    "expected { name, labels, annotations, page_alert, ticket_alert }",
                );
            }
            self.known_keys(
                &alerting,
                &alert_path,
                &[
                    "name",
                    "labels",
                    "annotations",
                    "page_alert",
                    "ticket_alert",
                ],
            );
            let alert = optional_text(self, &alerting, &alert_path, "name");
            let annotations = self.map(&alerting, &alert_path, "annotations");
            let common = self.map(&alerting, &alert_path, "labels");
            let page = self.sloth_alert(&alerting, &alert_path, "page_alert");
            let ticket = self.sloth_alert(&alerting, &alert_path, "ticket_alert");
            let mut slo_labels = labels.clone();
            slo_labels.extend(self.map(item, &path, "labels"));
            let (Some(name), Some(objective), Some(sli)) = (name, objective, sli) else {
                continue;
            };
            let window = Duration::from_secs(30 * 86_400);
            let mut a = Alerting::defaults(
                &alert.unwrap_or_else(|| alert_name(&service, &name)),
                window,
            );
            a.annotations = annotations;
            a.page_labels = common.clone();
            a.page_labels.extend(page);
            a.ticket_labels = common;
            a.ticket_labels.extend(ticket);
            out.push(Slo {
                service: service.clone(),
                name,
                description,
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

    /// A Sloth `sli`: `events` or `raw`, exactly one.
    fn sloth_sli(&mut self, item: &Value, sli_path: &str) -> Option<Sli> {
        let expected = "expected `events` (error_query, total_query) or `raw` (error_ratio_query)";
        let Some(sli) = item.get("sli").filter(|s| s.is_object()) else {
            self.error(sli_path, expected);
            return None;
        };
        self.known_keys(sli, sli_path, &["events", "raw", "plugin"]);
        let given: Vec<&str> = ["events", "raw", "plugin"]
            .into_iter()
            .filter(|k| sli.get(k).is_some())
            .collect();
        if given.len() > 1 {
            self.error_key(
                sli_path,
                given[1],
                format!("give one of events, raw or plugin, not also {}", given[0]),
            );
            return None;
        }
        match given.first().copied() {
            Some("events") => {
                let p = join(sli_path, "events");
                let events = &sli["events"];
                self.known_keys(events, &p, &["error_query", "total_query"]);
                match (
                    self.query(events, &p, "error_query"),
                    self.query(events, &p, "total_query"),
                ) {
                    (Some(errors), Some(total)) => Some(Sli::Events { errors, total }),
                    _ => None,
                }
            }
            Some("raw") => {
                let p = join(sli_path, "raw");
                let raw = &sli["raw"];
                self.known_keys(raw, &p, &["error_ratio_query"]);
                let q = self.query(raw, &p, "error_ratio_query")?;
                if is_bare_selector(&q) {
                    self.error(
                        &join(&p, "error_ratio_query"),
                        "a ratio is not a counter, but a bare selector is read as one \
                         (sum(rate(...)) over each window); write the query with {{.window}}",
                    );
                    return None;
                }
                Some(Sli::Raw { error_ratio: q })
            }
            Some(_) => {
                self.error_key(
                    sli_path,
                    "plugin",
                    "Sloth SLI plugins are not supported; use events or raw",
                );
                None
            }
            None => {
                self.error(sli_path, expected);
                None
            }
        }
    }

    /// `page_alert` or `ticket_alert`: the labels it adds; `disable` and its own
    /// annotations have no place in ballast's rules, so they are refused.
    fn sloth_alert(
        &mut self,
        alerting: &Value,
        alert_path: &str,
        which: &str,
    ) -> BTreeMap<String, String> {
        let path = join(alert_path, which);
        let v = alerting.get(which).unwrap_or(&Value::Null);
        if !v.is_null() && !v.is_object() {
            self.error(&path, "expected { labels }");
            return BTreeMap::new();
        }
        self.known_keys(v, &path, &["disable", "labels", "annotations"]);
        match v.get("disable") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => self.error_key(
                &path,
                "disable",
                "disabling an alert is not supported: ballast writes page and ticket alerts \
                 for every SLO; route the one you do not want away in Alertmanager",
            ),
            Some(other) => self.error(
                &join(&path, "disable"),
                format!("expected true or false, got {other}"),
            ),
        }
        if v.get("annotations").is_some() {
            self.error_key(
                &path,
                "annotations",
                format!(
                    "annotations of one alert are not supported: give them in \
                     {alert_path}.annotations, which go on both alerts"
                ),
            );
        }
        self.map(v, &path, "labels")
    }
}

fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// A Sloth file: one `prometheus/v1` spec per YAML document, as Sloth reads them.
fn sloth(file: &str, docs: &[Node]) -> Result<Vec<Slo>, Error> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, node) in docs.iter().enumerate() {
        let v = node.to_json();
        // An empty document (a stray `---`) holds no field to read.
        if v.is_null() {
            continue;
        }
        let mut r = Reader::new(file, node);
        if v.get("version").and_then(Value::as_str) == Some("prometheus/v1") {
            out.extend(r.sloth(&v));
        } else {
            r.error(
                "version",
                format!(
                    "expected prometheus/v1 (document {}), since the file starts with a Sloth \
                     spec; got {}",
                    i + 1,
                    found(v.get("version"))
                ),
            );
        }
        problems.extend(r.problems);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}
/// What an OpenSLO v1 SLI measures, before an objective says what is good.
#[derive(Clone)]
enum Indicator {
    /// A `thresholdMetric`: an instant query compared with the objective's `value`.
    Threshold(String),
    /// A `ratioMetric`: complete in itself.
    Ratio(Sli),
}

/// OpenSLO v1 and v1alpha documents, in any mix. Every document is read or refused:
/// `SLO`s become SLOs, v1 `SLI`s are read (and referred to by `indicatorRef`), `Service`s
/// are read as display text, and the kinds ballast has no use for are refused.
fn openslo(file: &str, docs: &[Node]) -> Result<Vec<Slo>, Error> {
    let values: Vec<Value> = docs.iter().map(Node::to_json).collect();
    // Problems are kept per document so that they are reported in file order, although
    // SLI documents are read before the SLOs that refer to them.
    let mut problems: Vec<Vec<Diagnostic>> = vec![Vec::new(); docs.len()];
    let mut slis: BTreeMap<String, Option<Indicator>> = BTreeMap::new();
    for (i, (node, v)) in docs.iter().zip(&values).enumerate() {
        if v.get("apiVersion").and_then(Value::as_str) != Some("openslo/v1")
            || v.get("kind").and_then(Value::as_str) != Some("SLI")
        {
            continue;
        }
        let mut r = Reader::new(file, node);
        let (name, indicator) = v1_sli_document(&mut r, v);
        if let Some(name) = name {
            match slis.entry(name) {
                std::collections::btree_map::Entry::Occupied(e) => r.error(
                    "metadata.name",
                    format!(
                        "a second SLI named {:?}; SLI names are unique in a file",
                        e.key()
                    ),
                ),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(indicator);
                }
            }
        }
        problems[i] = r.problems;
    }
    let mut out = Vec::new();
    for (i, (node, v)) in docs.iter().zip(&values).enumerate() {
        let mut r = Reader::new(file, node);
        let version = match v.get("apiVersion").and_then(Value::as_str) {
            Some(version @ ("openslo/v1" | "openslo/v1alpha")) => version,
            // An empty document (a stray `---`) holds no field to read.
            _ if v.is_null() => continue,
            _ => {
                r.error(
                    "apiVersion",
                    format!(
                        "expected openslo/v1 or openslo/v1alpha (document {}), got {}",
                        i + 1,
                        found(v.get("apiVersion"))
                    ),
                );
                problems[i].extend(r.problems);
                continue;
            }
        };
        if version == "openslo/v1alpha" {
            out.extend(v1alpha(&mut r, v));
        } else {
            match v.get("kind").and_then(Value::as_str) {
                Some("SLO") => out.extend(v1_slo(&mut r, v, &slis)),
                Some("SLI") => {}
                Some(kind) if refused_kind(&mut r, kind) => {}
                Some("Service") => service_document(&mut r, v),
                _ => r.error(
                    "kind",
                    format!(
                        "expected SLO, SLI or Service (openslo/v1), got {}",
                        found(v.get("kind"))
                    ),
                ),
            }
        }
        problems[i].extend(r.problems);
    }
    let problems: Vec<Diagnostic> = problems.into_iter().flatten().collect();
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// The OpenSLO kinds that say how to alert or connect, which ballast decides itself: an
/// error at `kind` (true) when `kind` is one of them.
fn refused_kind(r: &mut Reader<'_>, kind: &str) -> bool {
    let why = match kind {
        "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget" => {
            "is not supported: ballast writes multiwindow burn-rate alerts for every SLO and \
             leaves routing to Alertmanager; remove the document"
        }
        "DataSource" => {
            "is not supported: ballast queries the Prometheus it is pointed at; remove the \
             document and give each metricSource type: Prometheus"
        }
        _ => return false,
    };
    r.error("kind", format!("{kind} {why}"));
    true
}

/// A `Service` document (v1 or v1alpha): a name and a description, display text only.
fn service_document(r: &mut Reader<'_>, v: &Value) {
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec"]);
    if let Some(metadata) = mapping(r, v, "", "metadata") {
        metadata_fields(r, metadata, "metadata", "a Service");
        r.text(metadata, "metadata", "name");
    }
    match v.get("spec") {
        None | Some(Value::Null) => {}
        Some(spec @ Value::Object(_)) => {
            r.known_keys(spec, "spec", &["description"]);
            optional_text(r, spec, "spec", "description");
        }
        Some(_) => r.error("spec", "expected { description: ... }"),
    }
}

/// The `metadata` of a document that is not an SLO: `name` and `displayName`; labels and
/// annotations have nowhere to go.
fn metadata_fields(r: &mut Reader<'_>, metadata: &Value, path: &str, what: &str) {
    r.known_keys(
        metadata,
        path,
        &["name", "displayName", "labels", "annotations"],
    );
    optional_text(r, metadata, path, "displayName");
    if metadata.get("labels").is_some() {
        r.error_key(
            path,
            "labels",
            format!(
                "labels of {what} are not supported: give them in the SLO's metadata.labels, \
                 where they become labels of every rule"
            ),
        );
    }
    if metadata.get("annotations").is_some() {
        r.error_key(
            path,
            "annotations",
            "annotations are metadata for other tools and ballast reads none; remove them",
        );
    }
}

/// A `kind: SLI` document: its name and what it measures.
fn v1_sli_document(r: &mut Reader<'_>, v: &Value) -> (Option<String>, Option<Indicator>) {
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec"]);
    let name = mapping(r, v, "", "metadata").and_then(|m| {
        metadata_fields(r, m, "metadata", "an SLI");
        r.text(m, "metadata", "name")
    });
    let indicator = mapping(r, v, "", "spec").and_then(|spec| v1_sli_spec(r, spec, "spec"));
    (name, indicator)
}

/// An SLI's `spec` (in an SLI document or inline at `spec.indicator.spec`).
fn v1_sli_spec(r: &mut Reader<'_>, spec: &Value, path: &str) -> Option<Indicator> {
    if !spec.is_object() {
        r.error(
            path,
            "expected { ratioMetric: ... } or { thresholdMetric: ... }",
        );
        return None;
    }
    r.known_keys(
        spec,
        path,
        &["description", "thresholdMetric", "ratioMetric"],
    );
    optional_text(r, spec, path, "description");
    match (spec.get("thresholdMetric"), spec.get("ratioMetric")) {
        (Some(_), Some(_)) => {
            r.error_key(
                path,
                "ratioMetric",
                "give thresholdMetric or ratioMetric, not both",
            );
            None
        }
        (Some(threshold), None) => {
            v1_metric(r, threshold, &join(path, "thresholdMetric")).map(Indicator::Threshold)
        }
        (None, Some(ratio)) => v1_ratio(r, ratio, &join(path, "ratioMetric")).map(Indicator::Ratio),
        (None, None) => {
            r.error(path, "expected ratioMetric or thresholdMetric");
            None
        }
    }
}

/// `{ metricSource: { type: Prometheus, spec: { query } } }` at `path`: its query.
fn v1_metric(r: &mut Reader<'_>, holder: &Value, path: &str) -> Option<String> {
    let source = mapping(r, holder, path, "metricSource")?;
    r.known_keys(holder, path, &["metricSource"]);
    let spath = join(path, "metricSource");
    r.known_keys(source, &spath, &["metricSourceRef", "type", "spec"]);
    let mut ok = true;
    if source.get("metricSourceRef").is_some() {
        r.error_key(
            &spath,
            "metricSourceRef",
            "DataSource references are not supported: ballast queries the Prometheus it is \
             pointed at; give type: Prometheus instead",
        );
        ok = false;
    }
    // OpenSLO leaves the type to the DataSource when one is referred to; without one,
    // Prometheus is the only type ballast reads.
    match source.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("prometheus") => {}
        other => {
            r.error(
                &join(&spath, "type"),
                format!(
                    "only Prometheus sources are supported (type: Prometheus), got {}",
                    found(other)
                ),
            );
            ok = false;
        }
    }
    let qspec = mapping(r, source, &spath, "spec")?;
    let qpath = join(&spath, "spec");
    for key in qspec.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key != "query" {
            r.error_key(
                &qpath,
                key,
                "unknown field for a Prometheus source; expected query (everything else is \
                 written into the PromQL)",
            );
            ok = false;
        }
    }
    let query = r.text(qspec, &qpath, "query");
    query.filter(|_| ok)
}

/// A `ratioMetric`: `good` or `bad` over `total`, or a precomputed `raw` ratio.
fn v1_ratio(r: &mut Reader<'_>, ratio: &Value, rpath: &str) -> Option<Sli> {
    if !ratio.is_object() {
        r.error(
            rpath,
            "expected { good: ..., total: ... }, { bad: ..., total: ... } or { raw: ..., rawType: ... }",
        );
        return None;
    }
    r.known_keys(
        ratio,
        rpath,
        &["counter", "good", "bad", "total", "rawType", "raw"],
    );
    let counter = match ratio.get("counter") {
        None | Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => false,
        Some(other) => {
            r.error(
                &join(rpath, "counter"),
                format!("expected true or false, got {other}"),
            );
            true
        }
    };
    let query = |r: &mut Reader<'_>, which: &str| -> Option<String> {
        let mpath = join(rpath, which);
        let q = v1_metric(r, &ratio[which], &mpath)?;
        let qpath = format!("{mpath}.metricSource.spec.query");
        if let Err(e) = check_query(&q) {
            r.error(&qpath, e);
            return None;
        }
        if !counter && is_bare_selector(&q) {
            r.error(
                &qpath,
                "counter: false, but a bare selector is read as a counter \
                 (sum(rate(...)) over each window); write the query with {{.window}}",
            );
            return None;
        }
        Some(q)
    };
    let has = |k: &str| ratio.get(k).is_some();
    if has("raw") {
        for key in ["good", "bad", "total"].into_iter().filter(|k| has(k)) {
            r.error_key(
                rpath,
                key,
                "a raw ratio stands alone: give raw and rawType, or good (or bad) and total",
            );
        }
        let raw = query(r, "raw");
        if raw.as_deref().is_some_and(is_bare_selector) {
            r.error(
                &format!("{rpath}.raw.metricSource.spec.query"),
                "a ratio is not a counter, but a bare selector is read as one \
                 (sum(rate(...)) over each window); write the query with {{.window}}",
            );
            return None;
        }
        let error_ratio = match ratio.get("rawType").and_then(Value::as_str) {
            Some("failure") => raw.clone(),
            Some("success") => raw.as_ref().map(|q| format!("1 - ({q})")),
            _ => {
                r.error(
                    &join(rpath, "rawType"),
                    format!(
                        "a raw ratio needs rawType: success or failure; got {}",
                        found(ratio.get("rawType"))
                    ),
                );
                None
            }
        };
        return Some(Sli::Raw {
            error_ratio: error_ratio?,
        });
    }
    if has("rawType") {
        r.error_key(
            rpath,
            "rawType",
            "applies to a raw ratio only; good or bad already says which ratio it is",
        );
    }
    if !has("total") {
        r.error(rpath, "missing key `total`");
    }
    match (has("good"), has("bad")) {
        (true, true) => {
            r.error_key(rpath, "bad", "give good or bad, not both");
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
            r.error(rpath, "expected good or bad, and total");
            None
        }
    }
}

/// A v1 `kind: SLO` document. One objective gives one SLO named `metadata.name`; several
/// (OpenSLO allows any number over a ratioMetric) give one each, `<name>-<index>`.
fn v1_slo(r: &mut Reader<'_>, v: &Value, slis: &BTreeMap<String, Option<Indicator>>) -> Vec<Slo> {
    let Some((spec, name, labels)) = slo_document_head(r, v) else {
        return Vec::new();
    };
    r.known_keys(
        spec,
        "spec",
        &[
            "description",
            "service",
            "indicator",
            "indicatorRef",
            "timeWindow",
            "budgetingMethod",
            "objectives",
            "alertPolicies",
        ],
    );
    let service = r.text(spec, "spec", "service");
    let description = optional_text(r, spec, "spec", "description");
    let window = v1_window(r, spec);
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
    let Some(objectives) = spec.get("objectives").and_then(Value::as_array) else {
        r.error(
            "spec.objectives",
            "expected objectives: [{ target: 0.999 }] (or targetPercent: 99.9)",
        );
        return Vec::new();
    };
    if objectives.is_empty() {
        r.error("spec.objectives", "expected at least one objective");
    }
    let indicator = v1_indicator(r, spec, slis);
    if matches!(indicator, Some(Indicator::Threshold(_))) && objectives.len() > 1 {
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
        let objective = v1_objective(r, o, &path, indicator.as_ref());
        let (Some(name), Some(service), Some(window), Some((objective, sli))) =
            (&name, &service, window, objective)
        else {
            continue;
        };
        let (name, origin) = if objectives.len() == 1 {
            (name.clone(), r.root.position.line)
        } else {
            (format!("{name}-{i}"), r.root.locate(&path).line)
        };
        out.push(Slo {
            alerting: Alerting::defaults(&alert_name(service, &name), window),
            description: description.clone(),
            origin: format!("{}:{origin}", r.file),
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

/// `spec.indicator` (inline) or `spec.indicatorRef` (an SLI document of the file).
fn v1_indicator(
    r: &mut Reader<'_>,
    spec: &Value,
    slis: &BTreeMap<String, Option<Indicator>>,
) -> Option<Indicator> {
    match (spec.get("indicator"), spec.get("indicatorRef")) {
        (Some(_), Some(_)) => {
            r.error_key(
                "spec",
                "indicatorRef",
                "give indicator (inline SLI) or indicatorRef, not both",
            );
            None
        }
        (Some(inline), None) => {
            let path = "spec.indicator";
            if !inline.is_object() {
                r.error(
                    path,
                    "expected { metadata: { name }, spec: { ratioMetric: ... } }",
                );
                return None;
            }
            r.known_keys(inline, path, &["metadata", "spec"]);
            match inline.get("metadata") {
                None | Some(Value::Null) => {}
                Some(m @ Value::Object(_)) => {
                    metadata_fields(r, m, "spec.indicator.metadata", "an SLI");
                    optional_text(r, m, "spec.indicator.metadata", "name");
                }
                Some(_) => r.error("spec.indicator.metadata", "expected { name: ... }"),
            }
            let ind = mapping(r, inline, path, "spec")?;
            v1_sli_spec(r, ind, "spec.indicator.spec")
        }
        (None, Some(Value::String(reference))) => match slis.get(reference) {
            // An SLI that did not read has had its own errors.
            Some(indicator) => indicator.clone(),
            None => {
                r.error(
                    "spec.indicatorRef",
                    format!("no SLI named {reference:?} in this file"),
                );
                None
            }
        },
        (None, Some(other)) => {
            r.error(
                "spec.indicatorRef",
                format!("expected the name of an SLI document, got {other}"),
            );
            None
        }
        (None, None) => {
            r.error("spec", "expected indicator (inline SLI) or indicatorRef");
            None
        }
    }
}

/// One objective over `indicator`: its target ratio and the SLI it makes.
fn v1_objective(
    r: &mut Reader<'_>,
    o: &Value,
    path: &str,
    indicator: Option<&Indicator>,
) -> Option<(f64, Sli)> {
    if !o.is_object() {
        r.error(path, "expected an objective: { target: 0.999 }");
        return None;
    }
    r.known_keys(
        o,
        path,
        &[
            "displayName",
            "op",
            "value",
            "target",
            "targetPercent",
            "timeSliceTarget",
            "timeSliceWindow",
            "indicator",
            "indicatorRef",
            "compositeWeight",
        ],
    );
    optional_text(r, o, path, "displayName");
    for key in ["timeSliceTarget", "timeSliceWindow"] {
        if o.get(key).is_some() {
            r.error_key(
                path,
                key,
                "time slices are not supported (budgetingMethod Occurrences only)",
            );
        }
    }
    for key in ["indicator", "indicatorRef", "compositeWeight"] {
        if o.get(key).is_some() {
            r.error_key(
                path,
                key,
                "composite SLOs (an indicator per objective) are not supported: write one \
                 SLO per indicator",
            );
        }
    }
    let target = match (o.get("target"), o.get("targetPercent")) {
        (Some(_), Some(_)) => {
            r.error_key(
                path,
                "targetPercent",
                "give target or targetPercent, not both",
            );
            None
        }
        (Some(t), None) => match t.as_f64() {
            Some(t) if t > 0.0 && t < 1.0 => Some(t),
            _ => {
                r.error(
                    &join(path, "target"),
                    format!("expected a ratio between 0 and 1, e.g. 0.999; got {t}"),
                );
                None
            }
        },
        (None, Some(p)) => match p.as_f64() {
            Some(p) if p > 0.0 && p < 100.0 => Some(p / 100.0),
            _ => {
                r.error(
                    &join(path, "targetPercent"),
                    format!("expected a percentage between 0 and 100, e.g. 99.9; got {p}"),
                );
                None
            }
        },
        (None, None) => {
            r.error(path, "expected target: 0.999 (or targetPercent: 99.9)");
            None
        }
    };
    let sli = match indicator? {
        Indicator::Threshold(query) => v1alpha_threshold_objective(r, o, path, query.clone()),
        Indicator::Ratio(sli) => {
            for key in ["op", "value"] {
                if o.get(key).is_some() {
                    r.error_key(
                        path,
                        key,
                        "applies to a thresholdMetric only; a ratioMetric objective has a \
                         target alone",
                    );
                }
            }
            Some(sli.clone())
        }
    };
    Some((target?, sli?))
}

/// `spec.timeWindow`: exactly one rolling window of a fixed length.
fn v1_window(r: &mut Reader<'_>, spec: &Value) -> Option<Duration> {
    let Some(w) = spec
        .get("timeWindow")
        .and_then(Value::as_array)
        .filter(|l| l.len() == 1)
        .map(|l| &l[0])
        .filter(|w| w.is_object())
    else {
        r.error(
            "spec.timeWindow",
            "expected a list with one { duration: 28d, isRolling: true }",
        );
        return None;
    };
    let path = "spec.timeWindow[0]";
    r.known_keys(w, path, &["duration", "isRolling", "calendar"]);
    let ok = rolling_window(r, w, path);
    let dpath = join(path, "duration");
    let duration = match w.get("duration") {
        Some(Value::String(d)) => {
            let d = d.trim();
            if d.len() > 1
                && d[..d.len() - 1].bytes().all(|b| b.is_ascii_digit())
                && matches!(d.as_bytes()[d.len() - 1], b'M' | b'Q' | b'Y')
            {
                r.error(
                    &dpath,
                    format!(
                        "{d} has no fixed length (months, quarters and years differ); give \
                         the window in days or weeks, e.g. 28d or 4w"
                    ),
                );
                None
            } else {
                match window(d) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        r.error(&dpath, e);
                        None
                    }
                }
            }
        }
        other => {
            r.error(
                &dpath,
                format!(
                    "expected a duration such as 28d or 4w, got {}",
                    found(other)
                ),
            );
            None
        }
    };
    duration.filter(|_| ok)
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
        Some("Service") => {
            service_document(r, v);
            return Vec::new();
        }
        Some(kind) if refused_kind(r, kind) => return Vec::new(),
        _ => {
            r.error(
                "kind",
                format!(
                    "expected SLO or Service (openslo/v1alpha), got {}",
                    found(v.get("kind"))
                ),
            );
            return Vec::new();
        }
    }
    let Some((spec, name, labels)) = slo_document_head(r, v) else {
        return Vec::new();
    };
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
    let ok = rolling_window(r, w, path);
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

/// `calendar` and `isRolling: false` (calendar-aligned windows) are refused: ballast's SLO
/// windows are rolling. True when the window passes.
fn rolling_window(r: &mut Reader<'_>, w: &Value, path: &str) -> bool {
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
    ok
}

/// An SLO document's `spec`, `metadata.name` and `metadata.labels`.
type SloHead<'v> = (&'v Value, Option<String>, BTreeMap<String, String>);

/// The part of an OpenSLO `kind: SLO` document v1 and v1alpha share: the top-level keys, and
/// `metadata` (its name and labels; a display name accepted as text; annotations refused).
/// `None` when `metadata` or `spec` is missing (already reported).
fn slo_document_head<'v>(r: &mut Reader<'_>, v: &'v Value) -> Option<SloHead<'v>> {
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec"]);
    let metadata = mapping(r, v, "", "metadata");
    let spec = mapping(r, v, "", "spec");
    let (Some(metadata), Some(spec)) = (metadata, spec) else {
        return None;
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
    Some((spec, name, labels))
}
