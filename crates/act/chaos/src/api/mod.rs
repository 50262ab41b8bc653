//! The HTTP API, compatible with Toxiproxy's: same paths, methods, JSON shapes, status
//! codes and `{"error", "status"}` bodies. Plus `/metrics` and bearer-token auth.

mod request_id;
pub(crate) mod routes;

use crate::server::Registry;
use crate::Error;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Largest request body read (a `/populate` of many proxies fits easily).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// A response as the handlers build it.
pub(crate) type ApiResponse = Response<Full<Bytes>>;

/// The running API.
pub(crate) struct ApiHandle {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ApiHandle {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) async fn stop(mut self) {
        self.task.abort();
        // Dropping the accept task drops its listener and every connection task it owns.
        let _ = (&mut self.task).await;
    }
}

impl Drop for ApiHandle {
    /// A server dropped without `shutdown` stops its API too, which lets go of the
    /// registry, so the proxies drop and close their connections.
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct ApiState {
    registry: Arc<Registry>,
    token: Option<String>,
    ids: request_id::RequestIds,
}

/// ballast's own version, on every response: `/version` answers Toxiproxy's API level
/// alone, since clients parse it as a plain version.
const BALLAST_VERSION_HEADER: &str = "x-ballast-version";

pub(crate) async fn start(
    addr: SocketAddr,
    token: Option<String>,
    registry: Arc<Registry>,
) -> Result<ApiHandle, Error> {
    let listener = crate::proxy::bind_addr(addr)?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: addr.to_string(),
        op: "getsockname",
        source,
    })?;
    let state = Arc::new(ApiState {
        registry,
        token,
        ids: request_id::RequestIds::new(),
    });
    tracing::info!(%addr, "chaos API listening");
    Ok(ApiHandle {
        addr,
        task: tokio::spawn(serve(listener, state)),
    })
}

async fn serve(listener: TcpListener, state: Arc<ApiState>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "API accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(request, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(15))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, state: &ApiState) -> ApiResponse {
    let mut response = answer(request, state).await;
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&state.ids.next()) {
        headers.insert(request_id::HEADER, id);
    }
    headers.insert(
        BALLAST_VERSION_HEADER,
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    response
}

async fn answer(request: Request<Incoming>, state: &ApiState) -> ApiResponse {
    if let Some(token) = &state.token {
        if !authorized(request.headers().get(header::AUTHORIZATION), token) {
            let mut response = error(401, "missing or wrong bearer token");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ballast chaos\""),
            );
            return response;
        }
    }
    // Toxiproxy refuses browsers so a web page cannot drive the API behind the user's
    // back (cross-site requests to localhost); keep that protection.
    let browser = request
        .headers()
        .get(header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes().starts_with(b"Mozilla/"));
    if browser {
        return error(403, "User agent not allowed");
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error(
                400,
                &format!("bad request body: {e} (at most {MAX_BODY} bytes)"),
            )
        }
    };
    match routes::route(&method, &path) {
        Ok(route) => routes::dispatch(route, &body, &state.registry).await,
        Err(no_route) => no_route.response(),
    }
}

/// Compares in constant time, so response timing does not reveal the token bytewise.
fn authorized(header: Option<&HeaderValue>, token: &str) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = value.strip_prefix("Bearer ") else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `{"error": message, "status": status}` with that status, as Toxiproxy answers: compact,
/// `error` first, and a final newline (Go's `http.Error` adds one). The content type stays
/// `application/json`, where `http.Error` turns Toxiproxy's into `text/plain`.
pub(crate) fn error(status: u16, message: &str) -> ApiResponse {
    let body = serde_json::json!({"error": message, "status": status});
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    bytes.push(b'\n');
    respond(status, "application/json", Bytes::from(bytes))
}

pub(crate) fn error_for(e: &Error) -> ApiResponse {
    error(e.status(), &e.api_message())
}

pub(crate) fn json(status: u16, value: &serde_json::Value) -> ApiResponse {
    let body = serde_json::to_vec(value).unwrap_or_default();
    respond(status, "application/json", Bytes::from(body))
}

pub(crate) fn respond(status: u16, content_type: &'static str, body: Bytes) -> ApiResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn no_content() -> ApiResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Methods allowed on a path, for 405 answers.
pub(crate) fn method_not_allowed(allowed: &[Method]) -> ApiResponse {
    let mut response = error(405, "method not allowed");
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&list) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let ok = HeaderValue::from_static("Bearer s3cret");
        assert!(authorized(Some(&ok), "s3cret"));
        for bad in [
            "Bearer s3cre",
            "Bearer s3cretx",
            "bearer s3cret",
            "s3cret",
            "Basic s3cret",
        ] {
            assert!(
                !authorized(Some(&HeaderValue::from_static(bad)), "s3cret"),
                "{bad}"
            );
        }
        assert!(!authorized(None, "s3cret"));
    }
}
