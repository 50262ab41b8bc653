//! Pyrra's Kubernetes resource: `apiVersion: pyrra.dev/v1alpha1`, `kind:
//! ServiceLevelObjective`, one per YAML document (a file may hold several, `---`
//! separated, as `kubectl apply -f` reads them).
//!
//! Every key is read into the model, accepted as Kubernetes metadata (what selects and
//! describes the Kubernetes object — `prometheus: k8s`, `role: alert-rules` — not the
//! series), or refused where it stands with why. The queries are Pyrra's own burn-rate
//! queries (its `slo/rules.go`) with the range written as `{{.window}}`; the field table and
//! how Pyrra's rules compare with ballast's are in `docs/slo.md` ("Pyrra").

use super::*;
use crate::model::{KubeObject, RuleStep, RuleTweaks};

/// The `apiVersion` of Pyrra's resource.
pub(super) const API_VERSION: &str = "pyrra.dev/v1alpha1";
const KIND: &str = "ServiceLevelObjective";
/// Pyrra puts the labels (and annotations) with this prefix on its rules (and alerts),
/// without the prefix; every other label and annotation stays on the Kubernetes object.
const PROPAGATED: &str = "pyrra.dev/";
/// Pyrra's alert name when `alerting.name` is not given.
const DEFAULT_ALERT: &str = "ErrorBudgetBurn";
/// Pyrra's severities: `critical` for its fast and medium burn pairs, `warning` for the
/// slow and long-term ones.
const PAGE_SEVERITY: &str = "critical";
const TICKET_SEVERITY: &str = "warning";
const RANGE: &str = "{{.window}}";

/// A file of Pyrra resources: every document read, empty ones skipped, any other kind or
/// version refused at its position.
pub(super) fn pyrra(file: &str, docs: &[Node]) -> Result<Vec<Slo>, Error> {
    let mut out: Vec<Slo> = Vec::new();
    let mut problems = Vec::new();
    // (service, name) → the document and line that defined it first.
    let mut seen: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for (i, node) in docs.iter().enumerate() {
        let v = node.to_json();
        // An empty document (a stray `---`) holds no field to read.
        if v.is_null() {
            continue;
        }
        let mut r = Reader::new(file, node);
        let document = i + 1;
        if !v.is_object() {
            r.error(
                "",
                format!(
                    "expected a Kubernetes resource (apiVersion, kind, metadata, spec) in \
                     document {document}"
                ),
            );
        } else if v.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
            r.error(
                "apiVersion",
                format!(
                    "expected {API_VERSION} (document {document}), since the file starts with \
                     a Pyrra ServiceLevelObjective; got {}",
                    found(v.get("apiVersion"))
                ),
            );
        } else {
            match v.get("kind").and_then(Value::as_str) {
                Some(KIND) => {
                    if let Some(slo) = read(&mut r, &v) {
                        let key = (slo.service.clone(), slo.name.clone());
                        match seen.get(&key) {
                            Some((first, line)) => r.error(
                                "metadata.name",
                                format!(
                                    "the same SLO as document {first} (line {line}): service \
                                     {:?}, name {:?}; give one another name",
                                    key.0, key.1
                                ),
                            ),
                            None => {
                                seen.insert(key, (document, node.position.line));
                                out.push(slo);
                            }
                        }
                    }
                }
                Some("ServiceLevelObjectiveList") => r.error(
                    "kind",
                    "a ServiceLevelObjectiveList is not read: write each ServiceLevelObjective \
                     as a document of its own, separated by ---",
                ),
                _ => r.error(
                    "kind",
                    format!(
                        "expected {KIND} (document {document}), got {}",
                        found(v.get("kind"))
                    ),
                ),
            }
        }
        problems.extend(r.problems);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// `metadata`, as far as the SLO is concerned.
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
    /// `pyrra.dev/` labels without the prefix: labels of every rule.
    labels: BTreeMap<String, String>,
    /// `pyrra.dev/` annotations without the prefix: annotations of the alerts.
    annotations: BTreeMap<String, String>,
    /// The others: the Kubernetes object's own, for the PrometheusRule written for it.
    object_labels: BTreeMap<String, String>,
    object_annotations: BTreeMap<String, String>,
}

