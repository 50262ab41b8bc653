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

#[test]
fn check_names_file_line_and_field_and_exits_2() {
    let dir = TempDir::new("heal-check");
    let path = dir.path().join("heal.yaml");
    std::fs::write(
        &path,
        "policies:\n  - name: shop\n    match: { labels: { alertname: A } }\n    cooldown: soon\n    actions: [ { exec: { argv: [/bin/sh, -c, reboot] } } ]\n",
    )
    .unwrap();
    let out = std::process::Command::new(BALLAST)
        .args(["heal", "check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("heal.yaml:4:") && err.contains("cooldown"),
        "{err}"
    );
    std::fs::write(
        &path,
        "policies:\n  - name: shop\n    match: { labels: { alertname: A } }\n    actions: [ { exec: { argv: [/bin/sh, -c, reboot] } } ]\n",
    )
    .unwrap();
    let out = std::process::Command::new(BALLAST)
        .args(["heal", "check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("heal.yaml:4:") && err.contains("never go through a shell"),
        "{err}"
    );
    std::fs::write(
        &path,
        "policies:\n  - name: shop\n    match: { labels: { alertname: A } }\n    actions: [ { exec: { argv: [/bin/true] } } ]\n",
    )
    .unwrap();
    let out = std::process::Command::new(BALLAST)
        .args(["heal", "check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("shop (line 2): exec"));
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
