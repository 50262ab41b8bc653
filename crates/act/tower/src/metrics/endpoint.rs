//! A ready-made `/metrics` handler: the registry in Prometheus (OpenMetrics) text.

use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// Content type of the exposition (Prometheus scrapes OpenMetrics text).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves a registry's metrics to any request (route it at `/metrics`, e.g. with axum's
/// `Router::route_service("/metrics", endpoint)`).
#[derive(Clone, Debug)]
pub struct MetricsEndpoint {
    registry: Arc<Registry>,
}

impl MetricsEndpoint {
    /// Serves `registry` (register every layer's metrics first; a registry is not changed
    /// once shared).
    pub fn new(registry: Registry) -> MetricsEndpoint {
        MetricsEndpoint {
            registry: Arc::new(registry),
        }
    }

    /// The exposition text now.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; a collector's error would be a bug of ours.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        text
    }
}

impl<B> Service<http::Request<B>> for MetricsEndpoint {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        let mut response = http::Response::new(self.render());
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE),
        );
        std::future::ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MetricsConfig, RouteTemplate, SloConfig};
    use std::time::Duration;
    use tower::{Layer, ServiceExt};

    #[tokio::test]
    async fn exposition_has_the_histogram_counters_and_slos() {
        let config = MetricsConfig {
            slos: vec![SloConfig::new("api", Duration::from_millis(300), 0.999)],
            ..Default::default()
        };
        let metrics = config.build().unwrap();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let service =
            metrics
                .layer()
                .layer(tower::service_fn(|request: http::Request<()>| async move {
                    let status = if request.uri().path() == "/fail" {
                        500
                    } else {
                        200
                    };
                    Ok::<_, Infallible>(http::Response::builder().status(status).body(()).unwrap())
                }));
        for path in ["/orders/1", "/orders/2", "/fail"] {
            let mut request = http::Request::builder().uri(path).body(()).unwrap();
            let template = if path == "/fail" {
                "/fail"
            } else {
                "/orders/{id}"
            };
            request.extensions_mut().insert(RouteTemplate(template));
            service.clone().oneshot(request).await.unwrap();
        }
        service
            .clone()
            .oneshot(http::Request::post("/nowhere").body(()).unwrap())
            .await
            .unwrap();
        let endpoint = MetricsEndpoint::new(registry);
        let response = endpoint
            .clone()
            .oneshot(http::Request::get("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        let text = response.into_body();
        for line in [
            r#"http_request_duration_seconds_bucket{le="0.01",method="GET",route="/orders/{id}",status="2xx"} 2"#,
            r#"http_request_duration_seconds_bucket{le="1.28",method="GET",route="/orders/{id}",status="2xx"} 2"#,
            r#"http_request_duration_seconds_count{method="GET",route="/orders/{id}",status="2xx"} 2"#,
            r#"http_requests_total{method="POST",route="unmatched",status="2xx"} 1"#,
            r#"http_request_errors_total{method="GET",route="/fail",status="5xx"} 1"#,
            r#"ballast_slo_requests_total{slo="api"} 4"#,
            r#"ballast_slo_good_total{slo="api"} 3"#,
            r#"ballast_slo_objective{slo="api"} 0.999"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
