//! Connections to the target: TCP or TLS, spoken as lean HTTP/1.1 or (via hyper) HTTP/2.
//!
//! HTTP/1.1 is hand-written (request bytes built once, `httparse` for responses, no
//! per-request allocation) because the load generator must not be the bottleneck: with
//! hyper's client the generator needed more CPU than the server it measured.

mod http1;
mod http2;
mod stream;
mod tls;

pub(crate) use http1::Http1Conn;
pub(crate) use http2::Http2Conn;
pub(crate) use stream::{connect, Stream};
pub(crate) use tls::tls_config;

pub(crate) fn fuzz_parse_head(bytes: &[u8]) {
    let _ = http1::parse_head(bytes, false);
}

use serde::{Deserialize, Serialize};

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// TCP connect failed (refused, unreachable).
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// No complete response within the timeout.
    Timeout,
    /// The peer reset or closed the connection mid-exchange.
    Reset,
    /// The response was not valid HTTP.
    Protocol,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Protocol,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Protocol => "protocol",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_io(error: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match error.kind() {
            Io::TimedOut => ErrorKind::Timeout,
            Io::InvalidData => ErrorKind::Protocol,
            _ => ErrorKind::Reset,
        }
    }
}

/// A response as far as the load engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    /// Bytes of the whole response (head and body) as received.
    pub bytes: u64,
}
