//! A client for the chaos API (ours or Toxiproxy's): what `ballast chaos list|add|
//! toxic add|toxic rm|reset` and a contract naming a running server use. The HTTP is
//! `ballast-http`'s pooled client: one kept-alive connection serves a whole run's calls.

use crate::proxy::ProxyInfo;
use crate::toxic::Toxic;
use crate::Error;
use ballast_http::{Auth, Client, ClientConfig, Request};
use http::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// How long one API call may take, connecting included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for one API server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `http://host:port`, as given (for messages).
    shown: String,
    base: url::Url,
    http: Client,
}

impl ApiClient {
    /// A client for `url` (`http://host:port`, or just `host:port`), sending `token` as
    /// a bearer token when given.
    pub fn new(url: &str, token: Option<String>) -> Result<ApiClient, Error> {
        let full = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let base = ballast_spec::parse_http_url(&full)
            .map_err(|e| Error::invalid("--api", e.to_string()))?;
        if base.scheme() != "http" {
            return Err(Error::invalid(
                "--api",
                format!("expected an http:// URL, got scheme \"{}\"", base.scheme()),
            ));
        }
        if base.port().is_none() {
            return Err(Error::invalid(
                "--api",
                format!("expected host:port, e.g. 127.0.0.1:8474, got {url}"),
            ));
        }
        // A control call changes the proxy: it is never repeated on its own, so a
        // failure is reported once rather than applied twice.
        let http = ClientConfig {
            timeout: CALL_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
            retries: 0,
            auth: token.map(Auth::Bearer),
            idle_per_host: 2,
            ..ClientConfig::default()
        }
        .build()
        .map_err(|e| Error::invalid("--api", e.to_string()))?;
        Ok(ApiClient {
            shown: full.trim_end_matches('/').to_string(),
            base,
            http,
        })
    }

    /// Sends one request; returns the body parsed as JSON (`null` when empty). Error
    /// statuses become [`Error::Api`] with the server's `error` text.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let mut url = self.base.clone();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        url.set_path(path);
        url.set_query(query);
        let mut request = Request::new(method, url).header("content-type", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.http.send(request).await.map_err(|e| match e {
            ballast_http::Error::Unreachable { message, .. }
            | ballast_http::Error::Transport { message, .. } => self.unreachable(message),
            other => self.unreachable(other.to_string()),
        })?;
        let value: Value = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&response.body)
                .unwrap_or_else(|_| Value::String(response.text()))
        };
        if response.is_success() {
            return Ok(value);
        }
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| value.as_str().unwrap_or("no error text").trim().to_string());
        Err(Error::Api {
            status: response.status,
            message,
        })
    }

    fn unreachable(&self, message: String) -> Error {
        Error::Unreachable {
            addr: self.shown.clone(),
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
        let path = format!("/proxies/{}/toxics", ballast_spec::encode_component(proxy));
        let value = self
            .call(Method::POST, &path, Some(&toxic.to_json()))
            .await?;
        Toxic::from_json(&value, false).map_err(Error::from)
    }

    /// `DELETE /proxies/{proxy}/toxics/{name}`.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), Error> {
        let path = format!(
            "/proxies/{}/toxics/{}",
            ballast_spec::encode_component(proxy),
            ballast_spec::encode_component(name)
        );
        self.call(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// `POST /reset`.
    pub async fn reset(&self) -> Result<(), Error> {
        self.call(Method::POST, "/reset", None).await.map(|_| ())
    }
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
        assert_eq!(
            ballast_spec::encode_component("my proxy/1"),
            "my%20proxy%2F1"
        );
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