/// One `ServiceLevelObjective` document; `None` when it has a problem (reported).
fn read(r: &mut Reader<'_>, v: &Value) -> Option<Slo> {
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec", "status"]);
    let metadata = mapping(r, v, "", "metadata").map(|m| metadata(r, m));
    let spec = mapping(r, v, "", "spec");
    // The spec is read (and its problems reported) even when metadata is missing.
    let slo = spec.and_then(|spec| {
        let (complete, metadata) = match metadata {
            Some(m) => (true, m),
            None => (
                false,
                Metadata {
                    name: None,
                    namespace: None,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    object_labels: BTreeMap::new(),
                    object_annotations: BTreeMap::new(),
                },
            ),
        };
        read_spec(r, spec, metadata).filter(|_| complete)
    });
    status(r, v);
    slo
}

fn metadata(r: &mut Reader<'_>, m: &Value) -> Metadata {
    let mut known = vec!["name", "namespace", "labels", "annotations"];
    known.extend(KUBERNETES_BOOKKEEPING);
    r.known_keys(m, "metadata", &known);
    let name = match m.get("name") {
        None if m.get("generateName").is_some() => {
            r.error(
                "metadata",
                "missing key `name`: ballast names the SLO and its rules after it, and \
                 generateName leaves the name to the API server",
            );
            None
        }
        _ => r.text(m, "metadata", "name"),
    };
    let namespace = optional_text(r, m, "metadata", "namespace").filter(|n| !n.is_empty());
    let (labels, object_labels) = propagated(r, m, "labels", "a label of every rule");
    let (annotations, object_annotations) =
        propagated(r, m, "annotations", "an annotation of the alerts");
    Metadata {
        name,
        namespace,
        labels,
        annotations,
        object_labels,
        object_annotations,
    }
}

/// The `pyrra.dev/` entries of `metadata.<field>`, prefix removed, and the others: the
/// Kubernetes object's own (they select and describe it), which go on the PrometheusRule
/// written for it, as Pyrra's operator copies them.
fn propagated(
    r: &mut Reader<'_>,
    m: &Value,
    field: &str,
    becomes: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let path = join("metadata", field);
    let mut out = BTreeMap::new();
    let mut object = BTreeMap::new();
    for (key, value) in r.map(m, "metadata", field) {
        let Some(name) = key.strip_prefix(PROPAGATED) else {
            object.insert(key, value);
            continue;
        };
        if !crate::rules::valid_label_name(name) {
            r.error_key(
                &path,
                &key,
                format!(
                    "Pyrra makes {name:?} (the key without {PROPAGATED}) {becomes}, and it is \
                     not a Prometheus label name (letters, digits and _, not starting with a \
                     digit or __)"
                ),
            );
        } else if name.starts_with("ballast_") {
            r.error_key(
                &path,
                &key,
                format!(
                    "{name} would be {becomes}, and names starting with ballast_ are the \
                     ones ballast writes; rename it"
                ),
            );
        } else {
            out.insert(name.to_string(), value);
        }
    }
    (out, object)
}

/// `status`, which Pyrra's operator writes (`type`: the kind of object it generated): not
/// an input, so refused rather than read and dropped.
fn status(r: &mut Reader<'_>, v: &Value) {
    if v.get("status").is_some() {
        r.error_key(
            "",
            "status",
            "status is written by Pyrra's operator, not read (a `kubectl get -o yaml` export \
             holds it); remove it",
        );
    }
}

