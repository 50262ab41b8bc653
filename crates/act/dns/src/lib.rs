//! ballast's DNS server with faults (*act*): answers from configured records on loopback,
//! forwards the rest to an optional upstream, and fails chosen names on purpose.
//!
//! - [`DnsConfig`] is a server as data: `listen` (UDP and TCP, loopback unless
//!   `allow_remote`), `records`, `upstream`, `ttl`, `seed`; [`DnsConfig::build`] binds
//!   and returns a running [`DnsServer`].
//! - [`DnsServer::set_faults`] replaces the faults at run time: each [`DnsFault`] is a
//!   name pattern (`*`, `*.shop.test`, `db.shop.test`), a [`DnsAction`] (NXDOMAIN,
//!   SERVFAIL, REFUSED, a wrong address, a delay, no answer) and the share of matching
//!   queries it hits. The first matching fault whose coin comes up applies; the coins come
//!   from the seed, so a run can be repeated.
//! - [`DnsServer::stats`] counts queries by what was done with them ([`DnsStats`]).
//! - [`respond`] is the server's decision on one message without sockets (the code every
//!   query goes through): an answer's bytes, nothing, a forward or a delay ([`Response`]).
//!
//! Resources are bounded: queries in flight (`max_in_flight`), TCP connections
//! ([`MAX_TCP_CONNECTIONS`]) and their pipelines, delays ([`MAX_DELAY`]), idle TCP
//! connections (closed after 10 s) and upstream waits (`upstream_timeout`).
//!
//! ```
//! use ballast_dns::{DnsAction, DnsConfig, DnsFault};
//! use hickory_proto::op::{Message, Query, ResponseCode};
//! use hickory_proto::rr::{Name, RecordType};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = DnsConfig::default()
//!     .record("db.shop.test", vec!["127.0.0.1".parse()?])
//!     .build()
//!     .await?;
//!
//! // A plain UDP query; any resolver pointed at `server.local_addr()` does the same.
//! let ask = || async {
//!     let mut query = Message::query();
//!     query.add_query(Query::query(Name::from_ascii("DB.shop.test.")?, RecordType::A));
//!     let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
//!     socket.send_to(&query.to_vec()?, server.local_addr()).await?;
//!     let mut buf = [0u8; 512];
//!     let n = socket.recv(&mut buf).await?;
//!     Ok::<_, Box<dyn std::error::Error>>(Message::from_vec(&buf[..n])?)
//! };
//! assert_eq!(ask().await?.answers.len(), 1);
//!
//! server.set_faults(vec![DnsFault::new("*.shop.test", DnsAction::ServFail)])?;
//! assert_eq!(ask().await?.response_code, ResponseCode::ServFail);
//! assert_eq!(server.stats().servfail, 1);
//!
//! server.clear_faults();
//! assert_eq!(ask().await?.response_code, ResponseCode::NoError);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod config;
mod error;
mod fault;
mod handler;
mod server;
mod stats;
mod upstream;

pub use config::{DnsConfig, MAX_IN_FLIGHT};
pub use error::Error;
pub use fault::{DnsAction, DnsFault, MAX_DELAY};
pub use handler::{respond, Response, Transport};
pub use server::{DnsServer, MAX_TCP_CONNECTIONS};
pub use stats::DnsStats;
