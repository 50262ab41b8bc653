//! Prometheus rules for SLOs: recording rules for the error ratio over every window the
//! alerts need, budget metadata, and multiwindow multi-burn-rate alerts (SRE workbook,
//! ch. 5). The mapping to Sloth's rules is documented in `docs/slo.md`.
//!
//! Rules are built as data ([`RuleGroup`]), checked ([`check`]: every expression parsed by
//! a real PromQL parser, every name and label as Prometheus requires, no group twice),
//! then written as YAML, so a file `promtool` would reject is never written.

mod check;
mod render;

pub use check::{check, valid_label_name, valid_metric_name};

use crate::model::{BurnWindow, RuleStep, Slo};
use crate::promql::{error_ratio, over, window};
use crate::Error;
use std::collections::BTreeMap;
use std::time::Duration;

/// Whose names the generated rules use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// ballast's own label names (`ballast_id`, `ballast_service`, `ballast_slo`,
    /// `ballast_window`) and rule-group names (`ballast-slo-…`).
    #[default]
    Ballast,
    /// Sloth's label names (`sloth_id`, `sloth_service`, `sloth_slo`, `sloth_window`,
    /// `sloth_severity`), its `sloth_slo_info` rule, group names and annotation templates,
    /// so dashboards and alert routing built on Sloth keep working (`--compat sloth`).
    Sloth,
}

impl Flavour {
    /// The label (or group-name) prefix: `ballast` or `sloth`.
    pub fn prefix(self) -> &'static str {
        match self {
            Flavour::Ballast => "ballast",
            Flavour::Sloth => "sloth",
        }
    }

    /// The name of an identifying label: `label("id")` is `ballast_id` or `sloth_id`.
    pub fn label(self, name: &str) -> String {
        format!("{}_{name}", self.prefix())
    }

    /// A window as the rule names and window labels write it: ballast's largest exact unit
    /// (`28d`), or Prometheus' own duration notation as Sloth writes it (`4w`, `1d12h`).
    pub fn window(self, d: Duration) -> String {
        match self {
            Flavour::Ballast => window(d),
            Flavour::Sloth => prometheus_duration(d),
        }
    }
}

/// Prometheus' `model.Duration` text, as Sloth writes windows: each unit from years to
/// milliseconds once, largest first, years and weeks only when exact (`4w`, `1d12h`, `30d`).
pub fn prometheus_duration(d: Duration) -> String {
    promql_parser::util::display_duration(&d)
}

/// How rules are written (the flags of `ballast slo rules`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOptions {
    /// Whose names the rules use.
    pub flavour: Flavour,
    /// Labels added to every SLO's rules (a spec's own labels win).
    pub extra_labels: BTreeMap<String, String>,
    /// Write the SLI and metadata recording rules (Sloth's `--disable-recordings` clears it;
    /// the alerts then read recording rules that must come from elsewhere).
    pub recordings: bool,
    /// Write the alerts (Sloth's `--disable-alerts` clears it).
    pub alerts: bool,
    /// Compute the period's error ratio from the base window's recording (cheap, Sloth's
    /// default) instead of querying the whole period (Sloth's `--disable-optimizations`).
    pub optimized_period: bool,
    /// `sloth_version` of the info rule in `--compat sloth`.
    pub version: String,
    /// SLOs read from Kubernetes resources are written as `PrometheusRule` objects (as
    /// Sloth's CLI and Pyrra's operator write them); off, as a plain rules file (Pyrra's
    /// filesystem mode).
    pub kubernetes_objects: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            flavour: Flavour::Ballast,
            extra_labels: BTreeMap::new(),
            recordings: true,
            alerts: true,
            optimized_period: true,
            version: format!("ballast-{}", env!("CARGO_PKG_VERSION")),
            kubernetes_objects: true,
        }
    }
}

