//! ballast's clients for every peer it reads or notifies (*sense*): a target's `/metrics`,
//! Prometheus' and VictoriaMetrics' query APIs, Alertmanager, a running chaos API.
//!
//! One [`Client`] does the HTTP for all of them: keep-alive pooling, rustls (HTTPS with
//! the public roots, a private CA file, or `insecure`), bearer or basic auth, a timeout per
//! attempt, a cap on the body it reads, and retries with exponential backoff for requests
//! that are safe to repeat (GET, or a request marked [`Request::repeatable`]). Every URL
//! is read by `ballast-spec`'s parser (the `url` crate).
//!
//! ```no_run
//! use ballast_http::{ClientConfig, PromConfig};
//!
//! # async fn example() -> Result<(), ballast_http::Error> {
//! let client = ClientConfig::default().build()?;
//! let page = client.get_text(&"http://127.0.0.1:8080/metrics".parse().unwrap()).await?;
//! let series = ballast_http::scrape::parse_exposition(&page).unwrap_or_default();
//! println!("{} series", series.len());
//!
//! let prometheus = PromConfig::new("http://127.0.0.1:9090").build()?;
//! for (series, value) in prometheus.query("up", None).await? {
//!     println!("{series} = {value}");
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod alertmanager;
mod client;
mod error;
pub mod prom;
pub mod scrape;

pub use client::{get_once, redact, Auth, Client, ClientConfig, Request, Response};
pub use error::Error;
pub use prom::{PromClient, PromConfig};
pub use url::Url;
