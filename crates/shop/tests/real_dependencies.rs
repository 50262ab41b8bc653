//! The shop over a real PostgreSQL (its stock) and a real Redis (its shared cache) on
//! 127.0.0.1, each reached through a ballast chaos proxy, as `ballast demo --database
//! --redis` runs it. scripts/test.sh starts both when they are down.

use ballast_chaos::{ChaosConfig, ChaosServer, ProxyConfig, Toxic};
use ballast_shop::{Shop, ShopConfig};
use std::time::Duration;

const POSTGRES: &str = "127.0.0.1:5432";
const REDIS: &str = "127.0.0.1:6379";

async fn get(url: String) -> Result<String, String> {
    ballast_http::get_once(&url, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())
}

/// A database URL that works here (the machines have `postgres` or `root` as superuser).
async fn database_url(addr: &str) -> String {
    let mut errors = Vec::new();
    for user in ["postgres", "root"] {
        let url = format!("postgres://{user}@{addr}/test");
        match ballast_shop::check_dependencies(Some(&url), None).await {
            Ok(()) => return url,
            Err(e) => errors.push(e.to_string()),
        }
    }
    panic!("no PostgreSQL user works on {addr}: {errors:?}");
}

async fn proxies(pairs: &[(&str, &str)]) -> ChaosServer {
    ChaosConfig {
        proxies: pairs
            .iter()
            .map(|(name, upstream)| ProxyConfig::new(*name, "127.0.0.1:0", *upstream))
            .collect(),
        ..Default::default()
    }
    .build()
    .await
    .expect("proxies start")
}

fn timeout_toxic() -> Toxic {
    Toxic::from_json(
        &serde_json::json!({"name": "stall", "type": "timeout", "attributes": {"timeout": 0}}),
        true,
    )
    .unwrap()
}

async fn counter(shop: &Shop, line_start: &str) -> f64 {
    let text = get(format!("{}metrics", shop.url())).await.unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_timing_out_is_served_from_the_fallback_and_the_shop_reconnects() {
    let direct = database_url(POSTGRES).await;
    let chaos = proxies(&[("db", POSTGRES)]).await;
    let via = chaos.proxy_addr("db").await.unwrap();
    let shop = ShopConfig {
        database: Some(direct.replace(POSTGRES, &via.to_string())),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let page = |id: u64| get(format!("{}v1/products/{id}", shop.url()));

    // The table the shop filled: stock (id × 37) mod 100, as the inventory service answers.
    for id in 1..=10u64 {
        let body = page(id).await.unwrap();
        let stock = (id * 37) % 100;
        assert!(
            body.contains(&format!("\"stock\":{stock}}}")) && body.contains("\"degraded\":false"),
            "{body}"
        );
    }

    chaos.add_toxic("db", timeout_toxic()).await.unwrap();
    let total = 100;
    let mut served = 0;
    for i in 0..total {
        if let Ok(body) = page(1 + i % 10).await {
            assert!(body.contains("\"degraded\":true"), "{body}");
            served += 1;
        }
    }
    assert!(
        served >= total * 95 / 100,
        "{served} of {total} answered with the database stalled"
    );
    assert!(counter(&shop, "ballast_fallback_served_total").await >= served as f64);

    // Removing the toxic closes the stalled connection: the shop opens a new one.
    chaos.remove_toxic("db", "stall").await.unwrap();
    let mut fresh = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if page(3)
            .await
            .is_ok_and(|b| b.contains("\"degraded\":false"))
        {
            fresh = true;
            break;
        }
    }
    assert!(fresh, "fresh answers from the database again");
    chaos.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_a_shared_cache_whose_failure_the_shop_survives() {
    let direct = database_url(POSTGRES).await;
    let chaos = proxies(&[("db", POSTGRES), ("cache", REDIS)]).await;
    let db = chaos.proxy_addr("db").await.unwrap();
    let cache = chaos.proxy_addr("cache").await.unwrap();
    let shop = |port_db: std::net::SocketAddr| ShopConfig {
        database: Some(direct.replace(POSTGRES, &port_db.to_string())),
        redis: Some(format!("redis://{cache}/")),
        ..Default::default()
    };
    // Two shops share the cache: what one read, the other finds.
    let first = shop(db).build().await.unwrap();
    let second = shop(db).build().await.unwrap();
    // A product id of this run's own, so earlier runs' entries (2 s) cannot answer.
    let id = 100 + (std::process::id() as u64 % 800);
    let body = get(format!("{}v1/products/{id}", first.url()))
        .await
        .unwrap();
    assert!(
        body.contains(&format!("\"stock\":{}}}", (id * 37) % 100)),
        "{body}"
    );
    get(format!("{}v1/products/{id}", second.url()))
        .await
        .unwrap();
    let hit = "ballast_shop_shared_cache_calls_total{result=\"hit\"}";
    assert_eq!(counter(&second, hit).await, 1.0, "the second shop hit");
    assert_eq!(counter(&first, hit).await, 0.0);

    // Redis stalls: every lookup goes to the database after a short wait, none fails.
    chaos.add_toxic("cache", timeout_toxic()).await.unwrap();
    for i in 0..20u64 {
        let body = get(format!("{}v1/products/{}", first.url(), id + i))
            .await
            .unwrap();
        assert!(body.contains("\"degraded\":false"), "{body}");
    }
    let errors = "ballast_shop_shared_cache_calls_total{result=\"error\"}";
    assert!(counter(&first, errors).await >= 20.0);
    chaos.shutdown().await;
}

#[tokio::test]
async fn wrong_dependency_urls_are_clear_errors() {
    let not_a_url = ballast_shop::check_dependencies(Some("postgres://127.0.0.1:notaport/x"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(not_a_url.contains("--database"), "{not_a_url}");
    let refused = ballast_shop::check_dependencies(None, Some("redis://127.0.0.1:1/"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("redis at redis://127.0.0.1:1/"),
        "{refused}"
    );
}
