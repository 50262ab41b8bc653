//! HTTP-aware toxics: a connection the proxy parses as HTTP/1.1 has its faults decided per
//! request (delay it, or answer it with a status and never forward it), not per chunk.
//!
//! [`HttpTracker`] follows both directions of one connection. Requests are held until
//! their head is complete, then matched against the `http_*` toxics. The answer to an
//! aborted request must reach the client in its place among the upstream's answers
//! (clients may pipeline), so responses are framed too and the proxy's own answers are
//! slotted in between them, in request order.

pub(crate) mod framing;

use crate::metrics::ProxyMetrics;
use crate::toxic::set::ActiveToxic;
use crate::toxic::{RequestMatch, ToxicKind};
use bytes::{Bytes, BytesMut};
use framing::{parse_request, parse_response, Body, FrameError, RequestHead};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes for the client, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum ToClient {
    /// Relayed from the upstream.
    Relay(Bytes),
    /// The proxy's own answer to an aborted request; `close` ends the connection after it.
    Answer {
        bytes: Bytes,
        due: Instant,
        close: bool,
    },
}

/// What was sent upstream, in request order, so responses can be matched to requests.
#[derive(Debug)]
enum Exchange {
    Forwarded {
        head: bool,
    },
    Answered {
        bytes: Bytes,
        due: Instant,
        close: bool,
    },
}

#[derive(Debug)]
enum RequestState {
    Head,
    Body {
        body: Body,
        forward: bool,
        due: Instant,
        tunnel: bool,
    },
}

#[derive(Debug)]
enum ResponseState {
    /// Between responses: the proxy's answers may go out here.
    Boundary,
    Head,
    Body(Body),
}

/// Follows one HTTP/1.1 connection.
#[derive(Debug)]
pub(crate) struct HttpTracker {
    request_head: BytesMut,
    request: RequestState,
    response_head: Vec<u8>,
    response: ResponseState,
    exchanges: VecDeque<Exchange>,
    /// No longer HTTP (an upgrade, CONNECT, or bytes that do not parse): relay as is.
    tunnel: bool,
}

impl HttpTracker {
    pub(crate) fn new() -> Self {
        HttpTracker {
            request_head: BytesMut::new(),
            request: RequestState::Head,
            response_head: Vec::new(),
            response: ResponseState::Boundary,
            exchanges: VecDeque::new(),
            tunnel: false,
        }
    }

