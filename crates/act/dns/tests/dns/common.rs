//! A stub resolver pointed at one server, and what a lookup came to.

use ballast_dns::DnsConfig;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How the resolver reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// UDP, and TCP when an answer comes truncated (as resolvers do).
    Udp,
    /// TCP only.
    Tcp,
}

/// No cache, no hosts file, one server, 1 s per lookup.
pub fn resolver(server: SocketAddr, via: Via) -> TokioResolver {
    let mut name_server = match via {
        Via::Udp => NameServerConfig::udp_and_tcp(server.ip()),
        Via::Tcp => NameServerConfig::tcp(server.ip()),
    };
    for connection in &mut name_server.connections {
        connection.port = server.port();
    }
    let config = ResolverConfig::from_name_servers(vec![name_server]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.timeout = Duration::from_secs(1);
    // One try: every failure reaches the test (RetryDnsHandle retries `attempts` more times).
    options.attempts = 0;
    builder.build().expect("resolver")
}

/// What one lookup came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The addresses answered (none: NOERROR without an answer).
    Addresses(Vec<IpAddr>),
    /// The server answered this error code.
    Code(ResponseCode),
    /// No answer in time.
    NoAnswer,
    /// Anything else, as text.
    Other(String),
}

impl Outcome {
    pub fn addresses(texts: &[&str]) -> Outcome {
        Outcome::Addresses(texts.iter().map(|t| t.parse().unwrap()).collect())
    }
}

/// Asks for `name`'s records of `kind` (A or AAAA); `name` should end with a dot, so no
/// search domain is tried.
pub async fn ask(resolver: &TokioResolver, name: &str, kind: RecordType) -> Outcome {
    match resolver.lookup(name, kind).await {
        Ok(lookup) => Outcome::Addresses(
            lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })
                .collect(),
        ),
        Err(NetError::Dns(DnsError::ResponseCode(code))) => Outcome::Code(code),
        Err(NetError::Dns(DnsError::NoRecordsFound(none))) => match none.response_code {
            ResponseCode::NoError => Outcome::Addresses(vec![]),
            code => Outcome::Code(code),
        },
        Err(NetError::Timeout) => Outcome::NoAnswer,
        Err(e) => Outcome::Other(e.to_string()),
    }
}

pub async fn ask_a(resolver: &TokioResolver, name: &str) -> Outcome {
    ask(resolver, name, RecordType::A).await
}

/// The shop's records: `db.shop.test` (IPv4 and IPv6), `cache.shop.test`, and
/// `empty.shop.test` with no address.
pub fn shop() -> DnsConfig {
    DnsConfig::default()
        .record(
            "db.shop.test",
            vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        )
        .record("cache.shop.test.", vec!["127.0.0.2".parse().unwrap()])
        .record("empty.shop.test", vec![])
}

/// Every decoded query is counted once by outcome.
pub fn assert_outcomes_add_up(stats: &ballast_dns::DnsStats) {
    let outcomes = stats.answered
        + stats.forwarded
        + stats.nxdomain
        + stats.servfail
        + stats.refused
        + stats.wrong_address
        + stats.dropped;
    assert_eq!(stats.queries, outcomes, "{stats:?}");
}