fn read_spec(r: &mut Reader<'_>, spec: &Value, metadata: Metadata) -> Option<Slo> {
    r.known_keys(
        spec,
        "spec",
        &[
            "description",
            "target",
            "window",
            "indicator",
            "alerting",
            "partial_response_strategy",
            "performanceOverAccuracy",
            "ruleOutput",
        ],
    );
    let description = optional_text(r, spec, "spec", "description").filter(|d| !d.is_empty());
    let objective = target(r, spec);
    let window = match spec.get("window") {
        None => {
            r.error("spec", "missing key `window`, e.g. window: 4w");
            None
        }
        Some(Value::String(text)) => match prometheus_duration(text) {
            Ok(d) if d.is_zero() => {
                r.error("spec.window", "expected a window above zero, e.g. 4w");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                r.error("spec.window", e);
                None
            }
        },
        Some(other) => {
            r.error(
                "spec.window",
                format!("expected a duration such as 4w or 28d, got {other}"),
            );
            None
        }
    };
    let sli = indicator(r, spec, &metadata.labels);
    let alerting = alerting(r, spec);
    thanos_and_rule_output(r, spec);
    let (Some(name), Some(objective), Some(window), Some(sli), Some(alerting)) =
        (metadata.name, objective, window, sli, alerting)
    else {
        return None;
    };
    let mut a = Alerting::defaults(alerting.name.as_deref().unwrap_or(DEFAULT_ALERT), window);
    if alerting.burn_rate_alerts {
        a.page_labels
            .insert("severity".into(), alerting.page_severity);
        a.ticket_labels
            .insert("severity".into(), alerting.ticket_severity);
    } else {
        // No alerts, but the windows are still recorded, as Pyrra keeps its burn rates.
        a.page_disabled = true;
        a.ticket_disabled = true;
    }
    a.annotations = metadata.annotations;
    // Pyrra's default (performanceOverAccuracy: false) is exact full-window rules: the
    // period ratio over the whole window, as Sloth's disableOptimized gives it.
    let exact_period = !performance_over_accuracy(r, spec);
    let tweaks = RuleTweaks {
        steps: exact_period.then(|| {
            vec![
                RuleStep::SliRules { exact_period },
                RuleStep::MetadataRules,
                RuleStep::AlertRules,
            ]
        }),
    };
    // Written as a PrometheusRule of the same name, namespace, labels and annotations, as
    // Pyrra's operator writes it (`--rule-file` writes a plain rules file instead, as Pyrra's
    // filesystem mode does).
    let kubernetes = Some(KubeObject {
        name: name.clone(),
        namespace: metadata.namespace.clone(),
        labels: metadata.object_labels,
        annotations: metadata.object_annotations,
    });
    Some(Slo {
        // Pyrra tells its objectives apart by name and namespace (the `namespace` label of
        // its objective); without a namespace the name alone identifies it.
        service: metadata.namespace.clone().unwrap_or_else(|| name.clone()),
        name,
        description,
        objective,
        window,
        sli,
        labels: metadata.labels,
        alerting: a,
        origin: format!("{}:{}", r.file, r.root.position.line),
        spec: API_VERSION.into(),
        window_is_default: false,
        tweaks,
        kubernetes,
    })
}

