//! The admin endpoint over a real loopback axum server and real HTTP requests: each force
//! changes the answers the service gives, and automatic gives the learned behaviour back.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use ballast_tower::admin::{AdminConfig, Handles};
use ballast_tower::breaker::{BoxError, BreakerConfig, HttpClassifier};
use ballast_tower::fallback::FallbackConfig;
use ballast_tower::limit::{ConcurrencyLimit, LimitConfig, LimitKind};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

const TOKEN: &str = "correct horse battery staple";

type Item = http::Response<String>;

#[derive(Clone)]
struct App {
    items: BoxCloneSyncService<u64, Item, BoxError>,
    gate: tokio::sync::watch::Receiver<bool>,
}

async fn item(State(app): State<App>, Path(id): Path<u64>) -> axum::response::Response {
    match app.items.oneshot(id).await {
        Ok(answer) => {
            let degraded = answer.headers().contains_key("x-ballast-degraded");
            let mut response = answer.into_body().into_response();
            if degraded {
                response.headers_mut().insert(
                    "x-ballast-degraded",
                    http::HeaderValue::from_static("fallback"),
                );
            }
            response
        }
        Err(e) => (http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Waits until the gate opens: a request that stays in flight as long as the test wants.
async fn slow(State(app): State<App>) -> &'static str {
    let mut gate = app.gate;
    let _ = gate.wait_for(|open| *open).await;
    "done"
}

struct Shop {
    url: String,
    calls: Arc<AtomicU64>,
    limit: ConcurrencyLimit,
    gate: tokio::sync::watch::Sender<bool>,
    client: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

/// A shop like `ballast demo shop`: items through fallback → breaker → a dependency that
/// counts its calls, the routes behind a static limit of 8, the admin routes outside it.
async fn shop() -> Shop {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let dependency = tower::service_fn(move |id: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(http::Response::new(format!("item {id}"))) }
    });
    let breaker = BreakerConfig {
        name: "inventory".into(),
        ..Default::default()
    }
    .build()
    .unwrap();
    let cache = FallbackConfig {
        name: "inventory".into(),
        ..Default::default()
    }
    .build::<u64, Item>()
    .unwrap();
    let limit = LimitConfig {
        name: "shop".into(),
        limit: LimitKind::Static { max_in_flight: 8 },
    }
    .build()
    .unwrap();
    let admin = AdminConfig {
        token: TOKEN.into(),
    }
    .build(
        Handles::new()
            .limit(&limit)
            .fallback(cache.switch())
            .breaker(&breaker),
    )
    .unwrap();
    let items = cache
        .layer(|id: &u64| Some(*id), HttpClassifier)
        .layer(breaker.http_layer().layer(dependency));
    let (gate, wait) = tokio::sync::watch::channel(false);
    let app = App {
        items: BoxCloneSyncService::new(items),
        gate: wait,
    };
    let router = axum::Router::new()
        .route("/items/{id}", get(item))
        .route("/slow", get(slow))
        .with_state(app)
        .layer(limit.layer())
        .merge(admin.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Shop {
        url,
        calls,
        limit,
        gate,
        client,
        _server: server,
    }
}

impl Shop {
    async fn admin(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/admin/{path}", self.url))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn state(&self) -> Value {
        let response = self
            .client
            .get(format!("{}/admin/state", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Status, body and whether the answer came from the fallback cache.
    async fn item(&self, id: u64) -> (u16, String, bool) {
        let response = self
            .client
            .get(format!("{}/items/{id}", self.url))
            .send()
            .await
            .unwrap();
        let degraded = response.headers().contains_key("x-ballast-degraded");
        (
            response.status().as_u16(),
            response.text().await.unwrap(),
            degraded,
        )
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Starts `n` requests to `/slow` and waits until they are all in flight.
    async fn hold(&self, n: u64) -> Vec<tokio::task::JoinHandle<u16>> {
        let before = self.limit.stats().in_flight;
        let held: Vec<_> = (0..n)
            .map(|_| {
                let request = self.client.get(format!("{}/slow", self.url));
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.limit.stats().in_flight < before + n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "requests did not arrive: {:?}",
                self.limit.stats()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        held
    }

    async fn release(&self, held: Vec<tokio::task::JoinHandle<u16>>) {
        self.gate.send(true).unwrap();
        for request in held {
            assert_eq!(request.await.unwrap(), 200);
        }
        self.gate.send(false).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_limit_sheds_over_http_and_automatic_restores_it() {
    let shop = shop().await;
    // Learned (here: static) limit 8: three at once pass.
    let held = shop.hold(3).await;
    assert_eq!(shop.item(1).await.0, 200);
    shop.release(held).await;

    let (status, state) = shop.admin("limit", json!({"max": 2})).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["limit"], json!({"max": 2, "forced": true}));
    let held = shop.hold(2).await;
    let (status, _, _) = shop.item(1).await;
    assert_eq!(
        status, 503,
        "a third request over the forced limit of 2 is shed"
    );
    let shed = shop.limit.stats().shed;
    assert!(shed >= 1);
    // The admin routes sit outside the limit: they answer while it sheds.
    assert_eq!(shop.state().await["limit"]["max"], 2);

    let (_, state) = shop.admin("limit", json!({"max": null})).await;
    assert_eq!(state["limit"], json!({"max": 8, "forced": false}));
    assert_eq!(
        shop.item(1).await.0,
        200,
        "back to the learned limit, the same load passes"
    );
    shop.release(held).await;
    assert_eq!(shop.limit.stats().shed, shed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_fallback_answers_from_the_cache_without_calling_the_dependency() {
    let shop = shop().await;
    assert_eq!(shop.item(1).await, (200, "item 1".into(), false));
    assert_eq!(shop.calls(), 1);

    let (status, state) = shop.admin("fallback", json!({"force": true})).await;
    assert_eq!(status, 200);
    assert_eq!(state["fallback"], json!({"forced": true}));
    for _ in 0..3 {
        assert_eq!(shop.item(1).await, (200, "item 1".into(), true));
    }
    assert_eq!(
        shop.calls(),
        1,
        "a forced fallback with a cached answer must not call the dependency"
    );
    // Nothing cached for item 2: the dependency is called.
    assert_eq!(shop.item(2).await, (200, "item 2".into(), false));
    assert_eq!(shop.calls(), 2);

    let (_, state) = shop.admin("fallback", json!({"force": false})).await;
    assert_eq!(state["fallback"], json!({"forced": false}));
    assert_eq!(shop.item(1).await, (200, "item 1".into(), false));
    assert_eq!(shop.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_open_breaker_rejects_and_automatic_closes_it() {
    let shop = shop().await;
    assert_eq!(shop.item(1).await.0, 200);
    let (status, state) = shop
        .admin("breaker", json!({"name": "inventory", "state": "open"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        state["breakers"]["inventory"],
        json!({"state": "open", "forced": "open"})
    );
    let calls = shop.calls();
    let (status, body, _) = shop.item(7).await;
    assert_eq!(status, 503, "{body}");
    // With a cached answer, the fallback answers the breaker's refusal.
    assert_eq!(shop.item(1).await, (200, "item 1".into(), true));
    assert_eq!(
        shop.calls(),
        calls,
        "a forced-open breaker must not call the dependency"
    );

    let (_, state) = shop
        .admin("breaker", json!({"name": "inventory", "state": "auto"}))
        .await;
    assert_eq!(
        state["breakers"]["inventory"],
        json!({"state": "closed", "forced": "none"})
    );
    assert_eq!(shop.item(7).await, (200, "item 7".into(), false));
    assert_eq!(shop.calls(), calls + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_wants_the_token_and_a_valid_body() {
    let shop = shop().await;
    let url = format!("{}/admin/limit", shop.url);
    let body = json!({"max": 1});
    let none = shop.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = shop
        .client
        .post(&url)
        .bearer_auth("correct horse")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        shop.limit.forced(),
        None,
        "a refused request changed the limit"
    );

    let (status, answer) = shop
        .admin("limit", json!({"max": 1, "reason": "surge"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "unknown field `reason`, expected `max`");
    let (status, answer) = shop
        .admin("breaker", json!({"name": "inventory", "state": "closed"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("state: expected \"open\" or \"auto\""),
        "{answer}"
    );
    assert_eq!(
        shop.state().await["limit"],
        json!({"max": 8, "forced": false})
    );
}
