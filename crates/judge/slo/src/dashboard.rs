//! A Grafana dashboard for SLOs that reads only what [`crate::rules`] writes: the
//! `slo:*` recording rules and the `ALERTS` series of the burn-rate alerts, selected by the
//! identifying labels of the chosen [`Flavour`] (`ballast_*` or, for `--compat sloth`,
//! `sloth_*`).
//!
//! The layout: an overview (every SLO the `$service` / `$slo` variables select, and the SLO
//! alerts firing), then one row per SLO of the specs. Rows are made per SLO rather than
//! repeated by the `$slo` variable because SLOs differ in what their rules are called and
//! what they alert on: the period's ratio is `slo:sli_error:ratio_rate30d` for one and
//! `…ratio_rate28d` (`4w`) for another, the windows recorded follow each SLO's alert pairs,
//! and the burn rate that pages (the red threshold) follows its period and pairs. A repeated
//! row could only show what all SLOs share. The variables still filter every row's queries.

use crate::model::Slo;
use crate::rules::{self, Flavour, RuleKind, RuleOptions};
use crate::Error;
use serde_json::{json, Value};
use std::time::Duration;

/// How the dashboard is made (the flags of `ballast slo dashboard`).
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardOptions {
    /// Whose label names the rules were written with (`ballast slo rules --compat`).
    pub flavour: Flavour,
    /// The dashboard's title; its `uid` is made from it ([`uid`]).
    pub title: String,
    /// The default of the `datasource` variable: a Prometheus data source's uid.
    pub datasource: Option<String>,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        DashboardOptions {
            flavour: Flavour::Ballast,
            title: "SLOs".into(),
            datasource: None,
        }
    }
}

/// The dashboard's `uid`: the title's slug and a hash of the title, so importing a dashboard
/// of the same title again replaces it (at most 40 characters, as Grafana allows).
pub fn uid(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_end_matches('-').chars().take(23).collect();
    if slug.is_empty() {
        slug.push_str("slo");
    }
    // FNV-1a: the same on every platform and Rust release, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in title.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{hash:016x}", slug.trim_end_matches('-'))
}

/// The Grafana dashboard (JSON model) for `slos`, whose rules `ballast slo rules` wrote with
/// `options.flavour`. Refused as the rules would be: SLOs without a PromQL SLI, the same SLO
/// twice, rules Prometheus would not load.
pub fn build(slos: &[Slo], options: &DashboardOptions) -> Result<Value, Error> {
    let rule_options = RuleOptions {
        flavour: options.flavour,
        ..RuleOptions::default()
    };
    rules::check(&rules::build(slos, &rule_options)?)?;
    let names = Names::new(options.flavour);
    let mut layout = Layout::default();

    layout.row("Overview");
    let height = (4 + slos.len() as u32).clamp(6, 14);
    layout.panel(overview_table(&names), 15, height);
    layout.panel(firing_table(&names), 9, height);

    for slo in slos {
        let groups = rules::build(std::slice::from_ref(slo), &rule_options)?;
        let view = SloView::new(slo, &names, &groups);
        layout.row(&format!(
            "{} / {} — {}% over {}",
            slo.service,
            slo.name,
            trim_float(slo.objective * 100.0),
            view.period
        ));
        for stat in view.stats() {
            layout.panel(stat, 6, 4);
        }
        layout.panel(view.burn_series(), 12, 8);
        layout.panel(view.budget_series(), 12, 8);
        if let Some(alerts) = view.alert_timeline() {
            layout.panel(alerts, 24, 5);
        }
    }

    Ok(json!({
        "id": null,
        "uid": uid(&options.title),
        "title": options.title,
        "description": format!(
            "{} SLO(s). Every query reads only the recording rules and alerts that \
             `ballast slo rules{compat}` writes (slo:* series, ALERTS); made by \
             `ballast slo dashboard{compat}`.",
            slos.len(),
            compat = if options.flavour == Flavour::Sloth { " --compat sloth" } else { "" },
        ),
        "tags": ["slo", "burn-rate"],
        "editable": true,
        "graphTooltip": 1,
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": false,
        "refresh": "1m",
        "time": { "from": "now-7d", "to": "now" },
        "timepicker": {},
        "links": [],
        "annotations": { "list": annotations(&names) },
        "templating": { "list": variables(&names, options) },
        "panels": layout.panels,
    }))
}

