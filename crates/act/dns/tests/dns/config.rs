//! Addresses, binding, shutdown.

use crate::dns::common::{ask_a, resolver, shop, Outcome, Via};
use ballast_dns::{DnsAction, DnsConfig, DnsFault, Error};
use hickory_resolver::proto::op::{Message, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_listen_address_is_refused_unless_allowed() {
    let config = DnsConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..shop()
    };
    let err = config.build().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotLoopback {
                field: "listen",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("allow_remote"), "{err}");

    // Allowed: it binds every interface; asked here through loopback.
    let server = DnsConfig {
        allow_remote: true,
        ..config
    }
    .build()
    .await
    .unwrap();
    assert!(server.local_addr().ip().is_unspecified());
    let here = SocketAddr::from(([127, 0, 0, 1], server.local_addr().port()));
    assert_eq!(
        ask_a(&resolver(here, Via::Udp), "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    server.shutdown().await;

    let err = DnsConfig {
        upstream: Some("192.0.2.53:53".parse().unwrap()),
        ..shop()
    }
    .build()
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotLoopback {
                field: "upstream",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_gives_udp_and_tcp_one_port_and_a_taken_port_is_named() {
    let server = shop().build().await.unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    for via in [Via::Udp, Via::Tcp] {
        assert_eq!(
            ask_a(&resolver(addr, via), "db.shop.test.").await,
            Outcome::addresses(&["127.0.0.1"]),
            "{via:?}"
        );
    }
    let err = DnsConfig::new(addr).build().await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot listen for DNS on {addr} (udp)")),
        "{err}"
    );
    server.shutdown().await;
}

fn query(name: &str) -> Vec<u8> {
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message.to_vec().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_delayed_queries_and_stops_answering() {
    let server = shop().build().await.unwrap();
    let addr = server.local_addr();
    server
        .set_faults(vec![DnsFault::new(
            "*",
            DnsAction::Delay(Duration::from_secs(60)),
        )])
        .unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..10 {
        socket.send_to(&query("db.shop.test."), addr).await.unwrap();
    }
    // All ten are being delayed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().delayed < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.stats().delayed, 10);
    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Nothing answers there any more: no late answers to the delayed queries either.
    socket.send_to(&query("db.shop.test."), addr).await.ok();
    let mut buf = [0u8; 512];
    let got = tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await;
    assert!(!matches!(got, Ok(Ok(_))), "an answer after shutdown");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
