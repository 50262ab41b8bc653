//! The Grafana dashboard of `ballast slo dashboard`: valid JSON whose every query parses as
//! PromQL and reads only series the same SLOs' rules record (or `ALERTS`), with the chosen
//! flavour's labels, panels that do not overlap — and, under `promtool test rules` with
//! the generated rules loaded, every query answers.

use ballast_slo::dashboard::{self, DashboardOptions};
use ballast_slo::rules::{self, RuleKind};
use ballast_slo::{Flavour, RuleOptions, Slo};
use promql_parser::parser::{self, Expr, LabelModifier};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Committed golden specs of every format with PromQL SLIs (30-day, 28-day, 7-day periods,
/// several SLOs a file, alert labels that override the severity).
const SPECS: &[&str] = &[
    "shop-sloth.yaml",
    "sloth-myservice.yaml",
    "openslo-web.yaml",
    "openslo-v1alpha-payments.yaml",
    "openslo-v1-raw.yaml",
    "contract-shop.yaml",
];

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn load(name: &str) -> Vec<Slo> {
    ballast_slo::load_file(&golden(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn options(flavour: Flavour) -> DashboardOptions {
    DashboardOptions {
        flavour,
        ..DashboardOptions::default()
    }
}

/// Every `expr` anywhere in the dashboard (targets, annotations), and the selectors of the
/// variables' `label_values(<selector>, <label>)`.
fn queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    ("definition", Value::String(d)) => {
                        let inner = d
                            .strip_prefix("label_values(")
                            .and_then(|r| r.strip_suffix(')'))
                            .and_then(|r| r.rsplit_once(", "))
                            .unwrap_or_else(|| panic!("not label_values(selector, label): {d}"));
                        out.push(inner.0.to_string());
                    }
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// Grafana's variables (`$service`, `${slo}`, `$__rate_interval`) replaced by plain values.
fn substitute(expr: &str, service: &str, slo: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let (name, len) = match tail.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').expect("closed ${…}");
                (&braced[..end], end + 2)
            }
            None => {
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                (&tail[..end], end)
            }
        };
        out.push_str(match name {
            "service" => service,
            "slo" => slo,
            n if n.starts_with("__") && n.contains("interval") => "5m",
            n if n.starts_with("__") => "1",
            other => panic!("unknown variable ${other} in {expr}"),
        });
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

#[derive(Default)]
struct Selectors {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
    unnamed: usize,
}

impl ExprVisitor for Selectors {
    type Error = ();
    fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
        let vs = match e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            Expr::Aggregate(a) => {
                if let Some(m) = &a.modifier {
                    self.labels.extend(modifier_labels(m));
                }
                return Ok(true);
            }
            Expr::Binary(b) => {
                if let Some(m) = b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                    self.labels.extend(modifier_labels(m));
                }
                return Ok(true);
            }
            _ => return Ok(true),
        };
        let mut named = vs.name.clone();
        for m in &vs.matchers.matchers {
            if m.name == "__name__" {
                named = Some(m.value.clone());
            } else {
                self.labels.insert(m.name.clone());
            }
        }
        match named {
            Some(n) => {
                self.metrics.insert(n);
            }
            None => self.unnamed += 1,
        }
        Ok(true)
    }
}

fn modifier_labels(m: &LabelModifier) -> Vec<String> {
    m.labels().labels.clone()
}

/// Every query parsed; the series and labels they select.
fn selectors(d: &Value) -> Selectors {
    let mut exprs = Vec::new();
    queries(d, &mut exprs);
    assert!(exprs.len() > 5, "{exprs:?}");
    let mut s = Selectors::default();
    for e in &exprs {
        let plain = substitute(e, "shop", "requests-availability");
        let ast = parser::parse(&plain).unwrap_or_else(|err| panic!("{err}: {plain}"));
        walk_expr(&mut s, &ast).unwrap();
    }
    s
}

/// The series the SLOs' rules record, from the rules themselves.
fn recorded(slos: &[Slo], flavour: Flavour) -> BTreeSet<String> {
    let ro = RuleOptions {
        flavour,
        ..RuleOptions::default()
    };
    let mut names: BTreeSet<String> = rules::build(slos, &ro)
        .unwrap()
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| match &r.kind {
            RuleKind::Record(n) => Some(n.clone()),
            RuleKind::Alert(_) => None,
        })
        .collect();
    names.insert("ALERTS".into());
    names
}

