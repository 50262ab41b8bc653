//! A lean HTTP/1.1 client connection: one request in flight, keep-alive, no allocation
//! per request once the read buffer has grown to fit the responses.

use super::{ErrorKind, Response, Stream};
use crate::request::PreparedRequest;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest response head accepted; beyond it the response is a protocol error.
const MAX_HEAD: usize = 64 * 1024;
const INITIAL_BUFFER: usize = 16 * 1024;
const MAX_HEADERS: usize = 96;

pub(crate) struct Http1Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    bytes_read: u64,
}

/// What the response head says about the body and the connection.
pub(super) struct Head {
    status: u16,
    keep_alive: bool,
    body: BodyLength,
}

pub(super) enum BodyLength {
    None,
    Exactly(u64),
    Chunked,
    UntilClose,
}

impl Http1Conn {
    pub(crate) fn new(stream: Stream) -> Self {
        Http1Conn {
            stream,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            bytes_read: 0,
        }
    }

    /// Sends the request and reads the whole response. `Ok((response, keep_alive))`.
    pub(crate) async fn send(
        &mut self,
        request: &PreparedRequest,
    ) -> Result<(Response, bool), ErrorKind> {
        let io_error = |e: io::Error| ErrorKind::from_io(&e);
        self.stream
            .write_all(&request.http1)
            .await
            .map_err(io_error)?;
        self.stream.flush().await.map_err(io_error)?;
        let read_before = self.bytes_read - (self.end - self.start) as u64;
        let head = self.read_head(request.is_head).await?;
        let keep_alive = self.read_body(&head).await? && head.keep_alive;
        let bytes = self.bytes_read - (self.end - self.start) as u64 - read_before;
        Ok((
            Response {
                status: head.status,
                bytes,
            },
            keep_alive,
        ))
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        self.bytes_read += n as u64;
        Ok(n)
    }

    async fn read_head(&mut self, is_head_request: bool) -> Result<Head, ErrorKind> {
        loop {
            match parse_head(&self.buf[self.start..self.end], is_head_request) {
                Ok(Some((len, head))) => {
                    self.start += len;
                    // 1xx responses (100 Continue, 103 Early Hints) precede the real one.
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue;
                    }
                    return Ok(head);
                }
                Ok(None) => {
                    if self.end - self.start > MAX_HEAD {
                        return Err(ErrorKind::Protocol);
                    }
                    self.fill_or_reset().await?;
                }
                Err(()) => return Err(ErrorKind::Protocol),
            }
        }
    }

    /// Consumes the body. Returns whether the connection can carry another request.
    async fn read_body(&mut self, head: &Head) -> Result<bool, ErrorKind> {
        match head.body {
            BodyLength::None => Ok(true),
            BodyLength::Exactly(n) => self.skip(n).await.map(|_| true),
            BodyLength::Chunked => self.skip_chunked().await.map(|_| true),
            BodyLength::UntilClose => loop {
                self.start = self.end;
                match self.fill().await {
                    Ok(0) => return Ok(false),
                    Ok(_) => {}
                    Err(e) => return Err(ErrorKind::from_io(&e)),
                }
            },
        }
    }

    async fn skip(&mut self, mut remaining: u64) -> Result<(), ErrorKind> {
        loop {
            let available = (self.end - self.start) as u64;
            let take = available.min(remaining);
            self.start += take as usize;
            remaining -= take;
            if remaining == 0 {
                return Ok(());
            }
            self.fill_or_reset().await?;
        }
    }

    async fn fill_or_reset(&mut self) -> Result<(), ErrorKind> {
        match self.fill().await {
            Ok(0) => Err(ErrorKind::Reset),
            Ok(_) => Ok(()),
            Err(e) => Err(ErrorKind::from_io(&e)),
        }
    }

    async fn skip_chunked(&mut self) -> Result<(), ErrorKind> {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete((used, 0))) => {
                    self.start += used;
                    return self.skip_trailers().await;
                }
                Ok(httparse::Status::Complete((used, size))) => {
                    self.start += used;
                    // The chunk's data, then its CRLF.
                    self.skip(size.saturating_add(2)).await?;
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > MAX_HEAD {
                        return Err(ErrorKind::Protocol);
                    }
                    self.fill_or_reset().await?;
                }
                Err(_) => return Err(ErrorKind::Protocol),
            }
        }
    }

    /// After the last chunk: optional trailer lines, then an empty line.
    async fn skip_trailers(&mut self) -> Result<(), ErrorKind> {
        loop {
            let pending = &self.buf[self.start..self.end];
            match pending.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.start += 2;
                    return Ok(());
                }
                Some(line) => self.start += line + 2,
                None if pending.len() > MAX_HEAD => return Err(ErrorKind::Protocol),
                None => self.fill_or_reset().await?,
            }
        }
    }
}

/// Parses a response head. `Ok(None)`: incomplete; `Err(())`: not HTTP/1.x.
pub(super) fn parse_head(bytes: &[u8], is_head_request: bool) -> Result<Option<(usize, Head)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes).map_err(|_| ())? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.ok_or(())?;
    let http10 = response.version == Some(0);
    let mut keep_alive = !http10;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value: u64 = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(())?;
            if content_length.is_some_and(|previous| previous != value) {
                return Err(());
            }
            content_length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    keep_alive = true;
                }
            }
        }
    }
    let body = if is_head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        BodyLength::None
    } else if chunked {
        BodyLength::Chunked
    } else if let Some(n) = content_length {
        BodyLength::Exactly(n)
    } else {
        keep_alive = false;
        BodyLength::UntilClose
    };
    Ok(Some((
        len,
        Head {
            status,
            keep_alive,
            body,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &str) -> Result<Option<(usize, Head)>, ()> {
        parse_head(text.as_bytes(), false)
    }

    #[test]
    fn content_length_and_keep_alive() {
        let (len, h) = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(len, 38);
        assert_eq!(h.status, 200);
        assert!(h.keep_alive);
        assert!(matches!(h.body, BodyLength::Exactly(5)));
    }

    #[test]
    fn chunked_close_and_http10() {
        let (_, h) =
            head("HTTP/1.1 503 X\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(matches!(h.body, BodyLength::Chunked));
        assert!(!h.keep_alive);
        let (_, h) = head("HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(matches!(h.body, BodyLength::UntilClose));
        assert!(!h.keep_alive);
        let (_, h) = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
    }

    #[test]
    fn no_body_statuses_and_errors() {
        let (_, h) = head("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(h.body, BodyLength::None));
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        assert!(head("SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_head(&bytes, false);
        }
    }
}