/// One rule: a recording rule or an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `record:` or `alert:` and its name.
    pub kind: RuleKind,
    /// The PromQL expression.
    pub expr: String,
    /// `for:` (alerts only; zero = none).
    pub hold: Duration,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations (alerts only).
    pub annotations: BTreeMap<String, String>,
}

/// Whether a rule records a series or raises an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// `record: <name>`.
    Record(String),
    /// `alert: <name>`.
    Alert(String),
}

/// A rule group, as Prometheus evaluates it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// Unique name in the file.
    pub name: String,
    /// The rules.
    pub rules: Vec<Rule>,
    /// `interval:` (none: Prometheus' global evaluation interval).
    pub interval: Option<Duration>,
    /// The expressions are MetricsQL (VictoriaMetrics), which the PromQL check leaves alone.
    pub metricsql: bool,
    /// The SLO it was made from (`file:line`), for messages.
    pub origin: String,
}

/// Prometheus rule groups (YAML) for `slos`, with ballast's names.
pub fn generate(slos: &[Slo]) -> Result<String, Error> {
    generate_with(slos, &RuleOptions::default())
}

/// Prometheus rule groups (YAML) for `slos` as `options` say; checked before written.
///
/// SLOs read from Kubernetes resources (Sloth's `PrometheusServiceLevel`) are written as
/// prometheus-operator `PrometheusRule` objects, one per resource with its name, namespace
/// and labels, as Sloth writes them; they cannot be mixed with plain specs in one output.
pub fn generate_with(slos: &[Slo], options: &RuleOptions) -> Result<String, Error> {
    let groups = build(slos, options)?;
    check(&groups)?;
    let kube = slos
        .iter()
        .filter(|s| s.kubernetes.is_some() && options.kubernetes_objects)
        .count();
    if kube == 0 {
        return Ok(render::rule_file(&groups));
    }
    if kube != slos.len() {
        let plain = slos.iter().find(|s| s.kubernetes.is_none());
        let object = slos.iter().find(|s| s.kubernetes.is_some());
        return Err(Error::Unsupported(format!(
            "{} is a plain spec and {} a Kubernetes resource: their rules are a rule file and a \
             PrometheusRule object, which cannot be one output; generate them separately",
            plain.map(|s| s.origin.as_str()).unwrap_or_default(),
            object.map(|s| s.origin.as_str()).unwrap_or_default()
        )));
    }
    // One object per resource, in the order they were read; each holds its SLOs' groups.
    let mut objects: Vec<(crate::model::KubeObject, Vec<RuleGroup>)> = Vec::new();
    for slo in slos {
        let object = slo.kubernetes.clone().unwrap_or_default();
        let mine = build(std::slice::from_ref(slo), options)?;
        match objects.iter_mut().find(|(o, _)| *o == object) {
            Some((_, g)) => g.extend(mine),
            None => objects.push((object, mine)),
        }
    }
    Ok(render::prometheus_rules(&objects, options.flavour))
}

/// The rule groups for `slos`, not yet checked.
pub fn build(slos: &[Slo], options: &RuleOptions) -> Result<Vec<RuleGroup>, Error> {
    let mut groups = Vec::new();
    for slo in slos {
        groups.extend(slo_groups(slo, options)?);
    }
    Ok(groups)
}

