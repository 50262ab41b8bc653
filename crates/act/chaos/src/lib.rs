//! ballast's fault-injection proxy (*act*): a TCP proxy per dependency with
//! Toxiproxy's toxics and HTTP API, HTTP-aware toxics, and a chaos level that follows
//! the traffic.
//!
//! - [`ChaosConfig`] is a server as data (API address, token, [`ProxyConfig`]s with their
//!   starting [`Toxic`]s and optional [`AdaptiveConfig`]); [`ChaosConfig::build`] starts
//!   it and returns a running [`ChaosServer`].
//! - [`ChaosServer`] adds and removes proxies and toxics programmatically (what the
//!   Toxiproxy-compatible HTTP API does too), renders `/metrics`, and shuts down.
//! - Toxics ([`ToxicKind`]): Toxiproxy's `latency`, `bandwidth`, `slow_close`, `timeout`,
//!   `reset_peer`, `slicer`, `limit_data`, `noop`, with `toxicity` and `stream`; plus
//!   `http_delay` and `http_abort`, which act on whole HTTP/1.1 requests matched by
//!   method, path prefix and headers. Changes reach live connections without dropping
//!   them.
//! - [`ApiClient`] talks to a running server (ours or Toxiproxy's).
//!
//! Connections with no toxic on them take a plain relay path (one task, no buffer held
//! while idle); the first toxic moves them, mid-stream, onto the toxic path.
//!
//! ```
//! use ballast_chaos::{ChaosConfig, ProxyConfig, Toxic, ToxicKind, Latency};
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An upstream that answers "pong" to anything.
//! let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let upstream_addr = upstream.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut socket, _)) = upstream.accept().await {
//!         let mut buf = [0u8; 4];
//!         if socket.read_exact(&mut buf).await.is_ok() {
//!             let _ = socket.write_all(b"pong").await;
//!         }
//!     }
//! });
//!
//! let config = ChaosConfig {
//!     proxies: vec![ProxyConfig::new("echo", "127.0.0.1:0", upstream_addr.to_string())],
//!     ..Default::default()
//! };
//! let server = config.build().await?;
//! let proxy = server.proxy_addr("echo").await?;
//!
//! // 30 ms on every answer, added while the proxy runs.
//! let latency = Latency { latency: Duration::from_millis(30), jitter: Duration::ZERO };
//! server.add_toxic("echo", Toxic::new(ToxicKind::Latency(latency))).await?;
//!
//! let started = std::time::Instant::now();
//! let mut client = tokio::net::TcpStream::connect(proxy).await?;
//! client.write_all(b"ping").await?;
//! let mut answer = [0u8; 4];
//! client.read_exact(&mut answer).await?;
//! assert_eq!(&answer, b"pong");
//! assert!(started.elapsed() >= Duration::from_millis(30));
//!
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod adaptive;
mod api;
mod client;
mod config;
mod conn;
mod error;
mod http;
mod metrics;
mod proxy;
mod rng;
mod server;
mod timer;
mod toxic;

pub use client::{proxy_from_json, ApiClient};
pub use config::{AdaptiveConfig, AdaptiveMode, ChaosConfig, ProxyConfig, Tier};
pub use error::Error;
pub use proxy::{ProxyInfo, ProxyUpdate};
pub use server::ChaosServer;
pub use toxic::{
    Bandwidth, HttpAbort, HttpDelay, Latency, LimitData, Noop, RequestMatch, ResetPeer, Slicer,
    SlowClose, Stream, Timeout, Toxic, ToxicKind,
};

/// The Toxiproxy API level `/version` reports.
pub const API_VERSION: &str = api::routes::VERSION;

/// Entry points for the fuzz targets in `fuzz/`: the parsers of outside input that are not
/// otherwise public. Not part of the stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// Routes an API request and runs its body through the same parsers and toxic-set
    /// operations the server uses, then through a connection's toxic pipeline, all
    /// without sockets. Returns the HTTP status the server would answer.
    pub fn api_request(method: &[u8], path: &str, body: &[u8]) -> u16 {
        crate::api::routes::dry_run(method, path, body)
    }

    /// Feeds bytes through the HTTP request and response framing of one connection.
    pub fn http_stream(client: &[u8], upstream: &[u8]) {
        crate::http::fuzz_stream(client, upstream);
    }
}
