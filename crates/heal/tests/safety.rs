//! The healer's safety rules over real HTTP: a healer on loopback, actions that call a
//! real counting server, deliveries sent as Alertmanager sends them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use ballast_testkit::TempDir;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A server counting calls per path; `/fail` answers 500.
async fn counter() -> (String, Arc<[AtomicUsize; 3]>) {
    let counts: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    async fn hit(State(c): State<Arc<[AtomicUsize; 3]>>, uri: axum::http::Uri) -> StatusCode {
        match uri.path() {
            "/act" => {
                c[0].fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }
            "/fail" => {
                c[1].fetch_add(1, Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => {
                c[2].fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }
        }
    }
    let app = Router::new()
        .route("/{*path}", post(hit))
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, counts)
}

fn policy(dir: &TempDir, actions: &str, limits: &str) -> std::path::PathBuf {
    let text = format!(
        "listen: 127.0.0.1:0\nauth: {{ bearer_token_env: BALLAST_HEAL_TEST_TOKEN }}\nstate_dir: state\npolicies:\n  - name: shop\n    match: {{ labels: {{ alertname: ShopLatency }} }}\n{limits}    actions:\n{actions}"
    );
    let path = dir.path().join("heal.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn body(fingerprint: &str, starts: &str, status: &str) -> String {
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"ShopLatency\"}}","truncatedAlerts":0,"status":"{status}","receiver":"heal",
        "groupLabels":{{"alertname":"ShopLatency"}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://127.0.0.1:9093",
        "alerts":[{{"status":"{status}","labels":{{"alertname":"ShopLatency","service":"shop"}},"annotations":{{}},
        "startsAt":"{starts}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"{fingerprint}"}}]}}"#
    )
}

async fn deliver(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    body: &str,
) -> (u16, String) {
    let r = client
        .post(format!("http://{addr}/webhook"))
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen within 5s");
}

fn audit(dir: &TempDir) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.path().join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events(audit: &[serde_json::Value], kind: &str) -> usize {
    audit.iter().filter(|r| r["event"] == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_deliveries_from_an_ha_pair_cause_one_action() {
    std::env::set_var("BALLAST_HEAL_TEST_TOKEN", "s3cret");
    let dir = TempDir::new("heal-dupes");
    let (url, counts) = counter().await;
    let path = policy(
        &dir,
        &format!("      - http: {{ url: \"{url}/act\" }}\n"),
        "",
    );
    let healer = ballast_heal::HealConfig::new(&path).build().await.unwrap();
    let addr = healer.addr();
    let client = reqwest::Client::new();
    let delivery = body("a1b2c3d4", "2026-12-01T20:00:00Z", "firing");
    // Two peers, 500 deliveries each, 16 at a time.
    let mut tasks = Vec::new();
    for _peer in 0..2 {
        for _batch in 0..16 {
            let (client, delivery) = (client.clone(), delivery.clone());
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..32 {
                    statuses.push(deliver(&client, addr, &delivery).await.0);
                }
                statuses
            }));
        }
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap().iter().filter(|s| **s == 200).count();
    }
    assert_eq!(ok, 1024, "every delivery was acknowledged");
    eventually("the action", || counts[0].load(Ordering::SeqCst) >= 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counts[0].load(Ordering::SeqCst),
        1,
        "one action for 1024 deliveries"
    );
    let metrics = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ballast_heal_alerts_total{decision=\"duplicate\"} 1023"),
        "{metrics}"
    );
    let log = audit(&dir);
    assert_eq!(events(&log, "act"), 1);
    assert_eq!(events(&log, "duplicate"), 1023);
    healer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_action_is_retried_then_escalated() {
    std::env::set_var("BALLAST_HEAL_TEST_TOKEN", "s3cret");
    let dir = TempDir::new("heal-escalate");
    let (url, counts) = counter().await;
    let actions = format!(
        "      - http: {{ url: \"{url}/fail\" }}\n      - http: {{ url: \"{url}/next\" }}\n"
    );
    let path = policy(&dir, &actions, "    attempts: 2\n    retry_after: 100ms\n");
    let healer = ballast_heal::HealConfig::new(&path).build().await.unwrap();
    let client = reqwest::Client::new();
    let (status, _) = deliver(
        &client,
        healer.addr(),
        &body("f1", "2026-12-01T20:00:00Z", "firing"),
    )
    .await;
    assert_eq!(status, 200);
    eventually("the escalation", || counts[2].load(Ordering::SeqCst) == 1).await;
    assert_eq!(
        counts[1].load(Ordering::SeqCst),
        2,
        "two tries of the failing action"
    );
    eventually("the incident's end", || events(&audit(&dir), "closed") == 1).await;
    let log = audit(&dir);
    assert_eq!(events(&log, "retry"), 1);
    assert_eq!(events(&log, "escalated"), 1);
    let closed = log.iter().find(|r| r["event"] == "closed").unwrap();
    assert_eq!(closed["outcome"], "succeeded");
    let failed = log.iter().find(|r| r["event"] == "action_done").unwrap();
    assert!(
        failed["message"].as_str().unwrap().contains("answered 500"),
        "{failed}"
    );
    healer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_alert_is_held_down_and_cooldown_applies() {
    std::env::set_var("BALLAST_HEAL_TEST_TOKEN", "s3cret");
    let dir = TempDir::new("heal-flap");
    let (url, counts) = counter().await;
    let path = policy(
        &dir,
        &format!("      - http: {{ url: \"{url}/act\" }}\n"),
        "    hold_down: 1h\n    cooldown: 1h\n",
    );
    let healer = ballast_heal::HealConfig::new(&path).build().await.unwrap();
    let client = reqwest::Client::new();
    let addr = healer.addr();
    deliver(&client, addr, &body("f1", "2026-12-01T20:00:00Z", "firing")).await;
    eventually("the action", || counts[0].load(Ordering::SeqCst) == 1).await;
    deliver(
        &client,
        addr,
        &body("f1", "2026-12-01T20:00:00Z", "resolved"),
    )
    .await;
    let (_, again) = deliver(&client, addr, &body("f1", "2026-12-01T20:02:00Z", "firing")).await;
    assert!(again.contains("flapping"), "{again}");
    let (_, other) = deliver(&client, addr, &body("f2", "2026-12-01T20:02:00Z", "firing")).await;
    assert!(other.contains("cooling down"), "{other}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(counts[0].load(Ordering::SeqCst), 1);
    healer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_and_missing_credentials_are_refused_with_a_reason() {
    std::env::set_var("BALLAST_HEAL_TEST_TOKEN", "s3cret");
    let dir = TempDir::new("heal-bad");
    let (url, counts) = counter().await;
    let path = policy(
        &dir,
        &format!("      - http: {{ url: \"{url}/act\" }}\n"),
        "",
    );
    let healer = ballast_heal::HealConfig::new(&path).build().await.unwrap();
    let client = reqwest::Client::new();
    let addr = healer.addr();
    let (status, text) = deliver(&client, addr, "{\"version\": \"4\", \"alerts\": 3}").await;
    assert_eq!(status, 400);
    assert!(
        text.contains("groupKey") || text.contains("alerts"),
        "{text}"
    );
    let (status, text) = deliver(&client, addr, &body("f1", "yesterday", "firing")).await;
    assert_eq!(status, 400);
    assert!(text.contains("alerts[0].startsAt"), "{text}");
    let anonymous = client
        .post(format!("http://{addr}/webhook"))
        .body(body("f1", "2026-12-01T20:00:00Z", "firing"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(counts[0].load(Ordering::SeqCst), 0);
    healer.shutdown().await;
}

#[tokio::test]
async fn a_policy_that_cannot_work_does_not_start() {
    let dir = TempDir::new("heal-config");
    std::env::remove_var("BALLAST_HEAL_UNSET_TOKEN");
    let path = dir.path().join("heal.yaml");
    std::fs::write(
        &path,
        "listen: 127.0.0.1:0\nauth: { bearer_token_env: BALLAST_HEAL_UNSET_TOKEN }\npolicies:\n  - name: a\n    match: { labels: { alertname: A } }\n    actions: [ { kubernetes: { scale: { deployment: shop, replicas: -1 } } } ]\n",
    )
    .unwrap();
    let err = ballast_heal::HealConfig::new(&path)
        .build()
        .await
        .unwrap_err();
    assert!(err.is_input(), "{err}");
    assert!(
        err.to_string().contains("BALLAST_HEAL_UNSET_TOKEN"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_admits_only_the_configured_user_and_password() {
    std::env::set_var("BALLAST_HEAL_TEST_PASSWORD", "pa55");
    let dir = TempDir::new("heal-basic");
    let (url, counts) = counter().await;
    let path = policy(
        &dir,
        &format!("      - http: {{ url: \"{url}/act\" }}\n"),
        "",
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "auth: { bearer_token_env: BALLAST_HEAL_TEST_TOKEN }",
        "auth: { basic: { username: alertmanager, password_env: BALLAST_HEAL_TEST_PASSWORD } }",
    );
    assert!(text.contains("basic:"));
    std::fs::write(&path, text).unwrap();
    let healer = ballast_heal::HealConfig::new(&path).build().await.unwrap();
    let addr = healer.addr();
    let client = reqwest::Client::new();
    let send = |user: &str, password: &str, fingerprint: &str| {
        client
            .post(format!("http://{addr}/webhook"))
            .basic_auth(user, Some(password))
            .header("content-type", "application/json")
            .body(body(fingerprint, "2026-12-01T20:00:00Z", "firing"))
            .send()
    };
    for (user, password) in [
        ("alertmanager", "wrong"),
        ("someone", "pa55"),
        ("alertmanager", "pa55 "),
        ("alertmanager", ""),
    ] {
        let answer = send(user, password, "b0").await.unwrap();
        assert!(
            matches!(answer.status().as_u16(), 401 | 403),
            "{user}:{password:?} → {}",
            answer.status()
        );
    }
    // A bearer token is not basic auth.
    let bearer = client
        .post(format!("http://{addr}/webhook"))
        .bearer_auth("pa55")
        .body(body("b0", "2026-12-01T20:00:00Z", "firing"))
        .send()
        .await
        .unwrap();
    assert!(matches!(bearer.status().as_u16(), 401 | 403));
    assert_eq!(counts[0].load(Ordering::SeqCst), 0);
    let answer = send("alertmanager", "pa55", "b1").await.unwrap();
    assert_eq!(answer.status(), 200);
    eventually("the action", || counts[0].load(Ordering::SeqCst) == 1).await;
    healer.shutdown().await;
}
