//! `ballast verify` and `ballast contract` as CI uses them: real contracts, real servers
//! (the built-in demo service, spawned by the contracts), real exit codes and files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("ballast runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ballast-verify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn verify_example(name: &str) -> (Output, serde_json::Value) {
    let contract = repo().join(format!("contracts/examples/{name}.yaml"));
    let dir = scratch(name);
    let json = dir.join("verdict.json");
    let out = ballast(&[
        "verify",
        contract.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--no-progress",
    ]);
    let verdict = std::fs::read_to_string(&json)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, verdict)
}

fn outcomes(verdict: &serde_json::Value) -> Vec<(String, String)> {
    verdict["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn basic_example_holds_and_exits_0() {
    let (out, verdict) = verify_example("basic");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(verdict["schema"], "ballast.verify.v1");
    assert!(
        outcomes(&verdict).iter().all(|(_, o)| o == "pass"),
        "{:?}",
        outcomes(&verdict)
    );
    assert_eq!(
        verdict["phases"][1]["report"]["requests"], 600,
        "300/s for 2 s"
    );
}

#[test]
fn golden_table_example_reads_metrics_and_the_process() {
    let (out, verdict) = verify_example("golden-table");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let clauses = verdict["clauses"].as_array().unwrap();
    let fallback = &clauses[2]["observed"][0];
    assert!(fallback["value"].as_f64().unwrap() > 0.0, "{fallback}");
    let rss = &clauses[1]["observed"][0];
    assert!(
        rss["value"].as_f64().unwrap() > 1e6,
        "the spawned service's RSS was read: {rss}"
    );
}

#[test]
fn request_templates_example_reports_per_request() {
    let (out, verdict) = verify_example("requests");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let by_request = &verdict["phases"][0]["report"]["by_request"];
    let count = |name: &str| by_request[name]["requests"].as_u64().unwrap();
    // 400 requests in weights 6:2:1:1.
    assert_eq!(
        (
            count("browse"),
            count("profile"),
            count("checkout"),
            count("import")
        ),
        (240, 80, 40, 40)
    );
}

#[test]
fn ramp_example_warns_without_failing() {
    let (out, verdict) = verify_example("ramp-and-warnings");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let o = outcomes(&verdict);
    assert_eq!(o[1].1, "warn", "{o:?}");
    assert!(o.iter().filter(|(_, x)| x == "pass").count() == 3, "{o:?}");
}

#[test]
fn slos_and_chaos_example_parses_and_runs() {
    let (out, _) = verify_example("slos-and-chaos");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_server_that_slows_under_the_surge_fails_exactly_the_surge_clause() {
    let dir = scratch("slow");
    let contract = dir.join("slow.yaml");
    std::fs::write(
        &contract,
        r#"
name: slows-under-surge
target:
  base_url: http://127.0.0.1:18186
  spawn:
    command: ballast
    args: [demo, serve, --bind, "127.0.0.1:18186", --latency, 1ms, --slow-above, 120/s, --slow-by, 150ms]
    ready: { http: /metrics }
phases:
  - { name: baseline, rate: 50/s, warmup: 1s, duration: 2s }
  - { name: surge, rate: 200/s, duration: 2s }
clauses:
  - name: baseline is fast
    phase: baseline
    check: p95 < 100ms
  # The slowdown (150 ms) dwarfs what a busy machine adds to the baseline, so the surge
  # fails and the baseline holds however loaded the machine running the suite is.
  - name: surge p95 within twice the baseline
    phase: surge
    check: p95 <= 2 * baseline.p95 + 20ms
  - name: no errors
    check: error_rate == 0
"#,
    )
    .unwrap();
    let report_dir = dir.join("report");
    let junit = dir.join("junit.xml");
    let out = ballast(&[
        "verify",
        contract.to_str().unwrap(),
        "--report",
        report_dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("verdict.json")).unwrap())
            .unwrap();
    let o = outcomes(&verdict);
    assert_eq!(
        o.iter().map(|(_, x)| x.as_str()).collect::<Vec<_>>(),
        vec!["pass", "fail", "pass"],
        "{o:?}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("FAIL") && table.contains("surge.p95 =") && table.contains("baseline.p95 ="),
        "{table}"
    );

    // JUnit: valid XML, one test case per clause, the right failure count.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit output is well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("tests"), Some("3"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    let failed: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.children().any(|c| c.has_tag_name("failure")))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(failed, vec!["surge p95 within twice the baseline"]);

    // The HTML report is one self-contained file with charts and the verdict.
    let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap();
    assert!(
        html.contains("FAILED")
            && html.contains("<svg")
            && html.contains("surge p95 within twice the baseline")
    );
    assert!(
        !html.contains("<script") && !html.contains("http://cdn"),
        "opens offline, runs nothing"
    );
}

#[test]
fn only_runs_one_phase_and_skips_what_needs_others() {
    let contract = repo().join("contracts/examples/basic.yaml");
    let dir = scratch("only");
    let json = dir.join("v.json");
    let out = ballast(&[
        "verify",
        contract.to_str().unwrap(),
        "--only",
        "baseline",
        "--json",
        json.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(
        outcomes(&verdict)
            .iter()
            .map(|(_, o)| o.as_str())
            .collect::<Vec<_>>(),
        vec!["pass", "skipped", "skipped"]
    );
    let out = ballast(&["verify", contract.to_str().unwrap(), "--only", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no such phase; the phases are: baseline, surge"));
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let contract = repo().join("contracts/examples/chaos-proxy.yaml");
    let out = ballast(&["verify", contract.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    // 100/s × 2 s + 100/s × (0.5 + 3) s + 100/s × (1 + 2) s
    assert!(plan.contains("total: 850 requests"), "{plan}");
    assert!(
        plan.contains("latency on shop, http_abort on shop"),
        "{plan}"
    );
}

#[test]
fn malformed_contracts_give_precise_errors_and_exit_2() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let expected = source
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .expect("fixture names its error");
        for command in ["check", "verify"] {
            let args: Vec<&str> = if command == "check" {
                vec!["contract", "check", path.to_str().unwrap()]
            } else {
                vec!["verify", path.to_str().unwrap()]
            };
            let out = ballast(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
            assert!(
                stderr.contains(expected),
                "{}:\nwanted {expected}\ngot {stderr}",
                path.display()
            );
            assert!(!stderr.contains("panicked"));
        }
        checked += 1;
    }
    assert!(
        checked >= 12,
        "a dozen malformed contracts, found {checked}"
    );
}

#[test]
fn every_example_is_valid_and_the_schema_is_published() {
    for entry in std::fs::read_dir(repo().join("contracts/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = ballast(&["contract", "check", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out));
        }
    }
    let out = ballast(&["contract", "schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema["properties"]["phases"].is_object());
    let committed = std::fs::read_to_string(repo().join("docs/contract.schema.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&committed).unwrap(),
        schema,
        "docs/contract.schema.json is stale: run `ballast contract schema > docs/contract.schema.json`"
    );
}

#[test]
fn openapi_import_writes_a_contract_that_checks() {
    let dir = scratch("openapi");
    let api = dir.join("api.yaml");
    std::fs::write(
        &api,
        "openapi: 3.0.0\ninfo: { title: Shop }\npaths:\n  /items/{id}:\n    get:\n      operationId: getItem\n      \
         parameters: [{ name: id, in: path, required: true, example: 7 }]\n      responses: { '200': { description: ok } }\n",
    )
    .unwrap();
    let contract = dir.join("shop.yaml");
    let out = ballast(&[
        "contract",
        "init",
        "--from-openapi",
        api.to_str().unwrap(),
        "-o",
        contract.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&contract)
        .unwrap()
        .contains("path: \"/items/7\""));
    let out = ballast(&["contract", "check", contract.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    // It never overwrites.
    let out = ballast(&[
        "contract",
        "init",
        "--from-openapi",
        api.to_str().unwrap(),
        "-o",
        contract.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn chaos_proxy_example_applies_and_removes_faults() {
    let (out, verdict) = verify_example("chaos-proxy");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let faults = verdict["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{faults:?}");
    for f in faults {
        let (applied, removed) = (
            f["applied_s"].as_f64().unwrap(),
            f["removed_s"].as_f64().unwrap(),
        );
        assert!(removed > applied, "{f}");
        assert_eq!(f["phase"], "faults");
    }
    // Removed before the recovery phase started.
    let recovery_start = verdict["phases"][2]["start_s"].as_f64().unwrap();
    assert!(faults
        .iter()
        .all(|f| f["removed_s"].as_f64().unwrap() <= recovery_start));
    assert_eq!(verdict["phases"][1]["chaos_applied"], true);
}

#[test]
fn a_broken_steady_state_aborts_and_removes_the_faults() {
    let dir = scratch("abort");
    let contract = dir.join("abort.yaml");
    std::fs::write(
        &contract,
        r#"
name: abort
target:
  base_url: http://127.0.0.1:18189
  spawn: { command: ballast, args: [demo, serve, --bind, "127.0.0.1:18190"], ready: { tcp: 18190 } }
chaos:
  proxies: [{ name: shop, listen: "127.0.0.1:18189", upstream: "127.0.0.1:18190", http: true }]
phases:
  - name: meltdown
    rate: 100/s
    duration: 20s
    chaos: [{ proxy: shop, toxic: http_abort, toxicity: 0.6, attributes: { status: 503 } }]
    abort_when: { steady_state: "error_rate < 20%", for: 2s }
  - { name: never-runs, rate: 10/s, duration: 1s }
clauses:
  - { name: anything, check: requests > 0 }
"#,
    )
    .unwrap();
    let json = dir.join("v.json");
    let junit = dir.join("junit.xml");
    let out = ballast(&[
        "verify",
        contract.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let reason = verdict["aborted"]
        .as_str()
        .expect("the verdict says why it aborted");
    assert!(
        reason.contains("steady state `error_rate < 20%` broken for 2s"),
        "{reason}"
    );
    assert_eq!(
        verdict["phases"].as_array().unwrap().len(),
        1,
        "the next phase did not run"
    );
    let ran = verdict["phases"][0]["report"]["duration_s"]
        .as_f64()
        .unwrap();
    assert!(ran < 20.0, "the phase stopped early ({ran}s of 20s)");
    assert!(
        verdict["faults"][0]["removed_s"].is_number(),
        "faults removed"
    );
    assert!(text(&out).contains("ABORTED"));
    let xml = std::fs::read_to_string(junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(doc
        .descendants()
        .any(|n| n.has_tag_name("error") && n.attribute("type") == Some("Aborted")));
}
