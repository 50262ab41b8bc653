//! OpenSLO v1alpha documents, the form Sloth reads.

use super::openslo_v1::*;
use super::*;

/// Sloth's window for OpenSLO documents that give none.
pub(super) const V1ALPHA_DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// OpenSLO v1alpha, the form Sloth reads (`examples/openslo-*.yml` in Sloth): a `kind: SLO`
/// document whose objectives each carry a `target` and, unless `spec.indicator` holds a
/// `thresholdMetric`, their own `ratioMetrics`. Each objective becomes one SLO named
/// `<metadata.name>-<index>`, as Sloth names them, so rule ids stay the same when moving
/// from Sloth. Every field is either read into the model, accepted as display text
/// (`displayName`), or refused where it stands: nothing is ignored.
pub(super) fn v1alpha(r: &mut Reader<'_>, v: &Value) -> Vec<Slo> {
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
    let (service, description) = slo_spec_common(r, spec);
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
    objective_count(r, objectives.len(), threshold.is_some());
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
            spec: "openslo/v1alpha".into(),
            tweaks: Default::default(),
            kubernetes: None,
            service: service.clone(),
            name,
            objective,
            window,
            window_is_default: spec.get("timeWindows").is_none_or(Value::is_null),
            sli,
            labels: labels.clone(),
        });
    }
    out
}

/// `metadata.labels`: single values become labels of every rule; v1alpha also allows a
/// list of values per key, which one Prometheus label cannot hold.
pub(super) fn v1alpha_labels(
    r: &mut Reader<'_>,
    labels: Option<&Value>,
) -> BTreeMap<String, String> {
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
pub(super) fn v1alpha_window(r: &mut Reader<'_>, spec: &Value) -> Option<Duration> {
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
pub(super) fn v1alpha_source(r: &mut Reader<'_>, v: &Value, path: &str) -> Option<String> {
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
pub(super) fn v1alpha_threshold(r: &mut Reader<'_>, indicator: &Value) -> Option<String> {
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
pub(super) fn v1alpha_threshold_objective(
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
pub(super) fn is_bare_selector(query: &str) -> bool {
    crate::promql::over(query, Duration::from_secs(60)).contains(query.trim())
}

/// An objective's `ratioMetrics` (`ratioMetric` in parts of the v1alpha text): good or bad
/// events over total events.
pub(super) fn v1alpha_ratio(r: &mut Reader<'_>, o: &Value, path: &str) -> Option<Sli> {
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
    good_or_bad_over_total(
        r,
        &rpath,
        &|k| ratio.get(k).is_some(),
        &query,
        "missing key `good` (or `bad`)",
    )
}

/// `good` or `bad`, over `total` (OpenSLO v1 and v1alpha ratios): `has` says which keys are
/// there, `query` reads one; `neither` is the message when both are missing.
pub(super) fn good_or_bad_over_total(
    r: &mut Reader<'_>,
    rpath: &str,
    has: &dyn Fn(&str) -> bool,
    query: &dyn Fn(&mut Reader<'_>, &str) -> Option<String>,
    neither: &str,
) -> Option<Sli> {
    if !has("total") {
        r.error(rpath, "missing key `total`");
    }
    let total = |r: &mut Reader<'_>| has("total").then(|| query(r, "total")).flatten();
    match (has("good"), has("bad")) {
        (true, true) => {
            r.error_key(rpath, "bad", "give good or bad, not both");
            None
        }
        (true, false) => {
            let good = query(r, "good");
            let total = total(r);
            Some(Sli::Good {
                good: good?,
                total: total?,
            })
        }
        (false, true) => {
            let bad = query(r, "bad");
            let total = total(r);
            Some(Sli::Events {
                errors: bad?,
                total: total?,
            })
        }
        (false, false) => {
            r.error(rpath, neither);
            None
        }
    }
}

/// `calendar` and `isRolling: false` (calendar-aligned windows) are refused: ballast's SLO
/// windows are rolling. True when the window passes.
pub(super) fn rolling_window(r: &mut Reader<'_>, w: &Value, path: &str) -> bool {
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

/// At least one objective, and exactly one over a thresholdMetric (v1 and v1alpha).
pub(super) fn objective_count(r: &mut Reader<'_>, count: usize, threshold: bool) {
    if count == 0 {
        r.error("spec.objectives", "expected at least one objective");
    }
    if threshold && count > 1 {
        r.error(
            "spec.objectives",
            format!("a thresholdMetric indicator takes exactly one objective, got {count}"),
        );
    }
}

/// The part of an SLO's `spec` v1 and v1alpha share: its service and description, and the
/// budgeting method and alert policies checked (only Occurrences; ballast writes the alerts).
pub(super) fn slo_spec_common(
    r: &mut Reader<'_>,
    spec: &Value,
) -> (Option<String>, Option<String>) {
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
    (service, description)
}

/// An SLO document's `spec`, `metadata.name` and `metadata.labels`.
pub(super) type SloHead<'v> = (&'v Value, Option<String>, BTreeMap<String, String>);

/// The part of an OpenSLO `kind: SLO` document v1 and v1alpha share: the top-level keys, and
/// `metadata` (its name and labels; a display name accepted as text; annotations refused).
/// `None` when `metadata` or `spec` is missing (already reported).
pub(super) fn slo_document_head<'v>(r: &mut Reader<'_>, v: &'v Value) -> Option<SloHead<'v>> {
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
