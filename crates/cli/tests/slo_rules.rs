//! `ballast slo rules` as a Sloth user scripts it: `--compat sloth`, the Kubernetes
//! resource, disabled alerts, extra labels, directories with filters, alert-window files,
//! and the refusals that keep a file promtool would reject from being written.

use ballast_testkit::TempDir;
use std::path::Path;
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("ballast runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn promtool_accepts(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(path)
        .output()
        .expect("promtool runs (Debian package `prometheus`; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

const SPEC: &str = r#"version: prometheus/v1
service: shop
labels:
  team: web
slos:
  - name: requests-availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: ShopHighErrorRate
      labels:
        category: availability
      annotations:
        summary: High error rate on shop
      page_alert:
        labels:
          severity: pageteam
        annotations:
          runbook: https://runbooks.example/shop
      ticket_alert:
        disable: true
"#;

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn compat_sloth_writes_sloths_names_and_honours_every_alert_field() {
    let dir = TempDir::new("slo-compat");
    let spec = write(&dir, "shop.yml", SPEC);
    let out_path = dir.path().join("rules.yml");
    let out = ballast(&[
        "slo",
        "rules",
        "--compat",
        "sloth",
        "--extra-labels",
        "cmd=test",
        &spec,
        "-o",
        out_path.to_str().unwrap(),
    ]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let rules = std::fs::read_to_string(&out_path).unwrap();
    for wanted in [
        "name: \"sloth-slo-sli-recordings-shop-requests-availability\"",
        "name: \"sloth-slo-alerts-shop-requests-availability\"",
        "sloth_id: \"shop-requests-availability\"",
        "sloth_window: \"5m\"",
        "record: sloth_slo_info",
        "sloth_spec: \"prometheus/v1\"",
        "sloth_objective: \"99.9\"",
        "sloth_severity: \"page\"",
        "severity: \"pageteam\"",
        "runbook: \"https://runbooks.example/shop\"",
        "summary: \"High error rate on shop\"",
        "title: \"(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast.\"",
        "cmd: \"test\"",
        "team: \"web\"",
        "without (sloth_window)",
    ] {
        assert!(rules.contains(wanted), "missing {wanted}:\n{rules}");
    }
    assert!(!rules.contains("ballast_"), "{rules}");
    // The ticket alert is disabled; its windows are still recorded.
    assert_eq!(rules.matches("- alert:").count(), 1, "{rules}");
    assert!(!rules.contains("sloth_severity: \"ticket\""), "{rules}");
    assert!(
        rules.contains("record: slo:sli_error:ratio_rate3d"),
        "{rules}"
    );
    promtool_accepts(&out_path);
}

#[test]
fn the_kubernetes_resource_becomes_a_prometheus_rule_and_periods_follow_the_flags() {
    let dir = TempDir::new("slo-k8s");
    let spec = write(
        &dir,
        "k8s.yml",
        r#"apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: shop-slos
  namespace: monitoring
  labels:
    prometheus: main
spec:
  service: shop
  slos:
    - name: availability
      objective: 99.5
      sli:
        raw:
          errorRatioQuery: avg_over_time(shop:error:ratio[{{.window}}])
      alerting:
        name: ShopAvailability
        pageAlert:
          disable: true
"#,
    );
    let windows = write(
        &dir,
        "windows/7d.yaml",
        "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec:\n  sloPeriod: 7d\n  page:\n    quick: { errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h }\n    slow: { errorBudgetPercent: 12.5, shortWindow: 30m, longWindow: 6h }\n  ticket:\n    quick: { errorBudgetPercent: 20, shortWindow: 2h, longWindow: 1d }\n    slow: { errorBudgetPercent: 42, shortWindow: 6h, longWindow: 3d }\n",
    );
    let out = ballast(&[
        "slo",
        "rules",
        "--compat",
        "sloth",
        "--default-period",
        "7d",
        "--window-defs",
        &windows,
        &spec,
    ]);
    let (rules, err) = text(&out);
    assert!(out.status.success(), "{err}");
    for wanted in [
        "apiVersion: monitoring.coreos.com/v1",
        "kind: PrometheusRule",
        "name: \"shop-slos\"",
        "namespace: \"monitoring\"",
        "prometheus: \"main\"",
        "app.kubernetes.io/managed-by: \"sloth\"",
        "sloth_spec: \"sloth.slok.dev/v1\"",
        // A 7-day period, in Prometheus' notation, and the windows file's factors
        // (20 % of 168 h in 24 h = 1.4; 42 % in 72 h = 0.98).
        "record: slo:sli_error:ratio_rate1w",
        "(1.4 * 0.005)",
        "(0.98 * 0.005)",
    ] {
        assert!(rules.contains(wanted), "missing {wanted}:\n{rules}");
    }
    assert!(!rules.contains("sloth_severity: \"page\""), "{rules}");
}

#[test]
fn directories_filters_and_one_output_per_spec() {
    let dir = TempDir::new("slo-dir");
    write(&dir, "specs/a.yml", SPEC);
    write(
        &dir,
        "specs/team/b.yaml",
        &SPEC.replace("service: shop", "service: stock"),
    );
    write(&dir, "specs/_gen/old.yml", "not: a spec");
    write(&dir, "specs/notes.txt", "not yaml at all");
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let specs = dir.path().join("specs");
    let out = ballast(&[
        "slo",
        "rules",
        specs.to_str().unwrap(),
        "--exclude",
        "_gen",
        "--disable-alerts",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let a = std::fs::read_to_string(out_dir.join("a.yml")).unwrap();
    let b = std::fs::read_to_string(out_dir.join("team/b.yaml")).unwrap();
    assert!(
        a.contains("ballast_service: \"shop\"") && !a.contains("stock"),
        "{a}"
    );
    assert!(b.contains("ballast_service: \"stock\""), "{b}");
    assert!(!a.contains("- alert:"), "--disable-alerts: {a}");
    promtool_accepts(&out_dir.join("a.yml"));

    // Without the filter the stray file is read and refused with its position.
    let out = ballast(&["slo", "check", specs.to_str().unwrap()]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("old.yml:1:1"), "{err}");

    let out = ballast(&[
        "slo",
        "rules",
        "--disable-recordings",
        &specs.join("a.yml").to_string_lossy(),
    ]);
    let (rules, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        !rules.contains("record:") && rules.contains("- alert:"),
        "{rules}"
    );
}

#[test]
fn what_prometheus_would_refuse_is_never_written() {
    let dir = TempDir::new("slo-refuse");
    let a = write(&dir, "a.yml", SPEC);
    let b = write(&dir, "b.yml", SPEC);
    let out_path = dir.path().join("rules.yml");
    let out = ballast(&["slo", "rules", &a, &b, "-o", out_path.to_str().unwrap()]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a.yml:6") && err.contains("b.yml:6"), "{err}");
    assert!(err.contains("same service and name"), "{err}");
    assert!(!out_path.exists());
    let out = ballast(&["slo", "check", &a, &b]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);

    let broken = write(
        &dir,
        "broken.yml",
        &SPEC.replace(
            "sum(rate(http_requests_total[{{.window}}]))",
            "sum(rate(http_requests_total[{{.window}}])",
        ),
    );
    let out = ballast(&["slo", "rules", &broken, "-o", out_path.to_str().unwrap()]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not valid PromQL"), "{err}");
    assert!(err.contains("broken.yml:6"), "{err}");
    assert!(!out_path.exists());

    let bad_label = write(
        &dir,
        "label.yml",
        &SPEC.replace("team: web", "team-name: web"),
    );
    let out = ballast(&["slo", "rules", &bad_label]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"team-name\"") && err.contains("not a valid Prometheus label"),
        "{err}"
    );

    let out = ballast(&["slo", "rules", &a, "--extra-labels", "no equals sign"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ballast(&[
        "slo",
        "rules",
        dir.path().to_str().unwrap(),
        "--include",
        "(",
    ]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--include"), "{err}");
}
