//! A small HTTP/1.1 client for the query APIs and Alertmanager: one request per
//! connection, a timeout per attempt, retries with exponential backoff on failures worth
//! retrying (connection errors, timeouts, 429 and 5xx), an optional bearer token.
//! Plain `http://` only: ballast talks to servers on the operator's network.

use crate::Error;
use std::time::Duration;

const CANNOT_CONNECT: &str = "cannot connect";

/// Connection settings shared by every request.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Per attempt, connect to last byte.
    pub timeout: Duration,
    /// Extra attempts after the first.
    pub retries: u32,
    /// Wait before the first retry; doubles each time (capped at 10 s).
    pub backoff: Duration,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

/// A response: status and body text.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, as text (lossy UTF-8).
    pub body: String,
}

/// Parts of an `http://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Url {
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                "https is not supported; use http:// (or a local proxy)".to_string()
            } else {
                "expected a URL starting with http://".to_string()
            }
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or("unclosed [ in the host")?;
            let port = v6[end + 1..].strip_prefix(':');
            (&v6[..end], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("no host in the URL".into());
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("invalid port {p:?}"))?,
            None => 80,
        };
        Ok(Url {
            host: host.to_string(),
            port,
            path_and_query: path.to_string(),
        })
    }
}

impl HttpClient {
    /// GET `url`.
    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        self.send(url, http::Method::GET, None).await
    }

    /// POST `body` with `content_type` to `url`.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        self.send(url, http::Method::POST, Some((content_type, body)))
            .await
    }

    async fn send(
        &self,
        url: &str,
        method: http::Method,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Response, Error> {
        let fail = |message: String| Error::Http {
            url: url.to_string(),
            message,
        };
        let parsed = Url::parse(url).map_err(fail)?;
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let outcome =
                tokio::time::timeout(self.timeout, self.once(&parsed, &method, body.as_ref()))
                    .await;
            let retryable = match outcome {
                Ok(Ok(r)) if r.status == 429 || r.status >= 500 => {
                    // Prometheus answers 503 for a query that timed out or a server still
                    // starting; retrying helps both. The body may say why.
                    if attempt >= self.retries {
                        return Ok(r);
                    }
                    format!("status {}", r.status)
                }
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {:?}", self.timeout),
            };
            if attempt >= self.retries {
                let message = format!(
                    "{retryable} (after {} attempt{})",
                    attempt + 1,
                    if attempt == 0 { "" } else { "s" }
                );
                return Err(if retryable.starts_with(CANNOT_CONNECT) {
                    Error::Unreachable {
                        url: url.to_string(),
                        message,
                    }
                } else {
                    fail(message)
                });
            }
            attempt += 1;
            tracing::debug!(url, attempt, reason = %retryable, "retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    async fn once(
        &self,
        url: &Url,
        method: &http::Method,
        body: Option<&(&str, Vec<u8>)>,
    ) -> Result<Response, String> {
        use http_body_util::{BodyExt, Full};
        use hyper_util::rt::TokioIo;
        let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("{CANNOT_CONNECT}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let connection = tokio::spawn(conn);
        let authority = if url.port == 80 {
            url.host.clone()
        } else {
            format!("{}:{}", url.host, url.port)
        };
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(url.path_and_query.as_str())
            .header(http::header::HOST, authority)
            .header(http::header::USER_AGENT, "ballast");
        if let Some(token) = &self.bearer_token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                request = request.header(http::header::CONTENT_TYPE, *content_type);
                bytes::Bytes::from(bytes.clone())
            }
            None => bytes::Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        connection.abort();
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1:9090/api/v1/query?query=up").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("127.0.0.1", 9090, "/api/v1/query?query=up")
        );
        let u = Url::parse("http://[::1]:8428").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("::1", 8428, "/")
        );
        assert_eq!(Url::parse("http://prom").unwrap().port, 80);
        assert!(Url::parse("https://x").unwrap_err().contains("https"));
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://x:99999/").is_err());
    }

    #[test]
    fn encodes_promql() {
        assert_eq!(
            url_encode("rate(x{a=\"b\"}[5m])"),
            "rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_after_the_retries() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = HttpClient {
            timeout: Duration::from_secs(1),
            retries: 2,
            backoff: Duration::from_millis(10),
            bearer_token: None,
        };
        let e = client
            .get(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Unreachable { .. }) && e.is_input(),
            "{e}"
        );
        let e = e.to_string();
        assert!(
            e.contains("cannot connect") && e.contains("after 3 attempts"),
            "{e}"
        );
    }
}
