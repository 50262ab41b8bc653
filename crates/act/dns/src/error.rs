use std::net::SocketAddr;
use thiserror::Error;

/// Everything the DNS server can refuse or fail at.
#[derive(Debug, Error)]
pub enum Error {
    /// A setting is out of range or contradicts another.
    #[error("{field}: {message}")]
    InvalidConfig {
        /// The setting, as the config names it (e.g. `records["db..test"]`).
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// An address is not on loopback and `allow_remote` is off.
    #[error(
        "{field}: {addr} is not a loopback address; this server is meant for tests on this \
         machine (set allow_remote: true to use other addresses)"
    )]
    NotLoopback {
        /// `listen` or `upstream`.
        field: &'static str,
        /// The address given.
        addr: SocketAddr,
    },
    /// A fault handed to [`DnsServer::set_faults`](crate::DnsServer::set_faults) is invalid.
    #[error("faults[{index}] (names {pattern:?}): {message}")]
    InvalidFault {
        /// Its place in the list.
        index: usize,
        /// Its name pattern, as given.
        pattern: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A socket could not be bound.
    #[error("cannot listen for DNS on {addr} ({transport}): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// `udp` or `tcp`.
        transport: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