/// `spec.performanceOverAccuracy`: Pyrra's cheaper, less exact full-window rules. ballast's
/// counterpart is the period ratio averaged from the base window's recording; without it
/// (Pyrra's default) the period ratio is the SLI over the whole window.
fn performance_over_accuracy(r: &mut Reader<'_>, spec: &Value) -> bool {
    flag(r, spec, "spec", "performanceOverAccuracy")
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// `spec.target`: a percentage, as text (the CRD's type) or a number; the objective.
fn target(r: &mut Reader<'_>, spec: &Value) -> Option<f64> {
    let path = "spec.target";
    let value = match spec.get("target") {
        None => {
            r.error(
                "spec",
                "missing key `target`, the objective in percent, e.g. \"99.5\"",
            );
            return None;
        }
        Some(Value::String(s)) => s.parse::<f64>().ok(),
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => None,
    };
    let Some(t) = value.filter(|t| t.is_finite()) else {
        r.error(
            path,
            format!(
                "expected a percentage between 0 and 100, e.g. \"99.5\"; got {}",
                found(spec.get("target"))
            ),
        );
        return None;
    };
    if t <= 0.0 || t >= 100.0 {
        r.error(
            path,
            format!(
                "expected a percentage above 0 and below 100 (100 leaves no error budget to \
                 burn); got {t}"
            ),
        );
        return None;
    }
    if t < 1.0 {
        r.error(
            path,
            format!(
                "Pyrra reads the target in percent (0-100), so {t} is {t} %, not {} % (Pyrra \
                 warns about it too); write the percentage, e.g. \"{}\"",
                round6(t * 100.0),
                round6(t * 100.0)
            ),
        );
        return None;
    }
    // The text with its decimal point moved: "99.9" gives the f64 nearest to 0.999, where
    // 99.9 / 100 would be 0.9990000000000001.
    let text = match &spec["target"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(format!("{text}e-2").parse().unwrap_or(t / 100.0))
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// `spec.indicator`: exactly one of Pyrra's four indicators, as the model's SLI.
fn indicator(r: &mut Reader<'_>, spec: &Value, labels: &BTreeMap<String, String>) -> Option<Sli> {
    let path = "spec.indicator";
    let ind = mapping(r, spec, "spec", "indicator")?;
    const KINDS: [&str; 4] = ["ratio", "latency", "latencyNative", "bool_gauge"];
    let keys: Vec<&str> = ind
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for key in &keys {
        if *key == "boolGauge" {
            r.error_key(
                path,
                key,
                "Pyrra spells this indicator bool_gauge (its CRD's field); under boolGauge \
                 Pyrra would not read it",
            );
        } else if !KINDS.contains(key) {
            r.error_key(
                path,
                key,
                format!("unknown field; expected one of {}", KINDS.join(", ")),
            );
        }
    }
    let given: Vec<&str> = KINDS
        .into_iter()
        .filter(|k| ind.get(*k).is_some())
        .collect();
    if given.len() > 1 {
        r.error_key(
            path,
            given[1],
            format!("give one indicator, not {} and {}", given[0], given[1]),
        );
        return None;
    }
    let Some(kind) = given.first().copied() else {
        if !keys.contains(&"boolGauge") {
            r.error(path, format!("expected one of {}", KINDS.join(", ")));
        }
        return None;
    };
    let p = join(path, kind);
    let Some(v) = ind.get(kind).filter(|v| v.is_object()) else {
        r.error(&p, "expected a mapping");
        return None;
    };
    match kind {
        "ratio" => {
            r.known_keys(v, &p, &["errors", "total", "grouping"]);
            let errors = metric(r, v, &p, "errors");
            let total = metric(r, v, &p, "total");
            let by = grouping(r, v, &p, labels)?;
            Some(Sli::Events {
                errors: sum_rate(&errors?.0, &by),
                total: sum_rate(&total?.0, &by),
            })
        }
        "latency" => {
            r.known_keys(v, &p, &["success", "total", "grouping"]);
            let mut success = metric(r, v, &p, "success");
            if let Some((_, selector)) = &success {
                let at = join(&join(&p, "success"), "metric");
                let problem = match selector.matchers.iter().find(|m| m.label == "le") {
                    None => Some(
                        "the success metric needs an le matcher, the bucket of the requests \
                         fast enough, e.g. http_request_duration_seconds_bucket{le=\"0.3\"}"
                            .to_string(),
                    ),
                    Some(m) if m.value.parse::<f64>().is_err() => Some(format!(
                        "the le matcher must be a number, the bucket's bound; got {:?}",
                        m.value
                    )),
                    Some(_) => None,
                };
                if let Some(message) = problem {
                    r.error(&at, message);
                    success = None;
                }
            }
            let total = metric(r, v, &p, "total");
            let by = grouping(r, v, &p, labels)?;
            Some(Sli::Good {
                good: sum_rate(&success?.0, &by),
                total: sum_rate(&total?.0, &by),
            })
        }
        "latencyNative" => {
            r.known_keys(v, &p, &["total", "latency", "grouping"]);
            let total = metric(r, v, &p, "total");
            let lp = join(&p, "latency");
            let latency = match v.get("latency") {
                None => {
                    r.error(&p, "missing key `latency`, e.g. latency: 300ms");
                    None
                }
                Some(Value::String(text)) => match prometheus_duration(text) {
                    Ok(d) if d.is_zero() => {
                        r.error(&lp, "expected a latency above zero, e.g. 300ms");
                        None
                    }
                    Ok(d) => Some(d),
                    Err(e) => {
                        r.error(&lp, e);
                        None
                    }
                },
                Some(other) => {
                    r.error(
                        &lp,
                        format!("expected a duration such as 300ms or 1s, got {other}"),
                    );
                    None
                }
            };
            let by = grouping(r, v, &p, labels)?;
            // Pyrra: the share of the total outside [0, latency] of the native histogram.
            Some(Sli::Raw {
                error_ratio: format!(
                    "1 - histogram_fraction(0, {}, {})",
                    latency?.as_secs_f64(),
                    sum_rate(&total?.0, &by)
                ),
            })
        }
        _ => {
            // bool_gauge: the metric is inline (Pyrra's Query embedded in the indicator).
            r.known_keys(v, &p, &["metric", "grouping"]);
            let gauge = metric_text(r, v, &p);
            let by = grouping(r, v, &p, labels)?;
            let (gauge, _) = gauge?;
            // Pyrra: (samples - samples that were 1) / samples, over the window.
            let over = |f: &str| {
                let inner = format!("{f}({gauge}[{RANGE}])");
                match by.is_empty() {
                    true => format!("sum({inner})"),
                    false => format!("sum by ({}) ({inner})", by.join(", ")),
                }
            };
            Some(Sli::Raw {
                error_ratio: format!(
                    "({} - {}) / {}",
                    over("count_over_time"),
                    over("sum_over_time"),
                    over("count_over_time")
                ),
            })
        }
    }
}

/// `sum by (grouping) (rate(<selector>[{{.window}}]))`, or `sum(...)` without grouping.
fn sum_rate(selector: &str, by: &[String]) -> String {
    let inner = format!("rate({selector}[{RANGE}])");
    if by.is_empty() {
        format!("sum({inner})")
    } else {
        format!("sum by ({}) ({inner})", by.join(", "))
    }
}

/// `<field>: { metric: <selector> }`: the selector's text and its parts.
fn metric(
    r: &mut Reader<'_>,
    parent: &Value,
    path: &str,
    field: &str,
) -> Option<(String, Selector)> {
    let p = join(path, field);
    let q = match parent.get(field) {
        Some(q @ Value::Object(_)) => q,
        None => {
            r.error(path, format!("missing key `{field}`"));
            return None;
        }
        Some(other) => {
            r.error(
                &p,
                format!("expected {{ metric: <selector> }}, as Pyrra writes it; got {other}"),
            );
            return None;
        }
    };
    r.known_keys(q, &p, &["metric"]);
    metric_text(r, q, &p)
}

/// The `metric` key of `q` (at `path`): a PromQL selector, as Pyrra requires.
fn metric_text(r: &mut Reader<'_>, q: &Value, path: &str) -> Option<(String, Selector)> {
    let text = r.text(q, path, "metric")?;
    match parse_selector(&text) {
        Ok(s) => Some((text.trim().to_string(), s)),
        Err(e) => {
            r.error(&join(path, "metric"), e);
            None
        }
    }
}

/// `grouping`: label names kept in the `by (...)` of every query, so the rules carry one
/// series per group (sorted and without repeats, as Pyrra writes them).
fn grouping(
    r: &mut Reader<'_>,
    v: &Value,
    path: &str,
    labels: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let p = join(path, "grouping");
    let items = match v.get("grouping") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            r.error(&p, "expected a list of label names, e.g. [route]");
            return None;
        }
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{p}[{i}]");
        let problem = match item.as_str() {
            None => Some(format!("expected a label name, got {item}")),
            Some(l) if !crate::rules::valid_label_name(l) => Some(format!(
                "expected a Prometheus label name (letters, digits and _, not starting with a \
                 digit or __), got {l:?}"
            )),
            Some(l) if l.starts_with("ballast_") => Some(format!(
                "{l} is a label ballast writes on its rules; a series label of that name would \
                 be overwritten"
            )),
            Some("severity") => Some(
                "the alerts' severity label would overwrite this label and merge the groups"
                    .to_string(),
            ),
            Some(l) if labels.contains_key(l) => Some(format!(
                "every rule gets the label {l} from metadata.labels {PROPAGATED}{l}, which would \
                 overwrite this label and merge the groups; rename one"
            )),
            Some(l) => {
                out.push(l.to_string());
                None
            }
        };
        if let Some(message) = problem {
            r.error(&at, message);
            ok = false;
        }
    }
    out.sort();
    out.dedup();
    ok.then_some(out)
}

/// What `spec.alerting` asks of the alerts.
struct PyrraAlerting {
    /// Neither `disabled: true` nor `burnrates: false`.
    burn_rate_alerts: bool,
    name: Option<String>,
    page_severity: String,
    ticket_severity: String,
}

/// `true`, `false`, nothing, or an error.
fn flag(r: &mut Reader<'_>, v: &Value, path: &str, key: &str) -> Result<Option<bool>, ()> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => {
            r.error(
                &join(path, key),
                format!("expected true or false, got {other}"),
            );
            Err(())
        }
    }
}

