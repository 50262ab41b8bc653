//! Go-style profiling endpoints for a Rust service: `/debug/pprof/profile` (CPU, feature
//! `pprof-cpu`) and `/debug/pprof/heap` (jemalloc's heap, feature `pprof-heap`), both answering
//! pprof protobuf that `go tool pprof`, ballast's `profile` commands and `ballast-profile`'s
//! decoder read. Both features are off by default: a service that does not ask for them does
//! not compile the profiler or jemalloc.
//!
//! [`ProfilingConfig`] → [`build`](ProfilingConfig::build) → [`ProfilingEndpoint`], a tower
//! service answering by the request path's last segment (`…/profile`, `…/heap`), so it can be
//! routed at both paths:
//!
//! ```no_run
//! # #[cfg(feature = "axum")] {
//! use ballast_tower::profiling::ProfilingConfig;
//! use std::net::SocketAddr;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = ProfilingConfig {
//!     token: Some(std::env::var("PPROF_TOKEN")?),
//!     ..Default::default()
//! }
//! .build()?;
//! let app = axum::Router::new()
//!     .route_service("/debug/pprof/profile", endpoint.clone())
//!     .route_service("/debug/pprof/heap", endpoint);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:6060").await?;
//! // The peer address lets `loopback_without_token` check where a request came from.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! # }
//! ```
//!
//! **Authentication.** A profile shows the service's code paths and, for the heap, how much it
//! holds where; a CPU profile also costs CPU. So every request needs
//! `Authorization: Bearer <token>` matching [`ProfilingConfig::token`] (compared in constant
//! time), or else 401. Without a token the endpoint only builds when
//! [`loopback_without_token`](ProfilingConfig::loopback_without_token) is set, and then it
//! answers only requests whose peer address is loopback: the peer comes from axum's
//! `ConnectInfo<SocketAddr>` or a [`PeerAddr`] extension, and a request whose peer is unknown
//! is refused (401), never assumed local.
//!
//! **CPU** (`GET …/profile?seconds=N`, default 30 like Go): `seconds` must be a whole number
//! from 1 to 60, or 400. One CPU profile runs at a time in the process (the profiler's signal
//! timer is process-wide), a second request meanwhile gets 409. Sampling is 100 Hz by default
//! ([`ProfilingConfig::frequency`]); the answer is raw (not gzipped) pprof protobuf with Go's
//! sample types `samples/count` and `cpu/nanoseconds`, and a `thread` label with the thread's
//! name. The profiler's own frames (the unwinder called from the signal handler) are cut from
//! every stack. A client that hangs up does not stop the profile early; the slot frees when
//! the window ends.
//!
//! *Unwinding*: DWARF call frame information (pprof-rs's default, backtrace-rs over libgcc's
//! unwinder), not frame pointers. A frame-pointer walk is only right when every frame keeps
//! one; ballast's release profile does not force them and the prebuilt std is compiled
//! without them, so such a walk breaks at the first std frame, and below a service's code a
//! worker thread's stack is all std and tokio. The `.eh_frame` tables are in every Rust binary
//! on Linux (panics unwind with them), so nothing about the build has to change. The cost is a
//! slower sample (microseconds) and an unwinder that is not async-signal-safe everywhere, which
//! pprof-rs's blocklist covers: a sample landing in libc, libgcc, pthread or the vDSO is
//! skipped instead of unwound through a lock its thread may hold. Names come from the debug
//! info: line tables (ballast's `debug = "line-tables-only"`) give inlined frames too.
//!
//! **Heap** (`GET …/heap`): jemalloc's sampled live allocations (`inuse_space/bytes`), gzipped
//! pprof from `jemalloc_pprof`, symbolized in the process, each stack starting where the
//! program allocated (jemalloc's and the global allocator's frames cut). It carries names
//! already: read it with `go tool pprof -symbolize=none`, as pprof would otherwise try to
//! symbolize the addresses again from the binary it finds. What the service must do:
//!
//! 1. make jemalloc its allocator: `#[global_allocator] static ALLOC:
//!    ballast_tower::profiling::Jemalloc = ballast_tower::profiling::Jemalloc;` (the re-export
//!    is tikv-jemallocator with jemalloc's profiling compiled in; the feature builds jemalloc's
//!    C sources, so `cc` and `make` must be installed);
//! 2. turn profiling on before the first allocation, either in the binary:
//!    `#[export_name = "_rjem_malloc_conf"] pub static MALLOC_CONF: &[u8] =
//!    b"prof:true,prof_active:true,lg_prof_sample:19\0";` or in the environment:
//!    `_RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19` (the `_RJEM_` prefix:
//!    tikv-jemallocator prefixes jemalloc's symbols on Linux; plain `MALLOC_CONF` is ignored).
//!    `lg_prof_sample:19` samples once per 512 KiB allocated on average (jemalloc's default).
//!
//! Without that the endpoint answers 503 saying what is missing.
#![allow(clippy::module_name_repetitions)]

