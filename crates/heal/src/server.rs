//! The HTTP side: `POST /webhook` for Alertmanager, `GET /status` for `ballast heal
//! status`, `GET /metrics`, `GET /healthz`. Everything but `/healthz` requires the
//! configured credentials.

use crate::healer::Msg;
use crate::metrics::Metrics;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ballast_heal_policy::webhook;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Credentials with their secrets resolved.
#[derive(Clone)]
pub(crate) enum Credentials {
    None,
    Bearer(String),
    Basic(String),
}

#[derive(Clone)]
pub(crate) struct Shared {
    pub tx: mpsc::Sender<Msg>,
    pub metrics: Arc<Metrics>,
    pub credentials: Credentials,
    pub healthy: Arc<AtomicBool>,
}

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/webhook", post(receive))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY_BYTES))
        .with_state(shared)
}

/// Compares in time independent of where the first difference is.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    match &shared.credentials {
        Credentials::None => true,
        Credentials::Bearer(token) => same(given, format!("Bearer {token}").as_bytes()),
        Credentials::Basic(encoded) => same(given, format!("Basic {encoded}").as_bytes()),
    }
}

fn unauthorized(shared: &Shared) -> Response {
    shared.metrics.delivery("unauthorized");
    let challenge = match shared.credentials {
        Credentials::Basic(_) => "Basic realm=\"ballast heal\"",
        _ => "Bearer",
    };
    (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, challenge)],
        "missing or wrong credentials\n",
    )
        .into_response()
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized(&shared);
    }
    let payload = match webhook::parse(&body) {
        Ok(p) => p,
        Err(e) => {
            shared.metrics.delivery("rejected");
            return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
        }
    };
    let (reply, answer) = oneshot::channel();
    if shared.tx.try_send(Msg::Deliver { payload, reply }).is_err() {
        shared.metrics.delivery("busy");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the healer is busy; send again\n",
        )
            .into_response();
    }
    match answer.await {
        Ok(Ok(decisions)) => (StatusCode::OK, axum::Json(decisions)).into_response(),
        // Not recorded: Alertmanager retries a 5xx, and the delivery is decided then.
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("not recorded: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the healer is stopping\n").into_response(),
    }
}

async fn status(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized(&shared);
    }
    let (reply, answer) = oneshot::channel();
    if shared.tx.send(Msg::Status { reply }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the healer is stopping\n").into_response();
    }
    match answer.await {
        Ok(v) => axum::Json(v).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the healer is stopping\n").into_response(),
    }
}

async fn metrics(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized(&shared);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn healthz(State(shared): State<Shared>) -> Response {
    if shared.healthy.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot write the state or the audit log\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_secrets() {
        assert!(super::same(b"Bearer abc", b"Bearer abc"));
        assert!(!super::same(b"Bearer abd", b"Bearer abc"));
        assert!(!super::same(b"Bearer ab", b"Bearer abc"));
    }
}
