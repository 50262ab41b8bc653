//! `ballast demo --quick`, with and without the shop's fallback cache. These run alone,
//! after the rest of the suite (scripts/test.sh: `--run-ignored only -j 1`), because
//! they judge latency and must not share the two cores with other tests.

use std::process::Command;

fn demo(extra: &[&str], dir: &std::path::Path) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args([
            "demo",
            "--quick",
            "--no-progress",
            "--report",
            dir.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = std::fs::read_to_string(dir.join("verdict.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out.status.code(), verdict, text)
}

/// Runs the demo and, when it failed only on a latency clause (1 or 3: P95/P99 against
/// the baseline), once more. Those two clauses compare tail latencies of 300 requests on
/// a two-core machine that the load generator, the shop, its inventory, PostgreSQL and
/// Redis share: one scheduler stall of a few milliseconds moves a p99 of 300 samples. A
/// second failure is a failure; a functional clause (2, 4) failing is never retried.
fn demo_passing(extra: &[&str], dir: &std::path::Path) -> (Option<i32>, serde_json::Value, String) {
    let first = demo(extra, dir);
    let only_latency_failed = first.0 == Some(1)
        && ["2.", "4."].iter().all(|c| outcome(&first.1, c) == "pass")
        && ["1.", "3."].iter().any(|c| outcome(&first.1, c) == "fail");
    if !only_latency_failed {
        return first;
    }
    eprintln!(
        "a latency clause failed; running the demo once more. The first run:\n{}",
        first.2
    );
    demo(extra, dir)
}

fn outcome(verdict: &serde_json::Value, prefix: &str) -> String {
    verdict["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with(prefix))
        .map(|c| c["outcome"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
#[ignore = "run alone by scripts/test.sh"]
fn demo_golden_quick_passes_every_clause() {
    let dir = std::env::temp_dir().join(format!("ballast-demo-pass-{}", std::process::id()));
    let (code, verdict, text) = demo_passing(&[], &dir);
    assert_eq!(code, Some(0), "{text}");
    for clause in ["1.", "2.", "3.", "4."] {
        assert_eq!(outcome(&verdict, clause), "pass", "clause {clause}\n{text}");
    }
    assert_eq!(
        verdict["faults"].as_array().unwrap().len(),
        1,
        "the inventory timed out once"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("fault: timeout on inventory")
            && html.contains("ballast_fallback_served_total")
    );
}

#[test]
#[ignore = "run alone by scripts/test.sh"]
fn demo_golden_without_fallback_fails_the_dependency_clause() {
    let dir = std::env::temp_dir().join(format!("ballast-demo-fail-{}", std::process::id()));
    let (code, verdict, text) = demo(&["--disable-fallback"], &dir);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(outcome(&verdict, "2."), "fail", "{text}");
    // With every request failing, the steady state breaks and the experiment stops.
    assert!(
        verdict["aborted"]
            .as_str()
            .unwrap_or_default()
            .contains("error_rate"),
        "{text}"
    );
    assert!(
        verdict["faults"][0]["removed_s"].is_number(),
        "the fault was removed"
    );
}

/// The machines have `postgres` or `root` as PostgreSQL's superuser (trust auth).
fn database_url() -> String {
    for user in ["postgres", "root"] {
        let url = format!("postgres://{user}@127.0.0.1:5432/test");
        let probe = Command::new(env!("CARGO_BIN_EXE_ballast"))
            .args([
                "demo",
                "--database",
                &url,
                "--redis",
                "redis://127.0.0.1:1/",
            ])
            .output()
            .unwrap();
        // The database is checked first: reaching the Redis complaint means it answered.
        if String::from_utf8_lossy(&probe.stderr).contains("redis at") {
            return url;
        }
    }
    panic!("no PostgreSQL user works on 127.0.0.1:5432");
}

#[test]
#[ignore = "run alone by scripts/test.sh"]
fn demo_golden_quick_over_real_postgres_and_redis_passes_every_clause() {
    let dir = std::env::temp_dir().join(format!("ballast-demo-db-{}", std::process::id()));
    let url = database_url();
    let (code, verdict, text) = demo_passing(
        &["--database", &url, "--redis", "redis://127.0.0.1:6379/"],
        &dir,
    );
    assert_eq!(code, Some(0), "{text}");
    for clause in ["1.", "2.", "3.", "4."] {
        assert_eq!(outcome(&verdict, clause), "pass", "clause {clause}\n{text}");
    }
    assert!(text.contains("table ballast_demo_stock"), "{text}");
    assert!(text.contains("shared cache"), "{text}");
}
