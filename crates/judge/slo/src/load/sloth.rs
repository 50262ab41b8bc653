//! Sloth specs: the plain `prometheus/v1` file and the Kubernetes resource
//! (`sloth.slok.dev/v1`, `PrometheusServiceLevel`), which holds the same spec with
//! camel-case keys. Every key is read or refused where it stands.

use super::openslo_v1alpha::is_bare_selector;
use super::*;
use crate::model::KubeObject;

/// The key names of one Sloth form.
struct Keys {
    spec: &'static str,
    plugins: &'static str,
    error_query: &'static str,
    total_query: &'static str,
    error_ratio_query: &'static str,
    page_alert: &'static str,
    ticket_alert: &'static str,
}

const PLAIN: Keys = Keys {
    spec: "prometheus/v1",
    plugins: "slo_plugins",
    error_query: "error_query",
    total_query: "total_query",
    error_ratio_query: "error_ratio_query",
    page_alert: "page_alert",
    ticket_alert: "ticket_alert",
};

const KUBERNETES: Keys = Keys {
    spec: "sloth.slok.dev/v1",
    plugins: "sloPlugins",
    error_query: "errorQuery",
    total_query: "totalQuery",
    error_ratio_query: "errorRatioQuery",
    page_alert: "pageAlert",
    ticket_alert: "ticketAlert",
};

impl Reader<'_> {
    /// A Sloth spec (`doc` at `base`, "" for a plain spec, "spec" inside the Kubernetes
    /// resource): objective in percent, queries with `{{.window}}`.
    fn sloth_spec(&mut self, doc: &Value, base: &str, keys: &Keys) -> Vec<Slo> {
        let mut known = vec!["service", "labels", "slos", keys.plugins];
        if base.is_empty() {
            known.push("version");
        }
        self.known_keys(doc, base, &known);
        let spec_chain = self.sloth_chain(doc, base, keys.plugins);
        let service = self.text(doc, base, "service").unwrap_or_default();
        let labels = self.map(doc, base, "labels");
        let Some(items) = doc.get("slos").and_then(Value::as_array) else {
            self.error(&join(base, "slos"), "expected a list of SLOs");
            return Vec::new();
        };
        if items.is_empty() {
            self.error(&join(base, "slos"), "at least one SLO is required");
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = join(base, &format!("slos[{i}]"));
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
                    "plugins",
                ],
            );
            let slo_chain = self.sloth_chain(item, &path, "plugins");
            let tweaks = super::sloth_plugins::tweaks(&spec_chain, &slo_chain);
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
            let sli = self.sloth_sli(item, &join(&path, "sli"), keys);
            let alerting = self.sloth_alerting(item, &path, keys);
            let mut slo_labels = labels.clone();
            slo_labels.extend(self.map(item, &path, "labels"));
            let (Some(name), Some(objective), Some(sli), Some(parts)) =
                (name, objective, sli, alerting)
            else {
                continue;
            };
            let window = Duration::from_secs(30 * 86_400);
            let mut a = Alerting::defaults(
                &parts.name.unwrap_or_else(|| alert_name(&service, &name)),
                window,
            );
            a.annotations = parts.annotations;
            a.page_labels = parts.labels.clone();
            a.page_labels.extend(parts.page.labels);
            a.page_annotations = parts.page.annotations;
            a.page_disabled = parts.page.disabled;
            a.ticket_labels = parts.labels;
            a.ticket_labels.extend(parts.ticket.labels);
            a.ticket_annotations = parts.ticket.annotations;
            a.ticket_disabled = parts.ticket.disabled;
            out.push(Slo {
                service: service.clone(),
                name,
                description,
                objective,
                window,
                window_is_default: true,
                sli,
                labels: slo_labels,
                alerting: a,
                origin: format!("{}:{}", self.file, self.root.locate(&path).line),
                spec: keys.spec.into(),
                tweaks,
                kubernetes: None,
            });
        }
        out
    }

    /// `alerting`: a name (required unless both alerts are disabled, as Sloth requires),
    /// labels and annotations for both alerts, and each alert's own.
    fn sloth_alerting(&mut self, item: &Value, path: &str, keys: &Keys) -> Option<SlothAlerting> {
        let alerting = item.get("alerting").cloned().unwrap_or(Value::Null);
        let alert_path = join(path, "alerting");
        if !alerting.is_null() && !alerting.is_object() {
            self.error(
                &alert_path,
                format!(
                    "expected {{ name, labels, annotations, {}, {} }}",
                    keys.page_alert, keys.ticket_alert
                ),
            );
            return None;
        }
        self.known_keys(
            &alerting,
            &alert_path,
            &[
                "name",
                "labels",
                "annotations",
                keys.page_alert,
                keys.ticket_alert,
            ],
        );
        let name = optional_text(self, &alerting, &alert_path, "name");
        let annotations = self.map(&alerting, &alert_path, "annotations");
        let labels = self.map(&alerting, &alert_path, "labels");
        let page = self.sloth_alert(&alerting, &alert_path, keys.page_alert)?;
        let ticket = self.sloth_alert(&alerting, &alert_path, keys.ticket_alert)?;
        if name.as_deref().is_none_or(|n| n.trim().is_empty())
            && !(page.disabled && ticket.disabled)
        {
            // Sloth refuses this too; an invented name would not match any routing.
            self.error(
                &alert_path,
                "missing key `name`: the alerts need a name (Prometheus `alert:`), unless \
                 both alerts are disabled",
            );
            return None;
        }
        Some(SlothAlerting {
            name,
            labels,
            annotations,
            page,
            ticket,
        })
    }

    /// A Sloth `sli`: `events` or `raw`, exactly one.
    fn sloth_sli(&mut self, item: &Value, sli_path: &str, keys: &Keys) -> Option<Sli> {
        let expected = format!(
            "expected `events` ({}, {}) or `raw` ({})",
            keys.error_query, keys.total_query, keys.error_ratio_query
        );
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
                self.known_keys(events, &p, &[keys.error_query, keys.total_query]);
                match (
                    self.query(events, &p, keys.error_query),
                    self.query(events, &p, keys.total_query),
                ) {
                    (Some(errors), Some(total)) => Some(Sli::Events { errors, total }),
                    _ => None,
                }
            }
            Some("raw") => {
                let p = join(sli_path, "raw");
                let raw = &sli["raw"];
                self.known_keys(raw, &p, &[keys.error_ratio_query]);
                let q = self.query(raw, &p, keys.error_ratio_query)?;
                if is_bare_selector(&q) {
                    self.error(
                        &join(&p, keys.error_ratio_query),
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
                    "Sloth SLI plugins are Go code run inside Sloth and are not supported; \
                     write the plugin's query as events or raw",
                );
                None
            }
            None => {
                self.error(sli_path, expected);
                None
            }
        }
    }

    /// `page_alert` or `ticket_alert`: disabled or not, its labels and annotations (over
    /// the common ones, as Sloth merges them).
    fn sloth_alert(
        &mut self,
        alerting: &Value,
        alert_path: &str,
        which: &str,
    ) -> Option<SlothAlert> {
        let path = join(alert_path, which);
        let v = alerting.get(which).unwrap_or(&Value::Null);
        if !v.is_null() && !v.is_object() {
            self.error(&path, "expected { disable, labels, annotations }");
            return None;
        }
        self.known_keys(v, &path, &["disable", "labels", "annotations"]);
        let disabled = match v.get("disable") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(other) => {
                self.error(
                    &join(&path, "disable"),
                    format!("expected true or false, got {other}"),
                );
                false
            }
        };
        Some(SlothAlert {
            disabled,
            labels: self.map(v, &path, "labels"),
            annotations: self.map(v, &path, "annotations"),
        })
    }

    /// `metadata` of a Kubernetes resource: name (required), namespace, labels and
    /// annotations, which go on the PrometheusRule written for it.
    pub(super) fn kube_metadata(&mut self, v: &Value) -> Option<KubeObject> {
        let metadata = mapping(self, v, "", "metadata")?;
        let mut known = vec!["name", "namespace", "labels", "annotations"];
        known.extend(KUBERNETES_BOOKKEEPING);
        self.known_keys(metadata, "metadata", &known);
        let name = self.text(metadata, "metadata", "name")?;
        Some(KubeObject {
            name,
            namespace: optional_text(self, metadata, "metadata", "namespace"),
            labels: self.map(metadata, "metadata", "labels"),
            annotations: self.map(metadata, "metadata", "annotations"),
        })
    }
}

