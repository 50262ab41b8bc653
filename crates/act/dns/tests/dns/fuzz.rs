//! Arbitrary bytes never stop the server: after each datagram or TCP stream of them, a
//! valid query is still answered, and whatever answers the bytes got are DNS responses
//! to them.

use crate::dns::common::shop;
use ballast_dns::DnsServer;
use hickory_resolver::proto::op::{Message, MessageType, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const PROBE_ID: u16 = 0xbeef;

fn probe() -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = PROBE_ID;
    message.add_query(Query::query(
        Name::from_ascii("db.shop.test.").unwrap(),
        RecordType::A,
    ));
    message.to_vec().unwrap()
}

/// Sends `bytes`, then the probe, from one socket; reads until the probe's answer.
async fn datagram_then_probe(server: SocketAddr, bytes: &[u8]) -> Result<(), TestCaseError> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    socket.send_to(&probe(), server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    for _ in 0..4 {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
            .await
            .map_err(|_| TestCaseError::fail("no answer to the probe"))?
            .unwrap();
        let answer = Message::from_vec(&buf[..n])
            .map_err(|e| TestCaseError::fail(format!("undecodable answer: {e}")))?;
        prop_assert_eq!(answer.message_type, MessageType::Response);
        if answer.id == PROBE_ID && answer.answers.len() == 1 {
            return Ok(());
        }
        // An answer to the bytes: to their id.
        prop_assert!(bytes.len() >= 12, "answered {} bytes", bytes.len());
        prop_assert_eq!(answer.id, u16::from_be_bytes([bytes[0], bytes[1]]));
    }
    Err(TestCaseError::fail("more answers than datagrams"))
}

fn run(
    server: &DnsServer,
    runtime: &tokio::runtime::Runtime,
    bytes: impl Strategy<Value = Vec<u8>>,
) {
    let addr = server.local_addr();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&bytes, |bytes| {
            runtime.block_on(datagram_then_probe(addr, &bytes))
        })
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn arbitrary_datagrams_never_stop_the_server() {
    let runtime = runtime();
    let server = runtime.block_on(shop().build()).unwrap();
    run(
        &server,
        &runtime,
        proptest::collection::vec(any::<u8>(), 0..600),
    );
    // Bytes near a real query reach further into the decoder.
    let mutated =
        proptest::collection::vec((0..probe().len(), any::<u8>()), 1..6).prop_map(|changes| {
            let mut bytes = probe();
            bytes[..2].copy_from_slice(&[0x12, 0x34]);
            for (at, value) in changes {
                bytes[at] = value;
            }
            bytes
        });
    run(&server, &runtime, mutated);
    let stats = server.stats();
    assert!(stats.malformed > 0, "{stats:?}");
    runtime.block_on(server.shutdown());
}

#[test]
fn arbitrary_tcp_streams_never_stop_the_server() {
    let runtime = runtime();
    let server = runtime.block_on(shop().build()).unwrap();
    let addr = server.local_addr();
    let mut runner = TestRunner::new(Config {
        cases: 100,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            runtime.block_on(async {
                let mut junk = TcpStream::connect(addr).await.unwrap();
                junk.write_all(&bytes).await.unwrap();
                drop(junk);
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let probe = probe();
                stream
                    .write_all(&(probe.len() as u16).to_be_bytes())
                    .await
                    .unwrap();
                stream.write_all(&probe).await.unwrap();
                let len = tokio::time::timeout(Duration::from_secs(5), stream.read_u16())
                    .await
                    .map_err(|_| TestCaseError::fail("no answer to the probe"))?
                    .unwrap();
                let mut buf = vec![0u8; usize::from(len)];
                stream.read_exact(&mut buf).await.unwrap();
                prop_assert_eq!(Message::from_vec(&buf).unwrap().id, PROBE_ID);
                Ok(())
            })
        })
        .unwrap();
    runtime.block_on(server.shutdown());
}
