//! The `ballast` binary as users run it: exit codes, one-line errors, files it writes.

use ballast_demo::DemoServerConfig;
use std::path::Path;
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("the ballast binary runs")
}

async fn ballast_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ballast(&args)
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts exit code 2 and an error that names `needle` on a single line.
fn assert_input_error(args: &[&str], needle: &str) {
    let out = ballast(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(needle),
        "{args:?}: expected {needle:?} in the first line of:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_flags_are_one_line_errors_with_exit_code_2() {
    assert_input_error(&["load", "not a url"], "URL");
    assert_input_error(&["load", "localhost:8080"], "expected http:// or https://");
    assert_input_error(&["load", "http://127.0.0.1:1/", "--rate", "abc"], "--rate");
    assert_input_error(&["load", "http://127.0.0.1:1/", "--rate", "abc"], "500/s");
    assert_input_error(
        &["load", "http://127.0.0.1:1/", "--shard", "5/4"],
        "--shard",
    );
    assert_input_error(
        &["load", "http://127.0.0.1:1/", "--duration", "0"],
        "--duration",
    );
    assert_input_error(
        &["load", "http://127.0.0.1:1/", "--duration", "10"],
        "missing unit",
    );
    assert_input_error(
        &["load", "http://127.0.0.1:1/", "-H", "nocolon"],
        "Name: value",
    );
    assert_input_error(
        &["load", "http://127.0.0.1:1/", "--rate", "5/s", "-c", "4"],
        "--concurrency",
    );
    assert_input_error(
        &[
            "load",
            "http://127.0.0.1:1/",
            "--body-file",
            "/nonexistent/b.json",
        ],
        "/nonexistent/b.json",
    );
    assert_input_error(
        &[
            "load",
            "http://127.0.0.1:1/",
            "-c",
            "8",
            "--connections",
            "4",
        ],
        "--connections",
    );
    assert_input_error(
        &["report", "merge", "/nonexistent.json", "-o", "/tmp/x.json"],
        "/nonexistent.json",
    );
    // The demo's real dependencies: loopback only, clear about what it wanted.
    assert_input_error(
        &["demo", "--database", "postgres://db.example.com/shop"],
        "not on this machine",
    );
    assert_input_error(
        &["demo", "--database", "host=127.0.0.1 user=me"],
        "--database: \"host=127.0.0.1 user=me\" is not a URL",
    );
    assert_input_error(&["demo", "--redis", "rediss://127.0.0.1/"], "--redis");
    assert_input_error(
        &["demo", "--redis", "redis://127.0.0.1:1/"],
        "redis at redis://127.0.0.1:1/",
    );
}

#[test]
fn an_unreachable_target_is_an_input_error() {
    let nothing = ballast_testkit::RefusedPort::new();
    let url = format!("http://{}/", nothing.addr());
    assert_input_error(
        &["load", &url, "-n", "5", "--no-progress"],
        "cannot connect",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report_has_the_documented_keys_and_shards_merge() {
    let server = DemoServerConfig::default().build().await.unwrap();
    let dir = tempdir();
    let mut files = Vec::new();
    for shard in ["1/2", "2/2"] {
        let file = dir.join(format!("shard-{}.json", &shard[..1]));
        let out = ballast_async(vec![
            "load".into(),
            server.url(),
            "--rate".into(),
            "400/s".into(),
            "--duration".into(),
            "1s".into(),
            "--shard".into(),
            shard.into(),
            "--json".into(),
            file.display().to_string(),
            "--no-progress".into(),
        ])
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("p99.9") && stdout.contains("status"),
            "{stdout}"
        );
        files.push(file);
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    for key in [
        "schema",
        "mode",
        "requests",
        "errors",
        "rps",
        "status",
        "latency_ms",
        "late",
        "dropped",
        "histogram",
        "timeline",
        "service_ms",
        "error_kinds",
    ] {
        assert!(report.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(report["schema"], "ballast.load.v1");
    assert_eq!(report["mode"], "open");
    for p in ["p50", "p90", "p95", "p99", "p999", "max", "mean"] {
        assert!(report["latency_ms"][p].is_number(), "latency_ms.{p}");
    }
    assert_eq!(report["requests"], 200, "half of 400/s for 1 s");
    let point = &report["timeline"][0];
    for key in ["t", "requests", "errors", "p50", "p90", "p99"] {
        assert!(point.get(key).is_some(), "timeline key {key}");
    }

    let merged_path = dir.join("merged.json");
    let out = ballast_async(vec![
        "report".into(),
        "merge".into(),
        files[0].display().to_string(),
        files[1].display().to_string(),
        "-o".into(),
        merged_path.display().to_string(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_path).unwrap()).unwrap();
    assert_eq!(merged["requests"], 400);
    assert_eq!(merged["shards_merged"], 2);

    // A file that is not a report is refused with its name.
    let bogus = dir.join("bogus.json");
    std::fs::write(&bogus, "{\"schema\": \"k6\"}").unwrap();
    let out = ballast_async(vec![
        "report".into(),
        "merge".into(),
        bogus.display().to_string(),
        "-o".into(),
        dir.join("m2.json").display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bogus.json") && stderr(&out).contains("ballast.load.v1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn demo_prints_a_real_summary() {
    let out = ballast(&[
        "demo",
        "load",
        "--duration",
        "2s",
        "--rate",
        "300/s",
        "--no-progress",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("requests") && stdout.contains("corrected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("200 ×") && stdout.contains("503 ×"),
        "{stdout}"
    );
}

#[test]
fn completions_and_version() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ballast(&["completions", shell]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("load"),
            "{shell}"
        );
    }
    let out = ballast(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ballast "));
    let out = ballast(&["load", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples"));
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ballast-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Path::new(&dir).is_dir());
    dir
}