fn trim_float(v: f64) -> String {
    let text = format!("{:.10}", v);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

struct Names {
    flavour: Flavour,
    id: String,
    service: String,
    slo: String,
    window: String,
}

impl Names {
    fn new(flavour: Flavour) -> Self {
        Names {
            flavour,
            id: flavour.label("id"),
            service: flavour.label("service"),
            slo: flavour.label("slo"),
            window: flavour.label("window"),
        }
    }

    fn w(&self, d: Duration) -> String {
        self.flavour.window(d)
    }
}

fn slo_groups(slo: &Slo, options: &RuleOptions) -> Result<Vec<RuleGroup>, Error> {
    if error_ratio(&slo.sli, slo.window).is_none() {
        return Err(Error::Unsupported(format!(
            "{}: SLO {:?} is measured by `ballast verify` (availability/latency of a contract); \
             Prometheus rules need a ratio SLI with PromQL queries",
            slo.origin, slo.name
        )));
    }
    let n = Names::new(options.flavour);
    let prefix = options.flavour.prefix();
    let mut ids = BTreeMap::new();
    ids.insert(n.id.clone(), slo.id());
    ids.insert(n.service.clone(), slo.service.clone());
    ids.insert(n.slo.clone(), slo.name.clone());
    let mut spec_labels = options.extra_labels.clone();
    spec_labels.extend(slo.labels.clone());
    let mut labels = spec_labels.clone();
    labels.extend(ids.clone());
    let sel = format!(
        "{{{}={}, {}={}, {}={}}}",
        n.id,
        quote(&slo.id()),
        n.service,
        quote(&slo.service),
        n.slo,
        quote(&slo.name)
    );
    let period = n.w(slo.window);
    let base = slo.base_window();

    let sli_group = |exact_period: bool| {
        let mut rules = Vec::new();
        for w in slo.alert_windows() {
            let mut l = labels.clone();
            l.insert(n.window.clone(), n.w(w));
            rules.push(record(
                &format!("slo:sli_error:ratio_rate{}", n.w(w)),
                error_ratio_over(slo, w),
                l,
            ));
        }
        // The period ratio averages the base window's ratio over the SLO window, as Sloth
        // does, instead of asking Prometheus for a 30-day rate at every evaluation.
        let expr = if options.optimized_period && !exact_period && base != slo.window {
            let short = format!("slo:sli_error:ratio_rate{}{sel}", n.w(base));
            format!(
                "sum_over_time({short}[{period}])\n/ ignoring ({})\ncount_over_time({short}[{period}])",
                n.window
            )
        } else {
            error_ratio_over(slo, slo.window)
        };
        let mut l = labels.clone();
        l.insert(n.window.clone(), period.clone());
        rules.push(record(
            &format!("slo:sli_error:ratio_rate{period}"),
            expr,
            l,
        ));
        RuleGroup {
            name: format!("{prefix}-slo-sli-recordings-{}", slo.id()),
            rules,
            interval: None,
            metricsql: false,
            origin: slo.origin.clone(),
        }
    };
    let meta_group = {
        let on = format!("on ({}, {}, {}) group_left", n.id, n.service, n.slo);
        let mut rules = vec![
            record(
                "slo:objective:ratio",
                format!("vector({})", trim_float(slo.objective)),
                labels.clone(),
            ),
            record(
                "slo:error_budget:ratio",
                format!("vector(1 - {})", trim_float(slo.objective)),
                labels.clone(),
            ),
            record(
                "slo:time_period:days",
                format!(
                    "vector({})",
                    trim_float(slo.window.as_secs_f64() / 86_400.0)
                ),
                labels.clone(),
            ),
            record(
                "slo:current_burn_rate:ratio",
                format!(
                    "slo:sli_error:ratio_rate{}{sel}\n/ {on}\nslo:error_budget:ratio{sel}",
                    n.w(base)
                ),
                labels.clone(),
            ),
            record(
                "slo:period_burn_rate:ratio",
                format!(
                    "slo:sli_error:ratio_rate{period}{sel}\n/ {on}\nslo:error_budget:ratio{sel}"
                ),
                labels.clone(),
            ),
            record(
                "slo:period_error_budget_remaining:ratio",
                format!("1 - slo:period_burn_rate:ratio{sel}"),
                labels.clone(),
            ),
        ];
        // The info series: what the SLO is, for dashboards and joins (Sloth's
        // sloth_slo_info with its labels; ballast_slo_info likewise).
        let mut l = labels.clone();
        l.insert(n.flavour.label("version"), options.version.clone());
        if n.flavour == Flavour::Sloth {
            l.insert("sloth_mode".into(), sloth_mode(&slo.spec).into());
        }
        l.insert(n.flavour.label("spec"), slo.spec.clone());
        l.insert(
            n.flavour.label("objective"),
            trim_float(slo.objective * 100.0),
        );
        rules.push(record(&format!("{prefix}_slo_info"), "vector(1)".into(), l));
        RuleGroup {
            name: format!("{prefix}-slo-meta-recordings-{}", slo.id()),
            rules,
            interval: None,
            metricsql: false,
            origin: slo.origin.clone(),
        }
    };
    let alert_group = {
        let a = &slo.alerting;
        let mut rules = Vec::new();
        for (severity, pairs, extra, own, disabled) in [
            (
                "page",
                &a.page,
                &a.page_labels,
                &a.page_annotations,
                a.page_disabled,
            ),
            (
                "ticket",
                &a.ticket,
                &a.ticket_labels,
                &a.ticket_annotations,
                a.ticket_disabled,
            ),
        ] {
            if pairs.is_empty() || disabled {
                continue;
            }
            let expr: Vec<String> = pairs
                .iter()
                .map(|p| burn_condition(slo, p, &n, &sel))
                .collect();
            let (mut l, mut annotations) = match options.flavour {
                Flavour::Ballast => {
                    let mut l = labels.clone();
                    l.insert("severity".into(), severity.into());
                    (l, ballast_annotations(slo, pairs, &period))
                }
                Flavour::Sloth => {
                    let mut l = BTreeMap::new();
                    l.insert("sloth_severity".to_string(), severity.to_string());
                    (l, sloth_annotations(severity))
                }
            };
            l.extend(extra.clone());
            annotations.extend(a.annotations.clone());
            annotations.extend(own.clone());
            rules.push(Rule {
                kind: RuleKind::Alert(a.name.clone()),
                expr: expr.join("\nor\n"),
                hold: a.hold,
                labels: l,
                annotations,
            });
        }
        RuleGroup {
            name: format!("{prefix}-slo-alerts-{}", slo.id()),
            rules,
            interval: None,
            metricsql: false,
            origin: slo.origin.clone(),
        }
    };

    // Sloth's plugin pipeline: each step makes or changes the result in order; the default
    // is its three core plugins.
    let default_steps = [
        RuleStep::SliRules {
            exact_period: false,
        },
        RuleStep::MetadataRules,
        RuleStep::AlertRules,
    ];
    let steps = slo.tweaks.steps.as_deref().unwrap_or(&default_steps);
    let (mut sli, mut meta, mut alerts) = (None, None, None);
    let mut intervals: [Option<Duration>; 3] = [None; 3];
    let info = format!("{prefix}_slo_info");
    for step in steps {
        match step {
            RuleStep::SliRules { exact_period } => {
                sli = Some(sli_group(*exact_period));
            }
            RuleStep::MetadataRules => meta = Some(meta_group.clone()),
            RuleStep::AlertRules => alerts = Some(alert_group.clone()),
            RuleStep::MetricsQl => {}
            RuleStep::Intervals {
                sli,
                metadata,
                alert,
            } => intervals = [Some(*sli), Some(*metadata), Some(*alert)],
            RuleStep::InfoLabels { metric, labels } => {
                let target = RuleKind::Record(metric.clone().unwrap_or_else(|| info.clone()));
                if let Some(r) = meta
                    .as_mut()
                    .and_then(|g: &mut RuleGroup| g.rules.iter_mut().find(|r| r.kind == target))
                {
                    r.labels.extend(labels.clone());
                }
            }
            RuleStep::RemoveLabels { preserve, skip } => {
                // Recording rules keep only the ids (and the SLI rules their window) and the
                // labels asked to be kept; the info rule and the skipped rules keep all.
                for (g, window) in [(sli.as_mut(), true), (meta.as_mut(), false)] {
                    for r in g.into_iter().flat_map(|g| g.rules.iter_mut()) {
                        let RuleKind::Record(name) = &r.kind else {
                            continue;
                        };
                        if *name == info || skip.contains(name) {
                            continue;
                        }
                        r.labels.retain(|k, _| {
                            ids.contains_key(k)
                                || preserve.contains(k)
                                || (window && *k == n.window)
                        });
                    }
                }
            }
        }
    }
    // Sloth writes no alerts for OpenSLO specs (OpenSLO has no alerting of Sloth's);
    // `--compat sloth` does the same, so its output is Sloth's.
    let openslo = slo.spec.starts_with("openslo/");
    let alerts = alerts.filter(|_| !(options.flavour == Flavour::Sloth && openslo));
    let mut groups = Vec::new();
    for (group, interval, wanted) in [
        (sli, intervals[0], options.recordings),
        (meta, intervals[1], options.recordings),
        (alerts, intervals[2], options.alerts),
    ] {
        if let Some(mut g) = group.filter(|g| wanted && !g.rules.is_empty()) {
            g.interval = interval;
            g.metricsql = steps.contains(&RuleStep::MetricsQl);
            groups.push(g);
        }
    }
    Ok(groups)
}

/// Sloth's `sloth_mode` for a spec format: how Sloth's CLI names the loader it used.
fn sloth_mode(spec: &str) -> &'static str {
    match spec {
        "sloth.slok.dev/v1" => "cli-gen-k8s",
        s if s.starts_with("openslo/") => "cli-gen-openslo",
        _ => "cli-gen-prom",
    }
}

