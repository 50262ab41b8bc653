//! The running chaos server: the proxies by name, the optional HTTP API, and the methods
//! an embedding program (the `verify` engine) calls instead of the API.

use crate::api::{self, ApiHandle};
use crate::config::{ChaosConfig, ProxyConfig};
use crate::metrics::{self, ProxySample};
use crate::proxy::{Proxy, ProxyInfo, ProxyUpdate};
use crate::rng::fresh_seed;
use crate::toxic::Toxic;
use crate::Error;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The proxies by name; shared by [`ChaosServer`] and the API.
pub(crate) struct Registry {
    proxies: Mutex<BTreeMap<String, Arc<Proxy>>>,
    seed: u64,
}

impl Registry {
    async fn get(&self, name: &str) -> Result<Arc<Proxy>, Error> {
        self.proxies
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ProxyNotFound {
                name: name.to_string(),
            })
    }

    async fn start(&self, config: &ProxyConfig) -> Result<Arc<Proxy>, Error> {
        let proxy = Proxy::new(config, crate::rng::seed_for(self.seed, &config.name))?;
        proxy
            .launch(config.enabled, config.adaptive.clone())
            .await?;
        Ok(proxy)
    }

    pub(crate) async fn list(&self) -> Vec<ProxyInfo> {
        let proxies: Vec<Arc<Proxy>> = self.proxies.lock().await.values().cloned().collect();
        let mut out = Vec::with_capacity(proxies.len());
        for proxy in proxies {
            out.push(proxy.info().await);
        }
        out
    }

    pub(crate) async fn info(&self, name: &str) -> Result<ProxyInfo, Error> {
        Ok(self.get(name).await?.info().await)
    }

    pub(crate) async fn create(&self, config: ProxyConfig) -> Result<ProxyInfo, Error> {
        config.validate()?;
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&config.name) {
            return Err(Error::ProxyExists { name: config.name });
        }
        let proxy = self.start(&config).await?;
        proxies.insert(config.name.clone(), proxy.clone());
        drop(proxies);
        Ok(proxy.info().await)
    }

    /// Creates or replaces each proxy, in order; stops at the first error, keeping
    /// those done (as Toxiproxy does). Returns the proxies handled before any error.
    pub(crate) async fn populate(
        &self,
        configs: Vec<ProxyConfig>,
    ) -> (Vec<ProxyInfo>, Option<Error>) {
        let mut done = Vec::with_capacity(configs.len());
        for config in configs {
            let mut proxies = self.proxies.lock().await;
            let existing = proxies.get(&config.name).cloned();
            if let Some(existing) = &existing {
                if !existing.differs(&config).await {
                    drop(proxies);
                    done.push(existing.info().await);
                    continue;
                }
                existing.close().await;
                proxies.remove(&config.name);
            }
            match self.start(&config).await {
                Ok(proxy) => {
                    proxies.insert(config.name.clone(), proxy.clone());
                    drop(proxies);
                    done.push(proxy.info().await);
                }
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    pub(crate) async fn update(&self, name: &str, update: ProxyUpdate) -> Result<ProxyInfo, Error> {
        let proxy = self.get(name).await?;
        proxy.update(update).await?;
        Ok(proxy.info().await)
    }

    pub(crate) async fn remove(&self, name: &str) -> Result<(), Error> {
        let proxy = self
            .proxies
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| Error::ProxyNotFound {
                name: name.to_string(),
            })?;
        proxy.close().await;
        Ok(())
    }

    pub(crate) async fn reset(&self) -> Result<(), Error> {
        let proxies: Vec<Arc<Proxy>> = self.proxies.lock().await.values().cloned().collect();
        for proxy in proxies {
            proxy.reset().await?;
        }
        Ok(())
    }

    pub(crate) async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, Error> {
        Ok(self.get(proxy).await?.toxics().await)
    }

    pub(crate) async fn toxic(&self, proxy: &str, name: &str) -> Result<Toxic, Error> {
        self.get(proxy).await?.toxic(name).await
    }

    pub(crate) async fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, Error> {
        self.get(proxy).await?.add_toxic(toxic).await
    }

    pub(crate) async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Toxic, Error> {
        self.get(proxy).await?.update_toxic(name, patch).await
    }

    pub(crate) async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<Toxic, Error> {
        self.get(proxy).await?.remove_toxic(name).await
    }

    pub(crate) async fn metrics_text(&self) -> String {
        let proxies: Vec<Arc<Proxy>> = self.proxies.lock().await.values().cloned().collect();
        let mut samples = Vec::with_capacity(proxies.len());
        for proxy in &proxies {
            let (enabled, toxics_active, toxics) = proxy.toxic_sample().await;
            samples.push(ProxySample {
                name: &proxy.name,
                metrics: &proxy.metrics,
                toxics_active,
                enabled,
                toxics,
            });
        }
        metrics::render(&samples)
    }

    async fn close_all(&self) {
        let proxies: Vec<Arc<Proxy>> = std::mem::take(&mut *self.proxies.lock().await)
            .into_values()
            .collect();
        for proxy in proxies {
            proxy.close().await;
        }
    }
}

/// A running chaos server: proxies listening, the API (if configured) serving.
///
/// Every API operation is also a method here, for programs that embed the proxy. Dropping
/// the server without [`shutdown`](ChaosServer::shutdown) stops them too, a moment later:
/// the API and listeners as their runtime next runs, the connections as their relay
/// threads see the proxies go.
///
/// Connections are relayed on a pool of threads of the process's own, one per CPU, each
/// with a single-threaded runtime; the listeners, the API and the adaptive controllers run
/// on the caller's runtime.
pub struct ChaosServer {
    registry: Arc<Registry>,
    api: Option<ApiHandle>,
}

impl ChaosConfig {
    /// Checks the configuration, starts every proxy and the API, on the current tokio
    /// runtime. Nothing listens before this is called; on an error nothing stays open.
    pub async fn build(self) -> Result<ChaosServer, Error> {
        self.validate()?;
        let registry = Arc::new(Registry {
            proxies: Mutex::new(BTreeMap::new()),
            seed: self.seed.unwrap_or_else(fresh_seed),
        });
        let mut server = ChaosServer {
            registry: registry.clone(),
            api: None,
        };
        for config in self.proxies {
            if let Err(e) = registry.create(config).await {
                server.shutdown().await;
                return Err(e);
            }
        }
        if let Some(addr) = self.api {
            match api::start(addr, self.token, registry.clone()).await {
                Ok(handle) => server.api = Some(handle),
                Err(e) => {
                    server.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(server)
    }
}

impl ChaosServer {
    /// Where the HTTP API listens, if it was configured.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().map(ApiHandle::addr)
    }

    /// Every proxy, by name.
    pub async fn proxies(&self) -> Vec<ProxyInfo> {
        self.registry.list().await
    }

    /// One proxy.
    pub async fn proxy(&self, name: &str) -> Result<ProxyInfo, Error> {
        self.registry.info(name).await
    }

    /// Where a proxy listens (its bound address while enabled).
    pub async fn proxy_addr(&self, name: &str) -> Result<SocketAddr, Error> {
        let info = self.proxy(name).await?;
        info.listen_addr().ok_or_else(|| {
            Error::invalid(
                format!("proxies.{name}.listen"),
                "the proxy is not listening",
            )
        })
    }

    /// Creates and starts a proxy (`POST /proxies`).
    pub async fn add_proxy(&self, config: ProxyConfig) -> Result<ProxyInfo, Error> {
        self.registry.create(config).await
    }

    /// Changes a proxy (`PATCH /proxies/{name}`).
    pub async fn update_proxy(&self, name: &str, update: ProxyUpdate) -> Result<ProxyInfo, Error> {
        self.registry.update(name, update).await
    }

    /// Stops and removes a proxy, closing its connections (`DELETE /proxies/{name}`).
    pub async fn remove_proxy(&self, name: &str) -> Result<(), Error> {
        self.registry.remove(name).await
    }

    /// A proxy's toxics.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, Error> {
        self.registry.toxics(proxy).await
    }

    /// Adds a toxic; live connections take it up at once.
    pub async fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, Error> {
        self.registry.add_toxic(proxy, toxic).await
    }

    /// Updates a toxic with Toxiproxy's patch semantics (`{"attributes": {..},
    /// "toxicity": x}`; attributes not given keep their values).
    pub async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Toxic, Error> {
        self.registry.update_toxic(proxy, name, patch).await
    }

    /// Removes a toxic; live connections stop feeling it at once.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<Toxic, Error> {
        self.registry.remove_toxic(proxy, name).await
    }

    /// Every proxy enabled, every toxic and adaptive controller removed (`POST /reset`).
    pub async fn reset(&self) -> Result<(), Error> {
        self.registry.reset().await
    }

    /// The `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.registry.metrics_text().await
    }

    /// Stops the API and every proxy, closing all connections.
    pub async fn shutdown(mut self) {
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        self.registry.close_all().await;
    }
}
