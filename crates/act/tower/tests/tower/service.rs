//! An axum service using every layer over a dependency that dies mid-test and comes back.
//!
//! The service answers `GET /item/{id}` from the dependency through fallback → breaker →
//! client, behind the concurrency limit and the metrics layer, with `/metrics` beside it.
//! The breaker runs on a manual clock the test advances by 50 ms per request, so opening,
//! waiting out `open_for` and probing are decided by the request count, not by how fast this
//! machine is.

use super::support::{get, Dependency, DependencyClient};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use ballast_tower::breaker::{
    BreakerConfig, BreakerHandle, Event, HttpClassifier, State as BreakerState,
};
use ballast_tower::fallback::{FallbackCache, FallbackConfig};
use ballast_tower::limit::LimitConfig;
use ballast_tower::metrics::{Budget, MetricsConfig, MetricsEndpoint, SloConfig};
use ballast_tower::runtime::{RuntimeProbe, RuntimeProbeConfig};
use ballast_tower::Clock;
use bytes::Bytes;
use prometheus_client::registry::Registry;
use std::time::Duration;
use tower::{Layer, ServiceExt};

type DependencyService = ballast_tower::fallback::Fallback<
    ballast_tower::breaker::Breaker<DependencyClient, HttpClassifier>,
    String,
    http::Response<Bytes>,
    fn(&String) -> Option<String>,
    HttpClassifier,
>;

#[derive(Clone)]
struct App {
    dependency: DependencyService,
    budget: Budget,
}

