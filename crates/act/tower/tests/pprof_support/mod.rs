//! Shared by the pprof test binaries: a service serving the profiling endpoint on loopback,
//! a one-request-per-connection HTTP/1.0 client, and the flat/cum tables of a profile.

use ballast_core::profile::Profile;
use ballast_tower::profiling::{ProfilingConfig, ProfilingEndpoint};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const TOKEN: &str = "test-token-7f3a";

pub fn endpoint() -> ProfilingEndpoint {
    ProfilingConfig {
        token: Some(TOKEN.into()),
        ..Default::default()
    }
    .build()
    .unwrap()
}

/// Serves the endpoint at both Go paths on 127.0.0.1 (an ephemeral port), as a service would.
pub async fn serve() -> SocketAddr {
    let endpoint = endpoint();
    let app = axum::Router::new()
        .route_service("/debug/pprof/profile", endpoint.clone())
        .route_service("/debug/pprof/heap", endpoint);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// GET `path` with an optional `Authorization` value, within 30 s (a CPU window is 1-3 s).
pub async fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> Answer {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n").as_bytes())
            .await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("answer within 30 s")
        .expect("HTTP exchange");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Answer {
        status,
        body: raw[end + 4..].to_vec(),
    }
}

pub fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// The answer as ballast's decoder reads it (`ballast_profile::decode`: gzip sniffed, every
/// id and string index checked).
pub fn decode(bytes: &[u8]) -> Profile {
    ballast_profile::decode(bytes).expect("ballast-profile decodes it")
}

/// pprof's `-top` rows (name, flat, cum) of one sample type, every function kept: what
/// `ballast profile top` prints.
pub fn top(profile: &Profile, index: usize) -> Vec<(String, i64, i64)> {
    let all = ballast_attribution::TopOptions {
        node_fraction: 0.0,
        node_count: None,
    };
    ballast_attribution::top_with(profile, index, &all)
        .rows
        .into_iter()
        .map(|r| (r.name, r.flat, r.cum))
        .collect()
}
