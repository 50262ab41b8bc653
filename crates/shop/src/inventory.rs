//! The shop's dependency: stock levels, a few milliseconds away.

use crate::{bind, serve, Error};
use axum::extract::Path;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;

/// The inventory service.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    /// Address. Default: 127.0.0.1, any free port.
    pub bind: SocketAddr,
    /// Time spent per lookup. Default: 1 ms.
    pub latency: Duration,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            latency: Duration::from_millis(1),
        }
    }
}

/// A running inventory; stops when dropped.
pub struct Inventory {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl InventoryConfig {
    /// Binds and serves `GET /stock/{id}` → `{"id":…,"stock":…}`.
    pub async fn build(self) -> Result<Inventory, Error> {
        let (listener, addr) = bind(self.bind).await?;
        let latency = self.latency;
        let router = axum::Router::new().route(
            "/stock/{id}",
            get(move |Path(id): Path<u64>| async move {
                tokio::time::sleep(latency).await;
                // Deterministic stock so answers can be compared across runs.
                format!("{{\"id\":{id},\"stock\":{}}}", (id * 37) % 100)
            }),
        );
        Ok(Inventory {
            addr,
            task: serve(listener, router),
        })
    }
}

impl Inventory {
    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Inventory {
    fn drop(&mut self) {
        self.task.abort();
    }
}