fn alerting(r: &mut Reader<'_>, spec: &Value) -> Option<PyrraAlerting> {
    let path = "spec.alerting";
    let a = match spec.get("alerting") {
        None | Some(Value::Null) => &Value::Null,
        Some(a @ Value::Object(_)) => a,
        Some(_) => {
            r.error(
                path,
                "expected { burnrates, absent, name, severities } (Pyrra's alerting)",
            );
            return None;
        }
    };
    r.known_keys(
        a,
        path,
        &[
            "disabled",
            "burnrates",
            "absent",
            "name",
            "absentName",
            "severities",
        ],
    );
    let disabled = flag(r, a, path, "disabled");
    let burnrates = flag(r, a, path, "burnrates");
    let absent = flag(r, a, path, "absent");
    let mut ok = disabled.is_ok() && burnrates.is_ok() && absent.is_ok();
    if absent == Ok(Some(true)) {
        r.error(
            &join(path, "absent"),
            "absent-metric alerts are not supported: ballast's rules are recording rules and \
             burn-rate alerts only, and it cannot add Pyrra's absent(...) alerts; set absent: \
             false (alert on absent(<metric>) in a rule of your own if you need it)",
        );
        ok = false;
    }
    let absent_off = absent == Ok(Some(false));
    let why_absent = "names Pyrra's absent-metric alerts, which ballast does not write; set \
                      absent: false (it then has no effect, in Pyrra either) or remove it";
    if a.get("absentName").is_some() {
        if absent_off {
            optional_text(r, a, path, "absentName");
        } else {
            r.error_key(path, "absentName", why_absent);
            ok = false;
        }
    }
    let name = optional_text(r, a, path, "name").filter(|n| !n.is_empty());
    let burn_rate_alerts =
        disabled.unwrap_or_default() != Some(true) && burnrates.unwrap_or_default() != Some(false);
    let (page_severity, ticket_severity) = match a.get("severities") {
        None | Some(Value::Null) => (PAGE_SEVERITY.to_string(), TICKET_SEVERITY.to_string()),
        Some(s @ Value::Object(_)) => {
            let sp = join(path, "severities");
            r.known_keys(
                s,
                &sp,
                &[
                    "absent",
                    "fastBurn",
                    "mediumBurn",
                    "slowBurn",
                    "longTermBurn",
                ],
            );
            if s.get("absent").is_some() {
                if absent_off {
                    optional_text(r, s, &sp, "absent");
                } else {
                    r.error_key(
                        &sp,
                        "absent",
                        "is the severity of Pyrra's absent-metric alerts, which ballast does not \
                         write; set alerting.absent: false (it then has no effect, in Pyrra \
                         either) or remove it",
                    );
                    ok = false;
                }
            }
            let page = tier(
                r,
                s,
                &sp,
                ["fastBurn", "mediumBurn"],
                PAGE_SEVERITY,
                "page",
                "fast (1h/5m for 4w) and medium (6h/30m)",
            );
            let ticket = tier(
                r,
                s,
                &sp,
                ["slowBurn", "longTermBurn"],
                TICKET_SEVERITY,
                "ticket",
                "slow (1d/2h for 4w) and long-term (4d/6h)",
            );
            match (page, ticket) {
                (Some(p), Some(t)) => (p, t),
                _ => {
                    ok = false;
                    (String::new(), String::new())
                }
            }
        }
        Some(_) => {
            r.error(
                &join(path, "severities"),
                "expected { fastBurn, mediumBurn, slowBurn, longTermBurn, absent }",
            );
            return None;
        }
    };
    ok.then_some(PyrraAlerting {
        burn_rate_alerts,
        name,
        page_severity,
        ticket_severity,
    })
}

