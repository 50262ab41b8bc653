use crate::handler::handle;
use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the demo server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A setting was out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What was expected.
        message: String,
    },
    /// The self-signed certificate could not be made.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A one-time pause: from `at` after start, every response waits until `at + length`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    /// When the stall begins, measured from the server's start.
    #[serde(with = "ballast_core::duration_text")]
    pub at: Duration,
    /// How long it lasts.
    #[serde(with = "ballast_core::duration_text")]
    pub length: Duration,
}

/// The demo server's behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoServerConfig {
    /// Address to listen on. Default: `127.0.0.1:0` (loopback, any free port).
    pub bind: SocketAddr,
    /// Time spent on each request before answering. Default: none.
    #[serde(with = "ballast_core::duration_text")]
    pub latency: Duration,
    /// Response body size in bytes. Default: 2.
    pub body_bytes: usize,
    /// A one-time stall. Default: none.
    pub stall: Option<Stall>,
    /// Every n-th request is answered 503. Default: never.
    pub fail_every: Option<u64>,
    /// Every n-th request's connection is dropped without a response. Default: never.
    pub reset_every: Option<u64>,
    /// Stop listening after accepting this many connections. Default: never.
    pub accept_limit: Option<u64>,
    /// Serve TLS with a fresh self-signed certificate for `localhost`/`127.0.0.1`.
    pub tls: bool,
    /// Slow down while the load is high (a service that degrades under a surge).
    pub slow_above: Option<SlowAbove>,
    /// From this long after start, the service's (simulated) dependency times out and
    /// the service answers from its local cache, counting `demo_fallback_total`.
    #[serde(default, with = "optional_duration")]
    pub dependency_timeout_at: Option<Duration>,
}

/// Extra latency while the previous second saw more than `rps` requests.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowAbove {
    /// Requests per second above which the service slows down.
    pub rps: f64,
    /// Latency added to each request meanwhile.
    #[serde(with = "ballast_core::duration_text")]
    pub extra: Duration,
}

mod optional_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| ballast_core::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl Default for DemoServerConfig {
    fn default() -> Self {
        DemoServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            latency: Duration::ZERO,
            body_bytes: 2,
            stall: None,
            fail_every: None,
            reset_every: None,
            accept_limit: None,
            tls: false,
            slow_above: None,
            dependency_timeout_at: None,
        }
    }
}

pub(crate) struct Shared {
    pub start: Instant,
    pub config: DemoServerConfig,
    pub body: Bytes,
    pub served: AtomicU64,
    pub stall_end: Mutex<Option<Instant>>,
    pub fallbacks: AtomicU64,
    pub answered_ok: AtomicU64,
    pub answered_503: AtomicU64,
    /// (second since start, requests in it, requests in the second before).
    pub per_second: Mutex<(u64, u64, u64)>,
}

/// A running demo server; stops when [`shutdown`](DemoServer::shutdown) is called or it
/// is dropped.
pub struct DemoServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl DemoServerConfig {
    /// Checks the settings, binds and starts serving on the current tokio runtime.
    pub async fn build(self) -> Result<DemoServer, Error> {
        for (field, value) in [
            ("fail_every", self.fail_every),
            ("reset_every", self.reset_every),
        ] {
            if value == Some(0) {
                return Err(Error::Invalid {
                    field,
                    message: "expected 1 or more".into(),
                });
            }
        }
        if self.body_bytes > 64 * 1024 * 1024 {
            return Err(Error::Invalid {
                field: "body_bytes",
                message: "expected at most 64 MiB".into(),
            });
        }
        let tls = if self.tls {
            Some(self_signed_acceptor()?)
        } else {
            None
        };
        let listener = TcpListener::bind(self.bind)
            .await
            .map_err(|source| Error::Bind {
                addr: self.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.bind,
            source,
        })?;
        let shared = Arc::new(Shared {
            start: Instant::now(),
            body: Bytes::from(vec![b'x'; self.body_bytes]),
            config: self,
            served: AtomicU64::new(0),
            stall_end: Mutex::new(None),
            fallbacks: AtomicU64::new(0),
            answered_ok: AtomicU64::new(0),
            answered_503: AtomicU64::new(0),
            per_second: Mutex::new((0, 0, 0)),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), tls, stopped));
        Ok(DemoServer {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }
}

impl DemoServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr/` (or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.shared.config.tls {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/", self.addr)
    }

    /// Requests answered (or reset) so far.
    pub fn requests_served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// Stops accepting and closes open connections.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn self_signed_acceptor() -> Result<tokio_rustls::TlsAcceptor, Error> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| Error::Tls(e.to_string()))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut accepted = 0u64;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                // Out of descriptors and the like: pause rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = stopped.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        accepted += 1;
        let conn_shared = shared.clone();
        let tls = tls.clone();
        let mut conn_stopped = stopped.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| handle(req, conn_shared.clone()));
            let builder = auto::Builder::new(TokioExecutor::new());
            let serve = async {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = conn_stopped.changed() => {}
            }
        });
        if shared
            .config
            .accept_limit
            .is_some_and(|limit| accepted >= limit)
        {
            // Closing the listener makes further connects fail with "connection refused".
            drop(listener);
            let _ = stopped.changed().await;
            break;
        }
    }
    connections.abort_all();
}
