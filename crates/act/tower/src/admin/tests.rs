use super::*;
use crate::breaker::{BreakerConfig, Mode};
use crate::fallback::FallbackConfig;
use crate::limit::{LimitConfig, LimitKind};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(
    admin: &Admin,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = admin
        .clone()
        .oneshot(request.body(body.to_string()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_str(response.body()).unwrap();
    (status, body)
}

fn wired() -> (
    Admin,
    crate::limit::ConcurrencyLimit,
    crate::breaker::BreakerHandle,
) {
    let limit = LimitConfig {
        name: "shop".into(),
        limit: LimitKind::Static { max_in_flight: 40 },
    }
    .build()
    .unwrap();
    let cache = FallbackConfig::default().build::<u8, u8>().unwrap();
    let breaker = BreakerConfig {
        name: "inventory".into(),
        ..Default::default()
    }
    .build()
    .unwrap();
    let admin = AdminConfig {
        token: "s3cret".into(),
    }
    .build(
        Handles::new()
            .limit(&limit)
            .fallback(cache.switch())
            .breaker(&breaker),
    )
    .unwrap();
    (admin, limit, breaker)
}

const AUTH: Option<&str> = Some("Bearer s3cret");

#[tokio::test]
async fn the_state_shows_each_layer() {
    let (admin, _, _) = wired();
    let (status, state) = call(&admin, "GET", "/admin/state", AUTH, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        state,
        json!({
            "limit": {"max": 40, "forced": false},
            "fallback": {"forced": false},
            "breakers": {"inventory": {"state": "closed", "forced": "none"}}
        })
    );
    let bare = AdminConfig { token: "t".into() }
        .build(Handles::new())
        .unwrap();
    let (_, state) = call(&bare, "GET", "/admin/state", Some("Bearer t"), "").await;
    assert_eq!(
        state,
        json!({"limit": null, "fallback": null, "breakers": {}})
    );
    let (status, body) = call(
        &bare,
        "POST",
        "/admin/limit",
        Some("Bearer t"),
        r#"{"max": 3}"#,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn requests_without_the_token_change_nothing() {
    let (admin, limit, _) = wired();
    for (auth, status) in [
        (None, 401),
        (Some("Basic s3cret"), 401),
        (Some("Bearer"), 401),
        (Some("Bearer s3cre"), 403),
        (Some("Bearer s3cret!"), 403),
        (Some("Bearer S3CRET"), 403),
    ] {
        let (got, body) = call(&admin, "POST", "/admin/limit", auth, r#"{"max": 1}"#).await;
        assert_eq!(got, status, "{auth:?}: {body}");
        assert!(body["error"].is_string());
    }
    assert_eq!(limit.forced(), None);
    // The scheme is case-insensitive, as HTTP says.
    let (got, _) = call(&admin, "GET", "/admin/state", Some("bearer s3cret"), "").await;
    assert_eq!(got, 200);
}

#[tokio::test]
async fn forcing_and_returning_to_automatic() {
    let (admin, limit, breaker) = wired();
    let (status, state) = call(&admin, "POST", "/admin/limit", AUTH, r#"{"max": 2}"#).await;
    assert_eq!(status, 200);
    assert_eq!(state["limit"], json!({"max": 2, "forced": true}));
    assert_eq!(limit.stats().limit, 2);

    let (_, state) = call(
        &admin,
        "POST",
        "/admin/fallback",
        AUTH,
        r#"{"force": true}"#,
    )
    .await;
    assert_eq!(state["fallback"], json!({"forced": true}));

    let (_, state) = call(
        &admin,
        "POST",
        "/admin/breaker",
        AUTH,
        r#"{"name": "inventory", "state": "open"}"#,
    )
    .await;
    assert_eq!(
        state["breakers"]["inventory"],
        json!({"state": "open", "forced": "open"})
    );
    assert_eq!(breaker.mode(), Mode::ForcedOpen);

    let mut registry = prometheus_client::registry::Registry::default();
    admin.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for what in [
        r#"ballast_admin_forced{what="limit",name="shop"} 1"#,
        r#"ballast_admin_forced{what="fallback",name="default"} 1"#,
        r#"ballast_admin_forced{what="breaker",name="inventory"} 1"#,
    ] {
        assert!(text.contains(what), "{what} in\n{text}");
    }

    call(&admin, "POST", "/admin/limit", AUTH, r#"{"max": null}"#).await;
    call(
        &admin,
        "POST",
        "/admin/fallback",
        AUTH,
        r#"{"force": false}"#,
    )
    .await;
    let (_, state) = call(
        &admin,
        "POST",
        "/admin/breaker",
        AUTH,
        r#"{"name": "inventory", "state": "auto"}"#,
    )
    .await;
    assert_eq!(
        state,
        json!({
            "limit": {"max": 40, "forced": false},
            "fallback": {"forced": false},
            "breakers": {"inventory": {"state": "closed", "forced": "none"}}
        })
    );
    assert_eq!(breaker.mode(), Mode::Enforce);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"ballast_admin_forced{what="limit",name="shop"} 0"#),
        "{text}"
    );
}

#[tokio::test]
async fn auto_returns_a_breaker_to_the_mode_it_was_built_with() {
    let breaker = BreakerConfig {
        mode: Mode::MetricsOnly,
        ..Default::default()
    }
    .build()
    .unwrap();
    let admin = AdminConfig { token: "t".into() }
        .build(Handles::new().breaker(&breaker))
        .unwrap();
    let auth = Some("Bearer t");
    call(
        &admin,
        "POST",
        "/admin/breaker",
        auth,
        r#"{"name": "default", "state": "open"}"#,
    )
    .await;
    assert_eq!(breaker.mode(), Mode::ForcedOpen);
    call(
        &admin,
        "POST",
        "/admin/breaker",
        auth,
        r#"{"name": "default", "state": "auto"}"#,
    )
    .await;
    assert_eq!(breaker.mode(), Mode::MetricsOnly);
}

#[tokio::test]
async fn auto_never_lifts_a_kill_switch_the_configuration_set() {
    let breaker = BreakerConfig {
        mode: Mode::ForcedOpen,
        ..Default::default()
    }
    .build()
    .unwrap();
    let admin = AdminConfig { token: "t".into() }
        .build(Handles::new().breaker(&breaker))
        .unwrap();
    call(
        &admin,
        "POST",
        "/admin/breaker",
        Some("Bearer t"),
        r#"{"name": "default", "state": "auto"}"#,
    )
    .await;
    assert_eq!(breaker.mode(), Mode::ForcedOpen);
}

#[tokio::test]
async fn bad_requests_name_what_was_wrong() {
    let (admin, limit, _) = wired();
    for (path, body, needle) in [
        (
            "/admin/limit",
            r#"{"maximum": 3}"#,
            "unknown field `maximum`, expected `max`",
        ),
        (
            "/admin/limit",
            r#"{"max": "3"}"#,
            "max: expected a whole number",
        ),
        ("/admin/limit", "{}", "max: missing"),
        (
            "/admin/fallback",
            r#"{"force": 1}"#,
            "force: expected true or false, got 1",
        ),
        (
            "/admin/breaker",
            r#"{"name": "payments", "state": "open"}"#,
            "name: no breaker named \"payments\" (known: [\"inventory\"])",
        ),
        (
            "/admin/breaker",
            r#"{"name": "inventory", "state": "half_open"}"#,
            "state: expected \"open\" or \"auto\"",
        ),
        ("/admin/breaker", "not json", "body: expected JSON like"),
    ] {
        let (status, answer) = call(&admin, "POST", path, AUTH, body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(needle), "{path} {body}: {error}");
    }
    assert_eq!(limit.forced(), None);
    let (status, _) = call(&admin, "GET", "/admin/limit", AUTH, "").await;
    assert_eq!(status, 405);
    let (status, _) = call(&admin, "POST", "/admin/state", AUTH, "").await;
    assert_eq!(status, 405);
    let (status, _) = call(&admin, "GET", "/admin/reboot", AUTH, "").await;
    assert_eq!(status, 404);
    let big = format!(r#"{{"max": 3, "pad": "{}"}}"#, "x".repeat(20_000));
    let (status, _) = call(&admin, "POST", "/admin/limit", AUTH, &big).await;
    assert_eq!(status, 413);
}

#[test]
fn the_config_needs_a_token_and_distinct_breaker_names() {
    let err = AdminConfig { token: " ".into() }
        .build(Handles::new())
        .unwrap_err();
    assert!(err.to_string().starts_with("token: is empty"), "{err}");
    let err = AdminConfig {
        token: "s3cret\n".into(),
    }
    .build(Handles::new())
    .unwrap_err();
    assert!(err.to_string().contains("whitespace"), "{err}");
    let a = BreakerConfig {
        name: "db".into(),
        ..Default::default()
    }
    .build()
    .unwrap();
    let b = BreakerConfig {
        name: "db".into(),
        ..Default::default()
    }
    .build()
    .unwrap();
    let err = AdminConfig { token: "t".into() }
        .build(Handles::new().breaker(&a).breaker(&b))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("breakers: two breakers are named \"db\""),
        "{err}"
    );
    let err = serde_json::from_str::<AdminConfig>(r#"{"token": "t", "tokn": "u"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `tokn`"), "{err}");
    let err = serde_json::from_str::<AdminConfig>("{}").unwrap_err();
    assert!(err.to_string().contains("missing field `token`"), "{err}");
    let config = AdminConfig {
        token: "hunter2".into(),
    };
    assert!(!format!("{config:?}").contains("hunter2"));
    let admin = config.build(Handles::new()).unwrap();
    assert!(!format!("{admin:?}").contains("hunter2"));
}
