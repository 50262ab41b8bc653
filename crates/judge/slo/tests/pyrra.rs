//! Pyrra's `ServiceLevelObjective` (`pyrra.dev/v1alpha1`): one golden resource per indicator
//! kind (`tests/golden/pyrra-*.yaml`) loads into the expected model, its rules match the
//! committed `pyrra-*.rules.yaml` (UPDATE_GOLDEN=1 rewrites them) and pass `promtool check
//! rules`; a `promtool test rules` case burns one group of a grouped SLO and not the other;
//! and a table of malformed resources gives each refusal with its exact position and text.
//!
//! The malformed resources are written inline: `tests/fixtures/` is read file by file by
//! `openslo_v1alpha.rs`, which a subdirectory there would break.

use ballast_slo::{load_file, load_str, Error, Sli, Slo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DAY: u64 = 86_400;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn load(name: &str) -> Vec<Slo> {
    let path = golden(name);
    load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs (Debian package `prometheus`; scripts/test.sh installs it)")
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn severities(slo: &Slo) -> (Option<&str>, Option<&str>) {
    (
        slo.alerting.page_labels.get("severity").map(String::as_str),
        slo.alerting
            .ticket_labels
            .get("severity")
            .map(String::as_str),
    )
}

#[test]
fn a_ratio_with_grouping_reads_into_the_model() {
    let slos = load("pyrra-ratio.yaml");
    assert_eq!(slos.len(), 1);
    let slo = &slos[0];
    assert_eq!(slo.service, "shop");
    assert_eq!(slo.name, "checkout-errors");
    assert_eq!(slo.id(), "shop-checkout-errors");
    assert_eq!(
        slo.description.as_deref(),
        Some("Checkout requests that the shop answers without a server error.")
    );
    assert_eq!(slo.objective, 0.995);
    assert_eq!(slo.window, Duration::from_secs(28 * DAY));
    assert_eq!(
        slo.sli,
        Sli::Events {
            errors: r#"sum by (route) (rate(shop_http_requests_total{service="checkout",status=~"5.."}[{{.window}}]))"#.into(),
            total: r#"sum by (route) (rate(shop_http_requests_total{service="checkout"}[{{.window}}]))"#.into(),
        }
    );
    // Only the pyrra.dev/ label reaches the rules (as Pyrra does); prometheus and role
    // select the Kubernetes object.
    assert_eq!(slo.labels, map(&[("team", "checkout")]));
    assert_eq!(
        slo.alerting.annotations,
        map(&[("runbook", "https://runbooks.example.com/checkout-errors")])
    );
    assert_eq!(slo.alerting.name, "CheckoutErrorBudgetBurn");
    assert_eq!(slo.alerting.page.len(), 2);
    assert_eq!(slo.alerting.ticket.len(), 2);
    // ballast's windows, with factors for 28 days: 2 % of the budget in 1 h, 5 % in 6 h.
    assert_eq!(slo.alerting.page[0].long, Duration::from_secs(3600));
    assert!((slo.alerting.page[0].factor - 13.44).abs() < 1e-9);
    assert!((slo.alerting.page[1].factor - 5.6).abs() < 1e-9);
    assert_eq!(severities(slo), (Some("critical"), Some("warning")));
    assert!(slo.origin.ends_with("pyrra-ratio.yaml:4"), "{}", slo.origin);
    assert_eq!(slo.spec, "pyrra.dev/v1alpha1");
    // The Kubernetes object's own labels and annotations go on its PrometheusRule.
    let object = slo
        .kubernetes
        .as_ref()
        .expect("written as a PrometheusRule");
    assert_eq!(object.name, "checkout-errors");
    assert_eq!(object.namespace.as_deref(), Some("shop"));
    assert_eq!(
        object.labels.get("prometheus").map(String::as_str),
        Some("k8s")
    );
    // Pyrra's default (performanceOverAccuracy: false): the period ratio over the whole window.
    assert_eq!(
        slo.tweaks.steps.as_deref().and_then(|s| s.first()),
        Some(&ballast_slo::RuleStep::SliRules { exact_period: true })
    );
}

#[test]
fn a_latency_indicator_reads_as_good_over_total() {
    let slo = &load("pyrra-latency.yaml")[0];
    assert_eq!(
        (slo.service.as_str(), slo.name.as_str()),
        ("catalog", "search-latency")
    );
    assert_eq!(slo.objective, 0.95);
    assert_eq!(slo.window, Duration::from_secs(14 * DAY));
    assert_eq!(
        slo.sli,
        Sli::Good {
            good: r#"sum(rate(catalog_search_duration_seconds_bucket{job="search",le="0.25"}[{{.window}}]))"#.into(),
            total: r#"sum(rate(catalog_search_duration_seconds_count{job="search"}[{{.window}}]))"#.into(),
        }
    );
    assert!(slo.labels.is_empty());
    assert_eq!(slo.alerting.name, "ErrorBudgetBurn");
    assert_eq!(severities(slo), (Some("page"), Some("ticket")));
}

#[test]
fn a_native_latency_indicator_reads_as_histogram_fraction() {
    let slo = &load("pyrra-latency-native.yaml")[0];
    // No namespace: the name is the service too.
    assert_eq!(slo.id(), "ledger-grpc-latency-ledger-grpc-latency");
    assert_eq!(slo.objective, 0.999);
    assert_eq!(slo.window, Duration::from_secs(28 * DAY));
    assert_eq!(
        slo.sli,
        Sli::Raw {
            error_ratio: r#"1 - histogram_fraction(0, 0.3, sum by (method) (rate(ledger_grpc_request_duration_seconds{job="ledger",code="OK"}[{{.window}}])))"#.into(),
        }
    );
    assert!(slo.description.is_none());
}

#[test]
fn a_bool_gauge_reads_as_the_share_of_samples_that_were_not_1() {
    let slo = &load("pyrra-bool-gauge.yaml")[0];
    assert_eq!(slo.id(), "edge-homepage-probe");
    assert_eq!(slo.objective, 0.99);
    assert_eq!(slo.window, Duration::from_secs(7 * DAY));
    let m = r#"synthetic_check_ok{check="homepage"}[{{.window}}]"#;
    assert_eq!(
        slo.sli,
        Sli::Raw {
            error_ratio: format!(
                "(sum by (region) (count_over_time({m})) - sum by (region) (sum_over_time({m}))) / sum by (region) (count_over_time({m}))"
            ),
        }
    );
    // No alerting section: Pyrra's defaults, burn-rate alerts on.
    assert_eq!(slo.alerting.name, "ErrorBudgetBurn");
    assert_eq!(slo.alerting.page.len(), 2);
    assert!(slo.labels.is_empty() && slo.alerting.annotations.is_empty());
}

#[test]
fn every_document_of_a_file_is_read_and_empty_ones_skipped() {
    let slos = load("pyrra-two.yaml");
    let ids: Vec<String> = slos.iter().map(Slo::id).collect();
    assert_eq!(
        ids,
        [
            "payments-payments-availability",
            "payments-payments-refund-latency"
        ]
    );
    assert!(
        slos[0].origin.ends_with("pyrra-two.yaml:5"),
        "{}",
        slos[0].origin
    );
    assert!(
        slos[1].origin.ends_with("pyrra-two.yaml:24"),
        "{}",
        slos[1].origin
    );
    assert_eq!(slos[0].alerting.page.len(), 2);
    // burnrates: false: no burn-rate alert, recording rules only (every window still).
    assert!(slos[1].alerting.page_disabled && slos[1].alerting.ticket_disabled);
    let rules = ballast_slo::rules::generate(&slos[1..]).unwrap();
    assert!(!rules.contains("alert:"), "{rules}");
    assert!(
        rules.contains("record: slo:sli_error:ratio_rate28d"),
        "{rules}"
    );
    assert!(
        rules.contains("record: slo:sli_error:ratio_rate5m"),
        "{rules}"
    );
}

#[test]
fn grouped_rules_keep_one_series_per_group_and_page_for_the_burning_one_only() {
    // As a plain rules file (Pyrra's filesystem mode, `--rule-file`), which promtool reads.
    let options = ballast_slo::RuleOptions {
        kubernetes_objects: false,
        ..Default::default()
    };
    let rules = ballast_slo::rules::generate_with(&load("pyrra-ratio.yaml"), &options).unwrap();
    assert!(!rules.contains("PrometheusRule"), "{rules}");
    let dir = std::env::temp_dir().join(format!("ballast-pyrra-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pyrra-ratio.rules.yaml"), &rules).unwrap();
    assert!(rules.contains(r#"(sum by (route) (rate(shop_http_requests_total{service="checkout",status=~"5.."}[1h])))"#), "{rules}");
    assert!(
        rules.contains(
            r#"(sum by (route) (rate(shop_http_requests_total{service="checkout"}[1h])))"#
        ),
        "{rules}"
    );
    let test = dir.join("pyrra-ratio.promtool.yml");
    std::fs::copy(golden("pyrra-ratio.promtool.yml"), &test).unwrap();
    let out = promtool(&["test", "rules", test.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The head every malformed resource below starts from (lines 1-4).
const HEAD: &str =
    "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata:\n  name: api\n";

/// A resource with `HEAD`, then `spec:` (line 5) and `body` indented under it.
fn with_spec(body: &str) -> String {
    let mut text = format!("{HEAD}spec:\n");
    for line in body.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A valid spec body (lines 6-11 of `with_spec`), with `extra` appended from line 12.
fn valid(extra: &str) -> String {
    with_spec(&format!(
        "target: \"99.9\"\nwindow: 4w\nindicator:\n  ratio:\n    errors: {{ metric: 'http_requests_total{{code=~\"5..\"}}' }}\n    total: {{ metric: http_requests_total }}\n{extra}"
    ))
}

#[test]
fn the_valid_base_of_the_malformed_table_loads() {
    let slos = load_str(&valid(""), "pyrra.yaml", Path::new(".")).unwrap();
    assert_eq!(slos.len(), 1);
    assert_eq!(slos[0].id(), "api-api");
}

#[test]
fn malformed_resources_name_the_line_column_and_field() {
    let cases: Vec<(String, &[&str])> = vec![
        // Documents and top-level keys.
        (
            format!("{}---\napiVersion: openslo/v1\nkind: SLO\n", valid("")),
            &["13:13: apiVersion: expected pyrra.dev/v1alpha1 (document 2), since the file starts with a Pyrra ServiceLevelObjective; got \"openslo/v1\""],
        ),
        (
            format!("{}---\napiVersion: pyrra.dev/v1alpha1\nkind: PrometheusRule\n", valid("")),
            &["14:7: kind: expected ServiceLevelObjective (document 2), got \"PrometheusRule\""],
        ),
        (
            format!("{}---\n- a list\n", valid("")),
            &["13:1: expected a Kubernetes resource (apiVersion, kind, metadata, spec) in document 2"],
        ),
        (
            "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjectiveList\nitems: []\n".into(),
            &["2:7: kind: a ServiceLevelObjectiveList is not read: write each ServiceLevelObjective as a document of its own, separated by ---"],
        ),
        (
            format!("{}---\n{}", valid(""), valid("")),
            &["16:9: metadata.name: the same SLO as document 1 (line 1): service \"api\", name \"api\"; give one another name"],
        ),
        (
            format!("{}specs: {{}}\n", valid("")),
            &["12:1: specs: unknown field; expected one of apiVersion, kind, metadata, spec, status"],
        ),
        (
            format!("{}status: {{ type: PrometheusRule, ready: true }}\n", valid("")),
            &["12:1: status: status is written by Pyrra's operator, not read (a `kubectl get -o yaml` export holds it); remove it"],
        ),
        (
            "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nspec:\n  target: \"99\"\n  window: 4w\n  indicator: { bool_gauge: { metric: up } }\n".into(),
            &["1:1: missing key `metadata`"],
        ),
        // metadata.
        (
            valid("").replace("  name: api\n", "  generateName: api-\n"),
            &["4:3: metadata: missing key `name`: ballast names the SLO and its rules after it, and generateName leaves the name to the API server"],
        ),
        (
            valid("").replace("  name: api\n", "  name: api\n  displayName: API\n"),
            &["5:3: metadata.displayName: unknown field; expected one of name, namespace, labels, annotations, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, ownerReferences, finalizers, managedFields, selfLink, generateName"],
        ),
        (
            valid("").replace("  name: api\n", "  name: api\n  labels:\n    pyrra.dev/team.name: a\n"),
            &["6:5: metadata.labels.pyrra.dev/team.name: Pyrra makes \"team.name\" (the key without pyrra.dev/) a label of every rule, and it is not a Prometheus label name (letters, digits and _, not starting with a digit or __)"],
        ),
        (
            valid("").replace("  name: api\n", "  name: api\n  labels:\n    pyrra.dev/ballast_slo: a\n"),
            &["6:5: metadata.labels.pyrra.dev/ballast_slo: ballast_slo would be a label of every rule, and names starting with ballast_ are the ones ballast writes; rename it"],
        ),
        (
            valid("").replace("  name: api\n", "  name: api\n  annotations:\n    pyrra.dev/run-book: x\n"),
            &["6:5: metadata.annotations.pyrra.dev/run-book: Pyrra makes \"run-book\" (the key without pyrra.dev/) an annotation of the alerts, and it is not a Prometheus label name (letters, digits and _, not starting with a digit or __)"],
        ),
        (
            valid("").replace("  name: api\n", "  name: api\n  labels:\n    tiers: [1, 2]\n"),
            &["6:5: metadata.labels.tiers: expected one value (text, a number or true/false)"],
        ),
        // spec: target, window, unknown keys.
        (
            valid("").replace("\"99.9\"", "\"99.9%\""),
            &["6:11: spec.target: expected a percentage between 0 and 100, e.g. \"99.5\"; got \"99.9%\""],
        ),
        (
            valid("").replace("\"99.9\"", "\"100\""),
            &["6:11: spec.target: expected a percentage above 0 and below 100 (100 leaves no error budget to burn); got 100"],
        ),
        (
            valid("").replace("\"99.9\"", "0.999"),
            &["6:11: spec.target: Pyrra reads the target in percent (0-100), so 0.999 is 0.999 %, not 99.9 % (Pyrra warns about it too); write the percentage, e.g. \"99.9\""],
        ),
        (
            valid("").replace("  target: \"99.9\"\n", ""),
            &["6:3: spec: missing key `target`, the objective in percent, e.g. \"99.5\""],
        ),
        (
            valid("").replace("window: 4w", "window: 30 days"),
            &["7:11: spec.window: expected a Prometheus duration such as 4w, 28d or 1d12h (whole numbers of y, w, d, h, m, s, ms, largest first), as Pyrra reads it; got \"30 days\""],
        ),
        (
            valid("").replace("window: 4w", "window: 1.5w"),
            &["7:11: spec.window: expected a Prometheus duration such as 4w, 28d or 1d12h (whole numbers of y, w, d, h, m, s, ms, largest first), as Pyrra reads it; got \"1.5w\""],
        ),
        (
            valid("").replace("window: 4w", "window: 0"),
            &["7:11: spec.window: expected a duration such as 4w or 28d, got 0"],
        ),
        (
            valid("").replace("window: 4w", "window: \"0\""),
            &["7:11: spec.window: expected a window above zero, e.g. 4w"],
        ),
        (
            valid("").replace("  window: 4w\n", ""),
            &["6:3: spec: missing key `window`, e.g. window: 4w"],
        ),
        (
            valid("objective: 99.9\n"),
            &["12:3: spec.objective: unknown field; expected one of description, target, window, indicator, alerting, partial_response_strategy, performanceOverAccuracy, ruleOutput"],
        ),
        (
            valid("description: [a]\n"),
            &["12:16: spec.description: expected text, got [\"a\"]"],
        ),
        // spec.indicator.
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  boolGauge: { metric: up }\n"),
            &["9:5: spec.indicator.boolGauge: Pyrra spells this indicator bool_gauge (its CRD's field); under boolGauge Pyrra would not read it"],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator: {}\n"),
            &["8:14: spec.indicator: expected one of ratio, latency, latencyNative, bool_gauge"],
        ),
        (
            valid("").replace("    total: { metric: http_requests_total }\n", "    total: { metric: http_requests_total }\n    latency: {}\n"),
            &["12:5: spec.indicator.latency: give one indicator, not ratio and latency"],
        ),
        (
            valid("").replace("    ratio:\n", "    ratio:\n      mode: strict\n"),
            &["10:7: spec.indicator.ratio.mode: unknown field; expected one of errors, total, grouping"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "http_requests_total"),
            &["11:14: spec.indicator.ratio.total: expected { metric: <selector> }, as Pyrra writes it; got \"http_requests_total\""],
        ),
        (
            valid("").replace("    total: { metric: http_requests_total }\n", ""),
            &["10:7: spec.indicator.ratio: missing key `total`"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "{ metric: http_requests_total, query: x }"),
            &["11:45: spec.indicator.ratio.total.query: unknown field; expected one of metric"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "{ metric: 'http_requests_total[5m]' }"),
            &["11:24: spec.indicator.ratio.total.metric: a range such as [5m] makes \"http_requests_total[5m]\" a range vector, which Pyrra refuses: give the selector alone; each rule puts its own window in"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "{ metric: 'sum(rate(http_requests_total[5m]))' }"),
            &["11:24: spec.indicator.ratio.total.metric: \"sum(rate(http_requests_total[5m]))\" is a function or aggregation, not a selector: Pyrra takes the selector and writes sum(rate(...)) around it itself"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "{ metric: '{__name__=\"http_requests_total\"}' }"),
            &["11:24: spec.indicator.ratio.total.metric: give the metric name before the braces (not as {__name__=...}): Pyrra names its rules after it and cannot read the SLO without it"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "{ metric: 'http_requests_total offset 1h' }"),
            &["11:24: spec.indicator.ratio.total.metric: an offset or @ modifier would move every window of \"http_requests_total offset 1h\"; give the selector alone"],
        ),
        (
            valid("").replace("{ metric: http_requests_total }", "{ metric: 'http_requests_total{code=5}' }"),
            &["11:24: spec.indicator.ratio.total.metric: expected a selector such as http_requests_total{job=\"api\",code=~\"5..\"}, as Pyrra takes its metrics; \"http_requests_total{code=5}\" is not valid PromQL (unexpected character inside braces: '5')"],
        ),
        (
            valid("    grouping: route\n"),
            &["12:17: spec.indicator.ratio.grouping: expected a list of label names, e.g. [route]"],
        ),
        (
            valid("    grouping: [route, http-method]\n"),
            &["12:25: spec.indicator.ratio.grouping[1]: expected a Prometheus label name (letters, digits and _, not starting with a digit or __), got \"http-method\""],
        ),
        (
            valid("    grouping: [severity]\n"),
            &["12:18: spec.indicator.ratio.grouping[0]: the alerts' severity label would overwrite this label and merge the groups"],
        ),
        (
            valid("    grouping: [ballast_window]\n"),
            &["12:18: spec.indicator.ratio.grouping[0]: ballast_window is a label ballast writes on its rules; a series label of that name would be overwritten"],
        ),
        (
            valid("    grouping: [team]\n").replace("  name: api\n", "  name: api\n  labels: { pyrra.dev/team: a }\n"),
            &["13:18: spec.indicator.ratio.grouping[0]: every rule gets the label team from metadata.labels pyrra.dev/team, which would overwrite this label and merge the groups; rename one"],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  latency:\n    success: { metric: 'h_bucket{job=\"a\"}' }\n    total: { metric: h_count }\n"),
            &["10:26: spec.indicator.latency.success.metric: the success metric needs an le matcher, the bucket of the requests fast enough, e.g. http_request_duration_seconds_bucket{le=\"0.3\"}"],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  latency:\n    success: { metric: 'h_bucket{le=\"fast\"}' }\n    total: { metric: h_count }\n"),
            &["10:26: spec.indicator.latency.success.metric: the le matcher must be a number, the bucket's bound; got \"fast\""],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  latencyNative:\n    total: { metric: h }\n"),
            &["10:7: spec.indicator.latencyNative: missing key `latency`, e.g. latency: 300ms"],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  latencyNative:\n    total: { metric: h }\n    latency: 0.3s\n"),
            &["11:16: spec.indicator.latencyNative.latency: expected a Prometheus duration such as 4w, 28d or 1d12h (whole numbers of y, w, d, h, m, s, ms, largest first), as Pyrra reads it; got \"0.3s\""],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  latencyNative:\n    total: { metric: h }\n    latency: \"0\"\n"),
            &["11:16: spec.indicator.latencyNative.latency: expected a latency above zero, e.g. 300ms"],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  bool_gauge:\n    metric: up\n    query: up\n"),
            &["11:7: spec.indicator.bool_gauge.query: unknown field; expected one of metric, grouping"],
        ),
        (
            with_spec("target: \"99\"\nwindow: 4w\nindicator:\n  bool_gauge: up\n"),
            &["9:17: spec.indicator.bool_gauge: expected a mapping"],
        ),
        // spec.alerting.
        (
            valid("alerting:\n  absent: true\n"),
            &["13:13: spec.alerting.absent: absent-metric alerts are not supported: ballast's rules are recording rules and burn-rate alerts only, and it cannot add Pyrra's absent(...) alerts; set absent: false (alert on absent(<metric>) in a rule of your own if you need it)"],
        ),
        (
            valid("alerting:\n  absentName: NoRequests\n"),
            &["13:5: spec.alerting.absentName: names Pyrra's absent-metric alerts, which ballast does not write; set absent: false (it then has no effect, in Pyrra either) or remove it"],
        ),
        (
            valid("alerting:\n  severities: { absent: info }\n"),
            &["13:19: spec.alerting.severities.absent: is the severity of Pyrra's absent-metric alerts, which ballast does not write; set alerting.absent: false (it then has no effect, in Pyrra either) or remove it"],
        ),
        (
            valid("alerting:\n  absent: false\n  severities:\n    fastBurn: page\n"),
            &["15:7: spec.alerting.severities.fastBurn: ballast's page alert is one rule over Pyrra's fast (1h/5m for 4w) and medium (6h/30m) burn pairs, so they share one severity; here fastBurn is \"page\" and mediumBurn is \"critical\" (Pyrra's default): give both the same value"],
        ),
        (
            valid("alerting:\n  absent: false\n  severities: { slowBurn: low, longTermBurn: lower }\n"),
            &["14:34: spec.alerting.severities.longTermBurn: ballast's ticket alert is one rule over Pyrra's slow (1d/2h for 4w) and long-term (4d/6h) burn pairs, so they share one severity; here slowBurn is \"low\" and longTermBurn is \"lower\": give both the same value"],
        ),
        (
            valid("alerting:\n  burnrates: \"no\"\n  absent: false\n"),
            &["13:16: spec.alerting.burnrates: expected true or false, got \"no\""],
        ),
        (
            valid("alerting:\n  absent: false\n  for: 5m\n"),
            &["14:5: spec.alerting.for: unknown field; expected one of disabled, burnrates, absent, name, absentName, severities"],
        ),
        (
            valid("alerting: [page]\n"),
            &["12:13: spec.alerting: expected { burnrates, absent, name, severities } (Pyrra's alerting)"],
        ),
        // Thanos and Pyrra's rule layout.
        (
            valid("partial_response_strategy: warn\n"),
            &["12:30: spec.partial_response_strategy: warn is not supported: ballast's rule groups carry no partial_response_strategy, so Thanos Ruler evaluates them with its default, abort; remove it or write abort"],
        ),
        (
            valid("partial_response_strategy: skip\n"),
            &["12:30: spec.partial_response_strategy: expected abort, warn or \"\" (Pyrra's values), got \"skip\""],
        ),
        (
            valid("performanceOverAccuracy: yes\n"),
            &["12:28: spec.performanceOverAccuracy: expected true or false, got \"yes\""],
        ),
        (
            valid("ruleOutput:\n  shortRulesLabels: { prometheus: short }\n"),
            &["13:5: spec.ruleOutput.shortRulesLabels: labels Pyrra puts on the PrometheusRule objects it splits its rules into (-short, -long); ballast writes one rules file and no PrometheusRule object: remove them and load the file where it belongs"],
        ),
        (
            valid("ruleOutput:\n  enableDescriptionAsLabel: true\n"),
            &["13:31: spec.ruleOutput.enableDescriptionAsLabel: ballast puts no description label on its rules (Pyrra puts it on its pyrra_objective and pyrra_window series, which ballast does not write); remove it"],
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let got: Vec<String> = match load_str(text, "pyrra.yaml", Path::new(".")) {
            Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
            other => vec![format!("not refused: {other:?}")],
        };
        let want: Vec<String> = expected.iter().map(|e| format!("pyrra.yaml:{e}")).collect();
        if got != want {
            wrong.push(format!(
                "case {i}:\n{text}\n  wanted {want:#?}\n  got    {got:#?}"
            ));
        }
        for line in &got {
            assert!(!line.contains("Some(") && !line.contains('\n'), "{line}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn what_is_accepted_as_kubernetes_metadata_or_without_effect() {
    let text = valid(
        "description: \"\"\nalerting:\n  disabled: false\n  absent: false\n  absentName: NoTraffic\n  severities: { absent: info }\nperformanceOverAccuracy: false\npartial_response_strategy: \"\"\nruleOutput: { shortRulesLabels: {}, enableDescriptionAsLabel: false }\n",
    )
    .replace(
        "  name: api\n",
        "  name: api\n  namespace: \"\"\n  uid: 1f0c\n  resourceVersion: \"42\"\n  creationTimestamp: \"2025-01-01T00:00:00Z\"\n  labels: { role: alert-rules, prometheus: k8s }\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: \"{}\"\n",
    );
    let slos = load_str(&text, "pyrra.yaml", Path::new(".")).unwrap();
    let slo = &slos[0];
    assert_eq!(slo.service, "api");
    assert!(slo.description.is_none());
    assert!(slo.labels.is_empty());
    assert!(slo.alerting.annotations.is_empty());
    assert_eq!(slo.alerting.page.len(), 2);
}

#[test]
fn disabled_alerting_leaves_the_recording_rules() {
    let slos = load_str(
        &valid("alerting: { disabled: true, absent: false }\n"),
        "pyrra.yaml",
        Path::new("."),
    )
    .unwrap();
    assert!(slos[0].alerting.page_disabled && slos[0].alerting.ticket_disabled);
    let rules = ballast_slo::rules::generate(&slos).unwrap();
    assert!(!rules.contains("alert:"), "{rules}");
    assert!(
        rules.contains("record: slo:sli_error:ratio_rate1h"),
        "{rules}"
    );
    assert!(
        rules.contains("(sum(rate(http_requests_total{code=~\"5..\"}[28d])))"),
        "{rules}"
    );
}