/// The label names of a flavour.
struct Names {
    id: String,
    service: String,
    slo: String,
    /// The alert label telling page from ticket (`severity`, `sloth_severity`).
    severity: &'static str,
    flavour: Flavour,
}

impl Names {
    fn new(flavour: Flavour) -> Self {
        Names {
            id: flavour.label("id"),
            service: flavour.label("service"),
            slo: flavour.label("slo"),
            severity: match flavour {
                Flavour::Ballast => "severity",
                Flavour::Sloth => "sloth_severity",
            },
            flavour,
        }
    }

    /// The variables' matchers: `service=~"$service", slo=~"$slo"`.
    fn filter(&self) -> String {
        format!("{}=~\"$service\", {}=~\"$slo\"", self.service, self.slo)
    }

    /// `on (id, service, slo) group_left`, as the rules join a window's ratio to the budget.
    fn on(&self) -> String {
        format!(
            "on ({}, {}, {}) group_left",
            self.id, self.service, self.slo
        )
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{:.10}", v);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn datasource() -> Value {
    json!({ "type": "prometheus", "uid": "${datasource}" })
}

/// `A`…`Z`, `AA`…: a target's refId.
fn ref_id(mut i: usize) -> String {
    let mut id = String::new();
    loop {
        id.insert(0, (b'A' + (i % 26) as u8) as char);
        if i < 26 {
            return id;
        }
        i = i / 26 - 1;
    }
}

fn range_target(i: usize, expr: String, legend: &str) -> Value {
    json!({
        "refId": ref_id(i),
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend,
        "range": true,
        "instant": false,
        "editorMode": "code",
    })
}

fn instant_target(i: usize, expr: String, legend: &str, format: &str) -> Value {
    json!({
        "refId": ref_id(i),
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend,
        "range": false,
        "instant": true,
        "format": format,
        "editorMode": "code",
    })
}

/// Threshold steps from (color, value) pairs; the first is the base.
fn thresholds(steps: &[(&str, Option<f64>)]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|(color, value)| json!({ "color": color, "value": value }))
        .collect();
    json!({ "mode": "absolute", "steps": steps })
}

/// Burn rate: green, orange from 1 (the budget would be gone within the period), red from
/// the paging factor.
fn burn_thresholds(page: Option<f64>) -> Value {
    let mut steps = vec![("green", None), ("orange", Some(1.0))];
    if let Some(page) = page.filter(|p| *p > 1.0) {
        steps.push(("red", Some((page * 1000.0).round() / 1000.0)));
    }
    thresholds(&steps)
}

/// Budget remaining: red when spent, orange under a quarter left, green above.
fn budget_thresholds() -> Value {
    thresholds(&[("red", None), ("orange", Some(0.0)), ("green", Some(0.25))])
}

fn variables(n: &Names, options: &DashboardOptions) -> Vec<Value> {
    let current = match &options.datasource {
        Some(uid) => json!({ "selected": true, "text": uid, "value": uid }),
        None => json!({}),
    };
    let query = |name: &str, label: &str, definition: String| {
        json!({
            "type": "query",
            "name": name,
            "label": label,
            "datasource": datasource(),
            "definition": definition,
            "query": {
                "qryType": 1,
                "query": definition,
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            },
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "multi": true,
            "includeAll": true,
            "current": { "selected": true, "text": ["All"], "value": ["$__all"] },
            "options": [],
            "hide": 0,
        })
    };
    vec![
        json!({
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "regex": "",
            "refresh": 1,
            "hide": 0,
            "current": current,
            "options": [],
        }),
        query(
            "service",
            "Service",
            format!("label_values(slo:objective:ratio, {})", n.service),
        ),
        query(
            "slo",
            "SLO",
            format!(
                "label_values(slo:objective:ratio{{{}=~\"$service\"}}, {})",
                n.service, n.slo
            ),
        ),
    ]
}

