//! OpenSLO v1 and Sloth files are read whole: every document is read or refused, and every
//! field is mapped into the model (the refusals are the fixtures `v1-*.yaml` and
//! `sloth-*.yaml`, checked by `openslo_v1alpha.rs`).

use ballast_slo::{load_file, load_str, Error, Sli};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn a_v1_file_maps_labels_raw_ratios_and_every_objective() {
    let slos = load_file(&golden("openslo-v1-raw.yaml")).unwrap();
    let names: Vec<&str> = slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["search-success-0", "search-success-1"]);
    assert_eq!(slos[0].objective, 0.99);
    assert!((slos[1].objective - 0.999).abs() < 1e-12);
    for slo in &slos {
        assert_eq!(slo.service, "search");
        assert_eq!(slo.window, Duration::from_secs(28 * 86_400));
        assert_eq!(slo.labels["team"], "search");
        assert_eq!(slo.labels["tier"], "2");
        assert_eq!(slo.description.as_deref(), Some("Searches answered"));
        assert!(matches!(&slo.sli, Sli::Raw { error_ratio }
            if error_ratio == "1 - (avg_over_time(search_success_ratio{job=\"search\"}[{{.window}}]))"));
    }
    // Each objective's SLO points at its own objective.
    assert!(slos[0].origin.ends_with(":43"), "{}", slos[0].origin);
    assert!(slos[1].origin.ends_with(":45"), "{}", slos[1].origin);
}

#[test]
fn a_failure_ratio_is_the_error_ratio_and_one_objective_keeps_the_name() {
    let text = r#"
apiVersion: openslo/v1
kind: SLO
metadata: { name: api }
spec:
  service: web
  timeWindow: [{ duration: 7d, isRolling: true }]
  objectives: [{ target: 0.99 }]
  indicator:
    spec:
      ratioMetric:
        rawType: failure
        raw: { metricSource: { spec: { query: 'avg_over_time(errors:ratio[{{.window}}])' } } }
"#;
    let slos = load_str(text, "raw.yaml", Path::new(".")).unwrap();
    assert_eq!(slos.len(), 1);
    assert_eq!(slos[0].name, "api");
    assert!(
        matches!(&slos[0].sli, Sli::Raw { error_ratio } if error_ratio == "avg_over_time(errors:ratio[{{.window}}])")
    );
}

#[test]
fn every_document_of_a_sloth_file_is_read() {
    let text = r#"
version: prometheus/v1
service: shop
slos:
  - name: a
    objective: 99.9
    sli: { events: { error_query: 'errors_total', total_query: requests_total } }
    alerting: { name: ShopA }
---
version: prometheus/v1
service: stock
slos:
  - name: b
    objective: 99
    sli: { raw: { error_ratio_query: 'avg_over_time(errors:ratio[{{.window}}])' } }
    alerting: { name: StockB }
"#;
    let slos = load_str(text, "two.yaml", Path::new(".")).unwrap();
    let ids: Vec<String> = slos.iter().map(|s| s.id()).collect();
    assert_eq!(ids, ["shop-a", "stock-b"]);
}

#[test]
fn problems_of_several_documents_are_all_reported_in_file_order() {
    let text = "apiVersion: openslo/v1\nkind: Service\nmetadata: { name: a, owner: x }\n---\n\
                apiVersion: openslo/v1\nkind: AlertCondition\nmetadata: { name: b }\n";
    let Err(Error::Invalid(d)) = load_str(text, "f.yaml", Path::new(".")) else {
        panic!("expected an invalid file");
    };
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].starts_with("f.yaml:3:22: metadata.owner: unknown field"),
        "{}",
        shown[0]
    );
    assert!(
        shown[1].starts_with("f.yaml:6:7: kind: AlertCondition is not supported"),
        "{}",
        shown[1]
    );
}

proptest! {
    /// Whatever a line of a v1 or Sloth golden spec is replaced with, loading gives SLOs or
    /// positioned one-line errors, never a panic or debug text.
    #[test]
    fn edits_of_v1_and_sloth_specs_never_panic_and_errors_stay_readable(
        spec in prop::sample::select(vec!["openslo-web.yaml", "openslo-v1-raw.yaml", "sloth-myservice.yaml"]),
        line in 0usize..90,
        replacement in "[ a-zA-Z0-9:{}\\[\\],._\"-]{0,30}",
    ) {
        let text = std::fs::read_to_string(golden(spec)).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let i = line % lines.len();
        let indent: String = lines[i].chars().take_while(|c| *c == ' ').collect();
        lines[i] = format!("{indent}{replacement}");
        match load_str(&lines.join("\n"), "edited.yaml", Path::new(".")) {
            Ok(_) => {}
            Err(Error::Invalid(diagnostics)) => {
                prop_assert!(!diagnostics.is_empty());
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

#[test]
fn a_window_ending_in_a_multibyte_character_is_an_error_not_a_panic() {
    // Found by fuzzing: the calendar-unit check sliced the text at a byte, not a character.
    let text = "apiVersion: openslo/v1\nkind: SLO\nmetadata: { name: web }\nspec:\n  service: web\n  budgetingMethod: Occurrences\n  timeWindow:\n    - { duration: \"2ȡ\", isRolling: true }\n  objectives:\n    - target: 0.99\n  indicator:\n    metadata: { name: ok }\n    spec:\n      ratioMetric:\n        good: { metricSource: { type: Prometheus, spec: { query: ok_total } } }\n        total: { metricSource: { type: Prometheus, spec: { query: all_total } } }\n";
    let Err(Error::Invalid(d)) = load_str(text, "f.yaml", Path::new(".")) else {
        panic!("expected an invalid window");
    };
    assert!(
        d[0].to_string().contains("spec.timeWindow[0].duration"),
        "{}",
        d[0]
    );
}