/// The one severity of ballast's page (or ticket) alert from Pyrra's two tiers it covers;
/// an unset (or empty) tier has Pyrra's default.
fn tier(
    r: &mut Reader<'_>,
    s: &Value,
    path: &str,
    keys: [&str; 2],
    default: &str,
    alert: &str,
    pairs: &str,
) -> Option<String> {
    let first = optional_text(r, s, path, keys[0]).filter(|v| !v.is_empty());
    let second = optional_text(r, s, path, keys[1]).filter(|v| !v.is_empty());
    let a = first.clone().unwrap_or_else(|| default.to_string());
    let b = second.clone().unwrap_or_else(|| default.to_string());
    if a == b {
        return Some(a);
    }
    let at = if second.is_some() { keys[1] } else { keys[0] };
    let shown = |v: &Option<String>, value: &str| match v {
        Some(_) => format!("{value:?}"),
        None => format!("{value:?} (Pyrra's default)"),
    };
    r.error_key(
        path,
        at,
        format!(
            "ballast's {alert} alert is one rule over Pyrra's {pairs} burn pairs, so they share \
             one severity; here {} is {} and {} is {}: give both the same value",
            keys[0],
            shown(&first, &a),
            keys[1],
            shown(&second, &b)
        ),
    );
    None
}

