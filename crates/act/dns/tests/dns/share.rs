//! A fault's share is per query: 30 % SERVFAIL over 400 queries lands near 120, and the
//! seed decides exactly which queries.

use crate::dns::common::{ask_a, assert_outcomes_add_up, resolver, Outcome, Via};
use ballast_dns::{DnsAction, DnsConfig, DnsFault, DnsServer};
use hickory_resolver::proto::op::{Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RecordType};
use std::time::Duration;

const QUERIES: usize = 400;

/// A server answering NXDOMAIN to everything (no records, no upstream) but SERVFAIL to
/// 30 % of the names under `shop.test`.
async fn servfail_30(seed: u64) -> DnsServer {
    let server = DnsConfig {
        seed,
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    server
        .set_faults(vec![
            DnsFault::new("*.shop.test", DnsAction::ServFail).share(0.3)
        ])
        .unwrap();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_servfail_hits_about_thirty_percent_of_queries() {
    let server = servfail_30(1).await;
    let client = resolver(server.local_addr(), Via::Udp);
    let mut outcomes = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        outcomes.push(ask_a(&client, &format!("q{i}.shop.test.")).await);
    }
    let stats = server.stats();
    server.shutdown().await;
    let servfail = outcomes
        .iter()
        .filter(|o| **o == Outcome::Code(ResponseCode::ServFail))
        .count();
    let nxdomain = outcomes
        .iter()
        .filter(|o| **o == Outcome::Code(ResponseCode::NXDomain))
        .count();
    assert_eq!(servfail + nxdomain, QUERIES, "{outcomes:?}");
    // Binomial(400, 0.3): mean 120, standard deviation 9.2; the band is over 4 of them.
    assert!((80..=160).contains(&servfail), "{servfail} of {QUERIES}");
    assert_outcomes_add_up(&stats);
    // The resolver sends a query again when no answer came in 333 ms (only on a machine
    // stalled that long); each copy draws its own coin, so exact counts hold without one.
    if stats.queries == QUERIES as u64 {
        assert_eq!(stats.servfail, servfail as u64);
        assert_eq!(stats.answered, nxdomain as u64);
    } else {
        assert!(stats.queries > QUERIES as u64, "{stats:?}");
    }
}

/// The response code of each of 400 queries, one at a time over plain UDP (no resend:
/// each query draws exactly one coin).
async fn codes(seed: u64) -> Vec<ResponseCode> {
    let server = servfail_30(seed).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut codes = Vec::with_capacity(QUERIES);
    let mut buf = [0u8; 512];
    for i in 0..QUERIES {
        let mut query = Message::query();
        let name = Name::from_ascii(format!("q{i}.shop.test.")).unwrap();
        query.add_query(Query::query(name, RecordType::A));
        socket
            .send_to(&query.to_vec().unwrap(), server.local_addr())
            .await
            .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buf))
            .await
            .expect("an answer in 10 s")
            .unwrap();
        let answer = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(answer.id, query.id);
        codes.push(answer.response_code);
    }
    assert_eq!(server.stats().queries, QUERIES as u64);
    server.shutdown().await;
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_decides_which_queries_are_hit() {
    let first = codes(7).await;
    assert_eq!(first, codes(7).await);
    assert_ne!(first, codes(8).await);
    assert!(first.contains(&ResponseCode::ServFail) && first.contains(&ResponseCode::NXDomain));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_whose_coin_fails_lets_the_next_one_try() {
    let server = DnsConfig::default()
        .record("db.shop.test", vec!["127.0.0.1".parse().unwrap()])
        .build()
        .await
        .unwrap();
    server
        .set_faults(vec![
            DnsFault::new("db.shop.test", DnsAction::Refused).share(0.5),
            DnsFault::new("*", DnsAction::NxDomain).share(0.5),
            DnsFault::new("*", DnsAction::ServFail).share(0.0),
        ])
        .unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    for _ in 0..200 {
        ask_a(&client, "db.shop.test.").await;
    }
    let stats = server.stats();
    // Refused ~50 %, NXDOMAIN ~25 %, answered ~25 %, SERVFAIL never.
    assert!((70..=130).contains(&stats.refused), "{stats:?}");
    assert!((25..=75).contains(&stats.nxdomain), "{stats:?}");
    assert!((25..=75).contains(&stats.answered), "{stats:?}");
    assert_eq!(stats.servfail, 0);
    assert_outcomes_add_up(&stats);
    server.shutdown().await;
}
