//! The reference service of `ballast demo`: a small shop that degrades predictably.
//!
//! - [`InventoryConfig`] starts the dependency: stock levels over HTTP.
//! - [`ShopConfig`] starts the shop: `GET /v1/products/{id}`, `POST /v1/orders`,
//!   `GET /healthz`, `GET /metrics`. Its stock comes from the inventory service or, with
//!   `database`, from a table in a real PostgreSQL ([`STOCK_TABLE`], created and filled
//!   when missing); with `redis`, read through a real Redis shared by every shop instance
//!   (a failing Redis is skipped, not fatal). Every call to the dependency goes through
//!   ballast-tower's fallback cache and adaptive circuit breaker (with a call timeout);
//!   the routes go through its concurrency limit and standard HTTP metrics; a runtime probe
//!   watches tasks and memory. `disable_fallback` leaves the cache out, to show that the
//!   demo's contract notices. With `admin_token`, ballast-tower's admin endpoint is served
//!   under `/admin` (force the limit, the fallback cache, the `inventory` breaker).
//!
//! ```
//! use ballast_shop::{InventoryConfig, ShopConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let inventory = InventoryConfig::default().build().await?;
//! let shop = ShopConfig { inventory: inventory.url(), ..Default::default() }.build().await?;
//! let client = ballast_http::ClientConfig::default().build()?;
//! let page = client.get_text(&format!("{}v1/products/7", shop.url()).parse()?).await?;
//! assert!(page.contains("\"stock\""));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod inventory;
mod shop;
mod stock;

pub use inventory::{Inventory, InventoryConfig};
pub use shop::{Shop, ShopConfig};
pub use stock::{check_dependencies, STOCK_TABLE};

/// Why a demo service could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A layer refused its settings.
    #[error("{0}")]
    Layer(String),
    /// A dependency (PostgreSQL, Redis) is misconfigured or cannot be reached at start.
    #[error("{what}: {message}")]
    Dependency {
        /// Which one, e.g. `postgres at postgres://127.0.0.1:5432/test`.
        what: String,
        /// Why.
        message: String,
    },
}

/// Serves `router` on `listener` until the returned handle is dropped or stopped.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Errors end the task; the owner notices when its requests fail.
        let _ = axum::serve(listener, router).await;
    })
}

pub(crate) async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    Ok((listener, local))
}