/// The SLI's error ratio over `w`.
fn error_ratio_over(slo: &Slo, w: Duration) -> String {
    error_ratio(&slo.sli, w).unwrap_or_else(|| over("vector(0)", w))
}

fn record(name: &str, expr: String, labels: BTreeMap<String, String>) -> Rule {
    Rule {
        kind: RuleKind::Record(name.into()),
        expr,
        hold: Duration::ZERO,
        labels,
        annotations: BTreeMap::new(),
    }
}

/// The `and`-joined condition of one burn window pair.
fn burn_condition(slo: &Slo, pair: &BurnWindow, n: &Names, sel: &str) -> String {
    let side = |w| {
        format!(
            "max(slo:sli_error:ratio_rate{}{sel} > ({} * {})) without ({})",
            n.w(w),
            trim_float(pair.factor),
            trim_float(1.0 - slo.objective),
            n.window
        )
    };
    format!("({}\nand\n{})", side(pair.long), side(pair.short))
}

fn ballast_annotations(slo: &Slo, pairs: &[BurnWindow], period: &str) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".to_string(),
        format!(
            "{} SLO {} is burning its error budget too fast",
            slo.service, slo.name
        ),
    );
    annotations.insert(
        "description".to_string(),
        format!(
            "The {}% objective over {} is at risk: the error ratio exceeds {} times the budget rate \
             in both windows of a pair ({}).",
            trim_float(slo.objective * 100.0),
            period,
            pairs
                .iter()
                .map(|p| trim_float((p.factor * 100.0).round() / 100.0))
                .collect::<Vec<_>>()
                .join(" / "),
            pairs
                .iter()
                .map(|p| format!("{}+{}", window(p.long), window(p.short)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    annotations
}

/// Sloth's default annotations, templates over the alert's labels.
fn sloth_annotations(severity: &str) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "title".to_string(),
        format!(
            "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."
        ),
    );
    annotations.insert(
        "summary".to_string(),
        "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected."
            .to_string(),
    );
    annotations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_prints_them() {
        let h = Duration::from_secs(3600);
        assert_eq!(prometheus_duration(h * 24 * 28), "4w");
        assert_eq!(prometheus_duration(h * 24 * 30), "30d");
        assert_eq!(prometheus_duration(h * 36), "1d12h");
        assert_eq!(prometheus_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(prometheus_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(prometheus_duration(h * 24 * 7), "1w");
        assert_eq!(prometheus_duration(h * 24 * 90), "90d");
        assert_eq!(prometheus_duration(h * 24 * 365), "1y");
    }
}