    /// Client bytes in; pieces to forward upstream out, each with the earliest time it may
    /// leave. Decisions use `toxics`, the proxy's HTTP toxics right now.
    pub(crate) fn client_bytes(
        &mut self,
        now: Instant,
        mut data: Bytes,
        toxics: &[Arc<ActiveToxic>],
        metrics: &ProxyMetrics,
        out: &mut Vec<(Instant, Bytes)>,
    ) {
        while !self.tunnel {
            match &mut self.request {
                RequestState::Head => {
                    if data.is_empty() {
                        return;
                    }
                    let before = self.request_head.len();
                    self.request_head.extend_from_slice(&data);
                    match parse_request(&self.request_head) {
                        Ok(None) => return,
                        Err(e) => {
                            // The held bytes include `data`: forward them once, as they are.
                            self.give_up(e);
                            out.push((now, self.request_head.split().freeze()));
                            return;
                        }
                        Ok(Some((len, head))) => {
                            let head_bytes = self.request_head.split_to(len).freeze();
                            self.request_head.clear();
                            data = data.slice(len - before..);
                            ProxyMetrics::add(&metrics.http_requests, 1);
                            self.on_request(now, head_bytes, head, toxics, out);
                        }
                    }
                }
                RequestState::Body {
                    body,
                    forward,
                    due,
                    tunnel,
                } => {
                    let (n, done) = match body.consume(&data) {
                        Ok(step) => step,
                        Err(e) => {
                            self.give_up(e);
                            break;
                        }
                    };
                    let part = data.split_to(n);
                    if *forward && !part.is_empty() {
                        out.push((*due, part));
                    }
                    if !done {
                        return;
                    }
                    if *tunnel {
                        self.tunnel = true;
                    }
                    self.request = RequestState::Head;
                }
            }
        }
        if !data.is_empty() {
            out.push((now, data));
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        head_bytes: Bytes,
        head: RequestHead,
        toxics: &[Arc<ActiveToxic>],
        out: &mut Vec<(Instant, Bytes)>,
    ) {
        let mut delay = Duration::ZERO;
        let mut abort = None;
        for toxic in toxics {
            let Some(filter) = toxic.toxic.kind.request_match() else {
                continue;
            };
            if !matches(&filter, &head) || !toxic.dice.chance(toxic.toxic.toxicity) {
                continue;
            }
            match &toxic.toxic.kind {
                ToxicKind::HttpDelay(a) => {
                    delay += toxic.dice.jitter(a.delay, a.jitter);
                    toxic.counters.delayed.fetch_add(1, Ordering::Relaxed);
                }
                ToxicKind::HttpAbort(a) => {
                    toxic.counters.failed.fetch_add(1, Ordering::Relaxed);
                    abort = Some((a.status, a.body.clone(), toxic.toxic.name.clone()));
                    break;
                }
                _ => {}
            }
        }
        let due = now + delay;
        let forward = abort.is_none();
        if let Some((status, body, toxic)) = abort {
            // A client waiting for 100-continue may or may not send its body after a final
            // answer, and an HTTP/1.0 client expects a close: either way the connection
            // cannot safely carry another request.
            let close = head.expect_continue || head.close;
            let bytes = answer(
                status,
                body.as_deref(),
                &toxic,
                head.method == "HEAD",
                close,
            );
            self.exchanges
                .push_back(Exchange::Answered { bytes, due, close });
        } else {
            out.push((due, head_bytes));
            self.exchanges.push_back(Exchange::Forwarded {
                head: head.method == "HEAD",
            });
        }
        self.request = RequestState::Body {
            body: head.body,
            forward,
            due,
            tunnel: head.tunnel && forward,
        };
    }

    /// Upstream bytes in; bytes for the client out, with the proxy's answers in place.
    pub(crate) fn upstream_bytes(
        &mut self,
        mut data: Bytes,
        metrics: &ProxyMetrics,
        out: &mut Vec<ToClient>,
    ) {
        while !self.tunnel && !data.is_empty() {
            match &mut self.response {
                ResponseState::Boundary => {
                    self.answers_due(out);
                    match self.exchanges.front() {
                        Some(Exchange::Forwarded { .. }) => self.response = ResponseState::Head,
                        _ => self.give_up(FrameError("response without a request")),
                    }
                }
                ResponseState::Head => {
                    let before = self.response_head.len();
                    self.response_head.extend_from_slice(&data);
                    let head = matches!(
                        self.exchanges.front(),
                        Some(Exchange::Forwarded { head: true })
                    );
                    match parse_response(&self.response_head, head) {
                        Ok(None) => {
                            out.push(ToClient::Relay(data));
                            return;
                        }
                        Err(e) => self.give_up(e),
                        Ok(Some((len, response))) => {
                            out.push(ToClient::Relay(data.split_to(len - before)));
                            self.response_head.clear();
                            if response.status == 101 {
                                self.give_up(FrameError("switched protocols"));
                            } else if response.status < 200 {
                                // Informational: the final answer to the request still follows.
                            } else {
                                self.exchanges.pop_front();
                                self.response = match response.body {
                                    Body::None | Body::Length(0) => ResponseState::Boundary,
                                    body => ResponseState::Body(body),
                                };
                                metrics.count_response(response.status);
                            }
                        }
                    }
                }
                ResponseState::Body(body) => match body.consume(&data) {
                    Ok((n, done)) => {
                        out.push(ToClient::Relay(data.split_to(n)));
                        if done {
                            self.response = ResponseState::Boundary;
                        }
                    }
                    Err(e) => self.give_up(e),
                },
            }
        }
        if !data.is_empty() {
            out.push(ToClient::Relay(data));
        }
        self.answers_due(out);
    }

    /// The proxy's answers that may go to the client now: those at the front of the line,
    /// when no upstream response is half sent (or all of them once the stream is no longer
    /// HTTP).
    pub(crate) fn answers_due(&mut self, out: &mut Vec<ToClient>) {
        let at_boundary = matches!(self.response, ResponseState::Boundary) || self.tunnel;
        if !at_boundary {
            return;
        }
        while let Some(Exchange::Answered { .. }) = self.exchanges.front() {
            if let Some(Exchange::Answered { bytes, due, close }) = self.exchanges.pop_front() {
                out.push(ToClient::Answer { bytes, due, close });
            }
        }
        if self.tunnel {
            // Out of HTTP, the order of anything left cannot be kept; deliver it all.
            for exchange in self.exchanges.drain(..) {
                if let Exchange::Answered { bytes, due, close } = exchange {
                    out.push(ToClient::Answer { bytes, due, close });
                }
            }
        }
    }

    fn give_up(&mut self, why: FrameError) {
        tracing::debug!(reason = why.0, "connection is no longer parsed as HTTP");
        self.tunnel = true;
    }
}

fn matches(filter: &RequestMatch, head: &RequestHead) -> bool {
    filter.method.as_deref().is_none_or(|m| m == head.method)
        && filter
            .path_prefix
            .as_deref()
            .is_none_or(|p| head.path.starts_with(p))
        && filter.headers.iter().all(|(name, value)| {
            head.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
        })
}

/// The proxy's own response to an aborted request. It names the toxic, so whoever reads
/// the traffic can tell an injected failure from a real one.
fn answer(status: u16, body: Option<&str>, toxic: &str, head: bool, close: bool) -> Bytes {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Injected");
    let body = body.map_or_else(|| format!("{reason}\n"), str::to_string);
    let mut text = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nx-ballast-chaos: {toxic}\r\n",
        body.len()
    );
    if close {
        text.push_str("connection: close\r\n");
    }
    text.push_str("\r\n");
    if !head {
        text.push_str(&body);
    }
    Bytes::from(text)
}