struct SlothAlert {
    disabled: bool,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

struct SlothAlerting {
    name: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    page: SlothAlert,
    ticket: SlothAlert,
}

/// A Sloth file: one spec per YAML document, plain or Kubernetes, as Sloth reads them.
pub(super) fn sloth(file: &str, docs: &[Node]) -> Result<Vec<Slo>, Error> {
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
            out.extend(r.sloth_spec(&v, "", &PLAIN));
        } else if v.get("apiVersion").and_then(Value::as_str) == Some("sloth.slok.dev/v1") {
            out.extend(kubernetes(&mut r, &v));
        } else {
            r.error(
                "version",
                format!(
                    "expected a Sloth spec (version: prometheus/v1, or apiVersion: \
                     sloth.slok.dev/v1) in document {}, since the file starts with one; got {}",
                    i + 1,
                    found(v.get("version").or(v.get("apiVersion")))
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

/// A `PrometheusServiceLevel` resource: its spec, and its metadata for the PrometheusRule.
fn kubernetes(r: &mut Reader<'_>, v: &Value) -> Vec<Slo> {
    r.known_keys(v, "", &["apiVersion", "kind", "metadata", "spec", "status"]);
    match v.get("kind").and_then(Value::as_str) {
        Some("PrometheusServiceLevel") => {}
        _ => {
            r.error(
                "kind",
                format!(
                    "expected PrometheusServiceLevel (sloth.slok.dev/v1); got {}",
                    found(v.get("kind"))
                ),
            );
            return Vec::new();
        }
    }
    if v.get("status").is_some() {
        r.error_key(
            "",
            "status",
            "status is written by Sloth's controller, not read; remove it",
        );
    }
    let object = r.kube_metadata(v);
    let Some(spec) = mapping(r, v, "", "spec") else {
        return Vec::new();
    };
    let mut slos = r.sloth_spec(spec, "spec", &KUBERNETES);
    for slo in &mut slos {
        slo.kubernetes = object.clone();
    }
    slos
}