#[cfg(feature = "pprof-cpu")]
mod cpu;
#[cfg(feature = "pprof-heap")]
mod heap;

use crate::Error;
use bytes::Bytes;
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

#[cfg(feature = "pprof-heap")]
pub use tikv_jemallocator::Jemalloc;

/// Longest CPU profile window, in seconds (Go allows more; a minute bounds what one request
/// can cost the service).
pub const MAX_SECONDS: u64 = 60;
/// CPU profile window when the request names none (Go's default).
pub const DEFAULT_SECONDS: u64 = 30;

/// Settings of the profiling endpoints (YAML/JSON through serde, or code).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilingConfig {
    /// Bearer token every request must carry (`Authorization: Bearer <token>`). Default:
    /// none, which is only accepted together with `loopback_without_token`.
    #[serde(default)]
    pub token: Option<String>,
    /// Answer requests without a token when their peer address is loopback (127.0.0.0/8,
    /// ::1). Requests with a token are checked against it either way. Default: false.
    #[serde(default)]
    pub loopback_without_token: bool,
    /// CPU sampling rate in Hz, 1 to 1000. Default: 100 (Go's).
    #[serde(default = "default_frequency")]
    pub frequency: u32,
}

fn default_frequency() -> u32 {
    100
}

impl Default for ProfilingConfig {
    fn default() -> Self {
        ProfilingConfig {
            token: None,
            loopback_without_token: false,
            frequency: default_frequency(),
        }
    }
}

// The token never reaches logs through Debug.
impl std::fmt::Debug for ProfilingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfilingConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("loopback_without_token", &self.loopback_without_token)
            .field("frequency", &self.frequency)
            .finish()
    }
}

impl ProfilingConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), Error> {
        match &self.token {
            Some(token) if token.trim().is_empty() => Err(Error::InvalidConfig {
                field: "token",
                message: "is empty; give a secret or leave it out with loopback_without_token: true".into(),
            }),
            None if !self.loopback_without_token => Err(Error::InvalidConfig {
                field: "token",
                message: "is required unless loopback_without_token is true (profiles show the service's code and memory)".into(),
            }),
            _ => Ok(()),
        }?;
        if !(1..=1000).contains(&self.frequency) {
            return Err(Error::InvalidConfig {
                field: "frequency",
                message: format!("expected 1 to 1000 Hz, got {}", self.frequency),
            });
        }
        Ok(())
    }

    /// The endpoint.
    pub fn build(&self) -> Result<ProfilingEndpoint, Error> {
        self.validate()?;
        Ok(ProfilingEndpoint {
            config: Arc::new(self.clone()),
        })
    }
}

/// The peer's address, for services that are not served by axum with connect info: insert it
/// into each request's extensions so `loopback_without_token` can see where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `…/profile` and `…/heap` (see the [module docs](self)). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ProfilingEndpoint {
    config: Arc<ProfilingConfig>,
}

/// The endpoint's response body: the profile, or a one-line reason.
pub type ProfileBody = Full<Bytes>;

fn text(status: u16, message: impl Into<String>) -> http::Response<ProfileBody> {
    let mut message = message.into();
    message.push('\n');
    let mut response = http::Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == 401 {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

#[cfg_attr(
    not(any(feature = "pprof-cpu", feature = "pprof-heap")),
    allow(dead_code)
)]
fn profile(bytes: Vec<u8>, name: &'static str) -> http::Response<ProfileBody> {
    let mut response = http::Response::new(Full::new(Bytes::from(bytes)));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        http::header::CONTENT_DISPOSITION,
        http::HeaderValue::from_static(name),
    );
    response
}

/// Equal in time independent of where the first difference is (length still shows).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn peer<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = request.extensions().get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}