/// SLO alerts as annotations on every time series (off by default: they can be many).
fn annotations(n: &Names) -> Vec<Value> {
    vec![
        json!({
            "builtIn": 1,
            "datasource": { "type": "grafana", "uid": "-- Grafana --" },
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }),
        json!({
            "datasource": datasource(),
            "enable": false,
            "hide": false,
            "iconColor": "red",
            "name": "SLO alerts firing",
            "expr": format!("ALERTS{{alertstate=\"firing\", {}!=\"\", {}}}", n.id, n.filter()),
            "step": "1m",
            "titleFormat": "{{alertname}}",
            "textFormat": format!("{{{{{}}}}} / {{{{{}}}}} {{{{{}}}}}", n.service, n.slo, n.severity),
            "tagKeys": format!("{},{},{}", n.service, n.slo, n.severity),
            "useValueForTime": false,
        }),
    ]
}

/// Every SLO the variables select: objective, SLI and burn over the period, budget left,
/// burn now — one line each, from the rules every SLO has under the same names.
fn overview_table(n: &Names) -> Value {
    let f = n.filter();
    let queries = [
        ("Objective", format!("slo:objective:ratio{{{f}}}")),
        (
            "SLI (period)",
            format!(
                "1 - (slo:period_burn_rate:ratio{{{f}}} * {} slo:error_budget:ratio{{{f}}})",
                n.on()
            ),
        ),
        (
            "Budget left",
            format!("slo:period_error_budget_remaining:ratio{{{f}}}"),
        ),
        ("Burn now", format!("slo:current_burn_rate:ratio{{{f}}}")),
        (
            "Burn (period)",
            format!("slo:period_burn_rate:ratio{{{f}}}"),
        ),
        ("Period (days)", format!("slo:time_period:days{{{f}}}")),
    ];
    let targets: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| instant_target(i, expr.clone(), "", "table"))
        .collect();
    let mut rename = serde_json::Map::new();
    for (i, (title, _)) in queries.iter().enumerate() {
        rename.insert(format!("Value #{}", ref_id(i)), json!(title));
    }
    rename.insert(n.service.clone(), json!("Service"));
    rename.insert(n.slo.clone(), json!("SLO"));
    let override_for = |name: &str, properties: Value| json!({ "matcher": { "id": "byName", "options": name }, "properties": properties });
    let percent = |name: &str, decimals: u32| {
        override_for(
            name,
            json!([
                { "id": "unit", "value": "percentunit" },
                { "id": "decimals", "value": decimals },
            ]),
        )
    };
    let colored = |name: &str, unit: &str, steps: Value| {
        override_for(
            name,
            json!([
                { "id": "unit", "value": unit },
                { "id": "decimals", "value": 2 },
                { "id": "thresholds", "value": steps },
                { "id": "custom.cellOptions", "value": { "type": "color-text" } },
            ]),
        )
    };
    let burn = burn_thresholds(None);
    json!({
        "type": "table",
        "title": "SLOs",
        "description": "Every SLO the service and SLO variables select. Objective: slo:objective:ratio; \
            SLI (period): 1 − period burn rate × error budget; budget left: \
            slo:period_error_budget_remaining:ratio (negative once spent); burn now: \
            slo:current_burn_rate:ratio; burn (period): slo:period_burn_rate:ratio.",
        "datasource": datasource(),
        "targets": targets,
        "transformations": [
            { "id": "merge", "options": {} },
            {
                "id": "organize",
                "options": {
                    "excludeByName": { "Time": true, "__name__": true, n.id.clone(): true },
                    "indexByName": {},
                    "renameByName": rename,
                },
            },
        ],
        "fieldConfig": {
            "defaults": {
                "custom": { "align": "auto", "cellOptions": { "type": "auto" }, "filterable": true },
                "thresholds": thresholds(&[("text", None)]),
                "color": { "mode": "thresholds" },
                "mappings": [],
            },
            "overrides": [
                percent("Objective", 3),
                percent("SLI (period)", 3),
                override_for("Budget left", json!([
                    { "id": "unit", "value": "percentunit" },
                    { "id": "decimals", "value": 1 },
                    { "id": "thresholds", "value": budget_thresholds() },
                    { "id": "custom.cellOptions", "value": { "type": "color-text" } },
                ])),
                colored("Burn now", "none", burn.clone()),
                colored("Burn (period)", "none", burn),
            ],
        },
        "options": {
            "showHeader": true,
            "cellHeight": "sm",
            "footer": { "show": false, "reducer": ["sum"], "fields": "" },
            "sortBy": [{ "displayName": "Budget left", "desc": false }],
        },
    })
}

