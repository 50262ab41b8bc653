//! Each action as a resolver sees it, the records without faults, and faults changed at
//! run time.

use crate::dns::common::{ask, ask_a, assert_outcomes_add_up, resolver, shop, Outcome, Via};
use ballast_dns::{DnsAction, DnsFault};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_answer_by_type_and_unknown_names_are_nxdomain() {
    let server = shop().build().await.unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    assert_eq!(
        ask(&client, "db.shop.test.", RecordType::AAAA).await,
        Outcome::addresses(&["::1"])
    );
    assert_eq!(
        ask_a(&client, "cache.shop.test.").await,
        Outcome::addresses(&["127.0.0.2"])
    );
    // The name exists but has no address: NOERROR, no answer.
    assert_eq!(
        ask_a(&client, "empty.shop.test.").await,
        Outcome::Addresses(vec![])
    );
    assert_eq!(
        ask(&client, "cache.shop.test.", RecordType::AAAA).await,
        Outcome::Addresses(vec![])
    );
    assert_eq!(
        ask_a(&client, "nope.shop.test.").await,
        Outcome::Code(ResponseCode::NXDomain)
    );
    let lookup = client.lookup("db.shop.test.", RecordType::A).await.unwrap();
    assert_eq!(lookup.answers()[0].ttl, 5, "the default TTL");
    let stats = server.stats();
    assert_eq!(stats.queries, 7);
    assert_eq!(stats.answered, 7);
    assert_outcomes_add_up(&stats);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_action_is_what_the_resolver_gets() {
    let server = shop().build().await.unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    let on_db = |action| vec![DnsFault::new("db.shop.test", action)];

    server.set_faults(on_db(DnsAction::NxDomain)).unwrap();
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::Code(ResponseCode::NXDomain)
    );
    server.set_faults(on_db(DnsAction::ServFail)).unwrap();
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::Code(ResponseCode::ServFail)
    );
    server.set_faults(on_db(DnsAction::Refused)).unwrap();
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::Code(ResponseCode::Refused)
    );

    let wrong = vec!["127.0.0.66".parse().unwrap(), "::66".parse().unwrap()];
    server.set_faults(on_db(DnsAction::Address(wrong))).unwrap();
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.66"])
    );
    assert_eq!(
        ask(&client, "db.shop.test.", RecordType::AAAA).await,
        Outcome::addresses(&["::66"])
    );

    server
        .set_faults(on_db(DnsAction::Delay(Duration::from_millis(300))))
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    server.set_faults(on_db(DnsAction::Timeout)).unwrap();
    assert_eq!(ask_a(&client, "db.shop.test.").await, Outcome::NoAnswer);
    // Other names are untouched throughout.
    assert_eq!(
        ask_a(&client, "cache.shop.test.").await,
        Outcome::addresses(&["127.0.0.2"])
    );

    let stats = server.stats();
    assert_eq!(
        (
            stats.nxdomain,
            stats.servfail,
            stats.refused,
            stats.wrong_address
        ),
        (1, 1, 1, 2),
        "{stats:?}"
    );
    // The resolver may send a query again while waiting: at least one each.
    assert!(stats.delayed >= 1 && stats.dropped >= 1, "{stats:?}");
    assert_outcomes_add_up(&stats);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_set_replaced_and_cleared_at_run_time() {
    let server = shop().build().await.unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    let db = || ask_a(&client, "db.shop.test.");
    let cache = || ask_a(&client, "cache.shop.test.");
    assert_eq!(db().await, Outcome::addresses(&["127.0.0.1"]));

    server
        .set_faults(vec![DnsFault::new("db.shop.test", DnsAction::ServFail)])
        .unwrap();
    assert_eq!(db().await, Outcome::Code(ResponseCode::ServFail));
    assert_eq!(cache().await, Outcome::addresses(&["127.0.0.2"]));

    // A new list replaces the old one.
    server
        .set_faults(vec![DnsFault::new("cache.shop.test", DnsAction::Refused)])
        .unwrap();
    assert_eq!(db().await, Outcome::addresses(&["127.0.0.1"]));
    assert_eq!(cache().await, Outcome::Code(ResponseCode::Refused));

    // An invalid list is refused whole and the current one stays.
    let err = server
        .set_faults(vec![
            DnsFault::new("db.shop.test", DnsAction::ServFail),
            DnsFault::new("*", DnsAction::Delay(Duration::from_secs(120))),
        ])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("faults[1] (names \"*\"): delay 2m"),
        "{err}"
    );
    assert_eq!(db().await, Outcome::addresses(&["127.0.0.1"]));
    assert_eq!(cache().await, Outcome::Code(ResponseCode::Refused));

    server.clear_faults();
    assert_eq!(db().await, Outcome::addresses(&["127.0.0.1"]));
    assert_eq!(cache().await, Outcome::addresses(&["127.0.0.2"]));
    server.shutdown().await;
}