/// `partial_response_strategy` (Thanos Ruler), `performanceOverAccuracy` and `ruleOutput`
/// (how Pyrra splits its own rules): what ballast's single rules file can honour.
fn thanos_and_rule_output(r: &mut Reader<'_>, spec: &Value) {
    match spec.get("partial_response_strategy") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "abort" || s.is_empty() => {}
        Some(Value::String(s)) if s == "warn" => r.error(
            "spec.partial_response_strategy",
            "warn is not supported: ballast's rule groups carry no partial_response_strategy, \
             so Thanos Ruler evaluates them with its default, abort; remove it or write abort",
        ),
        Some(other) => r.error(
            "spec.partial_response_strategy",
            format!("expected abort, warn or \"\" (Pyrra's values), got {other}"),
        ),
    }
    let path = "spec.ruleOutput";
    let o = match spec.get("ruleOutput") {
        None | Some(Value::Null) => return,
        Some(o @ Value::Object(_)) => o,
        Some(_) => {
            r.error(
                path,
                "expected { shortRulesLabels, longRulesLabels, enableDescriptionAsLabel }",
            );
            return;
        }
    };
    r.known_keys(
        o,
        path,
        &[
            "shortRulesLabels",
            "longRulesLabels",
            "enableDescriptionAsLabel",
        ],
    );
    for key in ["shortRulesLabels", "longRulesLabels"] {
        if !r.map(o, path, key).is_empty() {
            r.error_key(
                path,
                key,
                "labels Pyrra puts on the PrometheusRule objects it splits its rules into \
                 (-short, -long); ballast writes one rules file and no PrometheusRule object: \
                 remove them and load the file where it belongs",
            );
        }
    }
    if flag(r, o, path, "enableDescriptionAsLabel") == Ok(Some(true)) {
        r.error(
            &join(path, "enableDescriptionAsLabel"),
            "ballast puts no description label on its rules (Pyrra puts it on its \
             pyrra_objective and pyrra_window series, which ballast does not write); remove it",
        );
    }
}

/// A duration as Prometheus' `model.ParseDuration` (which Pyrra uses) reads it: whole
/// numbers of `y` (365 d), `w`, `d`, `h`, `m`, `s`, `ms`, each once, largest first, or `0`.
pub(super) fn prometheus_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    promql_parser::util::parse_duration(text).map_err(|_| {
        format!(
            "expected a Prometheus duration such as 4w, 28d or 1d12h (whole numbers of y, w, \
             d, h, m, s, ms, largest first), as Pyrra reads it; got {text:?}"
        )
    })
}

