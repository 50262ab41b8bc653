//! One proxy: its listener and accept loop, its settings, its toxics, and the watch
//! channel through which every live connection sees toxic changes.

use crate::adaptive;
use crate::config::{check_host_port, AdaptiveConfig, AdaptiveMode, ProxyConfig, Tier};
use crate::conn::signal::Signals;
use crate::conn::{self, ConnContext};
use crate::metrics::ProxyMetrics;
use crate::toxic::set::{Chain, ToxicSet};
use crate::toxic::{HttpAbort, HttpDelay, Latency, ResetPeer, Toxic, ToxicKind};
use crate::Error;
use serde_json::{json, Value};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

/// Pending connections the kernel queues per listener.
const BACKLOG: u32 = 4096;

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyInfo {
    /// Name.
    pub name: String,
    /// The bound address while enabled (the configured one otherwise).
    pub listen: String,
    /// Where connections go.
    pub upstream: String,
    /// Accepting connections.
    pub enabled: bool,
    /// Every connection is parsed as HTTP/1.1.
    pub http: bool,
    /// Toxics, upstream ones first.
    pub toxics: Vec<Toxic>,
    /// Current adaptive chaos level, when the proxy has a controller.
    pub chaos_level: Option<u64>,
}

impl ProxyInfo {
    /// Toxiproxy's JSON shape; ballast's extra fields appear only when used.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics.iter().map(Toxic::to_json).collect::<Vec<_>>(),
        });
        if self.http {
            value["http"] = json!(true);
        }
        if let Some(level) = self.chaos_level {
            value["chaos_level"] = json!(level);
        }
        value
    }

    /// The listen address as a socket address, when it is one.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }
}

/// Changes to a proxy (`POST`/`PATCH /proxies/{name}`); `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyUpdate {
    /// New listen address (restarts the listener, dropping connections, as Toxiproxy does).
    pub listen: Option<String>,
    /// New upstream (drops connections too).
    pub upstream: Option<String>,
    /// Enable or disable ("down").
    pub enabled: Option<bool>,
    /// Parse connections as HTTP.
    pub http: Option<bool>,
    /// Replace (`Some(Some)`) or remove (`Some(None)`) the adaptive controller.
    pub adaptive: Option<Option<AdaptiveConfig>>,
}

struct State {
    listen: String,
    bound: Option<SocketAddr>,
    upstream: String,
    enabled: bool,
    http: bool,
    epoch: u64,
    toxics: ToxicSet,
    acceptor: Option<JoinHandle<()>>,
    adaptive: Option<(AdaptiveConfig, JoinHandle<()>)>,
}

pub(crate) struct Proxy {
    pub name: String,
    pub metrics: Arc<ProxyMetrics>,
    chain: watch::Sender<Arc<Chain>>,
    signals: Arc<Signals>,
    state: Mutex<State>,
}

impl Drop for Proxy {
    /// Connections live on the relay threads, not on the runtime that owns the proxy, so
    /// they would outlive a dropped proxy: end them as "down" does.
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Some(acceptor) = state.acceptor.take() {
            acceptor.abort();
        }
        if let Some((_, task)) = state.adaptive.take() {
            task.abort();
        }
        state.epoch += 1;
        self.chain
            .send_replace(Arc::new(state.toxics.chain(state.epoch, state.http)));
        self.signals.notify();
    }
}

impl Proxy {
    /// The proxy, not yet listening.
    pub(crate) fn new(config: &ProxyConfig, seed: u64) -> Result<Arc<Proxy>, Error> {
        config.validate()?;
        let mut toxics = ToxicSet::new(&config.name, seed);
        for toxic in &config.toxics {
            toxics.add(toxic.clone())?;
        }
        let listen = if config.listen.is_empty() {
            "127.0.0.1:0".to_string()
        } else {
            config.listen.clone()
        };
        let (chain, _) = watch::channel(Arc::new(toxics.chain(0, config.http)));
        Ok(Arc::new(Proxy {
            name: config.name.clone(),
            metrics: Arc::default(),
            chain,
            signals: Arc::default(),
            state: Mutex::new(State {
                listen,
                bound: None,
                upstream: config.upstream.clone(),
                enabled: false,
                http: config.http,
                epoch: 0,
                toxics,
                acceptor: None,
                adaptive: None,
            }),
        }))
    }

