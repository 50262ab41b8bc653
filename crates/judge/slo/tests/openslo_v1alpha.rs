//! OpenSLO v1alpha, the form Sloth's examples use: a Sloth-style spec maps into the model
//! (its rules are checked with promtool by `golden.rs`), and every malformed fixture in
//! `tests/fixtures/` (OpenSLO v1alpha and v1, Sloth, contracts) gives the precise error its first line states (`# expect: LINE:COL:
//! FIELD: MESSAGE`), with no Rust debug text in any message.

use ballast_slo::{load_file, load_str, Error, Sli};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

const DAY: u64 = 86_400;

#[test]
fn a_sloth_style_v1alpha_spec_maps_every_objective_into_the_model() {
    let slos = load_file(&tests_dir().join("golden/openslo-v1alpha-payments.yaml")).unwrap();
    let names: Vec<&str> = slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "payments-availability-0",
            "payments-latency-0",
            "payments-latency-1",
            "payments-p99-0"
        ]
    );
    let availability = &slos[0];
    assert_eq!(availability.id(), "payments-payments-availability-0");
    assert_eq!(availability.objective, 0.999);
    assert_eq!(availability.window, Duration::from_secs(30 * DAY));
    assert_eq!(
        availability.description.as_deref(),
        Some("Payment requests that do not fail on our side.")
    );
    assert_eq!(availability.labels["team"], "payments");
    assert_eq!(availability.labels["tier"], "1");
    assert!(matches!(&availability.sli, Sli::Good { good, total }
        if good.contains("code!~\"5..\"") && total == "sum(rate(payments_requests_total[{{.window}}]))"));
    assert!(
        availability
            .origin
            .ends_with("openslo-v1alpha-payments.yaml:23"),
        "{}",
        availability.origin
    );
    let (fast, timeouts) = (&slos[1], &slos[2]);
    assert_eq!(fast.window, Duration::from_secs(28 * DAY));
    assert_eq!((fast.objective, timeouts.objective), (0.99, 0.9995));
    assert!(matches!(&fast.sli, Sli::Good { good, .. }
        if good == "payments_request_duration_seconds_bucket{le=\"0.25\"}"));
    assert!(matches!(&timeouts.sli, Sli::Events { errors, .. } if errors.contains("timeouts")));
    assert!(fast.labels.is_empty());
    let p99 = &slos[3];
    assert_eq!(p99.window, Duration::from_secs(7 * DAY));
    assert!(matches!(&p99.sli, Sli::Threshold { op, value, query }
        if op == "lte" && *value == 0.4 && query.starts_with("histogram_quantile(0.99")));
    // The alert windows scale with the SLO window as for every other source.
    assert!((availability.alerting.page[0].factor - 14.4).abs() < 1e-9);
    assert_eq!(
        availability.alerting.name,
        "PaymentsPaymentsAvailability0BurnRate"
    );
}

#[test]
fn sloths_defaults_hold_a_window_of_30_days_and_v1_and_v1alpha_mix() {
    let text = r#"
apiVersion: openslo/v1alpha
kind: SLO
metadata: { name: api }
spec:
  service: web
  objectives:
    - target: 0.995
      ratioMetrics:
        good: { source: sloth, queryType: promql, query: 'http_requests_total{code!~"5.."}' }
        total: { source: Prometheus, queryType: PromQL, query: http_requests_total }
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: api-v1 }
spec:
  service: web
  timeWindow: [{ duration: 7d, isRolling: true }]
  objectives: [{ target: 0.99 }]
  indicator:
    metadata: { name: ok }
    spec:
      ratioMetric:
        good: { metricSource: { type: Prometheus, spec: { query: 'http_requests_total{code!~"5.."}' } } }
        total: { metricSource: { type: Prometheus, spec: { query: http_requests_total } } }
"#;
    let slos = load_str(text, "mixed.yaml", Path::new(".")).unwrap();
    assert_eq!(slos.len(), 2);
    assert_eq!(slos[0].name, "api-0");
    assert_eq!(slos[0].window, Duration::from_secs(30 * DAY));
    assert_eq!(slos[1].name, "api-v1");
    assert_eq!(slos[1].window, Duration::from_secs(7 * DAY));
}

#[test]
fn malformed_specs_name_the_file_line_and_field() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(tests_dir().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        // Folders hold other tests' fixtures (equivalence/).
        .filter(|p| p.is_file())
        .collect();
    fixtures.sort();
    for path in fixtures {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
        let file = path.display().to_string();
        let diagnostics = match load_file(&path) {
            Err(Error::Invalid(d)) => d,
            other => panic!("{file}: expected an invalid spec, got {other:?}"),
        };
        let first = diagnostics[0].to_string();
        if !first.starts_with(&format!("{file}:{expected}")) {
            wrong.push(format!("{file}:\n wanted {expected}\n got    {first}"));
        }
        for d in &diagnostics {
            let line = d.to_string();
            assert!(
                !line.contains("Some(") && !line.contains("None") && !line.contains('\n'),
                "{line}"
            );
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 46, "{checked}");
}

proptest! {
    /// Whatever a line of the golden spec is replaced with, loading gives SLOs or
    /// positioned one-line errors, never a panic or debug text.
    #[test]
    fn edits_of_a_v1alpha_spec_never_panic_and_errors_stay_readable(
        line in 0usize..90,
        replacement in "[ a-zA-Z0-9:{}\\[\\],._\"-]{0,30}",
    ) {
        let text = std::fs::read_to_string(tests_dir().join("golden/openslo-v1alpha-payments.yaml")).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let i = line % lines.len();
        // Keep the indentation, so the edit is usually still YAML and reaches the reader.
        let indent: String = lines[i].chars().take_while(|c| *c == ' ').collect();
        lines[i] = format!("{indent}{replacement}");
        match load_str(&lines.join("\n"), "edited.yaml", Path::new(".")) {
            Ok(_) => {}
            Err(Error::Invalid(diagnostics)) => {
                for d in diagnostics {
                    prop_assert!(d.line >= 1);
                    let shown = d.to_string();
                    prop_assert!(!shown.contains("Some(") && !shown.contains('\n'), "{}", shown);
                }
            }
            Err(e) => prop_assert!(false, "unexpected error kind: {}", e),
        }
    }
}