/// A PromQL vector selector: `name` or `name{label op "value", ...}`.
#[derive(Debug, PartialEq)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

#[derive(Debug, PartialEq)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

/// Reads a selector as Pyrra requires its metrics (a metric name with optional matchers, no
/// range, no offset, no function around it), with a real PromQL parser.
fn parse_selector(text: &str) -> Result<Selector, String> {
    use promql_parser::parser::{self, Expr};
    let t = text.trim();
    let expr = parser::parse(t).map_err(|e| {
        format!(
            "expected a selector such as http_requests_total{{job=\"api\",code=~\"5..\"}}, as \
             Pyrra takes its metrics; {t:?} is not valid PromQL ({})",
            e.trim()
        )
    })?;
    let v = match expr {
        Expr::VectorSelector(v) => v,
        Expr::MatrixSelector(_) => {
            return Err(format!(
                "a range such as [5m] makes {t:?} a range vector, which Pyrra refuses: give the \
                 selector alone; each rule puts its own window in"
            ))
        }
        _ => {
            return Err(format!(
                "{t:?} is a function or aggregation, not a selector: Pyrra takes the selector \
                 and writes sum(rate(...)) around it itself"
            ))
        }
    };
    if v.offset.is_some() || v.at.is_some() {
        return Err(format!(
            "an offset or @ modifier would move every window of {t:?}; give the selector alone"
        ));
    }
    let Some(name) = v.name.clone() else {
        return Err(
            "give the metric name before the braces (not as {__name__=...}): Pyrra names its \
             rules after it and cannot read the SLO without it"
                .into(),
        );
    };
    Ok(Selector {
        name,
        matchers: v
            .matchers
            .matchers
            .iter()
            .chain(v.matchers.or_matchers.iter().flatten())
            .filter(|m| m.name != "__name__")
            .map(|m| Matcher {
                label: m.name.clone(),
                op: m.op.to_string(),
                value: m.value.clone(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_reads_them() {
        let d = |s| prometheus_duration(s).map(|d| d.as_millis());
        assert_eq!(d("4w"), Ok(28 * 86_400_000));
        assert_eq!(d("28d"), Ok(28 * 86_400_000));
        assert_eq!(d("1d12h"), Ok(36 * 3_600_000));
        assert_eq!(d("1y"), Ok(365 * 86_400_000));
        assert_eq!(d("200ms"), Ok(200));
        assert_eq!(d("1m30s"), Ok(90_000));
        assert_eq!(d("0"), Ok(0));
        for wrong in ["", "1.5h", "1h1d", "1d1d", "30 d", "d", "5", "-1d", "1x"] {
            assert!(prometheus_duration(wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn selectors_as_pyrra_takes_them() {
        let s = parse_selector(r#" http_requests_total{code=~"5..", job = 'ab',} "#).unwrap();
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(
            s.matchers,
            vec![
                Matcher {
                    label: "code".into(),
                    op: "=~".into(),
                    value: "5..".into()
                },
                Matcher {
                    label: "job".into(),
                    op: "=".into(),
                    value: "ab".into()
                }
            ]
        );
        assert_eq!(parse_selector("up").unwrap().matchers, vec![]);
        assert_eq!(parse_selector("a:b{}").unwrap().name, "a:b");
        for (wrong, why) in [
            ("x[5m]", "range"),
            ("x offset 5m", "offset"),
            ("sum(rate(x[5m]))", "function"),
            ("{__name__=\"x\"}", "metric name before the braces"),
            ("x{a=\"b\"", "not valid PromQL"),
            ("x{a=b}", "not valid PromQL"),
            ("x{a~\"b\"}", "not valid PromQL"),
            ("1x", "not valid PromQL"),
        ] {
            let e = parse_selector(wrong).unwrap_err();
            assert!(e.contains(why), "{wrong}: {e}");
        }
    }
}
