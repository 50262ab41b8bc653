//! Name patterns: exact, `*.suffix`, `*`; names and patterns in any case, with or without
//! the trailing dot.

use crate::dns::common::{ask_a, resolver, shop, Outcome, Via};
use ballast_dns::{DnsAction, DnsFault};
use hickory_resolver::proto::op::ResponseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_then_suffix_then_everything() {
    let server = shop().build().await.unwrap();
    server
        .set_faults(vec![
            DnsFault::new("db.shop.test", DnsAction::Refused),
            DnsFault::new("*.shop.test", DnsAction::NxDomain),
            DnsFault::new("*", DnsAction::ServFail),
        ])
        .unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    let cases = [
        ("db.shop.test.", ResponseCode::Refused),
        ("DB.Shop.TEST.", ResponseCode::Refused),
        ("cache.shop.test.", ResponseCode::NXDomain),
        ("a.b.shop.test.", ResponseCode::NXDomain),
        ("CACHE.SHOP.TEST.", ResponseCode::NXDomain),
        // "*.shop.test" is names under shop.test, not shop.test itself.
        ("shop.test.", ResponseCode::ServFail),
        ("dbshop.test.", ResponseCode::ServFail),
        ("example.org.", ResponseCode::ServFail),
    ];
    for (name, code) in cases {
        assert_eq!(ask_a(&client, name).await, Outcome::Code(code), "{name}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_and_records_ignore_case_and_the_trailing_dot() {
    let server = shop().build().await.unwrap();
    let client = resolver(server.local_addr(), Via::Udp);
    // Records: "cache.shop.test." was configured with its dot, "db.shop.test" without.
    assert_eq!(
        ask_a(&client, "Db.SHOP.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    assert_eq!(
        ask_a(&client, "CACHE.shop.test.").await,
        Outcome::addresses(&["127.0.0.2"])
    );

    server
        .set_faults(vec![DnsFault::new("*.SHOP.Test.", DnsAction::ServFail)])
        .unwrap();
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::Code(ResponseCode::ServFail)
    );
    server
        .set_faults(vec![DnsFault::new("CACHE.shop.test.", DnsAction::Refused)])
        .unwrap();
    assert_eq!(
        ask_a(&client, "cache.SHOP.test.").await,
        Outcome::Code(ResponseCode::Refused)
    );
    assert_eq!(
        ask_a(&client, "db.shop.test.").await,
        Outcome::addresses(&["127.0.0.1"])
    );
    server.shutdown().await;
}
