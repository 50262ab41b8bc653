//! `ballast breaker replay` as users run it: the shipped traces and config, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("the ballast binary runs")
}

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../act/tower/traces")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ballast-breaker-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn replay(trace: &Path, config: &Path) -> Output {
    ballast(&[
        "breaker",
        "replay",
        trace.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ])
}

fn assert_input_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(needle),
        "expected {needle:?} in the first line of:\n{err}"
    );
}

#[test]
fn outage_trace_trips_and_recovers_with_the_yaml_config() {
    let json = std::env::temp_dir().join(format!(
        "ballast-breaker-replay-{}.json",
        std::process::id()
    ));
    let out = ballast(&[
        "breaker",
        "replay",
        traces().join("outage.csv").to_str().unwrap(),
        "--config",
        traces().join("breaker.yaml").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("closed → open") && text.contains("half_open → closed"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let transitions: Vec<&serde_json::Value> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "state_changed")
        .collect();
    let first = transitions[0];
    assert_eq!(
        (first["from"].as_str(), first["to"].as_str()),
        (Some("closed"), Some("open"))
    );
    let at = first["at"]["secs"].as_f64().unwrap() + first["at"]["nanos"].as_f64().unwrap() / 1e9;
    assert!(
        (360.0..=362.0).contains(&at),
        "tripped at {at}s; the outage starts at 360s"
    );
    assert_eq!(transitions.last().unwrap()["to"], "closed");
    std::fs::remove_file(json).unwrap();
}

#[test]
fn healthy_trace_has_no_state_change() {
    let out = replay(
        &traces().join("healthy.csv"),
        &traces().join("breaker.yaml"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.contains(", 0 refused") && !text.contains("→"),
        "{text}"
    );
}

#[test]
fn malformed_trace_names_file_line_and_field() {
    let trace = scratch(
        "bad.csv",
        "time_s,latency_ms,outcome\n0.1,12,ok\n0.2,twelve,ok\n",
    );
    let out = replay(&trace, &traces().join("breaker.yaml"));
    assert_input_error(&out, "bad.csv:3: latency_ms: expected milliseconds");
}

#[test]
fn malformed_config_names_file_line_and_field() {
    let trace = traces().join("outage.csv");
    let cases = [
        (
            "typo.yaml",
            "window: 5s\nbuckets: 10\nopen_fr: 2s\n",
            "typo.yaml:3: open_fr: unknown field",
        ),
        (
            "unit.yaml",
            "window: 5s\nopen_for: 5\n",
            "unit.yaml:2: open_for:",
        ),
        (
            "nested.yaml",
            "thresholds:\n  learned:\n    drift_tolerance: 2.0\n    failure_rate_floor: 0.9\n",
            "nested.yaml:4: thresholds.learned.failure_rate_floor: expected ≤ failure_rate_ceiling",
        ),
        (
            "probes.yaml",
            "name: x\nhalf_open_probes: 0\n",
            "probes.yaml:2: half_open_probes: expected 1..=255",
        ),
        ("syntax.yaml", "window: [5s\n", "syntax.yaml:"),
    ];
    for (name, text, needle) in cases {
        let config = scratch(name, text);
        assert_input_error(&replay(&trace, &config), needle);
    }
    let missing = ballast(&["breaker", "replay", "/nonexistent/trace.csv"]);
    assert_input_error(&missing, "/nonexistent/trace.csv");
}
