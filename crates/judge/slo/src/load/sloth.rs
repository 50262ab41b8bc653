//! Sloth `prometheus/v1` specs.

use super::openslo_v1alpha::is_bare_selector;
use super::*;

impl Reader<'_> {
    /// Sloth `prometheus/v1`: objective in percent, queries with `{{.window}}`. Every key
    /// of Sloth's spec is read or refused where it stands.
    pub(super) fn sloth(&mut self, doc: &Value) -> Vec<Slo> {
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
    pub(super) fn sloth_sli(&mut self, item: &Value, sli_path: &str) -> Option<Sli> {
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
    pub(super) fn sloth_alert(
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

/// A Sloth file: one `prometheus/v1` spec per YAML document, as Sloth reads them.
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