/// Every panel, rows' nested panels included.
fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

fn find<'a>(d: &'a Value, title: &str) -> Vec<&'a Value> {
    all_panels(d)
        .into_iter()
        .filter(|p| p["title"].as_str().is_some_and(|t| t.starts_with(title)))
        .collect()
}

#[test]
fn every_query_parses_and_reads_only_the_generated_rules() {
    for spec in SPECS {
        let slos = load(spec);
        for flavour in [Flavour::Ballast, Flavour::Sloth] {
            let d = dashboard::build(&slos, &options(flavour)).unwrap();
            // Valid JSON, as written.
            let text = serde_json::to_string_pretty(&d).unwrap();
            let d: Value = serde_json::from_str(&text).unwrap();
            assert!(!d["panels"].as_array().unwrap().is_empty(), "{spec}");
            let s = selectors(&d);
            let allowed = recorded(&slos, flavour);
            let foreign: Vec<_> = s.metrics.difference(&allowed).collect();
            assert!(
                foreign.is_empty(),
                "{spec} {flavour:?}: {foreign:?} is not recorded by the rules ({allowed:?})"
            );
            assert_eq!(s.unnamed, 0, "{spec}: a selector without a metric name");
            // Every SLO's period ratio and every window it records is shown.
            for slo in &slos {
                for w in slo.alert_windows().into_iter().chain([slo.window]) {
                    let name = format!("slo:sli_error:ratio_rate{}", flavour.window(w));
                    assert!(
                        s.metrics.contains(&name),
                        "{spec} {flavour:?}: {name} unused"
                    );
                }
            }
            let prefix = flavour.prefix();
            for label in ["id", "service", "slo"] {
                assert!(
                    s.labels.contains(&flavour.label(label)),
                    "{spec} {flavour:?}: no {label} label in {:?}",
                    s.labels
                );
            }
            for label in &s.labels {
                assert!(
                    label.starts_with(&format!("{prefix}_"))
                        || ["alertname", "alertstate", "severity"].contains(&label.as_str()),
                    "{spec} {flavour:?}: selects on {label}"
                );
            }
            if flavour == Flavour::Sloth {
                assert!(
                    !text.contains("ballast_"),
                    "{spec}: a ballast_ label in sloth"
                );
                assert!(
                    !s.labels.contains("severity"),
                    "{spec}: sloth_severity is Sloth's"
                );
            }
        }
    }
}

#[test]
fn sloth_periods_use_prometheus_notation() {
    // openslo-web is a 28-day SLO: ratio_rate4w in Sloth's names, 28d in ballast's.
    let slos = load("openslo-web.yaml");
    let sloth = selectors(&dashboard::build(&slos, &options(Flavour::Sloth)).unwrap());
    assert!(sloth.metrics.contains("slo:sli_error:ratio_rate4w"));
    assert!(!sloth.metrics.contains("slo:sli_error:ratio_rate28d"));
    let ballast = selectors(&dashboard::build(&slos, &options(Flavour::Ballast)).unwrap());
    assert!(ballast.metrics.contains("slo:sli_error:ratio_rate28d"));
}

#[test]
fn panels_have_unique_ids_and_do_not_overlap() {
    for spec in SPECS {
        let d = dashboard::build(&load(spec), &DashboardOptions::default()).unwrap();
        let panels = all_panels(&d);
        let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), panels.len(), "{spec}: repeated panel id");
        let rects: Vec<(u64, u64, u64, u64)> = panels
            .iter()
            .map(|p| {
                let g = &p["gridPos"];
                let n = |k: &str| g[k].as_u64().unwrap_or_else(|| panic!("gridPos.{k}"));
                (n("x"), n("y"), n("w"), n("h"))
            })
            .collect();
        for (i, a) in rects.iter().enumerate() {
            assert!(a.0 + a.2 <= 24 && a.2 > 0 && a.3 > 0, "{spec}: {a:?}");
            for b in &rects[i + 1..] {
                let apart =
                    a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                assert!(apart, "{spec}: {a:?} overlaps {b:?}");
            }
        }
        // Every target reads the datasource variable.
        for p in &panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{spec}");
            }
        }
    }
}

