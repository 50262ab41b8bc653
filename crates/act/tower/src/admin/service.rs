//! [`Admin`]: authentication, routing by path, the changes and the state.

use super::body::{self, BodyError, Command};
use crate::breaker::{BreakerHandle, Mode, State};
use crate::fallback::FallbackSwitch;
use crate::limit::ConcurrencyLimit;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use subtle::ConstantTimeEq;
use tower_service::Service;

/// The admin endpoint (see the [module docs](super)). Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    token: String,
    limit: Option<ConcurrencyLimit>,
    fallbacks: Vec<FallbackSwitch>,
    breakers: BTreeMap<String, BreakerHandle>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("token", &"<redacted>")
            .field("limit", &self.inner.limit)
            .field("fallbacks", &self.inner.fallbacks)
            .field("breakers", &self.inner.breakers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The response future of [`Admin`].
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<String>, Infallible>> + Send>>;

fn answer(status: http::StatusCode, body: Value) -> http::Response<String> {
    let mut response = http::Response::new(format!("{body}\n"));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if status == http::StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

fn refuse(status: http::StatusCode, message: impl Into<String>) -> http::Response<String> {
    answer(status, json!({ "error": message.into() }))
}

impl Admin {
    pub(crate) fn new(
        token: String,
        limit: Option<ConcurrencyLimit>,
        fallbacks: Vec<FallbackSwitch>,
        breakers: BTreeMap<String, BreakerHandle>,
    ) -> Admin {
        Admin {
            inner: Arc::new(Inner {
                token,
                limit,
                fallbacks,
                breakers,
            }),
        }
    }

    /// The state `GET …/state` answers.
    pub fn state(&self) -> Value {
        let inner = &self.inner;
        let limit = inner
            .limit
            .as_ref()
            .map(|l| json!({ "max": l.stats().limit, "forced": l.forced().is_some() }));
        let fallback = (!inner.fallbacks.is_empty())
            .then(|| json!({ "forced": inner.fallbacks.iter().any(FallbackSwitch::is_forced) }));
        let breakers: serde_json::Map<String, Value> = inner
            .breakers
            .iter()
            .map(|(name, b)| {
                let forced = b.mode() == Mode::ForcedOpen;
                // What callers see: a forced-open breaker rejects like an open one.
                let state = if forced { State::Open } else { b.state() };
                let forced = if forced { "open" } else { "none" };
                (
                    name.clone(),
                    json!({ "state": state.as_str(), "forced": forced }),
                )
            })
            .collect();
        json!({ "limit": limit, "fallback": fallback, "breakers": breakers })
    }

    /// `GET /admin/state`, `POST /admin/{limit,fallback,breaker}` as an axum router (merge
    /// it outside the concurrency limit, so the endpoint answers while the limit sheds).
    #[cfg(feature = "axum")]
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        axum::Router::new()
            .route_service("/admin/state", self.clone())
            .route_service("/admin/limit", self.clone())
            .route_service("/admin/fallback", self.clone())
            .route_service("/admin/breaker", self.clone())
    }

    /// Adds `ballast_admin_forced{what="limit|fallback|breaker",name="…"}`: 1 while an
    /// operator's override holds, else 0.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(AdminCollector(self.clone())));
    }

    /// `None` when the request may go on, else the 401 or 403 to answer.
    fn authorize<B>(&self, request: &http::Request<B>) -> Option<http::Response<String>> {
        let Some(value) = request.headers().get(http::header::AUTHORIZATION) else {
            return Some(refuse(
                http::StatusCode::UNAUTHORIZED,
                "missing bearer token (Authorization: Bearer <token>)",
            ));
        };
        let given = value.as_bytes();
        if given.len() < 7 || !given[..7].eq_ignore_ascii_case(b"bearer ") {
            return Some(refuse(
                http::StatusCode::UNAUTHORIZED,
                "expected Authorization: Bearer <token>",
            ));
        }
        // Constant time in the position of the first difference (subtle), so the token
        // cannot be guessed byte by byte from response times.
        let ok: bool = given[7..]
            .trim_ascii()
            .ct_eq(self.inner.token.as_bytes())
            .into();
        (!ok).then(|| refuse(http::StatusCode::FORBIDDEN, "wrong bearer token"))
    }

    /// Carries out `command`; a refusal is its status and reason.
    fn apply(&self, command: Command) -> Result<(), (http::StatusCode, String)> {
        let inner = &self.inner;
        match command {
            Command::Limit(max) => {
                let limit = inner.limit.as_ref().ok_or_else(|| {
                    (
                        http::StatusCode::NOT_FOUND,
                        "no concurrency limit is wired to this endpoint".to_string(),
                    )
                })?;
                limit
                    .force(max)
                    .map_err(|e| (http::StatusCode::BAD_REQUEST, e.to_string()))?;
                tracing::info!(limit = limit.name(), max = ?max, "admin: concurrency limit {}", match max {
                    Some(_) => "forced",
                    None => "back to automatic",
                });
            }
            Command::Fallback(force) => {
                if inner.fallbacks.is_empty() {
                    return Err((
                        http::StatusCode::NOT_FOUND,
                        "no fallback cache is wired to this endpoint".to_string(),
                    ));
                }
                for switch in &inner.fallbacks {
                    switch.force(force);
                }
                tracing::info!(
                    force,
                    "admin: fallback {}",
                    if force { "forced" } else { "back to automatic" }
                );
            }
            Command::Breaker { name, open } => {
                let Some(breaker) = inner.breakers.get(&name) else {
                    let known: Vec<&String> = inner.breakers.keys().collect();
                    return Err((
                        http::StatusCode::BAD_REQUEST,
                        format!("name: no breaker named {name:?} (known: {known:?})"),
                    ));
                };
                let mode = if open {
                    Mode::ForcedOpen
                } else {
                    // Back to the mode it was built with, even when that is the kill switch:
                    // an admin call never re-enables traffic that the configuration stops.
                    breaker.configured_mode()
                };
                breaker.set_mode(mode);
                tracing::info!(breaker = %name, ?mode, "admin: breaker {}", if open { "forced open" } else { "back to automatic" });
            }
        }
        Ok(())
    }
}

