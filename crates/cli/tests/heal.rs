//! `ballast heal` as a process: policy errors (exit 2, file:line), and a healer killed
//! with SIGKILL that loses no audit record and repeats no completed action.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use ballast_testkit::{Port, Server, TempDir};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BALLAST: &str = env!("CARGO_BIN_EXE_ballast");

/// `ballast heal check` on a policy with `actions`: (exit code, stdout, stderr).
fn check(dir: &TempDir, actions: &str) -> (Option<i32>, String, String) {
    let path = dir.path().join("heal.yaml");
    std::fs::write(
        &path,
        format!(
            "policies:\n  - name: shop\n    match: {{ labels: {{ alertname: A }} }}\n{actions}"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BALLAST)
        .args(["heal", "check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_names_file_line_and_field_and_exits_2() {
    let dir = TempDir::new("heal-check");
    let (code, _, err) = check(
        &dir,
        "    cooldown: soon\n    actions: [ { exec: { argv: [/bin/true] } } ]\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("heal.yaml:4:") && err.contains("cooldown"),
        "{err}"
    );
    let (code, _, err) = check(
        &dir,
        "    actions: [ { exec: { argv: [/bin/sh, -c, reboot] } } ]\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("heal.yaml:4:") && err.contains("never go through a shell"),
        "{err}"
    );
    let (code, out, err) = check(&dir, "    actions: [ { exec: { argv: [/bin/true] } } ]\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("shop (line 2): exec"), "{out}");
    // What serve would refuse, check refuses too: a Kubernetes action that does not fit.
    let tower = "      - tower: { admin: 'http://127.0.0.1:1/admin', token_env: BALLAST_TEST_UNSET_VAR, fallback: force }\n";
    let (code, _, err) = check(
        &dir,
        &format!("    actions:\n{tower}      - kubernetes: {{ scale: {{ deployment: shop }} }}\n"),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("heal.yaml:6") && err.contains("kubernetes"),
        "{err}"
    );
    // A token serve would need, unset on the machine that checks: a warning.
    let (code, _, err) = check(&dir, &format!("    actions:\n{tower}"));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("BALLAST_TEST_UNSET_VAR is not set here"),
        "{err}"
    );
}

/// Counts calls on `/ok`; `/hang` never answers (the action is in flight when the healer
/// is killed).
async fn counter() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/ok",
            post(|State(c): State<Arc<AtomicUsize>>| async move {
                c.fetch_add(1, Ordering::SeqCst);
                "done"
            }),
        )
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        )
        .with_state(count.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

fn delivery(alertname: &str, fingerprint: &str) -> String {
    format!(
        r#"{{"version":"4","groupKey":"g","status":"firing","receiver":"heal","alerts":[{{"status":"firing","labels":{{"alertname":"{alertname}"}},"startsAt":"2026-12-01T20:00:00Z","fingerprint":"{fingerprint}"}}]}}"#
    )
}

async fn heal(dir: &std::path::Path) -> Server {
    Server::try_start(
        BALLAST,
        &[
            "heal".into(),
            "serve".into(),
            "-c".into(),
            dir.join("heal.yaml").display().to_string(),
        ],
        Port::Proc,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn audit(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line is whole JSON"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healer_killed_mid_action_loses_no_record_and_repeats_no_completed_action() {
    let dir = TempDir::new("heal-kill");
    let (url, count) = counter().await;
    std::fs::write(
        dir.path().join("heal.yaml"),
        format!(
            "listen: 127.0.0.1:0\nstate_dir: state\npolicies:\n  - name: done\n    match: {{ labels: {{ alertname: Done }} }}\n    actions: [ {{ http: {{ url: \"{url}/ok\" }} }} ]\n  - name: hung\n    match: {{ labels: {{ alertname: Hung }} }}\n    attempts: 1\n    actions: [ {{ http: {{ url: \"{url}/hang\", timeout: 1h }} }} ]\n"
        ),
    )
    .unwrap();
    let client = reqwest::Client::new();
    let first = heal(dir.path()).await;
    let post = |addr: String, body: String| {
        let client = client.clone();
        async move {
            client
                .post(format!("{addr}/webhook"))
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(first.url(), delivery("Done", "d1")).await, 200);
    assert_eq!(post(first.url(), delivery("Hung", "h1")).await, 200);
    for _ in 0..100 {
        if count.load(Ordering::SeqCst) == 1
            && audit(dir.path()).iter().any(|r| r["event"] == "closed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let before = audit(dir.path());
    // SIGKILL: no chance to flush anything.
    let pid = first.pid().unwrap();
    // SAFETY: kill(2) on the healer's pid, a child of this test.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    first.stop().await;
    let after_kill = audit(dir.path());
    assert_eq!(before, after_kill, "every acknowledged record is on disk");
    assert!(after_kill
        .iter()
        .any(|r| r["event"] == "act" && r["incident"].as_str().unwrap().starts_with("hung")));

    let second = heal(dir.path()).await;
    // Alertmanager delivers both again (a receiver that vanished gets a retry).
    assert_eq!(post(second.url(), delivery("Done", "d1")).await, 200);
    assert_eq!(post(second.url(), delivery("Hung", "h1")).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the completed action was not repeated"
    );
    let log = audit(dir.path());
    assert!(log.starts_with(&after_kill), "the audit log is append-only");
    let new = &log[after_kill.len()..];
    assert!(new.iter().any(|r| r["event"] == "interrupted"), "{new:#?}");
    assert_eq!(
        new.iter().filter(|r| r["event"] == "duplicate").count(),
        2,
        "{new:#?}"
    );
    // The interrupted try counts as failed: with one try allowed and no other action, the
    // incident ends exhausted instead of calling the hung endpoint blindly again.
    assert!(
        new.iter()
            .any(|r| r["event"] == "closed" && r["outcome"] == "exhausted"),
        "{new:#?}"
    );
    let status = std::process::Command::new(BALLAST)
        .args(["heal", "status", "--url", &second.url()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        shown.contains("healer healthy: 0 open incident(s)")
            && shown.contains("exhausted")
            && shown.contains("succeeded"),
        "{shown}"
    );
    // And the restart's decision is saved: a third healer would not find the action in
    // flight.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/state.json")).unwrap())
            .unwrap();
    let hung = state["incidents"]
        .as_object()
        .unwrap()
        .values()
        .find(|i| i["policy"] == "hung")
        .unwrap();
    assert_eq!(hung["phase"]["phase"], "done", "{hung}");
    second.stop().await;
}

#[test]
fn the_operator_without_a_cluster_says_so_and_exits_2() {
    let dir = TempDir::new("heal-operator");
    let out = std::process::Command::new(BALLAST)
        .args(["heal", "operator", "--kubeconfig"])
        .arg(dir.path().join("missing-kubeconfig"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot reach the cluster") && err.contains("missing-kubeconfig"),
        "{err}"
    );
}
