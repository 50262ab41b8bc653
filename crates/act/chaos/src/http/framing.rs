//! Where HTTP/1.x messages begin and end in a byte stream: heads parsed with `httparse`,
//! bodies framed by Content-Length, chunked coding or the close of the connection.
//! Bytes are only measured here, never changed: the proxy forwards them as they came.

/// A head longer than this is not HTTP as far as the proxy cares; it stops parsing.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;

/// The stream is not HTTP/1.x as expected; the connection falls back to plain relaying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameError(pub &'static str);

/// What the proxy needs from a request head.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestHead {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub http10: bool,
    pub body: Body,
    pub expect_continue: bool,
    /// Keep-alive is off (HTTP/1.0 without keep-alive, or `Connection: close`).
    pub close: bool,
    /// CONNECT or an Upgrade: after this exchange the bytes are no longer HTTP.
    pub tunnel: bool,
}

/// What the proxy needs from a response head.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResponseHead {
    pub status: u16,
    pub body: Body,
}

/// Parses a request head; `Ok(None)` until the head is complete.
pub(crate) fn parse_request(buf: &[u8]) -> Result<Option<(usize, RequestHead)>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(FrameError("request head too long"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FrameError("not an HTTP/1.x request")),
    };
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default();
    let http10 = req.version == Some(0);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let body = request_body(&headers)?;
    let connection = header_tokens(&headers, "connection");
    let close = if http10 {
        !connection.iter().any(|t| t == "keep-alive")
    } else {
        connection.iter().any(|t| t == "close")
    };
    let tunnel = method == "CONNECT" || connection.iter().any(|t| t == "upgrade");
    let expect_continue = headers
        .iter()
        .any(|(n, v)| n == "expect" && v.eq_ignore_ascii_case("100-continue"));
    Ok(Some((
        len,
        RequestHead {
            path: path_of(target).to_string(),
            method,
            headers,
            http10,
            body,
            expect_continue,
            close,
            tunnel,
        },
    )))
}

/// Parses a response head to a request of method HEAD (`head`) or not.
pub(crate) fn parse_response(
    buf: &[u8],
    head: bool,
) -> Result<Option<(usize, ResponseHead)>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(FrameError("response head too long"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FrameError("not an HTTP/1.x response")),
    };
    let status = res.code.unwrap_or(0);
    let headers: Vec<(String, String)> = res
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let body = if head || (100..200).contains(&status) || status == 204 || status == 304 {
        Body::None
    } else if let Some(codings) = last_header(&headers, "transfer-encoding") {
        if codings.to_ascii_lowercase().trim_end().ends_with("chunked") {
            Body::Chunked(Chunked::default())
        } else {
            Body::UntilClose
        }
    } else if let Some(length) = content_length(&headers)? {
        Body::Length(length)
    } else {
        Body::UntilClose
    };
    Ok(Some((len, ResponseHead { status, body })))
}

fn request_body(headers: &[(String, String)]) -> Result<Body, FrameError> {
    if let Some(codings) = last_header(headers, "transfer-encoding") {
        return if codings.to_ascii_lowercase().trim_end().ends_with("chunked") {
            Ok(Body::Chunked(Chunked::default()))
        } else {
            Err(FrameError("request transfer coding is not chunked"))
        };
    }
    Ok(content_length(headers)?.map_or(Body::None, Body::Length))
}

