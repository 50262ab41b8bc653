//! Each kind of action carried out for real: programs run from an argv (the healer's
//! secrets withheld, killed at the timeout), HTTP requests written from the alert's
//! values, the chaos proxy's API, and a `ballast-tower` admin endpoint.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use ballast_heal::actions::Actions;
use ballast_heal_policy::policy::ActionSpec;
use ballast_heal_policy::template::Values;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn actions() -> Actions {
    let http = ballast_http::ClientConfig {
        retries: 0,
        ..Default::default()
    }
    .build()
    .unwrap();
    Actions::new(http)
}

fn spec(value: Value) -> ActionSpec {
    serde_json::from_value(value).unwrap()
}

struct Alert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Alert {
    fn new() -> Alert {
        Alert {
            labels: [
                ("alertname", "ShopLatency"),
                ("service", "shop west"),
                ("instance", "127.0.0.1:8080"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            annotations: [("summary".to_string(), "p99 \"high\"\nfor 5m".to_string())].into(),
        }
    }

    fn values(&self) -> Values<'_> {
        Values {
            labels: Some(&self.labels),
            annotations: Some(&self.annotations),
            fields: [
                ("fingerprint", "a1b2c3d4".to_string()),
                ("incident", "shop/a1b2c3d4/2026-12-01T20:00:00Z".to_string()),
                ("policy", "shop".to_string()),
            ]
            .into(),
        }
    }
}

#[tokio::test]
async fn exec_gets_the_alerts_values_and_none_of_the_healers_secrets() {
    std::env::set_var("BALLAST_HEAL_ACTIONS_SECRET", "do-not-leak");
    let alert = Alert::new();
    let run = |argv: Value, env: Value| {
        let spec = spec(json!({"exec": {"argv": argv, "env": env, "timeout": "5s"}}));
        let actions = actions();
        let values = alert.values();
        async move { actions.run(&spec, &values).await }
    };
    let said = run(
        json!([
            "/bin/echo",
            "restart {{ labels.service }} ({{ fingerprint }})"
        ]),
        json!({}),
    )
    .await
    .unwrap();
    assert!(
        said.ends_with("exited 0: restart shop west (a1b2c3d4)"),
        "{said}"
    );
    // What the policy gives is there; the healer's own environment is not.
    let said = run(
        json!(["/usr/bin/printenv", "SERVICE"]),
        json!({"SERVICE": "{{ labels.service }}"}),
    )
    .await
    .unwrap();
    assert!(said.ends_with("exited 0: shop west"), "{said}");
    let refused = run(
        json!(["/usr/bin/printenv", "BALLAST_HEAL_ACTIONS_SECRET"]),
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(refused.contains("exit status: 1"), "{refused}");
    assert!(!refused.contains("do-not-leak"), "{refused}");
    let path = run(json!(["/usr/bin/printenv", "PATH"]), json!({}))
        .await
        .unwrap();
    assert!(path.contains("/usr/bin"), "{path}");
    // A failing program's exit status and output are the failure's reason.
    let failed = run(json!(["/usr/bin/env", "--no-such-option"]), json!({}))
        .await
        .unwrap_err();
    assert!(failed.contains("failed (exit status"), "{failed}");
    let missing = run(json!(["/nonexistent/heal-program"]), json!({}))
        .await
        .unwrap_err();
    assert!(missing.contains("cannot start"), "{missing}");
    // A label the alert does not carry fails the action before anything runs.
    let unknown = run(json!(["/bin/echo", "{{ labels.pod }}"]), json!({}))
        .await
        .unwrap_err();
    assert!(unknown.contains("pod"), "{unknown}");
}

/// Live processes (zombies have an empty command line) whose argv is exactly `argv`.
fn running(argv: &[&str]) -> usize {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted))
        .count()
}

