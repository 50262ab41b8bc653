//! A small client for the chaos API (ours or Toxiproxy's): what `ballast chaos list|add|
//! toxic add|toxic rm|reset` use. One HTTP/1.1 connection per call; no pooling, since a
//! human types each command.

use crate::proxy::ProxyInfo;
use crate::toxic::Toxic;
use crate::Error;
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;

/// How long one API call may take, connecting included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for one API server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `host:port`.
    authority: String,
    token: Option<String>,
}

impl ApiClient {
    /// A client for `url` (`http://host:port`, or just `host:port`), sending `token` as
    /// a bearer token when given.
    pub fn new(url: &str, token: Option<String>) -> Result<ApiClient, Error> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(Error::invalid(
                    "--api",
                    format!("expected an http:// URL, got scheme {scheme:?}"),
                ))
            }
            None => url,
        };
        let authority = rest.trim_end_matches('/');
        crate::config::check_host_port("--api", authority)?;
        Ok(ApiClient {
            authority: authority.to_string(),
            token,
        })
    }

    /// Sends one request; returns the status and the body parsed as JSON (`null` when
    /// empty). Error statuses become [`Error::Api`] with the server's `error` text.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let call = self.call_inner(method, path, body);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(self.unreachable(format!("no answer within {CALL_TIMEOUT:?}"))),
        }
    }

    async fn call_inner(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        tokio::spawn(connection);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(
                header::USER_AGENT,
                concat!("ballast/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::invalid("path", e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e.to_string()))?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| value.as_str().unwrap_or("no error text").trim().to_string());
        Err(Error::Api { status, message })
    }

    fn unreachable(&self, message: String) -> Error {
        Error::Unreachable {
            addr: self.authority.clone(),
            message,
        }
    }

    /// `GET /proxies`, sorted by name.
    pub async fn proxies(&self) -> Result<Vec<ProxyInfo>, Error> {
        let value = self.call(Method::GET, "/proxies", None).await?;
        let map = value
            .as_object()
            .ok_or_else(|| Error::BadRequestBody("expected an object of proxies".into()))?;
        let mut proxies = map
            .values()
            .map(proxy_from_json)
            .collect::<Result<Vec<_>, _>>()?;
        proxies.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(proxies)
    }

    /// `POST /proxies`.
    pub async fn create_proxy(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<ProxyInfo, Error> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true});
        proxy_from_json(&self.call(Method::POST, "/proxies", Some(&body)).await?)
    }

    /// `POST /proxies/{proxy}/toxics`.
    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, Error> {
        let path = format!("/proxies/{}/toxics", encode(proxy));
        let value = self
            .call(Method::POST, &path, Some(&toxic.to_json()))
            .await?;
        Toxic::from_json(&value, false).map_err(Error::from)
    }

    /// `DELETE /proxies/{proxy}/toxics/{name}`.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), Error> {
        let path = format!("/proxies/{}/toxics/{}", encode(proxy), encode(name));
        self.call(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// `POST /reset`.
    pub async fn reset(&self) -> Result<(), Error> {
        self.call(Method::POST, "/reset", None).await.map(|_| ())
    }
}

/// Percent-encodes a path segment (names may hold spaces and other characters).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a proxy as the API shows it (Toxiproxy's servers included).
pub fn proxy_from_json(value: &Value) -> Result<ProxyInfo, Error> {
    let text = |field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let toxics = match value.get("toxics") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| Toxic::from_json(t, false))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    if text("name").is_empty() {
        return Err(Error::BadRequestBody(format!(
            "expected a proxy object, got {value}"
        )));
    }
    Ok(ProxyInfo {
        name: text("name"),
        listen: text("listen"),
        upstream: text("upstream"),
        enabled: value
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        http: value.get("http").and_then(Value::as_bool).unwrap_or(false),
        toxics,
        chaos_level: value.get("chaos_level").and_then(Value::as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_segments() {
        assert!(ApiClient::new("http://127.0.0.1:8474", None).is_ok());
        assert!(ApiClient::new("127.0.0.1:8474/", None).is_ok());
        assert!(ApiClient::new("https://127.0.0.1:8474", None).is_err());
        assert!(ApiClient::new("http://127.0.0.1", None).is_err());
        assert_eq!(encode("my proxy/1"), "my%20proxy%2F1");
    }

    #[test]
    fn proxies_read_back() {
        let info = ProxyInfo {
            name: "redis".into(),
            listen: "127.0.0.1:1".into(),
            upstream: "127.0.0.1:6379".into(),
            enabled: true,
            http: false,
            toxics: vec![Toxic::new(crate::toxic::ToxicKind::Timeout(
                Default::default(),
            ))],
            chaos_level: Some(2),
        };
        assert_eq!(proxy_from_json(&info.to_json()).unwrap(), info);
        assert!(proxy_from_json(&json!({})).is_err());
    }
}
