//! The one HTTP client: keep-alive pooling, rustls, bearer or basic auth, a timeout per
//! attempt, a cap on the body it will read, and retries with exponential backoff for
//! requests that are safe to repeat.

use crate::Error;
use ballast_core::duration_text;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach one kind of peer (`prometheus:` in a config file, flags on the CLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Per attempt, connecting included, to the last byte of the body. Default: 30s.
    #[serde(default = "default_timeout", with = "duration_text")]
    pub timeout: Duration,
    /// Connecting alone (TCP and TLS). Default: 5s.
    #[serde(default = "default_connect_timeout", with = "duration_text")]
    pub connect_timeout: Duration,
    /// Extra attempts after a failure worth retrying (cannot connect, timeout, 429, 502,
    /// 503, 504) of a request that is safe to repeat. Default: 3.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubles after each, capped at 10 s. Default: 250ms.
    #[serde(default = "default_backoff", with = "duration_text")]
    pub backoff: Duration,
    /// Largest body read; a longer one is an error, never a truncated answer.
    /// Default: 64 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Credentials sent with every request. Default: none.
    #[serde(default, skip_serializing)]
    pub auth: Option<Auth>,
    /// PEM file of CA certificates to trust as well as the public roots (a private
    /// Prometheus behind TLS). Default: none.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Default: false.
    #[serde(default)]
    pub insecure: bool,
    /// Idle connections kept per host for reuse. Default: 8.
    #[serde(default = "default_idle_per_host")]
    pub idle_per_host: usize,
}

/// Credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic ...`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

/// Never prints the secret.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}:***)"),
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Duration {
    Duration::from_millis(250)
}
fn default_max_body() -> u64 {
    64 << 20
}
fn default_idle_per_host() -> usize {
    8
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            retries: default_retries(),
            backoff: default_backoff(),
            max_body_bytes: default_max_body(),
            auth: None,
            ca_file: None,
            insecure: false,
            idle_per_host: default_idle_per_host(),
        }
    }
}

impl ClientConfig {
    /// Checks the settings and returns the client. Nothing connects yet.
    pub fn build(&self) -> Result<Client, Error> {
        let invalid = |field: &str, message: &str| Error::Config {
            field: field.to_string(),
            message: message.to_string(),
        };
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "expected a duration above 0"));
        }
        if self.connect_timeout.is_zero() {
            return Err(invalid("connect_timeout", "expected a duration above 0"));
        }
        if self.max_body_bytes == 0 {
            return Err(invalid("max_body_bytes", "expected at least 1 byte"));
        }
        if self.retries > 20 {
            return Err(invalid("retries", "expected at most 20"));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("ballast/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.idle_per_host)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // A redirect would carry the credentials to a place nobody named.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(self.insecure);
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| Error::CaFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::CaFile {
                path: path.clone(),
                message: format!("not a PEM certificate bundle: {e}"),
            })?;
            if certs.is_empty() {
                return Err(Error::CaFile {
                    path: path.clone(),
                    message: "holds no PEM certificate".into(),
                });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let inner = builder.build().map_err(|e| Error::Config {
            field: "tls".into(),
            message: e.to_string(),
        })?;
        Ok(Client {
            inner,
            config: self.clone(),
        })
    }
}

/// A pooled client. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    config: ClientConfig,
}

/// An answer, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, when given.
    pub content_type: Option<String>,
    /// The whole body (at most `max_body_bytes`).
    pub body: Bytes,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    method: reqwest::Method,
    url: url::Url,
    headers: Vec<(String, String)>,
    body: Option<(String, Bytes)>,
    repeatable: bool,
    auth: bool,
}