impl ProfilingEndpoint {
    /// `None` when the request may go on, else the 401 to answer.
    fn authorize<B>(&self, request: &http::Request<B>) -> Option<http::Response<ProfileBody>> {
        let header = request.headers().get(http::header::AUTHORIZATION);
        match (header, &self.config.token) {
            (Some(value), Some(token)) => {
                let given = value.as_bytes();
                let ok = given.len() > 7
                    && given[..7].eq_ignore_ascii_case(b"bearer ")
                    && constant_time_eq(given[7..].trim_ascii(), token.as_bytes());
                (!ok).then(|| text(401, "wrong bearer token"))
            }
            (Some(_), None) => Some(text(
                401,
                "this endpoint takes no token: it answers loopback peers only",
            )),
            (None, _) if self.config.loopback_without_token => match peer(request) {
                Some(addr) if addr.ip().is_loopback() => None,
                Some(addr) => Some(text(
                    401,
                    format!("missing bearer token (peer {} is not loopback)", addr.ip()),
                )),
                None => Some(text(
                    401,
                    "missing bearer token (peer address unknown, so not trusted as loopback)",
                )),
            },
            (None, _) => Some(text(
                401,
                "missing bearer token (Authorization: Bearer <token>)",
            )),
        }
    }
}

/// The `seconds` query parameter: absent → the default, else a whole number in 1..=60.
#[cfg_attr(not(feature = "pprof-cpu"), allow(dead_code))]
fn seconds(query: Option<&str>) -> Result<u64, String> {
    let value = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("seconds="));
    let Some(value) = value else {
        return Ok(DEFAULT_SECONDS);
    };
    match value.parse::<u64>() {
        Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "seconds: expected a whole number from 1 to {MAX_SECONDS}, got {value:?}"
        )),
    }
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<ProfileBody>, Infallible>> + Send>>;

impl<B> Service<http::Request<B>> for ProfilingEndpoint {
    type Response = http::Response<ProfileBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let ready = |response| -> ResponseFuture { Box::pin(std::future::ready(Ok(response))) };
        if let Some(refused) = self.authorize(&request) {
            return ready(refused);
        }
        if request.method() != http::Method::GET {
            let mut response = text(405, "only GET");
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
            return ready(response);
        }
        let path = request.uri().path().trim_end_matches('/');
        let kind = path.rsplit('/').next().unwrap_or("");
        match kind {
            "profile" => {
                #[cfg(feature = "pprof-cpu")]
                {
                    let seconds = match seconds(request.uri().query()) {
                        Ok(seconds) => seconds,
                        Err(message) => return ready(text(400, message)),
                    };
                    match cpu_run::start(seconds, self.config.frequency) {
                        Ok(answer) => Box::pin(async move {
                            Ok(match answer.await {
                                Ok(Ok(bytes)) => profile(bytes, "attachment; filename=\"profile\""),
                                Ok(Err(message)) => text(500, message),
                                Err(_) => {
                                    text(500, "the CPU profiler's thread ended without an answer")
                                }
                            })
                        }),
                        Err((status, message)) => ready(text(status, message)),
                    }
                }
                #[cfg(not(feature = "pprof-cpu"))]
                ready(text(
                    404,
                    "CPU profiling is not built in (ballast-tower feature pprof-cpu)",
                ))
            }
            "heap" => {
                #[cfg(feature = "pprof-heap")]
                {
                    Box::pin(async move {
                        Ok(match heap::dump().await {
                            Ok(bytes) => profile(bytes, "attachment; filename=\"heap\""),
                            Err((status, message)) => text(status, message),
                        })
                    })
                }
                #[cfg(not(feature = "pprof-heap"))]
                ready(text(
                    404,
                    "heap profiling is not built in (ballast-tower feature pprof-heap)",
                ))
            }
            other => ready(text(
                404,
                format!("no profile {other:?} here: profile (CPU) and heap are served"),
            )),
        }
    }
}

/// The one CPU profile of the process: a slot taken by a request and freed by the profiling
/// thread when it is done, whether or not anyone still waits for the answer.
#[cfg(feature = "pprof-cpu")]
mod cpu_run {
    use super::cpu;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tokio::sync::oneshot;