    /// Starts listening (when `enabled`) and the adaptive controller (when configured).
    pub(crate) async fn launch(
        self: &Arc<Self>,
        enabled: bool,
        adaptive: Option<AdaptiveConfig>,
    ) -> Result<(), Error> {
        let mut state = self.state.lock().await;
        if enabled {
            self.start(&mut state)?;
        }
        if let Some(config) = adaptive {
            self.set_adaptive(&mut state, Some(config));
        }
        Ok(())
    }

    fn publish(&self, state: &State) {
        self.chain
            .send_replace(Arc::new(state.toxics.chain(state.epoch, state.http)));
        self.signals.notify();
    }

    fn start(&self, state: &mut State) -> Result<(), Error> {
        if state.enabled {
            return Ok(());
        }
        let listener = bind(&state.listen)?;
        // The relay threads start with the first proxy, not the first connection: their
        // runtimes' descriptors are then part of what an idle proxy holds.
        conn::pool::RelayPool::global();
        state.bound = listener.local_addr().ok();
        // As Toxiproxy does: from now on the proxy listens where it is, so a restart (down,
        // then up) gets the same port back even when port 0 was asked for.
        if let Some(bound) = state.bound {
            state.listen = bound.to_string();
        }
        let context = Arc::new(ConnContext {
            upstream: state.upstream.clone(),
            metrics: self.metrics.clone(),
            signals: self.signals.clone(),
        });
        let chain = self.chain.subscribe();
        state.acceptor = Some(tokio::spawn(accept_loop(listener, chain, context)));
        state.enabled = true;
        tracing::info!(proxy = %self.name, listen = ?state.bound, upstream = %state.upstream, "proxy started");
        Ok(())
    }

    /// Stops accepting and closes every connection (Toxiproxy's "down").
    async fn stop(&self, state: &mut State) {
        if let Some(acceptor) = state.acceptor.take() {
            acceptor.abort();
            // Awaiting the aborted task drops its listener, freeing the port now.
            let _ = acceptor.await;
        }
        if state.enabled {
            state.enabled = false;
            state.epoch += 1;
            self.publish(state);
            tracing::info!(proxy = %self.name, "proxy stopped");
        }
    }

    /// Stops everything, for removal or server shutdown.
    pub(crate) async fn close(&self) {
        let mut state = self.state.lock().await;
        if let Some((_, task)) = state.adaptive.take() {
            task.abort();
        }
        self.stop(&mut state).await;
    }

    pub(crate) async fn info(&self) -> ProxyInfo {
        let state = self.state.lock().await;
        let level = ProxyMetrics::get(&self.metrics.chaos_level);
        ProxyInfo {
            name: self.name.clone(),
            listen: match (state.enabled, state.bound) {
                (true, Some(addr)) => addr.to_string(),
                _ => state.listen.clone(),
            },
            upstream: state.upstream.clone(),
            enabled: state.enabled,
            http: state.http,
            toxics: state.toxics.list(),
            chaos_level: state.adaptive.as_ref().map(|_| level),
        }
    }

    /// Whether `config` names another listen address or upstream (then `/populate`
    /// replaces the proxy; otherwise it leaves it alone).
    pub(crate) async fn differs(&self, config: &ProxyConfig) -> bool {
        let state = self.state.lock().await;
        let current = state.bound.or_else(|| resolve(&state.listen).ok());
        let wanted = resolve(&config.listen).ok();
        current != wanted || wanted.is_none() || state.upstream != config.upstream
    }