impl Request {
    /// A request; GET and HEAD are retried, other methods only when marked
    /// [`repeatable`](Request::repeatable).
    pub fn new(method: http::Method, url: url::Url) -> Request {
        let repeatable = matches!(method, http::Method::GET | http::Method::HEAD);
        let method =
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            repeatable,
            auth: true,
        }
    }

    /// A GET.
    pub fn get(url: url::Url) -> Request {
        Request::new(http::Method::GET, url)
    }

    /// A body with its content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Request {
        self.body = Some((content_type.to_string(), body.into()));
        self
    }

    /// A JSON body.
    pub fn json(self, value: &serde_json::Value) -> Request {
        self.body("application/json", value.to_string())
    }

    /// An extra header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Safe to send again after a failure (an idempotent PUT or DELETE, a POST the peer
    /// deduplicates, such as Alertmanager's alerts).
    pub fn repeatable(mut self, yes: bool) -> Request {
        self.repeatable = yes;
        self
    }

    /// Leaves the client's credentials out (a request to a peer that is not the one they
    /// belong to).
    pub fn without_auth(mut self) -> Request {
        self.auth = false;
        self
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

/// One GET with no retry: the body of a 2xx answer, or why there was none. For a quick
/// look (a readiness probe, a test); a caller that asks often keeps a [`Client`] and its
/// pool.
pub async fn get_once(url: &str, timeout: Duration) -> Result<String, Error> {
    let url = ballast_spec::parse_http_url(url)?;
    let client = ClientConfig {
        timeout,
        connect_timeout: timeout,
        retries: 0,
        idle_per_host: 0,
        ..ClientConfig::default()
    }
    .build()?;
    client.get_text(&url).await
}

/// Why one attempt failed, and whether another may help.
enum Attempt {
    Done(Response),
    Retry(String, Option<Response>, bool),
    Fatal(Error),
}

impl Client {
    /// The settings it was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// GETs `url` and returns the answer, whatever its status.
    pub async fn get(&self, url: &url::Url) -> Result<Response, Error> {
        self.send(Request::get(url.clone())).await
    }

    /// GETs `url` and returns the body as text; a status other than 2xx is an error.
    pub async fn get_text(&self, url: &url::Url) -> Result<String, Error> {
        let response = self.get(url).await?;
        if !response.is_success() {
            return Err(Error::Status {
                url: redact(url),
                status: response.status,
                body: excerpt(&response.text()),
            });
        }
        String::from_utf8(response.body.to_vec()).map_err(|_| Error::Transport {
            url: redact(url),
            message: "the body is not UTF-8 text".into(),
        })
    }

    /// Sends `request`, retrying as configured when it is repeatable, and returns the last
    /// answer (a 503 after every retry is still an answer) or why none came.
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let mut wait = self.config.backoff;
        let mut attempt = 0u32;
        loop {
            let (reason, last, unreachable) = match self.attempt(&request).await {
                Attempt::Done(response) => return Ok(response),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry(reason, last, unreachable) => (reason, last, unreachable),
            };
            if !request.repeatable || attempt >= self.config.retries {
                if let Some(response) = last {
                    return Ok(response);
                }
                let tries = attempt + 1;
                let message = format!(
                    "{reason} (after {tries} attempt{})",
                    if tries == 1 { "" } else { "s" }
                );
                let url = redact(&request.url);
                return Err(if unreachable {
                    Error::Unreachable { url, message }
                } else {
                    Error::Transport { url, message }
                });
            }
            attempt += 1;
            tracing::debug!(url = %redact(&request.url), attempt, %reason, "retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    async fn attempt(&self, request: &Request) -> Attempt {
        let mut builder = self
            .inner
            .request(request.method.clone(), request.url.clone())
            .timeout(self.config.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some((content_type, body)) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
        }
        match (&self.config.auth, request.auth) {
            (Some(Auth::Bearer(token)), true) => builder = builder.bearer_auth(token),
            (Some(Auth::Basic { username, password }), true) => {
                builder = builder.basic_auth(username, Some(password))
            }
            _ => {}
        }
        let mut response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return classify(&e),
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = self.config.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit) {
            return Attempt::Fatal(Error::TooLarge {
                url: redact(&request.url),
                limit,
            });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Attempt::Fatal(Error::TooLarge {
                            url: redact(&request.url),
                            limit,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return classify(&e),
            }
        }
        let response = Response {
            status,
            content_type,
            body: body.into(),
        };
        // Prometheus answers 503 for a query that timed out or a server still starting,
        // and a proxy in front of it 502/504: another try helps all of them.
        if matches!(status, 429 | 502 | 503 | 504) {
            Attempt::Retry(format!("status {status}"), Some(response), false)
        } else {
            Attempt::Done(response)
        }
    }
}

fn classify(e: &reqwest::Error) -> Attempt {
    if e.is_timeout() {
        return Attempt::Retry("no answer within the timeout".into(), None, false);
    }
    let reason = error_chain(e);
    if e.is_connect() {
        Attempt::Retry(format!("cannot connect: {reason}"), None, true)
    } else {
        Attempt::Retry(reason, None, false)
    }
}

/// reqwest's error and its causes in one line ("error sending request: connection
/// refused"), without the URL, which the caller names once.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.without_url_text()
    } else {
        parts.join(": ")
    }
}

trait WithoutUrl {
    fn without_url_text(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_text(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(&format!(" ({url})"), "");
        }
        text
    }
}

/// The URL as error messages show it: never with a password in it.
pub fn redact(url: &url::Url) -> String {
    if url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_password(Some("***"));
        shown.to_string()
    } else {
        url.to_string()
    }
}

/// The start of a body, on one line, for an error message.
fn excerpt(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line
    }
}
