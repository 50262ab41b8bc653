//! OpenSLO v1 documents (and the dispatch of a file of OpenSLO documents, v1 and v1alpha
//! in any mix).

use super::openslo_v1alpha::*;
use super::*;

/// What an OpenSLO v1 SLI measures, before an objective says what is good.
#[derive(Clone)]
pub(super) enum Indicator {
    /// A `thresholdMetric`: an instant query compared with the objective's `value`.
    Threshold(String),
    /// A `ratioMetric`: complete in itself.
    Ratio(Sli),
}

/// OpenSLO v1 and v1alpha documents, in any mix. Every document is read or refused:
/// `SLO`s become SLOs, v1 `SLI`s are read (and referred to by `indicatorRef`), `Service`s
/// are read as display text, and the kinds ballast has no use for are refused.
pub(super) fn openslo(file: &str, docs: &[Node]) -> Result<Vec<Slo>, Error> {
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
    // The Services the file defines: when it defines any, every SLO must belong to one of
    // them (OpenSLO's `spec.service` names a Service), so a Service's name is checked.
    let services: Vec<&str> = values
        .iter()
        .filter(|v| v.get("kind").and_then(Value::as_str) == Some("Service"))
        .filter_map(|v| v.pointer("/metadata/name").and_then(Value::as_str))
        .collect();
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
        if let (false, Some("SLO"), Some(service)) = (
            services.is_empty(),
            v.get("kind").and_then(Value::as_str),
            v.pointer("/spec/service").and_then(Value::as_str),
        ) {
            if !services.contains(&service) {
                r.error(
                    "spec.service",
                    format!(
                        "no Service document of this file is named {service:?} (it defines {}); \
                         an SLO belongs to one of them",
                        services.join(", ")
                    ),
                );
            }
        }
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
pub(super) fn refused_kind(r: &mut Reader<'_>, kind: &str) -> bool {
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
pub(super) fn service_document(r: &mut Reader<'_>, v: &Value) {
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
pub(super) fn metadata_fields(r: &mut Reader<'_>, metadata: &Value, path: &str, what: &str) {
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
pub(super) fn v1_sli_document(
    r: &mut Reader<'_>,
    v: &Value,
) -> (Option<String>, Option<Indicator>) {
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec"]);
    let name = mapping(r, v, "", "metadata").and_then(|m| {
        metadata_fields(r, m, "metadata", "an SLI");
        r.text(m, "metadata", "name")
    });
    let indicator = mapping(r, v, "", "spec").and_then(|spec| v1_sli_spec(r, spec, "spec"));
    (name, indicator)
}

/// An SLI's `spec` (in an SLI document or inline at `spec.indicator.spec`).
pub(super) fn v1_sli_spec(r: &mut Reader<'_>, spec: &Value, path: &str) -> Option<Indicator> {
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
pub(super) fn v1_metric(r: &mut Reader<'_>, holder: &Value, path: &str) -> Option<String> {
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
pub(super) fn v1_ratio(r: &mut Reader<'_>, ratio: &Value, rpath: &str) -> Option<Sli> {
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
    good_or_bad_over_total(r, rpath, &has, &query, "expected good or bad, and total")
}

/// A v1 `kind: SLO` document. One objective gives one SLO named `metadata.name`; several
/// (OpenSLO allows any number over a ratioMetric) give one each, `<name>-<index>`.
pub(super) fn v1_slo(
    r: &mut Reader<'_>,
    v: &Value,
    slis: &BTreeMap<String, Option<Indicator>>,
) -> Vec<Slo> {
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
    let (service, description) = slo_spec_common(r, spec);
    let window = v1_window(r, spec);
    let Some(objectives) = spec.get("objectives").and_then(Value::as_array) else {
        r.error(
            "spec.objectives",
            "expected objectives: [{ target: 0.999 }] (or targetPercent: 99.9)",
        );
        return Vec::new();
    };
    let indicator = v1_indicator(r, spec, slis);
    objective_count(
        r,
        objectives.len(),
        matches!(indicator, Some(Indicator::Threshold(_))),
    );
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
            spec: "openslo/v1".into(),
            tweaks: Default::default(),
            kubernetes: None,
            service: service.clone(),
            name,
            objective,
            window,
            window_is_default: false,
            sli,
            labels: labels.clone(),
        });
    }
    out
}

/// `spec.indicator` (inline) or `spec.indicatorRef` (an SLI document of the file).
pub(super) fn v1_indicator(
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
pub(super) fn v1_objective(
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
pub(super) fn v1_window(r: &mut Reader<'_>, spec: &Value) -> Option<Duration> {
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
            let calendar_unit = d
                .strip_suffix(['M', 'Q', 'Y'])
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if calendar_unit {
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
