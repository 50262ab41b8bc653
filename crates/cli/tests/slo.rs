//! `ballast slo` as users run it: budget figures, precise errors on bad specs, rules that
//! promtool accepts, and the budget a verify run spent.

use std::path::Path;
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("ballast runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn budget_gives_the_seed_figures() {
    let out = ballast(&[
        "slo",
        "budget",
        "--objective",
        "99.9%",
        "--window",
        "30d",
        "--total",
        "1000000",
        "--bad",
        "250",
    ]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("error budget 43.2 minutes"), "{text}");
    assert!(
        text.contains("1000.0 allowed, 750.0 left, 25.00% of the budget spent, burn rate 0.250"),
        "{text}"
    );
    let out = ballast(&["slo", "budget", "--objective", "100%"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ballast(&[
        "slo",
        "budget",
        "--objective",
        "99%",
        "--total",
        "10",
        "--bad",
        "11",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_specs_name_file_line_and_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slo");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let expected = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .unwrap()
            .to_string();
        for command in ["check", "rules"] {
            let out = ballast(&["slo", command, path.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
            assert!(
                err.contains(&expected),
                "{}:\nwanted {expected}\ngot {err}",
                path.display()
            );
        }
        n += 1;
    }
    assert!(n >= 6);
}

#[test]
fn rules_for_a_verify_measured_slo_are_refused_with_a_reason() {
    let contract =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/examples/slos-and-chaos.yaml");
    let out = ballast(&["slo", "rules", contract.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("measured by `ballast verify`"));
}

#[test]
fn report_from_verify_tells_the_budget_a_run_spent() {
    let contract =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/examples/slos-and-chaos.yaml");
    let dir = std::env::temp_dir().join(format!("ballast-slo-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let verdict = dir.join("verdict.json");
    let out = ballast(&[
        "verify",
        contract.to_str().unwrap(),
        "--json",
        verdict.to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ballast(&[
        "slo",
        "report",
        "--from-verify",
        verdict.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spends: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let spends = spends.as_array().unwrap();
    // Two verify-measured SLOs (availability, latency); the ratio SLO needs Prometheus.
    assert_eq!(spends.len(), 2, "{spends:?}");
    assert_eq!(spends[0]["slo"], "availability");
    assert_eq!(spends[0]["total"], 200, "100/s for 2 s");
    assert_eq!(spends[0]["bad"], 0);
    assert_eq!(spends[1]["slo"], "latency");
    assert_eq!(
        spends[1]["bad"], 0,
        "nothing takes 300 ms on the demo service"
    );
    let out = ballast(&["slo", "report", "--from-verify", contract.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a contract is not a verify result"
    );
}

#[test]
fn dashboard_writes_grafana_json_and_refuses_a_bad_spec() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../judge/slo/tests/golden");
    let dir = std::env::temp_dir().join(format!("ballast-slo-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dashboard.json");
    let spec = golden.join("shop-sloth.yaml");
    let out = ballast(&[
        "slo",
        "dashboard",
        spec.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(d["title"], "SLOs");
    assert!(d["uid"].as_str().unwrap().starts_with("slos-"));
    assert!(!d["panels"].as_array().unwrap().is_empty());
    let text = d.to_string();
    assert!(text.contains("ballast_id=\\\"shop-requests-availability\\\""));

    // --compat sloth, --title, --datasource; stdout without -o.
    let out = ballast(&[
        "slo",
        "dashboard",
        spec.to_str().unwrap(),
        "--compat",
        "sloth",
        "--title",
        "Shop SLOs",
        "--datasource",
        "prom-main",
    ]);
    assert!(out.status.success());
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["title"], "Shop SLOs");
    assert_eq!(d["templating"]["list"][0]["current"]["value"], "prom-main");
    let text = d.to_string();
    assert!(text.contains("sloth_id") && !text.contains("ballast_"));

    let bad =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slo/sloth-bad-objective.yaml");
    let out = ballast(&[
        "slo",
        "dashboard",
        bad.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = ballast(&["slo", "dashboard", "/nonexistent/spec.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}
