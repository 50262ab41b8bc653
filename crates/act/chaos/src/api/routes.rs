//! Paths to routes, request bodies to typed values, routes to registry calls. Parsing is
//! kept apart from doing, so the fuzz target can drive every parser without sockets.

use super::{error, error_for, json, method_not_allowed, no_content, respond, ApiResponse};
use crate::config::{AdaptiveConfig, ProxyConfig};
use crate::proxy::{ProxyInfo, ProxyUpdate};
use crate::server::Registry;
use crate::toxic::{json_kind, Toxic};
use crate::Error;
use bytes::Bytes;
use http::Method;
use serde_json::{json, Map, Value};

/// The version `/version` reports: the Toxiproxy API level this speaks, as a plain version.
/// Clients compare it to pick request forms, and some cannot parse build metadata
/// (`2.12.0+ballast.0.1.0`) and fall back to older ones; ours is in `X-Ballast-Version`.
pub(crate) const VERSION: &str = "2.12.0";

/// An API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Reset,
    ProxyIndex,
    ProxyCreate,
    Populate,
    ProxyShow(String),
    ProxyUpdate(String),
    ProxyDelete(String),
    ToxicIndex(String),
    ToxicCreate(String),
    ToxicShow(String, String),
    ToxicUpdate(String, String),
    ToxicDelete(String, String),
    Version,
    Metrics,
}

/// Why a request matched no route.
#[derive(Debug)]
pub(crate) enum NoRoute {
    /// 404.
    NotFound,
    /// 400: the path's percent-encoding is broken.
    BadPath,
    /// 405, with the methods the path takes.
    Method(Vec<Method>),
}

impl NoRoute {
    pub(crate) fn response(&self) -> ApiResponse {
        match self {
            NoRoute::NotFound => error(404, "not found"),
            NoRoute::BadPath => error(400, "bad request: malformed percent-encoding in path"),
            NoRoute::Method(allowed) => method_not_allowed(allowed),
        }
    }

    pub(crate) fn status(&self) -> u16 {
        match self {
            NoRoute::NotFound => 404,
            NoRoute::BadPath => 400,
            NoRoute::Method(_) => 405,
        }
    }
}

/// Matches a path and method; unknown paths get 404, known paths with another method 405.
pub(crate) fn route(method: &Method, path: &str) -> Result<Route, NoRoute> {
    let segments: Vec<String> = match path.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .map(percent_decode)
            .collect::<Option<Vec<_>>>()
            .ok_or(NoRoute::BadPath)?,
        None => return Err(NoRoute::NotFound),
    };
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (get, post, patch, delete) = (Method::GET, Method::POST, Method::PATCH, Method::DELETE);
    let named = |s: &str| !s.is_empty();
    let route = match parts.as_slice() {
        ["reset"] => pick(method, &[(&post, Route::Reset)]),
        ["proxies"] => pick(
            method,
            &[(&get, Route::ProxyIndex), (&post, Route::ProxyCreate)],
        ),
        ["populate"] => pick(method, &[(&post, Route::Populate)]),
        ["version"] => pick(method, &[(&get, Route::Version)]),
        ["metrics"] => pick(method, &[(&get, Route::Metrics)]),
        ["proxies", p] if named(p) => {
            let p = p.to_string();
            pick(
                method,
                &[
                    (&get, Route::ProxyShow(p.clone())),
                    (&post, Route::ProxyUpdate(p.clone())),
                    (&patch, Route::ProxyUpdate(p.clone())),
                    (&delete, Route::ProxyDelete(p)),
                ],
            )
        }
        ["proxies", p, "toxics"] if named(p) => pick(
            method,
            &[
                (&get, Route::ToxicIndex(p.to_string())),
                (&post, Route::ToxicCreate(p.to_string())),
            ],
        ),
        ["proxies", p, "toxics", t] if named(p) && named(t) => {
            let (p, t) = (p.to_string(), t.to_string());
            pick(
                method,
                &[
                    (&get, Route::ToxicShow(p.clone(), t.clone())),
                    (&post, Route::ToxicUpdate(p.clone(), t.clone())),
                    (&patch, Route::ToxicUpdate(p.clone(), t.clone())),
                    (&delete, Route::ToxicDelete(p, t)),
                ],
            )
        }
        _ => return Err(NoRoute::NotFound),
    };
    route.map_err(NoRoute::Method)
}

fn pick(method: &Method, options: &[(&Method, Route)]) -> Result<Route, Vec<Method>> {
    options
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, r)| r.clone())
        .ok_or_else(|| options.iter().map(|(m, _)| (*m).clone()).collect())
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequestBody(e.to_string()))
}

