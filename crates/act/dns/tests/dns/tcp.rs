//! DNS over TCP: answers, faults, pipelining, large answers, the connection cap.

use crate::dns::common::{ask_a, assert_outcomes_add_up, resolver, shop, Outcome, Via};
use ballast_dns::{DnsAction, DnsConfig, DnsFault, MAX_TCP_CONNECTIONS};
use hickory_resolver::proto::op::{Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_answers_and_faults() {
    let server = shop().build().await.unwrap();
    let client = resolver(server.local_addr(), Via::Tcp);
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    assert_eq!(
        ask_a(&client, "nope.test.").await,
        Outcome::Code(ResponseCode::NXDomain)
    );
    for (action, expected) in [
        (DnsAction::ServFail, Outcome::Code(ResponseCode::ServFail)),
        (DnsAction::Refused, Outcome::Code(ResponseCode::Refused)),
        (
            DnsAction::Address(vec!["127.0.0.66".parse().unwrap()]),
            Outcome::addresses(&["127.0.0.66"]),
        ),
        (
            DnsAction::Delay(Duration::from_millis(100)),
            Outcome::addresses(&["127.0.0.1"]),
        ),
        (DnsAction::Timeout, Outcome::NoAnswer),
    ] {
        server
            .set_faults(vec![DnsFault::new("*.shop.test", action.clone())])
            .unwrap();
        assert_eq!(
            ask_a(&client, "db.shop.test.").await,
            expected,
            "{action:?}"
        );
    }
    server.clear_faults();
    // The connection still serves after an unanswered query.
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    assert_outcomes_add_up(&server.stats());
    server.shutdown().await;
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message.to_vec().unwrap()
}

async fn send(stream: &mut TcpStream, message: &[u8]) {
    stream
        .write_all(&(message.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(message).await.unwrap();
}

async fn receive(stream: &mut TcpStream) -> Message {
    let len = stream.read_u16().await.unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_are_answered_as_they_are_ready() {
    let server = shop().build().await.unwrap();
    server
        .set_faults(vec![DnsFault::new(
            "db.shop.test",
            DnsAction::Delay(Duration::from_secs(2)),
        )])
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    send(&mut stream, &query(1, "db.shop.test.")).await;
    send(&mut stream, &query(2, "cache.shop.test.")).await;
    send(&mut stream, &query(3, "nope.shop.test.")).await;
    let order: Vec<u16> = [
        receive(&mut stream).await,
        receive(&mut stream).await,
        receive(&mut stream).await,
    ]
    .iter()
    .map(|answer| answer.id)
    .collect();
    assert_eq!(order[2], 1, "the delayed answer comes last: {order:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_too_large_for_udp_come_over_tcp() {
    let many: Vec<IpAddr> = (0..120u8).map(|i| IpAddr::from([127, 1, 0, i])).collect();
    let server = DnsConfig::default()
        .record("big.test", many.clone())
        .build()
        .await
        .unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    let outcome = ask_a(&client, "big.test.").await;
    let Outcome::Addresses(mut got) = outcome else {
        panic!("{outcome:?}")
    };
    got.sort();
    assert_eq!(got, many);
    assert_eq!(server.stats().queries, 2, "UDP (truncated), then TCP");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_garbage_ends_only_its_own() {
    let server = shop().build().await.unwrap();
    let addr: SocketAddr = server.local_addr();
    let mut open = Vec::new();
    for _ in 0..MAX_TCP_CONNECTIONS {
        open.push(TcpStream::connect(addr).await.unwrap());
    }
    // One answered query on the last one proves all of them were accepted.
    let last = open.last_mut().unwrap();
    send(last, &query(9, "db.shop.test.")).await;
    assert_eq!(receive(last).await.id, 9);

    let mut over = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), over.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(server.stats().shed >= 1);

    // A connection that sends garbage is closed; the others go on.
    let garbage = &mut open[0];
    garbage.write_all(&[0, 3, 1, 2, 3]).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "still open");
    drop(open.remove(0));

    // With a place free again, a new connection is served.
    let mut again = None;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        send(&mut stream, &query(10, "db.shop.test.")).await;
        if let Ok(Ok(len)) = tokio::time::timeout(Duration::from_secs(2), stream.read_u16()).await {
            again = Some(len);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "no connection served after one was freed");
    let second = &mut open[5];
    send(second, &query(11, "cache.shop.test.")).await;
    assert_eq!(receive(second).await.id, 11);
    server.shutdown().await;
}
