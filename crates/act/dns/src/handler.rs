//! One query in, at most one answer out: faults first, then the records, then the upstream.
//!
//! [`respond`] is that decision without sockets or timers: the server runs the same code
//! for every message it gets and then only waits (a delay fault) or forwards.

use crate::config::DnsConfig;
use crate::error::Error;
use crate::fault::{Dice, DnsAction, DnsFault, FaultSet};
use crate::stats::Counters;
use crate::upstream;
use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The UDP payload size this server offers in its EDNS answers, and the most it sends in
/// one datagram (the DNS flag day 2020 size: no IP fragmentation on common paths).
const UDP_PAYLOAD: u16 = 1232;
/// A UDP answer to a client without EDNS has at most this many bytes (RFC 1035).
const UDP_PLAIN: usize = 512;

/// How a query came, which decides how large its answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A datagram: an answer larger than the client's EDNS payload size (512 bytes
    /// without EDNS, 1232 at most) is cut to its question with TC set.
    Udp,
    /// A length-prefixed TCP message: answers up to 65,535 bytes.
    Tcp,
}

/// What the server does with one message, as [`respond`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Send these bytes back: a DNS response carrying the query's id.
    Answer(Vec<u8>),
    /// Send nothing: the message was a response (never answered, so two servers cannot
    /// bounce one forever) or shorter than a header, or a timeout fault hit it.
    Silent,
    /// Forward the query to the upstream. The server relays the upstream's answer with
    /// the query's id, or answers SERVFAIL when none comes within `upstream_timeout`.
    Forward,
    /// A delay fault: wait this long, then do what the query gets without faults (an
    /// answer from the records, NXDOMAIN, or a forward).
    Delay(Duration, Box<Response>),
}

/// The server's decision on one message `query` (the bytes of a datagram, or of a TCP
/// message without its length prefix), made with `config`'s records, TTL and upstream
/// and with `faults` set: what a [`DnsServer`](crate::DnsServer) built from `config`
/// does with it, without sockets or timers.
///
/// Fault shares draw from a coin seeded with `config.seed`, fresh on each call: what
/// the server's first query would draw. Refuses what [`DnsConfig::validate`] or
/// [`DnsServer::set_faults`](crate::DnsServer::set_faults) refuses.
///
/// ```
/// use ballast_dns::{respond, DnsAction, DnsConfig, DnsFault, Response, Transport};
/// use hickory_proto::op::{Message, Query, ResponseCode};
/// use hickory_proto::rr::{Name, RecordType};
///
/// let config = DnsConfig::default().record("db.shop.test", vec!["127.0.0.1".parse()?]);
/// let mut query = Message::query();
/// query.add_query(Query::query(Name::from_ascii("db.shop.test.")?, RecordType::A));
/// let query = query.to_vec()?;
///
/// let Response::Answer(bytes) = respond(&config, &[], &query, Transport::Udp)? else {
///     panic!("no answer");
/// };
/// assert_eq!(Message::from_vec(&bytes)?.answers.len(), 1);
///
/// let faults = [DnsFault::new("*.shop.test", DnsAction::ServFail)];
/// let Response::Answer(bytes) = respond(&config, &faults, &query, Transport::Udp)? else {
///     panic!("no answer");
/// };
/// assert_eq!(Message::from_vec(&bytes)?.response_code, ResponseCode::ServFail);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn respond(
    config: &DnsConfig,
    faults: &[DnsFault],
    query: &[u8],
    transport: Transport,
) -> Result<Response, Error> {
    config.validate()?;
    let handler = Handler::new(config, config.normalized_records()?);
    let faults = FaultSet::compile(faults.to_vec())?;
    Ok(handler.decide(query, transport, &faults).0)
}

/// Resolves when the server shuts down (or is dropped).
#[derive(Debug, Clone)]
pub(crate) struct Stop(pub(crate) watch::Receiver<bool>);