    static RUNNING: AtomicBool = AtomicBool::new(false);

    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            RUNNING.store(false, Ordering::Release);
        }
    }

    pub(super) type Answer = oneshot::Receiver<Result<Vec<u8>, String>>;

    pub(super) fn start(seconds: u64, frequency: u32) -> Result<Answer, (u16, String)> {
        if RUNNING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err((
                409,
                "a CPU profile is already running in this process; try again when it ends".into(),
            ));
        }
        let slot = Slot;
        let (tx, rx) = oneshot::channel();
        // A thread of its own: the window is slept through and the report symbolized (CPU
        // work for a while) without holding a runtime worker.
        let spawned = std::thread::Builder::new()
            .name("ballast-pprof-cpu".into())
            .spawn(move || {
                let result = run(seconds, frequency);
                // Freed before answering, so whoever got this answer can start the next one.
                drop(slot);
                let _ = tx.send(result);
            });
        match spawned {
            Ok(_) => Ok(rx),
            Err(e) => Err((500, format!("cannot start the profiler's thread: {e}"))),
        }
    }

    fn run(seconds: u64, frequency: u32) -> Result<Vec<u8>, String> {
        let frequency = i32::try_from(frequency).unwrap_or(100);
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(frequency)
            .blocklist(cpu::BLOCKLIST)
            .build()
            .map_err(|e| format!("cannot start the CPU profiler: {e}"))?;
        std::thread::sleep(Duration::from_secs(seconds));
        let report = guard
            .report()
            .build()
            .map_err(|e| format!("cannot build the CPU profile: {e}"))?;
        // Stop sampling before encoding, so the encoder's own work is not in the profile.
        drop(guard);
        Ok(ballast_profile::encode(&cpu::to_profile(&report)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    fn request(auth: Option<&str>, peer: Option<SocketAddr>) -> http::Request<()> {
        let mut builder = http::Request::get("/debug/pprof/nothing");
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        let mut request = builder.body(()).unwrap();
        if let Some(peer) = peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        request
    }

    fn status(endpoint: &ProfilingEndpoint, request: &http::Request<()>) -> u16 {
        endpoint
            .authorize(request)
            .map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn a_token_or_explicit_loopback_is_required() {
        let error = ProfilingConfig::default().build().unwrap_err().to_string();
        assert!(error.starts_with("token: is required"), "{error}");
        let empty = ProfilingConfig {
            token: Some(" ".into()),
            ..Default::default()
        };
        assert!(empty.build().is_err());
        let fast = ProfilingConfig {
            token: Some("t".into()),
            frequency: 5000,
            ..Default::default()
        };
        assert!(fast
            .build()
            .unwrap_err()
            .to_string()
            .starts_with("frequency:"));
        let debug = format!(
            "{:?}",
            ProfilingConfig {
                token: Some("hunter2".into()),
                ..Default::default()
            }
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn bearer_tokens_are_checked() {
        let endpoint = ProfilingConfig {
            token: Some("s3cret".into()),
            ..Default::default()
        }
        .build()
        .unwrap();
        let local = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)));
        assert_eq!(
            status(&endpoint, &request(Some("Bearer s3cret"), None)),
            200
        );
        assert_eq!(
            status(&endpoint, &request(Some("bearer s3cret"), None)),
            200
        );
        assert_eq!(status(&endpoint, &request(Some("Bearer s3cre"), None)), 401);
        assert_eq!(status(&endpoint, &request(Some("Basic s3cret"), None)), 401);
        assert_eq!(status(&endpoint, &request(Some("s3cret"), None)), 401);
        // Loopback is no excuse unless configured.
        assert_eq!(status(&endpoint, &request(None, local)), 401);
    }

    #[test]
    fn loopback_without_token_needs_a_known_loopback_peer() {
        let endpoint = ProfilingConfig {
            loopback_without_token: true,
            ..Default::default()
        }
        .build()
        .unwrap();
        let local = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)));
        let remote = Some(SocketAddr::from((Ipv4Addr::new(10, 0, 0, 7), 1)));
        assert_eq!(status(&endpoint, &request(None, local)), 200);
        assert_eq!(status(&endpoint, &request(None, remote)), 401);
        assert_eq!(status(&endpoint, &request(None, None)), 401);
        assert_eq!(status(&endpoint, &request(Some("Bearer x"), local)), 401);
    }

    #[test]
    fn seconds_are_bounded() {
        assert_eq!(seconds(None), Ok(DEFAULT_SECONDS));
        assert_eq!(seconds(Some("debug=1")), Ok(DEFAULT_SECONDS));
        assert_eq!(seconds(Some("seconds=1")), Ok(1));
        assert_eq!(seconds(Some("x=2&seconds=60")), Ok(60));
        for bad in [
            "seconds=0",
            "seconds=61",
            "seconds=-1",
            "seconds=2.5",
            "seconds=",
            "seconds=abc",
        ] {
            let error = seconds(Some(bad)).unwrap_err();
            assert!(
                error.starts_with("seconds: expected a whole number from 1 to 60"),
                "{error}"
            );
        }
    }
}
