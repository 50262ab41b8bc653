//! Forwarding what the records do not hold to a second instance used as upstream.

use crate::dns::common::{ask_a, assert_outcomes_add_up, resolver, shop, Outcome, Via};
use ballast_dns::{DnsAction, DnsConfig, DnsFault};
use hickory_resolver::proto::op::ResponseCode;
use std::net::IpAddr;
use std::time::Duration;

async fn upstream() -> ballast_dns::DnsServer {
    DnsConfig::default()
        .record("ext.test", vec!["127.0.0.9".parse().unwrap()])
        .record("db.shop.test", vec!["127.0.0.99".parse().unwrap()])
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_not_held_go_upstream_and_held_ones_do_not() {
    let upstream = upstream().await;
    let primary = DnsConfig {
        upstream: Some(upstream.local_addr()),
        ..shop()
    }
    .build()
    .await
    .unwrap();
    let client = resolver(primary.local_addr(), Via::Udp);
    assert_eq!(
        ask_a(&client, "ext.test.").await,
        Outcome::addresses(&["127.0.0.9"])
    );
    assert_eq!(
        ask_a(&client, "EXT.test.").await,
        Outcome::addresses(&["127.0.0.9"])
    );
    // The primary's own record wins over the upstream's.
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    // The upstream's NXDOMAIN is relayed.
    assert_eq!(
        ask_a(&client, "nope.test.").await,
        Outcome::Code(ResponseCode::NXDomain)
    );

    let (p, u) = (primary.stats(), upstream.stats());
    assert_eq!(
        (p.queries, p.forwarded, p.answered, p.upstream_errors),
        (4, 3, 1, 0),
        "{p:?}"
    );
    assert_eq!((u.queries, u.answered), (3, 3), "{u:?}");
    assert_outcomes_add_up(&p);
    primary.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_act_before_forwarding_and_upstream_faults_are_relayed() {
    let upstream = upstream().await;
    let primary = DnsConfig {
        upstream: Some(upstream.local_addr()),
        upstream_timeout: Duration::from_millis(300),
        ..shop()
    }
    .build()
    .await
    .unwrap();
    let client = resolver(primary.local_addr(), Via::Udp);

    primary
        .set_faults(vec![DnsFault::new("ext.test", DnsAction::NxDomain)])
        .unwrap();
    assert_eq!(
        ask_a(&client, "ext.test.").await,
        Outcome::Code(ResponseCode::NXDomain)
    );
    assert_eq!(
        upstream.stats().queries,
        0,
        "a faulted query is not forwarded"
    );
    primary.clear_faults();

    upstream
        .set_faults(vec![DnsFault::new("*", DnsAction::Refused)])
        .unwrap();
    assert_eq!(
        ask_a(&client, "ext.test.").await,
        Outcome::Code(ResponseCode::Refused)
    );
    assert_eq!(
        primary.stats().upstream_errors,
        0,
        "the upstream did answer"
    );

    // An upstream that never answers: SERVFAIL after upstream_timeout.
    upstream
        .set_faults(vec![DnsFault::new("*", DnsAction::Timeout)])
        .unwrap();
    assert_eq!(
        ask_a(&client, "ext.test.").await,
        Outcome::Code(ResponseCode::ServFail)
    );
    assert!(primary.stats().upstream_errors >= 1);

    // An upstream that is gone: SERVFAIL too.
    upstream.shutdown().await;
    let before = primary.stats().upstream_errors;
    assert_eq!(
        ask_a(&client, "ext.test.").await,
        Outcome::Code(ResponseCode::ServFail)
    );
    assert!(primary.stats().upstream_errors > before);
    assert_outcomes_add_up(&primary.stats());
    primary.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_too_large_for_udp_comes_over_tcp_both_hops() {
    // 120 addresses: about 2 KB, over the 1232-byte datagram both servers send.
    let many: Vec<IpAddr> = (0..120u8).map(|i| IpAddr::from([127, 1, 0, i])).collect();
    let upstream = DnsConfig::default()
        .record("big.test", many.clone())
        .build()
        .await
        .unwrap();
    let primary = DnsConfig {
        upstream: Some(upstream.local_addr()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let client = resolver(primary.local_addr(), Via::Udp);
    let outcome = ask_a(&client, "big.test.").await;
    let Outcome::Addresses(mut got) = outcome else {
        panic!("{outcome:?}")
    };
    got.sort();
    assert_eq!(got, many);
    // Client → primary over UDP (truncated), then over TCP; each time the primary asked
    // the upstream over UDP (truncated) and then over TCP.
    assert_eq!(primary.stats().forwarded, 2);
    assert_eq!(upstream.stats().queries, 4);
    primary.shutdown().await;
    upstream.shutdown().await;
}