fn content_length(headers: &[(String, String)]) -> Result<Option<u64>, FrameError> {
    let mut found = None;
    for (_, value) in headers.iter().filter(|(n, _)| n == "content-length") {
        for part in value.split(',') {
            let n: u64 = part
                .trim()
                .parse()
                .map_err(|_| FrameError("bad Content-Length"))?;
            if found.is_some_and(|f| f != n) {
                return Err(FrameError("conflicting Content-Length"));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

fn last_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn header_tokens(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

/// The path of a request target: origin-form as is, absolute-form without scheme and host.
fn path_of(target: &str) -> &str {
    match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    }
}

/// Where a message body ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// No body.
    None,
    /// This many bytes remain.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunked),
    /// Until the connection closes (responses only).
    UntilClose,
}

impl Body {
    /// Takes the body's bytes from the front of `data`: how many belong to the body, and
    /// whether the body is now complete.
    pub(crate) fn consume(&mut self, data: &[u8]) -> Result<(usize, bool), FrameError> {
        match self {
            Body::None => Ok((0, true)),
            Body::Length(remaining) => {
                let n = (*remaining).min(data.len() as u64);
                *remaining -= n;
                Ok((n as usize, *remaining == 0))
            }
            Body::Chunked(chunked) => chunked.consume(data),
            Body::UntilClose => Ok((data.len(), false)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    LastLf,
    Done,
}

/// The chunked coding's framing, one byte state at a time (data runs are skipped whole).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    size: u64,
    digits: u8,
}

impl Chunked {
    fn consume(&mut self, data: &[u8]) -> Result<(usize, bool), FrameError> {
        let mut i = 0;
        while i < data.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let n = self.size.min((data.len() - i) as u64);
                self.size -= n;
                i += n as usize;
                if self.size == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            let b = data[i];
            i += 1;
            self.state = match (self.state, b) {
                (ChunkState::Size, b) if b.is_ascii_hexdigit() => {
                    if self.digits >= 15 {
                        return Err(FrameError("chunk size too large"));
                    }
                    self.digits += 1;
                    self.size = self.size * 16 + u64::from((b as char).to_digit(16).unwrap_or(0));
                    ChunkState::Size
                }
                (ChunkState::Size, b';' | b' ' | b'\t') if self.digits > 0 => ChunkState::Extension,
                (ChunkState::Size, b'\r') if self.digits > 0 => ChunkState::SizeLf,
                (ChunkState::Extension, b'\r') => ChunkState::SizeLf,
                (ChunkState::Extension, b'\n') => self.end_of_size_line(),
                (ChunkState::Extension, _) => ChunkState::Extension,
                (ChunkState::Size, b'\n') if self.digits > 0 => self.end_of_size_line(),
                (ChunkState::SizeLf, b'\n') => self.end_of_size_line(),
                (ChunkState::DataCr, b'\r') => ChunkState::DataLf,
                (ChunkState::DataCr | ChunkState::DataLf, b'\n') => {
                    self.digits = 0;
                    self.size = 0;
                    ChunkState::Size
                }
                (ChunkState::TrailerStart, b'\r') => ChunkState::LastLf,
                (ChunkState::TrailerStart | ChunkState::LastLf, b'\n') => ChunkState::Done,
                (ChunkState::TrailerLine, b'\n') => ChunkState::TrailerStart,
                (ChunkState::TrailerStart | ChunkState::TrailerLine, _) => ChunkState::TrailerLine,
                _ => return Err(FrameError("malformed chunked body")),
            };
        }
        Ok((i, self.state == ChunkState::Done))
    }

    fn end_of_size_line(&mut self) -> ChunkState {
        if self.size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_give_method_path_and_body() {
        let raw = b"POST http://x.test/api/v1?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Test: A \r\n\r\nhello";
        let (len, head) = parse_request(raw).unwrap().unwrap();
        assert_eq!(&raw[len..], b"hello");
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/api/v1?q=1");
        assert_eq!(head.body, Body::Length(5));
        assert!(head.headers.contains(&("x-test".into(), "A".into())));
        assert!(!head.close && !head.tunnel && !head.http10);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost:").unwrap(), None);
        assert!(parse_request(b"\x16\x03\x01 not http\r\n\r\n").is_err());
        let (_, head) = parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(head.close && head.http10);
        let conflicting = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(parse_request(conflicting).is_err());
    }

    #[test]
    fn response_bodies_follow_the_rules() {
        let body = |raw: &[u8], head| parse_response(raw, head).unwrap().unwrap().1.body;
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false),
            Body::Length(3)
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
            Body::None
        );
        assert_eq!(body(b"HTTP/1.1 204 No Content\r\n\r\n", false), Body::None);
        assert_eq!(body(b"HTTP/1.1 200 OK\r\n\r\n", false), Body::UntilClose);
        assert!(matches!(
            body(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false
            ),
            Body::Chunked(_)
        ));
    }

    #[test]
    fn chunked_bodies_end_where_they_end_whatever_the_split() {
        let raw: &[u8] =
            b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let body_len = raw.len() - 4;
        for split in 0..raw.len() {
            let mut body = Body::Chunked(Chunked::default());
            let (a, done_a) = body.consume(&raw[..split]).unwrap();
            let (total, done) = if done_a {
                (a, true)
            } else {
                let (b, done_b) = body.consume(&raw[split..]).unwrap();
                (a + b, done_b)
            };
            assert!(done, "split at {split}");
            assert_eq!(total, body_len, "split at {split}");
        }
        let mut bad = Body::Chunked(Chunked::default());
        assert!(bad.consume(b"zz\r\n").is_err());
    }

    #[test]
    fn length_bodies_count_down() {
        let mut body = Body::Length(4);
        assert_eq!(body.consume(b"ab").unwrap(), (2, false));
        assert_eq!(body.consume(b"cdef").unwrap(), (2, true));
        assert_eq!(Body::None.consume(b"x").unwrap(), (0, true));
    }
}