impl Stop {
    pub(crate) async fn wait(&mut self) {
        // An error means the sender is gone: the server was dropped, which is a stop too.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

#[derive(Debug)]
pub(crate) struct Handler {
    pub(crate) records: BTreeMap<String, Vec<IpAddr>>,
    pub(crate) ttl: u32,
    pub(crate) upstream: Option<SocketAddr>,
    pub(crate) upstream_timeout: Duration,
    pub(crate) faults: RwLock<Arc<FaultSet>>,
    /// Fault coins only, so the seed alone decides which queries are faulted.
    pub(crate) coins: Dice,
    /// Message ids of forwarded queries.
    pub(crate) ids: Dice,
    pub(crate) counters: Counters,
}

impl Handler {
    /// A handler for `config` (already validated) with its normalized `records`, no
    /// faults and zero counters.
    pub(crate) fn new(config: &DnsConfig, records: BTreeMap<String, Vec<IpAddr>>) -> Handler {
        Handler {
            records,
            ttl: config.ttl,
            upstream: config.upstream,
            upstream_timeout: config.upstream_timeout,
            faults: RwLock::new(Arc::new(FaultSet::default())),
            coins: Dice::new(config.seed),
            ids: Dice::new(config.seed ^ 0x1d5_5eed),
            counters: Counters::default(),
        }
    }

    /// The encoded answer to `request`, or `None` when none is to be sent.
    pub(crate) async fn handle(
        &self,
        request: &[u8],
        transport: Transport,
        stop: &mut Stop,
    ) -> Option<Vec<u8>> {
        let faults = Arc::clone(&self.faults.read().unwrap_or_else(|e| e.into_inner()));
        let (mut response, message) = self.decide(request, transport, &faults);
        loop {
            match response {
                Response::Answer(bytes) => return Some(bytes),
                Response::Silent => return None,
                Response::Forward => {
                    // Only a decoded query with an upstream is forwarded.
                    let (message, upstream) = (message?, self.upstream?);
                    return self
                        .forward(upstream, request, &message, transport, stop)
                        .await;
                }
                Response::Delay(delay, then) => {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.wait() => return None,
                    }
                    self.count_unfaulted(&then);
                    response = *then;
                }
            }
        }
    }

    /// [`respond`]'s decision on `request`, counted (a delayed query's outcome is not:
    /// `handle` counts it when the delay is over), and the query when it decoded.
    fn decide(
        &self,
        request: &[u8],
        transport: Transport,
        faults: &FaultSet,
    ) -> (Response, Option<Message>) {
        let message = match Message::from_vec(request) {
            Ok(message) => message,
            Err(_) => {
                self.counters.malformed.inc();
                return (sent(header_error(request, ResponseCode::FormErr)), None);
            }
        };
        if message.message_type != MessageType::Query {
            // Never answer an answer: two servers could bounce one forever.
            self.counters.malformed.inc();
            return (Response::Silent, None);
        }
        if message.op_code != OpCode::Query {
            self.counters.malformed.inc();
            let answer = encode(&reply(&message, ResponseCode::NotImp), transport, &message);
            return (sent(answer), None);
        }
        if message.queries.len() != 1 {
            self.counters.malformed.inc();
            let answer = encode(&reply(&message, ResponseCode::FormErr), transport, &message);
            return (sent(answer), None);
        }
        self.counters.queries.inc();
        let code = match faults.pick(&folded(&message), &self.coins) {
            None => None,
            Some(DnsAction::NxDomain) => {
                self.counters.nxdomain.inc();
                Some(ResponseCode::NXDomain)
            }
            Some(DnsAction::ServFail) => {
                self.counters.servfail.inc();
                Some(ResponseCode::ServFail)
            }
            Some(DnsAction::Refused) => {
                self.counters.refused.inc();
                Some(ResponseCode::Refused)
            }
            Some(DnsAction::Address(addresses)) => {
                self.counters.wrong_address.inc();
                let answer = self.addresses(&message, addresses);
                return (sent(encode(&answer, transport, &message)), Some(message));
            }
            Some(DnsAction::Timeout) => {
                self.counters.dropped.inc();
                return (Response::Silent, Some(message));
            }
            Some(DnsAction::Delay(delay)) => {
                self.counters.delayed.inc();
                let then = self.unfaulted(&message, transport);
                return (Response::Delay(*delay, Box::new(then)), Some(message));
            }
        };
        if let Some(code) = code {
            let mut answer = reply(&message, code);
            answer.metadata.recursion_available = self.upstream.is_some();
            return (sent(encode(&answer, transport, &message)), Some(message));
        }
        let response = self.unfaulted(&message, transport);
        self.count_unfaulted(&response);
        (response, Some(message))
    }

    /// What a decoded standard query gets without faults: the records' addresses, else a
    /// forward, else an authoritative NXDOMAIN.
    fn unfaulted(&self, message: &Message, transport: Transport) -> Response {
        match (self.records.get(&folded(message)), self.upstream) {
            (Some(addresses), _) => sent(encode(
                &self.addresses(message, addresses),
                transport,
                message,
            )),
            (None, Some(_)) => Response::Forward,
            (None, None) => {
                let mut answer = reply(message, ResponseCode::NXDomain);
                answer.metadata.authoritative = true;
                sent(encode(&answer, transport, message))
            }
        }
    }

    /// Counts what [`unfaulted`](Self::unfaulted) decided, once it is done.
    fn count_unfaulted(&self, response: &Response) {
        match response {
            Response::Forward => self.counters.forwarded.inc(),
            _ => self.counters.answered.inc(),
        }
    }

    /// An authoritative answer with those of `addresses` that fit the query type.
    fn addresses(&self, request: &Message, addresses: &[IpAddr]) -> Message {
        let mut answer = reply(request, ResponseCode::NoError);
        answer.metadata.authoritative = true;
        answer.metadata.recursion_available = self.upstream.is_some();
        let query = &request.queries[0];
        let (v4, v6) = match query.query_type() {
            RecordType::A => (true, false),
            RecordType::AAAA => (false, true),
            RecordType::ANY => (true, true),
            _ => (false, false),
        };
        for address in addresses {
            let data = match address {
                IpAddr::V4(ip) if v4 => RData::A(A(*ip)),
                IpAddr::V6(ip) if v6 => RData::AAAA(AAAA(*ip)),
                _ => continue,
            };
            answer.add_answer(Record::from_rdata(query.name().clone(), self.ttl, data));
        }
        answer
    }

    async fn forward(
        &self,
        upstream: SocketAddr,
        request: &[u8],
        message: &Message,
        transport: Transport,
        stop: &mut Stop,
    ) -> Option<Vec<u8>> {
        let id = (self.ids.next_u64() >> 48) as u16;
        let exchange = tokio::time::timeout(
            self.upstream_timeout,
            upstream::exchange(upstream, request, id),
        );
        let result = tokio::select! {
            result = exchange => result,
            _ = stop.wait() => return None,
        };
        let relayed = match result {
            Ok(Ok(raw)) => Message::from_vec(&raw).map_err(|e| format!("undecodable answer: {e}")),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "no answer in {}",
                ballast_core::format_duration(self.upstream_timeout)
            )),
        };
        match relayed {
            Ok(mut answer) => {
                answer.metadata.id = message.id;
                encode(&answer, transport, message)
            }
            Err(why) => {
                tracing::debug!(%upstream, "forwarding failed: {why}");
                self.counters.upstream_errors.inc();
                let mut answer = reply(message, ResponseCode::ServFail);
                answer.metadata.recursion_available = true;
                encode(&answer, transport, message)
            }
        }
    }
}