#[tokio::test]
async fn exec_is_killed_at_its_timeout() {
    // An argument no other process has, to find this one in /proc.
    let argv = ["/bin/sleep", "37.0417"];
    let spec = spec(json!({"exec": {"argv": argv, "timeout": "300ms"}}));
    let alert = Alert::new();
    let started = std::time::Instant::now();
    let error = actions().run(&spec, &alert.values()).await.unwrap_err();
    assert!(
        error.contains("did not finish within") && error.ends_with("and was killed"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    for _ in 0..200 {
        if running(&argv) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the timed-out program still runs");
}

/// Method, path and query, headers, body.
type Recorded = (Method, String, HeaderMap, String);

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Recorded>>>);

/// A server that records every request and answers 200.
async fn recorder() -> (String, Seen) {
    async fn record(
        State(seen): State<Seen>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        seen.0
            .lock()
            .unwrap()
            .push((method, uri.to_string(), headers, body));
        StatusCode::OK
    }
    let seen = Seen::default();
    let app = Router::new().fallback(record).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn http_requests_are_written_from_the_alert() {
    std::env::set_var("BALLAST_HEAL_ACTIONS_TOKEN", "t0ken");
    let (url, seen) = recorder().await;
    let alert = Alert::new();
    let request = spec(json!({"http": {
        "method": "PUT",
        "url": format!("{url}/services/{{{{ labels.service | url }}}}/scale?incident={{{{ incident | url }}}}"),
        "headers": {"x-fingerprint": "{{ fingerprint }}"},
        "body": "{\"service\": {{ labels.service | json }}, \"why\": {{ annotations.summary | json }}, \"replicas\": 4}",
        "bearer_token_env": "BALLAST_HEAL_ACTIONS_TOKEN",
    }}));
    let said = actions().run(&request, &alert.values()).await.unwrap();
    assert!(said.contains("answered 200"), "{said}");
    let (method, uri, headers, body) = seen.0.lock().unwrap().pop().unwrap();
    assert_eq!(method, Method::PUT);
    assert_eq!(
        uri,
        "/services/shop%20west/scale?incident=shop%2Fa1b2c3d4%2F2026-12-01T20%3A00%3A00Z"
    );
    assert_eq!(headers["x-fingerprint"], "a1b2c3d4");
    assert_eq!(headers["authorization"], "Bearer t0ken");
    assert_eq!(headers["content-type"], "application/json");
    // Quotes and the newline in the annotation arrive escaped: the body is JSON.
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"service": "shop west", "why": "p99 \"high\"\nfor 5m", "replicas": 4})
    );
    // A status outside `expect` is a failure, with the answer in the reason.
    let strict = spec(json!({"http": {"url": format!("{url}/act"), "expect": [202]}}));
    let error = actions().run(&strict, &alert.values()).await.unwrap_err();
    assert!(error.contains("answered 200"), "{error}");
    // A missing token fails before anything is sent.
    let before = seen.0.lock().unwrap().len();
    let unset = spec(
        json!({"http": {"url": format!("{url}/act"), "bearer_token_env": "BALLAST_HEAL_ACTIONS_UNSET"}}),
    );
    let error = actions().run(&unset, &alert.values()).await.unwrap_err();
    assert!(error.contains("BALLAST_HEAL_ACTIONS_UNSET"), "{error}");
    assert_eq!(seen.0.lock().unwrap().len(), before);
}

#[tokio::test]
async fn chaos_actions_change_a_running_chaos_proxy() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ballast_chaos::ChaosConfig {
        api: Some("127.0.0.1:0".parse().unwrap()),
        proxies: vec![ballast_chaos::ProxyConfig::new(
            "inventory",
            "127.0.0.1:0",
            upstream.local_addr().unwrap().to_string(),
        )],
        ..Default::default()
    };
    let server = config.build().await.unwrap();
    let api = format!("http://{}", server.api_addr().unwrap());
    let alert = Alert::new();
    let run = |change: Value| {
        let mut chaos = json!({"api": api, "proxy": "inventory"});
        chaos
            .as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let spec = spec(json!({ "chaos": chaos }));
        let actions = actions();
        let values = alert.values();
        async move { actions.run(&spec, &values).await }
    };
    let said = run(
        json!({"add_toxic": {"name": "shed", "type": "limit_data", "attributes": {"bytes": 0}}}),
    )
    .await
    .unwrap();
    assert_eq!(said, "added toxic shed to proxy inventory");
    let toxics = server.toxics("inventory").await.unwrap();
    assert_eq!(toxics.len(), 1);
    assert_eq!(toxics[0].name, "shed");

    run(json!({"enabled": false})).await.unwrap();
    assert!(!server.proxy("inventory").await.unwrap().enabled);
    run(json!({"enabled": true})).await.unwrap();
    assert!(server.proxy("inventory").await.unwrap().enabled);

    let said = run(json!({"remove_toxic": "shed"})).await.unwrap();
    assert_eq!(said, "removed toxic shed from proxy inventory");
    assert!(server.toxics("inventory").await.unwrap().is_empty());
    // Removing it again: the API's 404 is the failure's reason.
    let error = run(json!({"remove_toxic": "shed"})).await.unwrap_err();
    assert!(error.contains("answered 404"), "{error}");
    server.shutdown().await;
}

#[tokio::test]
async fn tower_actions_force_and_release_a_concurrency_limit() {
    use ballast_tower::admin::{AdminConfig, Handles};
    use ballast_tower::limit::{LimitConfig, LimitKind};
    std::env::set_var("BALLAST_HEAL_ACTIONS_ADMIN", "adm1n");
    std::env::set_var("BALLAST_HEAL_ACTIONS_WRONG", "not-the-token");
    let limit = LimitConfig {
        limit: LimitKind::Static { max_in_flight: 100 },
        ..Default::default()
    }
    .build()
    .unwrap();
    let admin = AdminConfig {
        token: "adm1n".into(),
    }
    .build(Handles::new().limit(&limit))
    .unwrap();
    let app: Router = admin.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/admin", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let alert = Alert::new();
    let run = |limit: Value, token: &str| {
        let spec = spec(json!({"tower": {"admin": base, "token_env": token, "limit": limit}}));
        let actions = actions();
        let values = alert.values();
        async move { actions.run(&spec, &values).await }
    };
    let said = run(json!(3), "BALLAST_HEAL_ACTIONS_ADMIN").await.unwrap();
    assert!(said.ends_with(": limit 3"), "{said}");
    assert_eq!(limit.stats().limit, 3);
    let error = run(json!(1), "BALLAST_HEAL_ACTIONS_WRONG")
        .await
        .unwrap_err();
    assert!(error.contains("answered 403"), "{error}");
    assert_eq!(limit.stats().limit, 3);
    run(json!("auto"), "BALLAST_HEAL_ACTIONS_ADMIN")
        .await
        .unwrap();
    assert_eq!(limit.stats().limit, 100);
}
