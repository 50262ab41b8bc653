//! An axum service using every ballast-tower layer.
//!
//! ```sh
//! cargo run -p ballast-tower --example service            # serves 127.0.0.1:3000 until Ctrl-C
//! curl 127.0.0.1:3000/price/7                             # through fallback → breaker → dependency
//! curl -X POST 127.0.0.1:3000/admin/dependency/down       # the dependency starts failing
//! curl -i 127.0.0.1:3000/price/7                          # x-ballast-degraded: fallback
//! curl 127.0.0.1:3000/metrics                             # Prometheus text
//! cargo run -p ballast-tower --example service -- --once  # serve, call itself, print, exit
//! ```
//!
//! The "dependency" is an in-process pricing function that fails while switched down, so
//! the example needs nothing else running.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ballast_tower::breaker::{Breaker, BreakerConfig, HttpClassifier};
use ballast_tower::fallback::{Fallback, FallbackConfig};
use ballast_tower::limit::LimitConfig;
use ballast_tower::metrics::{Budget, MetricsConfig, MetricsEndpoint, SloConfig};
use ballast_tower::runtime::RuntimeProbeConfig;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{Layer, ServiceExt};

type Price = http::Response<String>;
type Dependency =
    Fallback<Breaker<Pricing, HttpClassifier>, u64, Price, fn(&u64) -> Option<u64>, HttpClassifier>;

/// The dependency: prices items, answers 503 while switched down.
#[derive(Clone)]
struct Pricing {
    up: Arc<AtomicBool>,
}

impl tower::Service<u64> for Pricing {
    type Response = Price;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Price, std::io::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, id: u64) -> Self::Future {
        let response = if self.up.load(Ordering::Relaxed) {
            http::Response::new(format!("item {id} costs {}.00\n", 10 + id % 90))
        } else {
            http::Response::builder()
                .status(503)
                .body("pricing is down\n".to_string())
                .expect("static response")
        };
        std::future::ready(Ok(response))
    }
}

#[derive(Clone)]
struct App {
    dependency: Dependency,
    dependency_up: Arc<AtomicBool>,
    budget: Budget,
}

async fn price(State(app): State<App>, Path(id): Path<u64>) -> axum::response::Response {
    let answer = app.dependency.clone().oneshot(id).await;
    let mut response = match answer {
        Ok(price) => {
            let degraded = price.headers().contains_key("x-ballast-degraded");
            let mut out = price.into_body().into_response();
            if degraded {
                out.headers_mut().insert(
                    "x-ballast-degraded",
                    http::HeaderValue::from_static("fallback"),
                );
            }
            out
        }
        Err(e) => (http::StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    // Non-core work runs only while the SLO's error budget is not burning too fast.
    if app.budget.allows_optional() {
        response
            .headers_mut()
            .insert("x-recommendations", http::HeaderValue::from_static("on"));
    }
    response
}

async fn switch(State(app): State<App>, Path(to): Path<String>) -> &'static str {
    app.dependency_up.store(to == "up", Ordering::Relaxed);
    if to == "up" {
        "dependency up\n"
    } else {
        "dependency down\n"
    }
}

fn key(id: &u64) -> Option<u64> {
    Some(*id)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let once = std::env::args().any(|a| a == "--once");
    let dependency_up = Arc::new(AtomicBool::new(true));

    // Each layer: Config → build() → running thing → layer.
    let breaker = BreakerConfig {
        name: "pricing".into(),
        minimum_calls: 5,
        open_for: Duration::from_secs(5),
        ..Default::default()
    }
    .build()?;
    let cache = FallbackConfig {
        name: "prices".into(),
        ..Default::default()
    }
    .build::<u64, Price>()?;
    let limit = LimitConfig::default().build()?;
    let metrics = MetricsConfig {
        slos: vec![SloConfig::new("prices", Duration::from_millis(300), 0.999)],
        ..Default::default()
    }
    .build()?;
    let probe = RuntimeProbeConfig::default().build()?;
    let _sampler = probe.spawn();

    let mut registry = Registry::default();
    breaker.register(&mut registry);
    cache.register(&mut registry);
    limit.register(&mut registry);
    metrics.register(&mut registry);
    probe.register(&mut registry);

    let dependency: Dependency = cache
        .layer(key as fn(&u64) -> Option<u64>, HttpClassifier)
        .layer(breaker.http_layer().layer(Pricing {
            up: dependency_up.clone(),
        }));
    let app = App {
        dependency,
        dependency_up,
        budget: metrics.budget("prices").expect("configured above"),
    };
    let router = axum::Router::new()
        .route("/price/{id}", get(price))
        .route("/admin/dependency/{to}", post(switch))
        .with_state(app)
        .layer(limit.layer())
        .layer(metrics.layer())
        .route_service("/metrics", MetricsEndpoint::new(registry));

    let addr = if once {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("serving http://{addr}/price/7 and http://{addr}/metrics");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    if !once {
        return Ok(server.await??);
    }

    // --once: warm the cache, take the dependency down, and watch the breaker and fallback.
    let client = |path: String| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let method = if path.starts_with("/admin") {
            "POST"
        } else {
            "GET"
        };
        stream
            .write_all(format!("{method} {path} HTTP/1.0\r\nHost: example\r\n\r\n").as_bytes())
            .await?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    for id in 0..5 {
        client(format!("/price/{id}")).await?;
    }
    client("/admin/dependency/down".into()).await?;
    let mut degraded = 0;
    for i in 0..20 {
        let raw = client(format!("/price/{}", i % 5)).await?;
        degraded += usize::from(raw.contains("x-ballast-degraded"));
    }
    println!("dependency down: 20 requests, {degraded} answered from the fallback cache");
    println!("breaker: {:?}, {:?}", breaker.state(), breaker.stats());
    println!("fallback: {:?}", cache.stats());
    let metrics_text = client("/metrics".into()).await?;
    for line in metrics_text.lines().filter(|l| {
        l.starts_with("ballast_breaker_opened") || l.starts_with("ballast_fallback_served")
    }) {
        println!("  {line}");
    }
    server.abort();
    Ok(())
}
