//! The request every worker sends, validated and encoded once.

use crate::Error;
use ballast_spec::Target;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// A request ready to send: HTTP/1.1 bytes built once, and the parts HTTP/2 needs.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// The complete HTTP/1.1 request (head and body).
    pub(crate) http1: Bytes,
    /// Whether responses carry no body whatever their headers say (HEAD).
    pub(crate) is_head: bool,
    pub(crate) method: Method,
    pub(crate) uri: http::Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl PreparedRequest {
    /// Validates method and headers and encodes a request for `path_and_query` on `target`.
    pub fn new(
        target: &Target,
        path_and_query: &str,
        method: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Self, Error> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| Error::InvalidConfig {
            field: "-X/--method",
            message: format!("expected an HTTP method such as GET or POST, got {method:?}"),
        })?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                Error::InvalidConfig {
                    field: "-H/--header",
                    message: format!("invalid header name {name:?}; expected 'Name: value'"),
                }
            })?;
            let header_value =
                HeaderValue::from_str(value.trim()).map_err(|_| Error::InvalidConfig {
                    field: "-H/--header",
                    message: format!("invalid value for header {name:?}: {value:?}"),
                })?;
            map.append(header_name, header_value);
        }
        for forbidden in [
            http::header::CONTENT_LENGTH,
            http::header::TRANSFER_ENCODING,
        ] {
            if map.contains_key(&forbidden) {
                return Err(Error::InvalidConfig {
                    field: "-H/--header",
                    message: format!("{forbidden} is set by ballast from the body; remove it"),
                });
            }
        }

        let mut head = format!("{method} {path_and_query} HTTP/1.1\r\n");
        if !map.contains_key(http::header::HOST) {
            head.push_str(&format!("host: {}\r\n", target.authority));
        }
        if !map.contains_key(http::header::USER_AGENT) {
            head.push_str(concat!(
                "user-agent: ballast/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            ));
        }
        let mut bytes = head.into_bytes();
        for (name, value) in &map {
            bytes.extend_from_slice(name.as_str().as_bytes());
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(value.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || !matches!(method, Method::GET | Method::HEAD | Method::DELETE) {
            bytes.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(&body);

        let uri = target
            .url
            .parse::<http::Uri>()
            .map_err(|e| Error::InvalidUrl {
                input: target.url.clone(),
                reason: e.to_string(),
            })?;
        Ok(PreparedRequest {
            http1: Bytes::from(bytes),
            is_head: method == Method::HEAD,
            method,
            uri,
            headers: map,
            body: Bytes::from(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::parse("http://127.0.0.1:8080/x?y=1").unwrap()
    }

    #[test]
    fn encodes_http1_with_host_and_length() {
        let req = PreparedRequest::new(
            &target(),
            "/x?y=1",
            "POST",
            &[("Content-Type".into(), " application/json".into())],
            b"{}".to_vec(),
        )
        .unwrap();
        let text = std::str::from_utf8(&req.http1).unwrap();
        assert!(
            text.starts_with("POST /x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(
            text.contains("content-type: application/json\r\n"),
            "{text}"
        );
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"), "{text}");
    }

    #[test]
    fn rejects_bad_headers_and_methods() {
        let bad_name = PreparedRequest::new(
            &target(),
            "/",
            "GET",
            &[("Bad Name".into(), "v".into())],
            vec![],
        );
        assert!(bad_name.unwrap_err().to_string().contains("header name"));
        let bad_value = PreparedRequest::new(
            &target(),
            "/",
            "GET",
            &[("X".into(), "a\r\nb".into())],
            vec![],
        );
        assert!(bad_value.unwrap_err().to_string().contains("invalid value"));
        let bad_method = PreparedRequest::new(&target(), "/", "G ET", &[], vec![]);
        assert!(bad_method.unwrap_err().to_string().contains("HTTP method"));
        let length = PreparedRequest::new(
            &target(),
            "/",
            "GET",
            &[("Content-Length".into(), "3".into())],
            vec![],
        );
        assert!(length.unwrap_err().to_string().contains("content-length"));
    }
}