/// Fuzzing: client and upstream bytes through one tracker, with a delay and an abort.
pub(crate) fn fuzz_stream(client: &[u8], upstream: &[u8]) {
    let mut set = crate::toxic::set::ToxicSet::new("fuzz", 1);
    for body in [
        serde_json::json!({"type": "http_delay", "attributes": {"delay": 1, "method": "GET"}}),
        serde_json::json!({"type": "http_abort", "toxicity": 0.5, "attributes": {"path_prefix": "/a"}}),
    ] {
        if let Ok(toxic) = crate::toxic::Toxic::from_json(&body, false) {
            let _ = set.add(toxic);
        }
    }
    fuzz_with(client, upstream, &set.chain(0, true).http);
}

pub(crate) fn fuzz_with(client: &[u8], upstream: &[u8], toxics: &[Arc<ActiveToxic>]) {
    let metrics = ProxyMetrics::default();
    let mut tracker = HttpTracker::new();
    let now = Instant::now();
    let mut forwards = Vec::new();
    let mut answers = Vec::new();
    // Split each side in two so heads and bodies also cross read boundaries.
    let (c1, c2) = client.split_at(client.len() / 2);
    let (u1, u2) = upstream.split_at(upstream.len() / 3);
    tracker.client_bytes(
        now,
        Bytes::copy_from_slice(c1),
        toxics,
        &metrics,
        &mut forwards,
    );
    tracker.answers_due(&mut answers);
    tracker.upstream_bytes(Bytes::copy_from_slice(u1), &metrics, &mut answers);
    tracker.client_bytes(
        now,
        Bytes::copy_from_slice(c2),
        toxics,
        &metrics,
        &mut forwards,
    );
    tracker.upstream_bytes(Bytes::copy_from_slice(u2), &metrics, &mut answers);
    let forwarded: usize = forwards.iter().map(|(_, b)| b.len()).sum();
    assert!(
        forwarded <= client.len(),
        "the proxy never invents request bytes"
    );
}

#[cfg(test)]
mod tests;
