//! The demo's real dependencies (`--database`, `--redis`): where they are, and the URL the
//! shop uses instead, which points at the chaos proxy in front of them.

/// A dependency URL split around its address: `scheme://[user[:pass]@]` + host:port + rest.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencyUrl {
    prefix: String,
    host: String,
    port: u16,
    rest: String,
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
        let Some((scheme, after)) = url.split_once("://") else {
            return Err(format!(
                "{flag}: {url:?} is not a URL; expected e.g. {example}"
            ));
        };
        if !schemes.contains(&scheme) {
            return Err(format!(
                "{flag}: scheme {scheme:?} is not supported; expected {} (e.g. {example})",
                schemes.join(" or ")
            ));
        }
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let (userinfo, address) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let (host, port) = split_host_port(address)
            .ok_or_else(|| format!("{flag}: cannot read host and port from {address:?}"))?;
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{flag}: port {p:?} is not a port number (1-65535)"))?,
        };
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(format!(
                "{flag}: host {host:?} is not on this machine; the demo sends load and faults \
                 only to loopback (127.0.0.0/8, ::1, localhost)"
            ));
        }
        Ok(DependencyUrl {
            prefix: format!("{scheme}://{userinfo}"),
            host: host.to_string(),
            port,
            rest: rest.to_string(),
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
        format!("{}127.0.0.1:{port}{}", self.prefix, self.rest)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(address: &str) -> Option<(&str, Option<&str>)> {
    if address.is_empty() {
        return None;
    }
    if address.starts_with('[') {
        let close = address.find(']')?;
        let host = &address[..=close];
        return match &address[close + 1..] {
            "" => Some((host, None)),
            tail => Some((host, Some(tail.strip_prefix(':')?))),
        };
    }
    match address.split_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host, Some(port))),
        Some(_) => None,
        None => Some((address, None)),
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
            "postgres://me:s3cr@t@127.0.0.1:18401/shop?sslmode=disable"
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