/// The question's name as the records and patterns hold names: lower case, no trailing
/// dot (the root is ""). Odd bytes stay escaped as `\DDD`, so only `*` matches them.
fn folded(request: &Message) -> String {
    let mut name = request.queries[0].name().to_ascii();
    name.make_ascii_lowercase();
    if name.ends_with('.') {
        name.pop();
    }
    name
}

/// An answer to `request` with its question and no records.
fn reply(request: &Message, code: ResponseCode) -> Message {
    let mut answer = Message::response(request.id, request.op_code);
    answer.metadata = Metadata::response_from_request(&request.metadata);
    answer.metadata.response_code = code;
    answer.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        answer.set_edns(edns);
    }
    answer
}

/// `answer` as bytes; over UDP cut to the question with TC set when it is larger than the
/// client takes (it then asks again over TCP).
fn encode(answer: &Message, transport: Transport, request: &Message) -> Option<Vec<u8>> {
    let bytes = match answer.to_vec() {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::debug!("cannot encode an answer: {e}");
            let mut bare = reply(request, ResponseCode::ServFail);
            bare.queries.clear();
            bare.edns = None;
            return bare.to_vec().ok();
        }
    };
    let limit = match (transport, &request.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => UDP_PLAIN,
        (Transport::Udp, Some(edns)) => usize::from(edns.max_payload().clamp(512, UDP_PAYLOAD)),
    };
    if bytes.len() <= limit {
        return Some(bytes);
    }
    answer.truncate().to_vec().ok()
}

/// An answer to send, if there is one.
fn sent(answer: Option<Vec<u8>>) -> Response {
    answer.map_or(Response::Silent, Response::Answer)
}

