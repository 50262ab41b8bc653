//! HTTP/2 through hyper: one connection multiplexes many in-flight requests.

use super::{ErrorKind, Response, Stream};
use crate::request::PreparedRequest;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A cloneable handle to one HTTP/2 connection.
#[derive(Clone)]
pub(crate) struct Http2Conn {
    sender: SendRequest<Full<bytes::Bytes>>,
}

impl Http2Conn {
    /// Performs the HTTP/2 handshake and drives the connection on its own task.
    pub(crate) async fn handshake(stream: Stream) -> Result<Self, ErrorKind> {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Protocol)?;
        tokio::spawn(async move {
            // Ends when every handle is dropped or the peer goes away; failures surface
            // on the requests themselves.
            let _ = connection.await;
        });
        Ok(Http2Conn { sender })
    }

    /// Whether the connection can take new requests.
    pub(crate) fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    pub(crate) async fn send(&mut self, request: &PreparedRequest) -> Result<Response, ErrorKind> {
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(request.uri.clone());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(request.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let req = builder
            .body(Full::new(request.body.clone()))
            .map_err(|_| ErrorKind::Protocol)?;
        self.sender.ready().await.map_err(|_| ErrorKind::Reset)?;
        let response = self.sender.send_request(req).await.map_err(classify)?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(classify)?;
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
            }
        }
        Ok(Response { status, bytes })
    }
}

fn classify(error: hyper::Error) -> ErrorKind {
    if error.is_parse() || error.is_user() {
        ErrorKind::Protocol
    } else if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Reset
    }
}