/// Reads a request's body into what it asks for, or the reason it cannot.
type Parse = fn(&[u8]) -> Result<Command, String>;

async fn handle<B>(admin: Admin, request: http::Request<B>) -> http::Response<String>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    if let Some(refused) = admin.authorize(&request) {
        return refused;
    }
    let path = request.uri().path().trim_end_matches('/');
    let segment = path.rsplit('/').next().unwrap_or("");
    let (method, parse): (http::Method, Option<Parse>) = match segment {
        "state" => (http::Method::GET, None),
        "limit" => (http::Method::POST, Some(body::limit)),
        "fallback" => (http::Method::POST, Some(body::fallback)),
        "breaker" => (http::Method::POST, Some(body::breaker)),
        _ => {
            return refuse(
                http::StatusCode::NOT_FOUND,
                format!("no admin endpoint {path:?} (state, limit, fallback, breaker)"),
            )
        }
    };
    if request.method() != method {
        let mut response = refuse(
            http::StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} takes {method}"),
        );
        response.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_str(method.as_str()).expect("a method is a header value"),
        );
        return response;
    }
    if let Some(parse) = parse {
        let bytes = match body::read(request.into_body()).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => {
                return refuse(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body: expected at most {} bytes", body::MAX_BODY),
                )
            }
            Err(BodyError::Unreadable(e)) => return refuse(http::StatusCode::BAD_REQUEST, e),
        };
        let command = match parse(&bytes) {
            Ok(command) => command,
            Err(reason) => return refuse(http::StatusCode::BAD_REQUEST, reason),
        };
        if let Err((status, reason)) = admin.apply(command) {
            return refuse(status, reason);
        }
    }
    answer(http::StatusCode::OK, admin.state())
}

impl<B> Service<http::Request<B>> for Admin
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let admin = self.clone();
        Box::pin(async move { Ok(handle(admin, request).await) })
    }
}

#[derive(Debug)]
struct AdminCollector(Admin);

impl Collector for AdminCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.0.inner;
        let mut rows: Vec<(&str, String, bool)> = Vec::new();
        if let Some(limit) = &inner.limit {
            rows.push(("limit", limit.name().to_string(), limit.forced().is_some()));
        }
        for switch in &inner.fallbacks {
            rows.push(("fallback", switch.name().to_string(), switch.is_forced()));
        }
        for (name, breaker) in &inner.breakers {
            rows.push(("breaker", name.clone(), breaker.mode() == Mode::ForcedOpen));
        }
        let mut e = encoder.encode_descriptor(
            "ballast_admin_forced",
            "1 while an operator's override (admin endpoint) holds, else 0",
            None,
            MetricType::Gauge,
        )?;
        for (what, name, forced) in rows {
            let labels = [("what", what), ("name", name.as_str())];
            e.encode_family(&labels)?.encode_gauge(&i64::from(forced))?;
        }
        Ok(())
    }
}
