//! The server as data, and the checks `build()` runs before anything binds.

use crate::error::Error;
use crate::server::DnsServer;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A DNS server (contract key `dns.servers[]`).
///
/// ```
/// let config: ballast_dns::DnsConfig = serde_json::from_str(
///     r#"{"listen": "127.0.0.1:0", "records": {"db.shop.test": ["127.0.0.1"]}}"#,
/// )?;
/// assert_eq!(config.ttl, 5);
/// config.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// UDP and TCP on this address; port 0 picks a free port (both transports get the
    /// same one: see [`DnsServer::local_addr`]). Must be loopback unless `allow_remote`.
    pub listen: SocketAddr,
    /// Names answered here (A and AAAA), matched exactly, case-insensitively, with or
    /// without the trailing dot. A name with an empty list exists but has no address
    /// (NOERROR, no answer). Default: none.
    #[serde(default)]
    pub records: BTreeMap<String, Vec<IpAddr>>,
    /// Where names that `records` does not hold are forwarded (UDP, then TCP when the
    /// answer is truncated). Without one they are answered NXDOMAIN. Must be loopback
    /// unless `allow_remote`. Default: none.
    #[serde(default)]
    pub upstream: Option<SocketAddr>,
    /// TTL of every answer made here (records and wrong-address faults), seconds.
    /// Default: 5.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// Seed of the per-query coin that fault shares are drawn with: the same seed and the
    /// same order of queries give the same faulted queries. Default: 0.
    #[serde(default)]
    pub seed: u64,
    /// Allow `listen` and `upstream` off loopback. Default: false.
    #[serde(default)]
    pub allow_remote: bool,
    /// How long a forwarded query may take before it is answered SERVFAIL. Default: 2s.
    #[serde(
        default = "default_upstream_timeout",
        with = "ballast_core::duration_text"
    )]
    pub upstream_timeout: Duration,
    /// Queries being worked on at once (delayed and forwarded ones included); a query
    /// over the cap is dropped and counted in [`DnsStats::shed`](crate::DnsStats::shed).
    /// Default: 1024.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

fn default_ttl() -> u32 {
    5
}

fn default_upstream_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_max_in_flight() -> usize {
    1024
}

/// Largest `max_in_flight`: each query in flight holds at most one 64 KiB message.
pub const MAX_IN_FLIGHT: usize = 65_536;

impl Default for DnsConfig {
    /// `127.0.0.1:0`, no records, no upstream, every other field at its default.
    fn default() -> Self {
        DnsConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            records: BTreeMap::new(),
            upstream: None,
            ttl: default_ttl(),
            seed: 0,
            allow_remote: false,
            upstream_timeout: default_upstream_timeout(),
            max_in_flight: default_max_in_flight(),
        }
    }
}

impl DnsConfig {
    /// A server on `listen` with no records, no upstream and defaults elsewhere.
    pub fn new(listen: SocketAddr) -> Self {
        DnsConfig {
            listen,
            ..Default::default()
        }
    }

    /// Adds (or replaces) the addresses of one name.
    pub fn record(mut self, name: impl Into<String>, addresses: Vec<IpAddr>) -> Self {
        self.records.insert(name.into(), addresses);
        self
    }

    /// Checks every field; [`build`](Self::build) calls it first.
    pub fn validate(&self) -> Result<(), Error> {
        self.normalized_records().map(|_| ())?;
        if !self.allow_remote && !self.listen.ip().is_loopback() {
            return Err(Error::NotLoopback {
                field: "listen",
                addr: self.listen,
            });
        }
        if let Some(upstream) = self.upstream {
            if !self.allow_remote && !upstream.ip().is_loopback() {
                return Err(Error::NotLoopback {
                    field: "upstream",
                    addr: upstream,
                });
            }
            if upstream.port() == 0 {
                return invalid("upstream", format!("{upstream} has no port"));
            }
            if upstream == self.listen {
                return invalid(
                    "upstream",
                    format!("{upstream} is this server's own address (it would forward to itself)"),
                );
            }
        }
        // RFC 2181 §8: a TTL is at most 2^31 - 1.
        if self.ttl > i32::MAX as u32 {
            return invalid("ttl", format!("{} is over 2147483647 seconds", self.ttl));
        }
        if self.upstream_timeout.is_zero() || self.upstream_timeout > Duration::from_secs(60) {
            return invalid(
                "upstream_timeout",
                format!(
                    "{} is out of range: expected more than 0 and at most 60s",
                    ballast_core::format_duration(self.upstream_timeout)
                ),
            );
        }
        if self.max_in_flight == 0 || self.max_in_flight > MAX_IN_FLIGHT {
            return invalid(
                "max_in_flight",
                format!(
                    "{} is out of range: expected 1 to {MAX_IN_FLIGHT}",
                    self.max_in_flight
                ),
            );
        }
        Ok(())
    }

