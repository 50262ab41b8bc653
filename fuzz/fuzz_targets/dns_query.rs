//! One message to the DNS server's query path (`ballast_dns::respond`, what the server runs
//! on every datagram and TCP message): the first byte picks the fault, the transport and
//! whether there is an upstream, the rest is the message. Never a panic; an answer decodes,
//! is a response carrying the message's id and fits the transport; a response is never
//! answered; only a server with an upstream forwards.
//!
//! First byte: bits 0–2 the fault (0 and 7 none, 1 NXDOMAIN, 2 SERVFAIL, 3 REFUSED,
//! 4 wrong address, 5 delay, 6 timeout), 0x08 on `*` rather than `*.shop.test`, 0x10 on
//! half the queries, 0x20 over TCP, 0x40 with an upstream.
#![no_main]
use ballast_dns::{respond, DnsAction, DnsConfig, DnsFault, Response, Transport};
use hickory_proto::op::{Message, MessageType};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// Without and with an upstream; `big.shop.test` has more addresses than fit a datagram.
fn configs() -> &'static [DnsConfig; 2] {
    static CONFIGS: OnceLock<[DnsConfig; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let big: Vec<IpAddr> = (0..60u16)
            .flat_map(|i| {
                [
                    IpAddr::from([10, 0, (i >> 8) as u8, i as u8]),
                    IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, i]),
                ]
            })
            .collect();
        let local = DnsConfig::default()
            .record(
                "db.shop.test",
                vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            )
            .record("empty.shop.test", vec![])
            .record("big.shop.test", big);
        let forwarding = DnsConfig {
            upstream: Some("127.0.0.1:5353".parse().unwrap()),
            ..local.clone()
        };
        [local, forwarding]
    })
}

fn faults(control: u8) -> Vec<DnsFault> {
    let action = match control & 0x07 {
        1 => DnsAction::NxDomain,
        2 => DnsAction::ServFail,
        3 => DnsAction::Refused,
        4 => DnsAction::Address(vec![
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ]),
        5 => DnsAction::Delay(Duration::from_millis(250)),
        6 => DnsAction::Timeout,
        _ => return Vec::new(),
    };
    let pattern = if control & 0x08 != 0 {
        "*"
    } else {
        "*.shop.test"
    };
    let share = if control & 0x10 != 0 { 0.5 } else { 1.0 };
    vec![DnsFault::new(pattern, action).share(share)]
}

fn check(response: &Response, query: &[u8], transport: Transport, upstream: bool, depth: u8) {
    match response {
        Response::Answer(bytes) => {
            let answer = Message::from_vec(bytes)
                .unwrap_or_else(|e| panic!("undecodable answer {bytes:02x?}: {e}"));
            assert_eq!(answer.message_type, MessageType::Response);
            assert!(query.len() >= 12, "answered {} bytes", query.len());
            assert_eq!(answer.id, u16::from_be_bytes([query[0], query[1]]));
            if transport == Transport::Udp {
                // What the client takes: its EDNS size (512 to 1232), else 512.
                let limit = match Message::from_vec(query).ok().and_then(|q| q.edns) {
                    Some(edns) => usize::from(edns.max_payload().clamp(512, 1232)),
                    None => 512,
                };
                assert!(
                    bytes.len() <= limit,
                    "{} bytes over UDP, limit {limit}",
                    bytes.len()
                );
            }
        }
        Response::Silent => {}
        Response::Forward => assert!(upstream, "forwarded without an upstream"),
        Response::Delay(delay, then) => {
            assert_eq!(depth, 0, "a delay after a delay");
            assert_eq!(*delay, Duration::from_millis(250));
            check(then, query, transport, upstream, 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, query)) = data.split_first() else {
        return;
    };
    let transport = if control & 0x20 != 0 {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let upstream = control & 0x40 != 0;
    let config = &configs()[usize::from(upstream)];
    let response = respond(config, &faults(control), query, transport).expect("a valid server");
    // Never answer an answer (the QR bit).
    if query.len() > 2 && query[2] & 0x80 != 0 {
        assert_eq!(response, Response::Silent);
    }
    check(&response, query, transport, upstream, 0);
});