#[test]
fn one_row_per_slo_with_stats_burn_budget_and_alerts() {
    let mut slos = load("sloth-myservice.yaml");
    slos.extend(load("openslo-v1alpha-payments.yaml"));
    assert!(slos.len() >= 3);
    let d = dashboard::build(&slos, &DashboardOptions::default()).unwrap();
    let rows: Vec<&Value> = all_panels(&d)
        .into_iter()
        .filter(|p| p["type"] == "row")
        .collect();
    assert_eq!(rows.len(), slos.len() + 1, "overview and one row per SLO");
    for slo in &slos {
        let title = format!("{} / {}", slo.service, slo.name);
        assert!(rows
            .iter()
            .any(|r| r["title"].as_str().unwrap().starts_with(&title)));
    }
    let burn = find(&d, "Current burn rate");
    assert_eq!(burn.len(), slos.len());
    let defaults = &burn[0]["fieldConfig"]["defaults"];
    assert_eq!(defaults["unit"], "none");
    let steps = &defaults["thresholds"]["steps"];
    assert_eq!(steps[1], json!({"color": "orange", "value": 1.0}));
    assert_eq!(
        steps[2],
        json!({"color": "red", "value": 14.4}),
        "30 days' page factor"
    );
    for title in ["Objective", "SLI over 30d", "Error budget remaining"] {
        for p in find(&d, title) {
            assert_eq!(
                p["fieldConfig"]["defaults"]["unit"], "percentunit",
                "{title}"
            );
        }
    }
    // One burn query per recorded window, legends naming it, then the period.
    let series = find(&d, "Burn rate by window");
    let legends: Vec<&str> = series[0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["legendFormat"].as_str().unwrap())
        .collect();
    assert_eq!(
        legends,
        ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d (period)"]
    );
    // myservice's page alert is labelled severity=pageteam: the timeline selects that.
    let alerts = find(&d, "Alerts (MyServiceHighErrorRate)");
    let exprs: Vec<&str> = alerts[0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert_eq!(exprs.len(), 2);
    assert!(exprs[0].contains(r#"severity="pageteam""#), "{}", exprs[0]);
    assert!(exprs[1].contains(r#"severity="slack""#), "{}", exprs[1]);
}

#[test]
fn variables_uid_and_datasource() {
    let slos = load("shop-sloth.yaml");
    let d = dashboard::build(
        &slos,
        &DashboardOptions {
            flavour: Flavour::Sloth,
            title: "Shop SLOs".into(),
            datasource: Some("prom-main".into()),
        },
    )
    .unwrap();
    assert_eq!(d["title"], "Shop SLOs");
    let vars = d["templating"]["list"].as_array().unwrap();
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    assert_eq!(vars[0]["current"]["value"], "prom-main");
    assert_eq!(
        vars[1]["definition"],
        "label_values(slo:objective:ratio, sloth_service)"
    );
    assert_eq!(
        vars[2]["definition"],
        r#"label_values(slo:objective:ratio{sloth_service=~"$service"}, sloth_slo)"#
    );
    for v in &vars[1..] {
        assert_eq!(v["multi"], true);
        assert_eq!(v["includeAll"], true);
    }
    // The uid follows the title only: the same title is the same dashboard.
    let again = dashboard::build(&load("sloth-myservice.yaml"), &options(Flavour::Ballast));
    assert_eq!(again.unwrap()["uid"], dashboard::uid("SLOs"));
    assert_eq!(d["uid"], dashboard::uid("Shop SLOs"));
    assert_ne!(dashboard::uid("Shop SLOs"), dashboard::uid("Shop SLOs 2"));
    let long = dashboard::uid(&"A very long dashboard title, über alles ".repeat(5));
    assert!(long.len() <= 40, "{long}");
    assert!(long
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    // Without --datasource Grafana's default Prometheus data source is used.
    let d = dashboard::build(&slos, &DashboardOptions::default()).unwrap();
    assert_eq!(d["templating"]["list"][0]["current"], json!({}));
    assert_eq!(d["title"], "SLOs");
}

#[test]
fn refused_as_the_rules_are() {
    let contract = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../contracts/examples/slos-and-chaos.yaml");
    let slos = ballast_slo::load_file(&contract).unwrap();
    let err = dashboard::build(&slos, &DashboardOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("measured by `ballast verify`"),
        "{err}"
    );
    let mut twice = load("shop-sloth.yaml");
    twice.extend(load("shop-sloth.yaml"));
    assert!(dashboard::build(&twice, &DashboardOptions::default()).is_err());
}

/// `promtool test rules` with the generated rules loaded and the error ratio burning at
/// 10 %: every query of the dashboard (variables set to the SLO) answers one series —
/// the firing table two, page and ticket — so none names a series or label the rules do
/// not write, and the alert timeline reads 1 (FIRING) for page and ticket. Healthy, the
/// timeline reads 0 (OK) and the firing table is empty; after a blip, page 0 and ticket 1.
#[test]
fn every_query_answers_under_promtool() {
    let slos = load("shop-sloth.yaml");
    let dir = std::env::temp_dir().join(format!("ballast-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for flavour in [Flavour::Ballast, Flavour::Sloth] {
        let ro = RuleOptions {
            flavour,
            ..RuleOptions::default()
        };
        let rules_file = dir.join(format!("{flavour:?}.rules.yaml"));
        std::fs::write(&rules_file, rules::generate_with(&slos, &ro).unwrap()).unwrap();
        let d = dashboard::build(&slos, &options(flavour)).unwrap();
        let mut exprs = Vec::new();
        queries(&d, &mut exprs);
        let exprs: Vec<String> = exprs
            .iter()
            .map(|e| substitute(e, "shop", "requests-availability"))
            .collect();
        let alerts_table = |e: &str| e.starts_with("ALERTS{");
        let timeline = |e: &str| e.starts_with("max(ALERTS{");
        let count = |e: &str, n: usize| {
            json!({ "expr": format!("count({e})"), "eval_time": "1h",
                    "exp_samples": [{ "labels": "{}", "value": n }] })
        };
        let value = |e: &str, v: u32| {
            json!({ "expr": e, "eval_time": "1h",
                    "exp_samples": [{ "labels": "{}", "value": v }] })
        };
        let burning: Vec<Value> = exprs
            .iter()
            .map(|e| {
                if timeline(e) {
                    value(e, 1)
                } else {
                    count(e, if alerts_table(e) { 2 } else { 1 })
                }
            })
            .collect();
        let healthy: Vec<Value> = exprs
            .iter()
            .map(|e| {
                if alerts_table(e) {
                    json!({ "expr": format!("count({e})"), "eval_time": "1h", "exp_samples": [] })
                } else if timeline(e) {
                    value(e, 0)
                } else {
                    count(e, 1)
                }
            })
            .collect();
        // A 10-minute blip: by 45 minutes the page has cleared and the ticket holds (as in
        // promtool/shop_burn_test.yaml), so each timeline row shows its own alert.
        let blip: Vec<Value> = all_panels(&d)
            .into_iter()
            .filter(|p| p["type"] == "state-timeline")
            .flat_map(|p| p["targets"].as_array().unwrap())
            .map(|t| {
                let e = substitute(t["expr"].as_str().unwrap(), "shop", "requests-availability");
                let v = match t["legendFormat"].as_str().unwrap() {
                    "page" => 0,
                    "ticket" => 1,
                    other => panic!("legend {other}"),
                };
                json!({ "expr": e, "eval_time": "45m",
                        "exp_samples": [{ "labels": "{}", "value": v }] })
            })
            .collect();
        assert_eq!(blip.len(), 2);
        let series = |good: &str, bad: &str| {
            json!([
                { "series": "http_requests_total{code=\"200\"}", "values": good },
                { "series": "http_requests_total{code=\"500\"}", "values": bad },
            ])
        };
        // YAML is a superset of JSON: the test file is written with serde_json.
        let test = json!({
            "rule_files": [rules_file.to_str().unwrap()],
            "evaluation_interval": "1m",
            "tests": [
                { "interval": "1m", "input_series": series("0+540x180", "0+60x180"),
                  "promql_expr_test": burning },
                { "interval": "1m", "input_series": series("0+600x180", "0+0x180"),
                  "promql_expr_test": healthy },
                { "interval": "1m", "input_series": series("0+540x180", "0+60x10 600+0x170"),
                  "promql_expr_test": blip },
            ],
        });
        let test_file = dir.join(format!("{flavour:?}.test.yaml"));
        std::fs::write(&test_file, serde_json::to_string_pretty(&test).unwrap()).unwrap();
        let out = std::process::Command::new("promtool")
            .args(["test", "rules", test_file.to_str().unwrap()])
            .output()
            .expect("promtool runs (Debian package `prometheus`; scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "{flavour:?}: promtool test rules failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
