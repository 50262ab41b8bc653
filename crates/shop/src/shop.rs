//! The shop: product pages and orders over the inventory, through every ballast-tower layer.

use crate::stock::{Stock, StockClient};
use crate::{bind, serve, Error};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ballast_tower::admin::{AdminConfig, Handles};
use ballast_tower::breaker::{Breaker, BreakerConfig, HttpClassifier};
use ballast_tower::fallback::{Fallback, FallbackConfig};
use ballast_tower::limit::LimitConfig;
use ballast_tower::metrics::{MetricsConfig, MetricsEndpoint, SloConfig};
use ballast_tower::runtime::RuntimeProbeConfig;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{Layer, ServiceExt};

/// The shop.
#[derive(Clone)]
pub struct ShopConfig {
    /// Address. Default: 127.0.0.1, any free port.
    pub bind: SocketAddr,
    /// Base URL of the inventory (in the demo: the chaos proxy in front of it).
    pub inventory: String,
    /// Read stock from this PostgreSQL (`postgres://user@host:port/db`) instead of the
    /// inventory service. Default: none.
    pub database: Option<String>,
    /// Read stock through this Redis (`redis://host:port/`), shared by every shop. Default:
    /// none.
    pub redis: Option<String>,
    /// How long an inventory call may take before it counts as failed. Default: 100 ms.
    pub dependency_timeout: Duration,
    /// Leave the fallback cache out (the demo's proof that its contract checks something).
    pub disable_fallback: bool,
    /// Serve ballast-tower's admin endpoint under `/admin` (outside the concurrency limit,
    /// so it answers while the limit sheds) with this bearer token: force the limit, the
    /// fallback cache and the `inventory` breaker. Default: none, no admin endpoint.
    pub admin_token: Option<String>,
}

// The admin token never reaches logs through Debug.
impl std::fmt::Debug for ShopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopConfig")
            .field("bind", &self.bind)
            .field("inventory", &self.inventory)
            .field("database", &self.database)
            .field("redis", &self.redis)
            .field("dependency_timeout", &self.dependency_timeout)
            .field("disable_fallback", &self.disable_fallback)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            inventory: "http://127.0.0.1:8081/".into(),
            database: None,
            redis: None,
            dependency_timeout: Duration::from_millis(100),
            disable_fallback: false,
            admin_token: None,
        }
    }
}

/// A running shop; stops when dropped.
pub struct Shop {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    _probe: tokio::task::JoinHandle<()>,
}

type Guarded = Breaker<StockClient, HttpClassifier>;
type Cached = Fallback<Guarded, u64, Stock, fn(&u64) -> Option<u64>, HttpClassifier>;

/// The inventory as the handlers see it: with or without the fallback cache.
#[derive(Clone)]
enum Dependency {
    Cached(Cached),
    Guarded(Guarded),
}

impl Dependency {
    /// The stock of `id` and whether it came from the cache.
    async fn stock(&self, id: u64) -> Result<(String, bool), String> {
        let answer = match self {
            Dependency::Cached(s) => s.clone().oneshot(id).await.map_err(|e| e.to_string()),
            Dependency::Guarded(s) => s.clone().oneshot(id).await.map_err(|e| e.to_string()),
        }?;
        let degraded = answer.headers().contains_key("x-ballast-degraded");
        Ok((answer.into_body(), degraded))
    }
}

#[derive(Clone)]
struct App {
    inventory: Dependency,
    orders: Arc<AtomicU64>,
}

fn key(id: &u64) -> Option<u64> {
    Some(*id)
}