fn object(value: &Value) -> Result<&Map<String, Value>, Error> {
    value.as_object().ok_or_else(|| {
        Error::BadRequestBody(format!("expected a JSON object, got {}", json_kind(value)))
    })
}

fn string_field(map: &Map<String, Value>, field: &str) -> Result<Option<String>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::BadRequestBody(format!(
            "{field}: expected a string, got {}",
            json_kind(other)
        ))),
    }
}

fn bool_field(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::BadRequestBody(format!(
            "{field}: expected true or false, got {}",
            json_kind(other)
        ))),
    }
}

fn adaptive_field(map: &Map<String, Value>) -> Result<Option<Option<AdaptiveConfig>>, Error> {
    match map.get("adaptive") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => AdaptiveConfig::deserialize_value(value).map(|a| Some(Some(a))),
    }
}

impl AdaptiveConfig {
    fn deserialize_value(value: &Value) -> Result<AdaptiveConfig, Error> {
        let config: AdaptiveConfig = serde::Deserialize::deserialize(value)
            .map_err(|e| Error::BadRequestBody(format!("adaptive: {e}")))?;
        config.validate()?;
        Ok(config)
    }
}

/// A proxy from a create or populate body. Fields Toxiproxy ignores (`toxics`, ...) are
/// ignored here too, so clients that send whole proxy objects keep working.
pub(crate) fn proxy_from_json(value: &Value, index: Option<usize>) -> Result<ProxyConfig, Error> {
    let map = object(value)?;
    let at = |field: &str| match index {
        Some(i) => format!("{field} at proxy {}", i + 1),
        None => field.to_string(),
    };
    let name = string_field(map, "name")?.unwrap_or_default();
    if name.is_empty() {
        return Err(Error::MissingField { field: at("name") });
    }
    let upstream = string_field(map, "upstream")?.unwrap_or_default();
    if upstream.is_empty() {
        return Err(Error::MissingField {
            field: at("upstream"),
        });
    }
    let mut config = ProxyConfig::new(
        name,
        string_field(map, "listen")?.unwrap_or_default(),
        upstream,
    );
    if config.listen.is_empty() {
        config.listen = "127.0.0.1:0".into();
    }
    config.enabled = bool_field(map, "enabled")?.unwrap_or(true);
    config.http = bool_field(map, "http")?.unwrap_or(false);
    config.adaptive = adaptive_field(map)?.flatten();
    config.validate()?;
    Ok(config)
}