/// A bare header answering `request` with `code`, built from its first bytes alone (for
/// messages that do not decode); `None` unless those are a query's header.
fn header_error(request: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    // Shorter than a header, or a response.
    if request.len() < 12 || request[2] & 0x80 != 0 {
        return None;
    }
    let mut answer = vec![0u8; 12];
    answer[..2].copy_from_slice(&request[..2]);
    // QR, then the opcode and RD copied from the query.
    answer[2] = 0x80 | (request[2] & 0x79);
    answer[3] = (u16::from(code) & 0x0f) as u8;
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn query(name: &str, kind: RecordType, edns: bool) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.id = 0x5eed;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        if edns {
            message.set_edns(Edns::new());
        }
        message.to_vec().unwrap()
    }

    fn answer(response: Response) -> Message {
        match response {
            Response::Answer(bytes) => Message::from_vec(&bytes).unwrap(),
            other => panic!("no answer: {other:?}"),
        }
    }

    #[test]
    fn respond_decides_like_the_server_without_sockets() {
        let config = DnsConfig::default().record(
            "db.shop.test",
            vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        );
        let udp = |faults: &[DnsFault], query: &[u8]| {
            respond(&config, faults, query, Transport::Udp).unwrap()
        };
        for (kind, edns) in [(RecordType::A, false), (RecordType::AAAA, true)] {
            let a = answer(udp(&[], &query("DB.shop.test.", kind, edns)));
            assert_eq!((a.id, a.response_code), (0x5eed, ResponseCode::NoError));
            assert_eq!(a.answers.len(), 1);
            assert_eq!(a.answers[0].record_type(), kind);
            assert_eq!(a.edns.is_some(), edns);
        }
        let none = answer(udp(&[], &query("other.test.", RecordType::A, false)));
        assert_eq!(none.response_code, ResponseCode::NXDomain);

        let q = query("db.shop.test.", RecordType::A, false);
        let servfail = [DnsFault::new("*.shop.test", DnsAction::ServFail)];
        assert_eq!(
            answer(udp(&servfail, &q)).response_code,
            ResponseCode::ServFail
        );
        assert_eq!(
            udp(&[DnsFault::new("*", DnsAction::Timeout)], &q),
            Response::Silent
        );
        let delay = [DnsFault::new(
            "*",
            DnsAction::Delay(Duration::from_millis(5)),
        )];
        match udp(&delay, &q) {
            Response::Delay(d, then) => {
                assert_eq!(d, Duration::from_millis(5));
                assert_eq!(answer(*then).answers.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        // A response, a short message: nothing. Garbage with a header: FORMERR.
        let mut response = q.clone();
        response[2] |= 0x80;
        assert_eq!(udp(&[], &response), Response::Silent);
        assert_eq!(udp(&[], &q[..5]), Response::Silent);
        let garbage = answer(udp(&[], &[0x12, 0x34, 1, 0, 0, 9, 0, 0, 0, 0, 0, 0, 7]));
        assert_eq!(
            (garbage.id, garbage.response_code),
            (0x1234, ResponseCode::FormErr)
        );

        let forwarding = DnsConfig {
            upstream: Some("127.0.0.1:5353".parse().unwrap()),
            ..config.clone()
        };
        let other = query("other.test.", RecordType::A, false);
        let forward = |faults: &[DnsFault]| respond(&forwarding, faults, &other, Transport::Tcp);
        assert_eq!(forward(&[]).unwrap(), Response::Forward);
        // What the server refuses to build or set is refused here too.
        assert!(forward(&[DnsFault::new("db*", DnsAction::Refused)]).is_err());
        let bad = DnsConfig {
            ttl: u32::MAX,
            ..config.clone()
        };
        assert!(respond(&bad, &[], &other, Transport::Udp).is_err());
    }

    #[test]
    fn header_errors_echo_the_id_and_never_answer_answers() {
        let query = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
        let answer = header_error(&query, ResponseCode::FormErr).unwrap();
        assert_eq!(answer, [0xab, 0xcd, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut response = query;
        response[2] |= 0x80;
        assert_eq!(header_error(&response, ResponseCode::FormErr), None);
        assert_eq!(header_error(&query[..11], ResponseCode::FormErr), None);
        assert_eq!(header_error(&[], ResponseCode::FormErr), None);
    }
}