    pub(crate) async fn update(self: &Arc<Self>, update: ProxyUpdate) -> Result<(), Error> {
        if let Some(upstream) = &update.upstream {
            check_host_port("upstream", upstream)?;
        }
        if let Some(Some(adaptive)) = &update.adaptive {
            adaptive.validate()?;
        }
        let mut state = self.state.lock().await;
        let listen = update
            .listen
            .filter(|l| !l.is_empty() && *l != state.listen);
        let moved = listen
            .as_deref()
            .is_some_and(|l| resolve(l).ok() != state.bound)
            || update
                .upstream
                .as_ref()
                .is_some_and(|u| *u != state.upstream);
        let was_enabled = state.enabled;
        if moved {
            self.stop(&mut state).await;
            if let Some(listen) = listen {
                state.listen = listen;
            }
            if let Some(upstream) = update.upstream {
                state.upstream = upstream;
            }
        }
        if let Some(http) = update.http {
            state.http = http;
            self.publish(&state);
        }
        match update.enabled.unwrap_or(was_enabled) {
            true => self.start(&mut state)?,
            false => self.stop(&mut state).await,
        }
        if let Some(adaptive) = update.adaptive {
            self.set_adaptive(&mut state, adaptive);
        }
        Ok(())
    }

    /// `/reset` for this proxy: enabled, no toxics, no adaptive controller.
    pub(crate) async fn reset(self: &Arc<Self>) -> Result<(), Error> {
        let mut state = self.state.lock().await;
        self.set_adaptive(&mut state, None);
        state.toxics.clear();
        self.publish(&state);
        self.start(&mut state)
    }