/// `/populate`: an array of proxies, all checked before any is touched.
pub(crate) fn populate_from_json(value: &Value) -> Result<Vec<ProxyConfig>, Error> {
    let items = value.as_array().ok_or_else(|| {
        Error::BadRequestBody(format!(
            "expected an array of proxies, got {}",
            json_kind(value)
        ))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| proxy_from_json(item, Some(i)))
        .collect()
}

pub(crate) fn update_from_json(value: &Value) -> Result<ProxyUpdate, Error> {
    let map = object(value)?;
    Ok(ProxyUpdate {
        listen: string_field(map, "listen")?,
        upstream: string_field(map, "upstream")?,
        enabled: bool_field(map, "enabled")?,
        http: bool_field(map, "http")?,
        adaptive: adaptive_field(map)?,
    })
}

fn proxy_json(info: &ProxyInfo) -> Value {
    info.to_json()
}

/// Runs a route against the registry.
pub(crate) async fn dispatch(route: Route, body: &Bytes, registry: &Registry) -> ApiResponse {
    match run(route, body, registry).await {
        Ok(response) => response,
        Err(e) => error_for(&e),
    }
}

async fn run(route: Route, body: &Bytes, registry: &Registry) -> Result<ApiResponse, Error> {
    Ok(match route {
        // Toxiproxy writes this body by hand: the space, the newline and the content type
        // are its, and clients that compare the body byte for byte see the same.
        Route::Version => respond(
            200,
            "application/json;charset=utf-8",
            Bytes::from(format!("{{\"version\": \"{VERSION}\"}}\n")),
        ),
        Route::Metrics => respond(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(registry.metrics_text().await),
        ),
        Route::Reset => {
            registry.reset().await?;
            no_content()
        }
        Route::ProxyIndex => {
            let map: Map<String, Value> = registry
                .list()
                .await
                .iter()
                .map(|p| (p.name.clone(), proxy_json(p)))
                .collect();
            json(200, &Value::Object(map))
        }
        Route::ProxyCreate => {
            let config = proxy_from_json(&parse_json(body)?, None)?;
            json(201, &proxy_json(&registry.create(config).await?))
        }
        Route::Populate => {
            let configs = populate_from_json(&parse_json(body)?)?;
            let (done, failure) = registry.populate(configs).await;
            let proxies: Vec<Value> = done.iter().map(proxy_json).collect();
            match failure {
                None => json(201, &json!({ "proxies": proxies })),
                Some(e) => json(
                    e.status(),
                    &json!({"error": e.api_message(), "status": e.status(), "proxies": proxies}),
                ),
            }
        }
        Route::ProxyShow(name) => json(200, &proxy_json(&registry.info(&name).await?)),
        Route::ProxyUpdate(name) => {
            let update = update_from_json(&parse_json(body)?)?;
            json(200, &proxy_json(&registry.update(&name, update).await?))
        }
        Route::ProxyDelete(name) => {
            registry.remove(&name).await?;
            no_content()
        }
        Route::ToxicIndex(proxy) => {
            let toxics = registry.toxics(&proxy).await?;
            json(
                200,
                &Value::Array(toxics.iter().map(Toxic::to_json).collect()),
            )
        }
        Route::ToxicCreate(proxy) => {
            // Toxiproxy looks the proxy up before reading the body.
            registry.info(&proxy).await?;
            let toxic = Toxic::from_json(&parse_json(body)?, false)?;
            json(200, &registry.add_toxic(&proxy, toxic).await?.to_json())
        }
        Route::ToxicShow(proxy, name) => json(200, &registry.toxic(&proxy, &name).await?.to_json()),
        Route::ToxicUpdate(proxy, name) => {
            registry.info(&proxy).await?;
            let patch = parse_json(body)?;
            json(
                200,
                &registry
                    .update_toxic(&proxy, &name, &patch)
                    .await?
                    .to_json(),
            )
        }
        Route::ToxicDelete(proxy, name) => {
            registry.remove_toxic(&proxy, &name).await?;
            no_content()
        }
    })
}

/// The fuzz target's entry: route, parse and apply to a scratch toxic set, then push the
/// body through connection links carrying whatever toxics the set ends up with.
pub(crate) fn dry_run(method: &[u8], path: &str, body: &[u8]) -> u16 {
    use crate::conn::link::Link;
    use crate::toxic::set::ToxicSet;
    use crate::toxic::Stream;
    use std::time::Instant;

    let Ok(method) = Method::from_bytes(method) else {
        return 400;
    };
    let route = match route(&method, path) {
        Ok(route) => route,
        Err(no_route) => return no_route.status(),
    };
    let mut set = ToxicSet::new("fuzz", 1);
    for existing in [
        json!({"type": "latency", "attributes": {"latency": 5, "jitter": 5}}),
        json!({"type": "slicer", "stream": "upstream", "attributes": {"average_size": 3, "size_variation": 2}}),
        json!({"type": "http_abort", "attributes": {"path_prefix": "/a"}}),
    ] {
        if let Ok(toxic) = Toxic::from_json(&existing, false) {
            let _ = set.add(toxic);
        }
    }
    let outcome = (|| -> Result<u16, Error> {
        Ok(match route {
            Route::ProxyCreate => {
                proxy_from_json(&parse_json(body)?, None)?;
                201
            }
            Route::Populate => {
                populate_from_json(&parse_json(body)?)?;
                201
            }
            Route::ProxyUpdate(_) => {
                update_from_json(&parse_json(body)?)?;
                200
            }
            Route::ToxicCreate(_) => {
                set.add(Toxic::from_json(&parse_json(body)?, false)?)?;
                200
            }
            Route::ToxicUpdate(_, name) => {
                set.update(&name, &parse_json(body)?)?;
                200
            }
            Route::ToxicDelete(_, name) => {
                set.remove(&name)?;
                204
            }
            Route::ToxicShow(_, name) => {
                let _ = set.get(&name)?.to_json().to_string();
                200
            }
            Route::ToxicIndex(_) => {
                let _ = Value::Array(set.list().iter().map(Toxic::to_json).collect()).to_string();
                200
            }
            _ => 200,
        })
    })();
    let status = match outcome {
        Ok(status) => status,
        Err(e) => error_for(&e).status().as_u16(),
    };
    let chain = set.chain(0, true);
    let now = Instant::now();
    for stream in [Stream::Upstream, Stream::Downstream] {
        let toxics = chain.tcp(stream);
        let mut link = Link::new();
        let _ = link.apply(toxics, now);
        link.push_data(now, now, Bytes::copy_from_slice(body));
        link.push_eof(now);
        let _ = link.next_wake();
        let _ = link.apply(&[], now);
    }
    crate::http::fuzz_with(body, body, &chain.http);
    status
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