/// The SLO alerts firing now, of the SLOs the variables select.
fn firing_table(n: &Names) -> Value {
    let expr = format!(
        "ALERTS{{alertstate=\"firing\", {}!=\"\", {}}}",
        n.id,
        n.filter()
    );
    let mut shown = serde_json::Map::new();
    for (i, name) in ["alertname", &n.service, &n.slo, n.severity]
        .iter()
        .enumerate()
    {
        shown.insert(name.to_string(), json!(i));
    }
    let mut rename = serde_json::Map::new();
    rename.insert("alertname".into(), json!("Alert"));
    rename.insert(n.service.clone(), json!("Service"));
    rename.insert(n.slo.clone(), json!("SLO"));
    rename.insert(n.severity.into(), json!("Severity"));
    json!({
        "type": "table",
        "title": "Firing SLO alerts",
        "description": "ALERTS{alertstate=\"firing\"} of the burn-rate alerts (those with the SLO's id label), \
            for the SLOs the variables select. Empty when nothing burns.",
        "datasource": datasource(),
        "targets": [instant_target(0, expr, "", "table")],
        "transformations": [
            {
                "id": "organize",
                "options": {
                    "excludeByName": { "Time": true, "Value": true, "__name__": true, "alertstate": true },
                    "indexByName": shown,
                    "renameByName": rename,
                },
            },
        ],
        "fieldConfig": {
            "defaults": {
                "custom": { "align": "auto", "cellOptions": { "type": "auto" }, "filterable": true },
                "thresholds": thresholds(&[("text", None)]),
                "mappings": [],
            },
            "overrides": [],
        },
        "options": {
            "showHeader": true,
            "cellHeight": "sm",
            "footer": { "show": false, "reducer": ["sum"], "fields": "" },
        },
    })
}

/// One SLO's panels.
struct SloView<'a> {
    slo: &'a Slo,
    n: &'a Names,
    /// `{id="…", service=~"$service", slo=~"$slo"}`.
    sel: String,
    /// The period as the rule names write it (`30d`, or `4w` for Sloth).
    period: String,
    /// The burn rate that pages: the first page pair's factor, whose short window is the
    /// current burn rate's window (14.4 for 30 days); else the highest ticket factor.
    page_factor: Option<f64>,
    /// The alerts written: (page or ticket, alert name, value of the severity label).
    alerts: Vec<(&'static str, String, String)>,
}

