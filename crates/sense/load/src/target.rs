//! The URL under load, checked once and turned into what the clients need.

use crate::Error;
use http::uri::{Scheme, Uri};

/// A parsed, validated `http://` or `https://` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as the user gave it.
    pub url: String,
    /// Whether to speak TLS.
    pub tls: bool,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// TCP port (explicit or the scheme's default).
    pub port: u16,
    /// `Host` header value: host plus the port when it is not the default.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

impl Target {
    /// Parses `url`, which must be absolute `http://` or `https://` with a host.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let fail = |reason: &str| Error::InvalidUrl {
            input: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.parse().map_err(|e| {
            fail(&format!(
                "not a valid URL ({e}); expected e.g. http://127.0.0.1:8080/path"
            ))
        })?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            Some(other) => {
                return Err(fail(&format!(
                    "scheme {other:?} is not supported; expected http:// or https://"
                )))
            }
            None => return Err(fail("missing scheme; expected http:// or https://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| fail("missing host; expected e.g. http://127.0.0.1:8080/"))?;
        if authority.as_str().contains('@') {
            return Err(fail(
                "user info in URLs is not supported; send credentials with -H 'Authorization: ...'",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(fail("missing host; expected e.g. http://127.0.0.1:8080/"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if port == 0 {
            return Err(fail("port 0 cannot be connected to"));
        }
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_string();
        Ok(Target {
            url: url.to_string(),
            tls,
            host: host.to_string(),
            port,
            authority: authority.as_str().to_string(),
            path_and_query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_http_and_https() {
        let t = Target::parse("http://127.0.0.1:8080/a?b=1").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 8080));
        assert_eq!(t.path_and_query, "/a?b=1");
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = Target::parse("https://localhost").unwrap();
        assert_eq!((t.tls, t.port, t.path_and_query.as_str()), (true, 443, "/"));
        let t = Target::parse("http://[::1]:9000/").unwrap();
        assert_eq!(t.host, "::1");
    }

    #[test]
    fn rejects_bad_urls_with_reasons() {
        for (bad, why) in [
            ("localhost:8080", "scheme"),
            ("ftp://x/", "not supported"),
            ("/just/a/path", "scheme"),
            ("http://", "valid URL"),
            ("http://u:p@h/", "user info"),
            ("http://h:0/", "port 0"),
            ("not a url", "valid URL"),
        ] {
            let err = Target::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = Target::parse(&s);
        }
    }
}
