//! An HTTP target: one parsed, validated `http://` or `https://` URL (the `url` crate's
//! parser, so every engine reads a URL the same way).

use crate::Error;

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
        let parsed = parse_http_url(url)?;
        let fail = |reason: &str| Error::InvalidUrl {
            input: url.to_string(),
            reason: reason.to_string(),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(fail(
                "user info in URLs is not supported; send credentials with -H 'Authorization: ...'",
            ));
        }
        let tls = parsed.scheme() == "https";
        let host = match parsed.host() {
            Some(url::Host::Ipv6(v6)) => v6.to_string(),
            Some(host) => host.to_string(),
            None => return Err(fail("missing host; expected e.g. http://127.0.0.1:8080/")),
        };
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        if port == 0 {
            return Err(fail("port 0 cannot be connected to"));
        }
        let authority = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        let mut path_and_query = parsed.path().to_string();
        if let Some(query) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        if path_and_query.is_empty() {
            path_and_query.push('/');
        }
        Ok(Target {
            url: url.to_string(),
            tls,
            host,
            port,
            authority,
            path_and_query,
        })
    }
}

/// Parses an absolute `http://` or `https://` URL with a host, with an error that says
/// what was expected. Every URL ballast is given goes through here.
pub fn parse_http_url(text: &str) -> Result<url::Url, Error> {
    let fail = |reason: String| Error::InvalidUrl {
        input: text.to_string(),
        reason,
    };
    let parsed = url::Url::parse(text).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => fail(
            "not a valid URL (missing scheme); expected e.g. http://127.0.0.1:8080/path".into(),
        ),
        url::ParseError::EmptyHost => {
            fail("missing host: not a valid URL; expected e.g. http://127.0.0.1:8080/".into())
        }
        other => fail(format!(
            "not a valid URL ({other}); expected e.g. http://127.0.0.1:8080/path"
        )),
    })?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(fail(format!(
                "scheme \"{other}\" is not supported; expected http:// or https://"
            )))
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(fail(
            "missing host: not a valid URL; expected e.g. http://127.0.0.1:8080/".into(),
        ));
    }
    Ok(parsed)
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