impl<'a> SloView<'a> {
    fn new(slo: &'a Slo, n: &'a Names, groups: &[rules::RuleGroup]) -> Self {
        let a = &slo.alerting;
        let kinds = [
            ("page", !a.page.is_empty() && !a.page_disabled),
            ("ticket", !a.ticket.is_empty() && !a.ticket_disabled),
        ]
        .into_iter()
        .filter(|(_, written)| *written)
        .map(|(kind, _)| kind);
        // The alerts in the order the rules write them (page, then ticket), with the
        // severity label as the spec's alert labels left it.
        let written = groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|r| match &r.kind {
                RuleKind::Alert(name) => Some((
                    name.clone(),
                    r.labels.get(n.severity).cloned().unwrap_or_default(),
                )),
                RuleKind::Record(_) => None,
            });
        let alerts = kinds
            .zip(written)
            .map(|(kind, (name, severity))| (kind, name, severity))
            .collect();
        let page_factor = a
            .page
            .first()
            .map(|p| p.factor)
            .or_else(|| a.ticket.iter().map(|p| p.factor).reduce(f64::max));
        SloView {
            slo,
            n,
            sel: format!("{{{}={}, {}}}", n.id, quote(&slo.id()), n.filter()),
            period: n.flavour.window(slo.window),
            page_factor,
            alerts,
        }
    }

    fn w(&self, d: Duration) -> String {
        self.n.flavour.window(d)
    }

    /// Burn rate over `w`: the window's error ratio over the error budget.
    fn burn(&self, w: Duration) -> String {
        format!(
            "slo:sli_error:ratio_rate{}{sel}\n/ {}\nslo:error_budget:ratio{sel}",
            self.w(w),
            self.n.on(),
            sel = self.sel
        )
    }

    fn stat(&self, title: &str, description: String, expr: String, defaults: Value) -> Value {
        json!({
            "type": "stat",
            "title": title,
            "description": description,
            "datasource": datasource(),
            "targets": [instant_target(0, expr, title, "time_series")],
            "fieldConfig": { "defaults": defaults, "overrides": [] },
            "options": {
                "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
                "colorMode": "value",
                "graphMode": "none",
                "justifyMode": "auto",
                "orientation": "auto",
                "textMode": "value",
                "wideLayout": true,
                "showPercentChange": false,
            },
        })
    }

    fn stats(&self) -> Vec<Value> {
        let objective = self.slo.objective;
        let digits = trim_float(objective * 100.0)
            .split_once('.')
            .map_or(0, |(_, f)| f.len())
            .clamp(1, 6);
        let sel = &self.sel;
        vec![
            self.stat(
                "Objective",
                format!(
                    "slo:objective:ratio: the share of good events the SLO promises over {}.",
                    self.period
                ),
                format!("slo:objective:ratio{sel}"),
                json!({
                    "unit": "percentunit",
                    "decimals": digits,
                    "color": { "mode": "fixed", "fixedColor": "text" },
                    "thresholds": thresholds(&[("text", None)]),
                    "mappings": [],
                }),
            ),
            self.stat(
                &format!("SLI over {}", self.period),
                format!(
                    "1 − slo:sli_error:ratio_rate{}: the share of good events over the period; \
                     red below the objective.",
                    self.period
                ),
                format!("1 - slo:sli_error:ratio_rate{}{sel}", self.period),
                json!({
                    "unit": "percentunit",
                    "decimals": digits + 1,
                    "max": 1,
                    "color": { "mode": "thresholds" },
                    "thresholds": thresholds(&[("red", None), ("green", Some(objective))]),
                    "mappings": [],
                }),
            ),
            self.stat(
                "Error budget remaining",
                format!(
                    "slo:period_error_budget_remaining:ratio: the share of the {} budget not yet \
                     spent; negative once it is gone. Orange under 25 %, red when spent.",
                    self.period
                ),
                format!("slo:period_error_budget_remaining:ratio{sel}"),
                json!({
                    "unit": "percentunit",
                    "decimals": 1,
                    "max": 1,
                    "color": { "mode": "thresholds" },
                    "thresholds": budget_thresholds(),
                    "mappings": [],
                }),
            ),
            self.stat(
                "Current burn rate",
                format!(
                    "slo:current_burn_rate:ratio: the error ratio over {} divided by the error \
                     budget; 1 spends exactly the budget over {}. Orange from 1, red from {} \
                     (pages).",
                    self.w(self.slo.base_window()),
                    self.period,
                    self.page_factor
                        .map_or("-".into(), |f| trim_float((f * 100.0).round() / 100.0))
                ),
                format!("slo:current_burn_rate:ratio{sel}"),
                json!({
                    "unit": "none",
                    "decimals": 2,
                    "min": 0,
                    "color": { "mode": "thresholds" },
                    "thresholds": burn_thresholds(self.page_factor),
                    "mappings": [],
                }),
            ),
        ]
    }

    fn series_defaults(unit: &str, decimals: u32, steps: Value, axis: Value) -> Value {
        let mut custom = json!({
            "drawStyle": "line",
            "lineInterpolation": "linear",
            "lineWidth": 1,
            "fillOpacity": 0,
            "showPoints": "never",
            "spanNulls": false,
            "axisPlacement": "auto",
            "scaleDistribution": { "type": "linear" },
            "thresholdsStyle": { "mode": "dashed" },
        });
        if let (Some(custom), Some(axis)) = (custom.as_object_mut(), axis.as_object()) {
            custom.extend(axis.clone());
        }
        json!({
            "unit": unit,
            "decimals": decimals,
            "color": { "mode": "palette-classic" },
            "thresholds": steps,
            "custom": custom,
            "mappings": [],
        })
    }

    fn series(title: &str, description: String, targets: Vec<Value>, defaults: Value) -> Value {
        json!({
            "type": "timeseries",
            "title": title,
            "description": description,
            "datasource": datasource(),
            "targets": targets,
            "fieldConfig": { "defaults": defaults, "overrides": [] },
            "options": {
                "legend": {
                    "showLegend": true,
                    "displayMode": "table",
                    "placement": "right",
                    "calcs": ["lastNotNull", "max"],
                },
                "tooltip": { "mode": "multi", "sort": "desc" },
            },
        })
    }

    /// Burn rate over every window the SLO records (its alert windows) and over the period.
    fn burn_series(&self) -> Value {
        let mut targets: Vec<Value> = self
            .slo
            .alert_windows()
            .into_iter()
            .enumerate()
            .map(|(i, w)| range_target(i, self.burn(w), &self.w(w)))
            .collect();
        targets.push(range_target(
            targets.len(),
            format!("slo:period_burn_rate:ratio{}", self.sel),
            &format!("{} (period)", self.period),
        ));
        let pairs: Vec<String> = self
            .slo
            .alerting
            .page
            .iter()
            .map(|p| ("page", p))
            .chain(self.slo.alerting.ticket.iter().map(|p| ("ticket", p)))
            .map(|(kind, p)| {
                format!(
                    "{kind} {}+{} > {}",
                    self.w(p.long),
                    self.w(p.short),
                    trim_float((p.factor * 100.0).round() / 100.0)
                )
            })
            .collect();
        Self::series(
            "Burn rate by window",
            format!(
                "slo:sli_error:ratio_rate<window> / slo:error_budget:ratio for each alert window, \
                 and slo:period_burn_rate:ratio. An alert fires when both windows of a pair burn \
                 faster than its factor: {}.",
                if pairs.is_empty() {
                    "none".into()
                } else {
                    pairs.join(", ")
                }
            ),
            targets,
            Self::series_defaults(
                "none",
                2,
                burn_thresholds(self.page_factor),
                json!({ "axisSoftMin": 0, "axisLabel": "burn rate" }),
            ),
        )
    }

    fn budget_series(&self) -> Value {
        Self::series(
            "Error budget remaining",
            format!(
                "slo:period_error_budget_remaining:ratio: the share of the {} budget left, over \
                 time; below 0 the budget is spent.",
                self.period
            ),
            vec![range_target(
                0,
                format!("slo:period_error_budget_remaining:ratio{}", self.sel),
                "remaining",
            )],
            {
                let mut d = Self::series_defaults(
                    "percentunit",
                    1,
                    budget_thresholds(),
                    json!({ "axisSoftMin": 0, "fillOpacity": 10, "gradientMode": "opacity" }),
                );
                d["max"] = json!(1);
                d
            },
        )
    }

    /// Page and ticket alerts over time: FIRING while `ALERTS` has the alert firing, OK
    /// while the SLO's rules are loaded and it does not.
    fn alert_timeline(&self) -> Option<Value> {
        if self.alerts.is_empty() {
            return None;
        }
        let targets: Vec<Value> = self
            .alerts
            .iter()
            .enumerate()
            .map(|(i, (kind, name, severity))| {
                let expr = format!(
                    "max(ALERTS{{alertstate=\"firing\", alertname={}, {}={}, {}={}, {}}})\nor\nmax(0 * slo:objective:ratio{})",
                    quote(name),
                    self.n.severity,
                    quote(severity),
                    self.n.id,
                    quote(&self.slo.id()),
                    self.n.filter(),
                    self.sel
                );
                let legend = if severity == kind {
                    kind.to_string()
                } else {
                    format!("{kind} ({}={severity})", self.n.severity)
                };
                range_target(i, expr, &legend)
            })
            .collect();
        let names: std::collections::BTreeSet<&str> = self
            .alerts
            .iter()
            .map(|(_, name, _)| name.as_str())
            .collect();
        Some(json!({
            "type": "state-timeline",
            "title": format!("Alerts ({})", names.into_iter().collect::<Vec<_>>().join(", ")),
            "description": "The SLO's page and ticket alerts from ALERTS{alertstate=\"firing\"}: \
                FIRING while the alert fires, OK while it does not.",
            "datasource": datasource(),
            "targets": targets,
            "fieldConfig": {
                "defaults": {
                    "color": { "mode": "thresholds" },
                    "thresholds": thresholds(&[("green", None), ("red", Some(1.0))]),
                    "mappings": [{
                        "type": "value",
                        "options": {
                            "0": { "text": "OK", "color": "green", "index": 0 },
                            "1": { "text": "FIRING", "color": "red", "index": 1 },
                        },
                    }],
                    "custom": { "fillOpacity": 70, "lineWidth": 0, "spanNulls": false },
                },
                "overrides": [],
            },
            "options": {
                "mergeValues": true,
                "showValue": "never",
                "alignValue": "left",
                "rowHeight": 0.9,
                "legend": { "showLegend": false, "displayMode": "list", "placement": "bottom" },
                "tooltip": { "mode": "single", "sort": "none" },
            },
        }))
    }
}

/// Panels placed left to right, wrapping at Grafana's 24 columns; ids in order.
#[derive(Default)]
struct Layout {
    panels: Vec<Value>,
    x: u32,
    y: u32,
    /// The height of the current line of panels.
    line: u32,
}

impl Layout {
    fn next_id(&self) -> usize {
        self.panels.len() + 1
    }

    fn newline(&mut self) {
        self.y += self.line;
        self.x = 0;
        self.line = 0;
    }

    fn row(&mut self, title: &str) {
        self.newline();
        let id = self.next_id();
        self.panels.push(json!({
            "type": "row",
            "id": id,
            "title": title,
            "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": self.y },
            "panels": [],
        }));
        self.y += 1;
    }

    fn panel(&mut self, mut panel: Value, w: u32, h: u32) {
        if self.x + w > 24 {
            self.newline();
        }
        panel["id"] = json!(self.next_id());
        panel["gridPos"] = json!({ "h": h, "w": w, "x": self.x, "y": self.y });
        self.x += w;
        self.line = self.line.max(h);
        self.panels.push(panel);
    }
}