    fn set_adaptive(self: &Arc<Self>, state: &mut State, config: Option<AdaptiveConfig>) {
        if let Some((old, task)) = state.adaptive.take() {
            task.abort();
            let mode = old.mode.unwrap_or(default_mode(state.http));
            for name in adaptive_names(mode) {
                let _ = state.toxics.remove(name);
            }
            self.metrics
                .chaos_level
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(config) = config {
            let mode = config.mode.unwrap_or(default_mode(state.http));
            let task = adaptive::spawn(Arc::downgrade(self), config.clone(), mode);
            state.adaptive = Some((config, task));
        }
        self.publish(state);
    }

    /// Applies one tier of the adaptive controller's faults.
    pub(crate) async fn apply_tier(&self, mode: AdaptiveMode, tier: Tier, status: u16) {
        let mut state = self.state.lock().await;
        if state.adaptive.is_none() {
            return;
        }
        let [delay_name, failure_name] = adaptive_names(mode);
        let (delay, failure) = match mode {
            AdaptiveMode::Http => (
                ToxicKind::HttpDelay(HttpDelay {
                    delay: tier.delay,
                    ..Default::default()
                }),
                ToxicKind::HttpAbort(HttpAbort {
                    status,
                    ..Default::default()
                }),
            ),
            AdaptiveMode::Tcp => (
                ToxicKind::Latency(Latency {
                    latency: tier.delay,
                    jitter: Duration::ZERO,
                }),
                ToxicKind::ResetPeer(ResetPeer {
                    timeout: Duration::ZERO,
                }),
            ),
        };
        for (name, kind, toxicity) in [
            (delay_name, delay, 1.0),
            (failure_name, failure, tier.failure_ratio),
        ] {
            let mut toxic = Toxic::new(kind);
            toxic.name = name.to_string();
            toxic.toxicity = toxicity;
            state.toxics.upsert(toxic);
        }
        self.publish(&state);
    }

    pub(crate) async fn toxics(&self) -> Vec<Toxic> {
        self.state.lock().await.toxics.list()
    }

    pub(crate) async fn toxic(&self, name: &str) -> Result<Toxic, Error> {
        self.state.lock().await.toxics.get(name)
    }

    pub(crate) async fn add_toxic(&self, toxic: Toxic) -> Result<Toxic, Error> {
        let mut state = self.state.lock().await;
        let toxic = state.toxics.add(toxic)?;
        self.publish(&state);
        Ok(toxic)
    }

    pub(crate) async fn update_toxic(&self, name: &str, patch: &Value) -> Result<Toxic, Error> {
        let mut state = self.state.lock().await;
        let toxic = state.toxics.update(name, patch)?;
        self.publish(&state);
        Ok(toxic)
    }

    pub(crate) async fn remove_toxic(&self, name: &str) -> Result<Toxic, Error> {
        let mut state = self.state.lock().await;
        let toxic = state.toxics.remove(name)?;
        self.publish(&state);
        Ok(toxic)
    }

    /// Toxic count and per-toxic counters, for `/metrics`.
    pub(crate) async fn toxic_sample(
        &self,
    ) -> (bool, usize, Vec<(String, &'static str, u64, u64)>) {
        let state = self.state.lock().await;
        let kinds: Vec<(String, &'static str)> = state
            .toxics
            .list()
            .into_iter()
            .map(|t| (t.name, t.kind.type_name()))
            .collect();
        let counters = state
            .toxics
            .counters()
            .map(|(name, c)| {
                let kind = kinds
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("removed", |(_, k)| *k);
                (
                    name.clone(),
                    kind,
                    ProxyMetrics::get(&c.delayed),
                    ProxyMetrics::get(&c.failed),
                )
            })
            .collect();
        (state.enabled, state.toxics.len(), counters)
    }
}

fn default_mode(http: bool) -> AdaptiveMode {
    if http {
        AdaptiveMode::Http
    } else {
        AdaptiveMode::Tcp
    }
}

fn adaptive_names(mode: AdaptiveMode) -> [&'static str; 2] {
    match mode {
        AdaptiveMode::Http => ["adaptive_delay", "adaptive_abort"],
        AdaptiveMode::Tcp => ["adaptive_latency", "adaptive_reset"],
    }
}

/// The address a listen string binds, IPv4 first as Go's `net.Listen` picks it: Toxiproxy
/// clients expect `localhost:3310` to show as `127.0.0.1:3310`, wherever the resolver puts
/// `::1`.
fn resolve(listen: &str) -> std::io::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = listen.to_socket_addrs()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")
        })
}

fn bind(listen: &str) -> Result<TcpListener, Error> {
    let addr = resolve(listen).map_err(|source| Error::Bind {
        addr: host_of(listen).to_string(),
        op: "lookup",
        source,
    })?;
    bind_addr(addr)
}

/// Binds and listens, naming the system call that failed as Go's error does.
pub(crate) fn bind_addr(addr: SocketAddr) -> Result<TcpListener, Error> {
    let fail = |op| {
        move |source| Error::Bind {
            addr: addr.to_string(),
            op,
            source,
        }
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail("socket"))?;
    // A restarted proxy must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(fail("setsockopt"))?;
    socket.bind(addr).map_err(fail("bind"))?;
    socket.listen(BACKLOG).map_err(fail("listen"))
}

fn host_of(listen: &str) -> &str {
    let host = listen.rsplit_once(':').map_or(listen, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

async fn accept_loop(
    listener: TcpListener,
    chain: watch::Receiver<Arc<Chain>>,
    context: Arc<ConnContext>,
) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let (chain, context) = (chain.clone(), context.clone());
                match client.into_std() {
                    Ok(client) => conn::pool::RelayPool::global().spawn(async move {
                        // Registers the socket with the relay thread's reactor.
                        if let Ok(client) = tokio::net::TcpStream::from_std(client) {
                            conn::serve(client, chain, context).await;
                        }
                    }),
                    Err(e) => tracing::warn!(error = %e, "cannot hand the connection over"),
                }
            }
            Err(e) => {
                // Out of file descriptors, typically: back off instead of spinning; the
                // connections that finish meanwhile free some.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