    /// Validates, binds UDP and TCP on `listen` and starts serving.
    pub async fn build(&self) -> Result<DnsServer, Error> {
        self.validate()?;
        DnsServer::start(self, self.normalized_records()?).await
    }

    /// The records keyed by [`normalize_name`], two spellings of one name refused.
    pub(crate) fn normalized_records(&self) -> Result<BTreeMap<String, Vec<IpAddr>>, Error> {
        let mut out: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        let mut spelled: BTreeMap<String, &str> = BTreeMap::new();
        for (name, addresses) in &self.records {
            let field = format!("records[{name:?}]");
            let key = normalize_name(name).map_err(|message| Error::InvalidConfig {
                field: field.clone(),
                message,
            })?;
            if let Some(first) = spelled.insert(key.clone(), name) {
                return invalid(
                    &field,
                    format!("{name:?} and {first:?} are the same name (names are case-insensitive, the trailing dot optional)"),
                );
            }
            out.insert(key, addresses.clone());
        }
        Ok(out)
    }
}

fn invalid<T>(field: &str, message: String) -> Result<T, Error> {
    Err(Error::InvalidConfig {
        field: field.to_string(),
        message,
    })
}

/// A name as it is compared: ASCII lower case, no trailing dot. Refuses what is not a
/// host name of letters, digits, `-` and `_` in dot-separated labels of 1 to 63
/// characters, 253 in all.
pub(crate) fn normalize_name(text: &str) -> Result<String, String> {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    if trimmed.is_empty() {
        return Err(format!(
            "{text:?} is not a name: expected labels like db.shop.test"
        ));
    }
    if trimmed.len() > 253 {
        return Err(format!(
            "{text:?} is {} characters long: a name has at most 253",
            trimmed.len()
        ));
    }
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(format!(
                "{text:?} has an empty label (two dots in a row, or a leading dot)"
            ));
        }
        if label.len() > 63 {
            return Err(format!(
                "{text:?} has a label of {} characters: a label has at most 63",
                label.len()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "{text:?} has {bad:?}: a name has letters, digits, '-' and '_' between its dots"
            ));
        }
    }
    Ok(trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_and_checked() {
        assert_eq!(normalize_name("DB.Shop.Test.").unwrap(), "db.shop.test");
        assert_eq!(normalize_name("_srv._tcp.x").unwrap(), "_srv._tcp.x");
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a b",
            "a.*",
            &"x".repeat(64),
            "é.test",
        ] {
            assert!(normalize_name(bad).is_err(), "{bad:?}");
        }
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62),
        ]
        .join(".");
        assert_eq!(long.len(), 254);
        assert!(normalize_name(&long).is_err());
        assert!(normalize_name(&long[1..]).is_ok());
    }

    #[test]
    fn two_spellings_of_one_name_are_refused() {
        let config = DnsConfig::default()
            .record("db.shop.test", vec![])
            .record("DB.shop.test.", vec![]);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("same name"), "{err}");
    }

    #[test]
    fn remote_addresses_need_allow_remote() {
        let mut config = DnsConfig::new("0.0.0.0:53".parse().unwrap());
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("listen: 0.0.0.0:53 is not a loopback address"),
            "{err}"
        );
        config.allow_remote = true;
        config.validate().unwrap();

        let mut config = DnsConfig {
            upstream: Some("192.0.2.1:53".parse().unwrap()),
            ..Default::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("upstream: 192.0.2.1:53 is not a loopback"),
            "{err}"
        );
        config.allow_remote = true;
        config.validate().unwrap();
        // IPv6 loopback is loopback.
        DnsConfig::new("[::1]:0".parse().unwrap())
            .validate()
            .unwrap();
    }

    #[test]
    fn ranges_are_checked() {
        let bad = [
            DnsConfig {
                max_in_flight: 0,
                ..Default::default()
            },
            DnsConfig {
                upstream_timeout: Duration::ZERO,
                ..Default::default()
            },
            DnsConfig {
                ttl: u32::MAX,
                ..Default::default()
            },
            DnsConfig {
                listen: "127.0.0.1:5300".parse().unwrap(),
                upstream: Some("127.0.0.1:5300".parse().unwrap()),
                ..Default::default()
            },
            DnsConfig {
                upstream: Some("127.0.0.1:0".parse().unwrap()),
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }

    #[test]
    fn parses_from_text_and_refuses_unknown_keys() {
        let config: DnsConfig = serde_json::from_str(
            r#"{"listen": "127.0.0.1:15353", "records": {"db.shop.test": ["127.0.0.1", "::1"]},
                "upstream": "127.0.0.1:15354", "ttl": 30, "seed": 7, "upstream_timeout": "500ms"}"#,
        )
        .unwrap();
        assert_eq!(config.ttl, 30);
        assert_eq!(config.upstream_timeout, Duration::from_millis(500));
        assert_eq!(config.records["db.shop.test"].len(), 2);
        let err = serde_json::from_str::<DnsConfig>(r#"{"listen": "127.0.0.1:0", "tll": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `tll`"), "{err}");
    }
}
