//! One query in, at most one answer out: faults first, then the records, then the upstream.

use crate::fault::{Dice, DnsAction, FaultSet};
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

/// How the query came, for the size of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
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
    /// The encoded answer to `request`, or `None` when none is to be sent.
    pub(crate) async fn handle(
        &self,
        request: &[u8],
        transport: Transport,
        stop: &mut Stop,
    ) -> Option<Vec<u8>> {
        let message = match Message::from_vec(request) {
            Ok(message) => message,
            Err(_) => {
                self.counters.malformed.inc();
                return header_error(request, ResponseCode::FormErr);
            }
        };
        if message.message_type != MessageType::Query {
            // Never answer an answer: two servers could bounce one forever.
            self.counters.malformed.inc();
            return None;
        }
        if message.op_code != OpCode::Query {
            self.counters.malformed.inc();
            return encode(&reply(&message, ResponseCode::NotImp), transport, &message);
        }
        if message.queries.len() != 1 {
            self.counters.malformed.inc();
            return encode(&reply(&message, ResponseCode::FormErr), transport, &message);
        }
        self.counters.queries.inc();
        let name = folded(&message);
        let faults = Arc::clone(&self.faults.read().unwrap_or_else(|e| e.into_inner()));
        let fault = faults.pick(&name, &self.coins);
        let code = match fault {
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
                return encode(&answer, transport, &message);
            }
            Some(DnsAction::Timeout) => {
                self.counters.dropped.inc();
                return None;
            }
            Some(DnsAction::Delay(delay)) => {
                self.counters.delayed.inc();
                tokio::select! {
                    _ = tokio::time::sleep(*delay) => None,
                    _ = stop.wait() => return None,
                }
            }
        };
        if let Some(code) = code {
            let mut answer = reply(&message, code);
            answer.metadata.recursion_available = self.upstream.is_some();
            return encode(&answer, transport, &message);
        }
        match (self.records.get(&name), self.upstream) {
            (Some(addresses), _) => {
                self.counters.answered.inc();
                encode(&self.addresses(&message, addresses), transport, &message)
            }
            (None, Some(upstream)) => {
                self.counters.forwarded.inc();
                self.forward(upstream, request, &message, transport, stop)
                    .await
            }
            (None, None) => {
                self.counters.answered.inc();
                let mut answer = reply(&message, ResponseCode::NXDomain);
                answer.metadata.authoritative = true;
                encode(&answer, transport, &message)
            }
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
