//! A small HTTP service on loopback that ballast's demo and tests put under load.
//!
//! It speaks HTTP/1.1 and HTTP/2 (cleartext or TLS with a self-signed certificate) and
//! misbehaves on request, in the ways a load tester must measure correctly: a fixed
//! service time, a one-time stall (the classic coordinated-omission trap), a share of
//! 503s, connections reset without a response, and a listener that stops accepting.
//!
//! ```
//! use ballast_demo::DemoServerConfig;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = DemoServerConfig { latency: Duration::from_millis(1), ..Default::default() }
//!     .build()
//!     .await?;
//! assert!(server.addr().ip().is_loopback());
//! assert_eq!(server.requests_served(), 0);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod handler;
mod server;

pub use server::{DemoServer, DemoServerConfig, Error, SlowAbove, Stall};
