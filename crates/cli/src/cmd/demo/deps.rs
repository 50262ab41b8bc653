//! The demo's real dependencies (`--database`, `--redis`): where they are, and the URL the
//! shop uses instead, which points at the chaos proxy in front of them.

/// A dependency URL (`postgres://`, `redis://`), read by the `url` crate like every URL
/// ballast takes, with its address checked to be on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencyUrl {
    url: url::Url,
    /// The host as an IP literal or `localhost` (brackets kept for IPv6).
    host: String,
    port: u16,
}

impl DependencyUrl {
    /// Parses `url`, whose scheme must be one of `schemes`, and requires a loopback host:
    /// the demo sends load and faults, and those go only to this machine.
    pub fn parse(
        flag: &str,
        url: &str,
        schemes: &[&str],
        default_port: u16,
    ) -> Result<DependencyUrl, String> {
        let example = format!("{}://127.0.0.1:{default_port}/", schemes[0]);
        let parsed = match url::Url::parse(url) {
            Ok(parsed) => parsed,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Err(format!(
                    "{flag}: \"{url}\" is not a URL; expected e.g. {example}"
                ))
            }
            Err(url::ParseError::InvalidPort) => {
                return Err(format!(
                    "{flag}: {url}: the port is not a port number (1-65535)"
                ))
            }
            Err(e) => return Err(format!("{flag}: cannot read host and port from {url}: {e}")),
        };
        if !schemes.contains(&parsed.scheme()) {
            return Err(format!(
                "{flag}: scheme \"{}\" is not supported; expected {} (e.g. {example})",
                parsed.scheme(),
                schemes.join(" or ")
            ));
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv6(v6)) => format!("[{v6}]"),
            Some(host) if !host.to_string().is_empty() => host.to_string(),
            _ => return Err(format!("{flag}: cannot read host and port from {url}")),
        };
        let port = match parsed.port() {
            None => default_port,
            Some(0) => {
                return Err(format!(
                    "{flag}: {url}: port 0 is not a port number (1-65535)"
                ))
            }
            Some(p) => p,
        };
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(format!(
                "{flag}: host \"{host}\" is not on this machine; the demo sends load and faults \
                 only to loopback (127.0.0.0/8, ::1, localhost)"
            ));
        }
        Ok(DependencyUrl {
            url: parsed,
            host,
            port,
        })
    }

    /// Where the dependency listens, as a proxy upstream.
    pub fn upstream(&self) -> String {
        let host = if self.host == "localhost" {
            "127.0.0.1"
        } else {
            &self.host
        };
        format!("{host}:{}", self.port)
    }

    /// The same URL with the address replaced by `127.0.0.1:port`.
    pub fn via(&self, port: u16) -> String {
        let mut url = self.url.clone();
        // Both succeed on a URL that has a host, which parse() made sure of.
        let _ = url.set_host(Some("127.0.0.1"));
        let _ = url.set_port(Some(port));
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: &[&str] = &["postgres", "postgresql"];

    #[test]
    fn rewrites_the_address_and_keeps_the_rest() {
        let url = DependencyUrl::parse(
            "--database",
            "postgres://me:s3cr@t@localhost:5433/shop?sslmode=disable",
            PG,
            5432,
        )
        .unwrap();
        assert_eq!(url.upstream(), "127.0.0.1:5433");
        assert_eq!(
            url.via(18401),
            // The second @ belongs to the password: written encoded, as the clients decode it.
            "postgres://me:s3cr%40t@127.0.0.1:18401/shop?sslmode=disable"
        );
        let redis = DependencyUrl::parse("--redis", "redis://127.0.0.1", &["redis"], 6379).unwrap();
        assert_eq!(redis.upstream(), "127.0.0.1:6379");
        assert_eq!(redis.via(9), "redis://127.0.0.1:9");
        let v6 = DependencyUrl::parse("--redis", "redis://[::1]:7000/2", &["redis"], 6379).unwrap();
        assert_eq!(v6.upstream(), "[::1]:7000");
        assert_eq!(v6.via(9), "redis://127.0.0.1:9/2");
    }

    #[test]
    fn refuses_what_is_not_a_loopback_url() {
        let err = |url: &str| DependencyUrl::parse("--database", url, PG, 5432).unwrap_err();
        assert!(err("postgres://db.example.com/x").contains("not on this machine"));
        assert!(err("postgres://10.0.0.1:5432/x").contains("not on this machine"));
        assert!(err("host=127.0.0.1 user=me").contains("not a URL"));
        assert!(err("mysql://127.0.0.1/x").contains("postgres or postgresql"));
        assert!(err("postgres://127.0.0.1:99999/x").contains("not a port number"));
        assert!(err("postgres://127.0.0.1:0/x").contains("not a port number"));
        assert!(err("postgres:///x").contains("cannot read host"));
        assert!(err("postgres://[::1/x").contains("cannot read host"));
    }
}