async fn item(State(app): State<App>, Path(id): Path<String>) -> axum::response::Response {
    let answer = app.dependency.clone().oneshot(id).await;
    // Optional work (here: a recommendations header) only while the error budget allows.
    let extra = app
        .budget
        .allows_optional()
        .then_some(("x-recommendations", "on"));
    match answer {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let mut out = (parts.status, body).into_response();
            if let Some(v) = parts.headers.get("x-ballast-degraded") {
                out.headers_mut().insert("x-ballast-degraded", v.clone());
            }
            if let Some((k, v)) = extra {
                out.headers_mut()
                    .insert(k, http::HeaderValue::from_static(v));
            }
            out
        }
        Err(e) => (http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

// The key function takes `&Request`, and the request here is a `String`.
#[allow(clippy::ptr_arg)]
fn key(id: &String) -> Option<String> {
    Some(id.clone())
}

struct Service {
    addr: std::net::SocketAddr,
    breaker: BreakerHandle,
    cache: FallbackCache<String, http::Response<Bytes>>,
    clock: Clock,
    probe: RuntimeProbe,
}

async fn start_service(dependency: std::net::SocketAddr) -> Service {
    let clock = Clock::manual();
    let breaker: BreakerConfig = serde_json::from_str(
        r#"{"name": "dependency", "window": "5s", "buckets": 10, "minimum_calls": 10, "open_for": "5s",
            "half_open_probes": 3, "call_timeout": "2s",
            "thresholds": {"learned": {"warmup_buckets": 10, "snapshot_every": "30s"}}}"#,
    )
    .unwrap();
    let breaker = breaker.build_with_clock(clock.clone()).unwrap();
    let cache = FallbackConfig {
        name: "items".into(),
        ..Default::default()
    }
    .build_with_clock(clock.clone())
    .unwrap();
    let dependency_service: DependencyService = cache
        .layer(key as fn(&String) -> Option<String>, HttpClassifier)
        .layer(
            breaker
                .http_layer()
                .layer(DependencyClient { addr: dependency }),
        );
    let metrics = MetricsConfig {
        slos: vec![SloConfig::new("items", Duration::from_millis(500), 0.99)],
        ..Default::default()
    }
    .build()
    .unwrap();
    let limit = LimitConfig::default().build().unwrap();
    let probe = RuntimeProbeConfig {
        interval: Duration::from_millis(20),
        min_samples: 3,
        ..Default::default()
    }
    .build()
    .unwrap();
    probe.spawn();
    let mut registry = Registry::default();
    probe.register(&mut registry);
    breaker.register(&mut registry);
    cache.register(&mut registry);
    metrics.register(&mut registry);
    limit.register(&mut registry);
    let app = App {
        dependency: dependency_service,
        budget: metrics.budget("items").unwrap(),
    };
    let router = axum::Router::new()
        .route("/item/{id}", axum::routing::get(item))
        .with_state(app)
        .layer(limit.layer())
        .layer(metrics.layer())
        .route_service("/metrics", MetricsEndpoint::new(registry));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Service {
        addr,
        breaker,
        cache,
        clock,
        probe,
    }
}

#[derive(Debug, Default)]
struct Phase {
    requests: u32,
    errors: u32,
    degraded: u32,
}

impl Phase {
    fn error_rate(&self) -> f64 {
        f64::from(self.errors) / f64::from(self.requests.max(1))
    }
}

/// `count` requests, 50 ms of breaker time apart, over ids 0..20 (every 50th asks for an id
/// never seen before, which no cache can answer).
async fn run(service: &Service, count: u32, offset: u32) -> Phase {
    let mut phase = Phase::default();
    for i in offset..offset + count {
        service.clock.advance(Duration::from_millis(50));
        let id = if i % 50 == 49 {
            format!("new-{i}")
        } else {
            (i % 20).to_string()
        };
        phase.requests += 1;
        match get(service.addr, &format!("/item/{id}")).await {
            Ok(answer) if answer.status == 200 => {
                phase.degraded += u32::from(answer.header("x-ballast-degraded").is_some());
            }
            _ => phase.errors += 1,
        }
    }
    phase
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_fallback_answers_and_the_service_recovers() {
    let mut dependency = Dependency::start().await;
    let service = start_service(dependency.addr).await;
    let mut events = service.breaker.subscribe();

    let healthy = run(&service, 400, 0).await;
    assert_eq!(service.breaker.state(), BreakerState::Closed);
    assert_eq!(healthy.degraded, 0, "{healthy:?}");

    dependency.kill().await;
    let outage = run(&service, 400, 400).await;
    let opened = service.breaker.stats().opened;
    assert!(
        opened >= 1,
        "the breaker must open: {:?}",
        service.breaker.stats()
    );
    assert!(
        service.breaker.stats().rejected > 0,
        "calls must be refused while open"
    );
    assert!(
        outage.degraded > 300,
        "fallback must answer most of the outage: {outage:?}"
    );
    println!(
        "client error rate during the outage: {:.2} % ({outage:?})",
        outage.error_rate() * 100.0
    );
    assert!(
        outage.error_rate() <= 0.05,
        "clients saw {:.1} % errors: {outage:?}",
        outage.error_rate() * 100.0
    );

    dependency.restart().await;
    let recovery = run(&service, 400, 800).await;
    assert_eq!(service.breaker.state(), BreakerState::Closed);
    let tail = run(&service, 40, 1200).await;
    assert_eq!(tail.degraded, 0, "fresh answers after recovery: {tail:?}");

    let all = [&healthy, &outage, &recovery, &tail];
    let (requests, errors): (u32, u32) = all
        .iter()
        .fold((0, 0), |(r, e), p| (r + p.requests, e + p.errors));
    let rate = f64::from(errors) / f64::from(requests);
    println!(
        "client error rate over the whole test: {:.2} % ({errors} of {requests})",
        rate * 100.0
    );
    assert!(rate <= 0.05);

    // The breaker went closed → open, then (after the dependency came back) half-open → closed.
    let mut changes = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::StateChanged(t) = event {
            changes.push((t.from, t.to));
        }
    }
    assert_eq!(
        changes.first(),
        Some(&(BreakerState::Closed, BreakerState::Open)),
        "{changes:?}"
    );
    assert_eq!(
        changes.last(),
        Some(&(BreakerState::HalfOpen, BreakerState::Closed)),
        "{changes:?}"
    );
    let stats = service.cache.stats();
    assert!(
        stats.served >= u64::from(outage.degraded) && stats.misses > 0,
        "{stats:?}"
    );

    // The runtime probe sampled this runtime meanwhile; a bounded test run is no leak.
    let sample = service.probe.latest().expect("sampled");
    assert_eq!(sample.workers, 2);
    assert!(!service.probe.task_leak_suspected());
    let metrics = get(service.addr, "/metrics").await.unwrap();
    assert_eq!(metrics.status, 200);
    for needle in [
        "ballast_breaker_opened_total{breaker=\"dependency\"}",
        "ballast_fallback_served_total{fallback=\"items\"}",
        "http_request_duration_seconds_bucket{le=\"0.01\",method=\"GET\",route=\"/item/{id}\",status=\"2xx\"}",
        "ballast_slo_requests_total{slo=\"items\"}",
                "ballast_limit_limit{limit=\"default\"}",
        "ballast_runtime_alive_tasks ",
    ] {
        assert!(metrics.body.contains(needle), "missing {needle} in\n{}", metrics.body);
    }
}