fn json(status: http::StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn product(State(app): State<App>, Path(id): Path<u64>) -> Response {
    match app.inventory.stock(id).await {
        Ok((stock, degraded)) => json(
            http::StatusCode::OK,
            format!("{{\"product\":{id},\"inventory\":{stock},\"degraded\":{degraded}}}"),
        ),
        Err(e) => json(
            http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{{\"error\":{}}}",
                serde_json::Value::String(format!("inventory unavailable: {e}"))
            ),
        ),
    }
}

async fn order(State(app): State<App>, body: Bytes) -> Response {
    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&body);
    let product = parsed.ok().and_then(|v| {
        let p = v.get("product")?;
        p.as_u64().or_else(|| p.as_str()?.parse().ok())
    });
    let Some(product) = product else {
        return json(
            http::StatusCode::BAD_REQUEST,
            "{\"error\":\"expected a JSON body like {\\\"product\\\": 7, \\\"qty\\\": 1}\"}".into(),
        );
    };
    // An order is taken against known stock; while the inventory is away, against the
    // last stock seen (degraded), and reserved once it is back.
    match app.inventory.stock(product).await {
        Ok((_, degraded)) => {
            let number = app.orders.fetch_add(1, Ordering::Relaxed) + 1;
            json(
                http::StatusCode::CREATED,
                format!("{{\"order\":{number},\"product\":{product},\"degraded\":{degraded}}}"),
            )
        }
        Err(e) => json(
            http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{{\"error\":{}}}",
                serde_json::Value::String(format!("cannot check stock: {e}"))
            ),
        ),
    }
}

impl ShopConfig {
    /// Builds every layer, binds and serves.
    pub async fn build(self) -> Result<Shop, Error> {
        let layer_error = |e: ballast_tower::Error| Error::Layer(e.to_string());
        let breaker = BreakerConfig {
            name: "inventory".into(),
            // A short window: after a surge of good calls, a dead dependency must still
            // trip the breaker within seconds.
            window: Duration::from_secs(4),
            buckets: 8,
            minimum_calls: 10,
            open_for: Duration::from_secs(2),
            call_timeout: Some(self.dependency_timeout),
            ..Default::default()
        }
        .build()
        .map_err(layer_error)?;
        let limit = LimitConfig {
            name: "shop".into(),
            ..Default::default()
        }
        .build()
        .map_err(layer_error)?;
        let metrics = MetricsConfig {
            slos: vec![SloConfig::new(
                "shop-latency",
                Duration::from_millis(300),
                0.999,
            )],
            ..Default::default()
        }
        .build()
        .map_err(layer_error)?;
        let probe = RuntimeProbeConfig::default().build().map_err(layer_error)?;

        let mut registry = Registry::default();
        breaker.register(&mut registry);
        limit.register(&mut registry);
        metrics.register(&mut registry);
        probe.register(&mut registry);

        let client = StockClient::connect(
            &self.inventory,
            self.database.as_deref(),
            self.redis.as_deref(),
            &mut registry,
        )
        .await?;
        let guarded: Guarded = breaker.http_layer().layer(client);
        let mut handles = Handles::new().limit(&limit).breaker(&breaker);
        let inventory = if self.disable_fallback {
            Dependency::Guarded(guarded)
        } else {
            let cache = FallbackConfig {
                name: "inventory".into(),
                ..Default::default()
            }
            .build::<u64, Stock>()
            .map_err(layer_error)?;
            cache.register(&mut registry);
            handles = handles.fallback(cache.switch());
            Dependency::Cached(
                cache
                    .layer(key as fn(&u64) -> Option<u64>, HttpClassifier)
                    .layer(guarded),
            )
        };
        let admin = match &self.admin_token {
            Some(token) => {
                let admin = AdminConfig {
                    token: token.clone(),
                }
                .build(handles)
                .map_err(|e| Error::Layer(format!("admin endpoint: {e}")))?;
                admin.register(&mut registry);
                Some(admin)
            }
            None => None,
        };
        let app = App {
            inventory,
            orders: Arc::new(AtomicU64::new(0)),
        };
        let mut router = axum::Router::new()
            .route("/v1/products/{id}", get(product))
            .route("/v1/orders", post(order))
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(app)
            .layer(limit.layer())
            .layer(metrics.layer())
            .route_service("/metrics", MetricsEndpoint::new(registry));
        if let Some(admin) = &admin {
            router = router.merge(admin.router());
        }
        let (listener, addr) = bind(self.bind).await?;
        Ok(Shop {
            addr,
            task: serve(listener, router),
            _probe: probe.spawn(),
        })
    }
}

impl Shop {
    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.task.abort();
        self._probe.abort();
    }
}
