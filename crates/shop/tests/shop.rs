//! The shop over a real inventory that goes away and comes back.

use ballast_shop::{InventoryConfig, ShopConfig};
use std::time::Duration;

async fn get(url: String) -> Result<String, String> {
    ballast_http::get_once(&url, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_inventory_gone_cached_answers_keep_the_shop_up() {
    let inventory = InventoryConfig::default().build().await.unwrap();
    let inventory_addr = inventory.addr();
    let shop = ShopConfig {
        inventory: inventory.url(),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let page = |id: u64| get(format!("{}v1/products/{id}", shop.url()));

    for id in 0..10 {
        let body = page(id).await.unwrap();
        assert!(body.contains("\"degraded\":false"), "{body}");
    }
    drop(inventory); // the dependency dies
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut served = 0;
    let total = 200;
    for i in 0..total {
        if let Ok(body) = page(i % 10).await {
            assert!(
                body.contains("\"degraded\":true"),
                "answers now come from the cache: {body}"
            );
            served += 1;
        }
    }
    let error_rate = 1.0 - served as f64 / total as f64;
    assert!(
        error_rate <= 0.05,
        "error rate {error_rate} with the dependency down"
    );
    let metrics = get(format!("{}metrics", shop.url())).await.unwrap();
    assert!(
        metrics.contains("ballast_breaker_state{breaker=\"inventory\"} 1"),
        "the breaker opened"
    );

    // Uncached products cannot be served: the shop says so instead of hanging.
    assert!(page(999).await.unwrap_err().contains("503"));

    // The dependency returns on the same address; half-open probes close the breaker.
    let _back = InventoryConfig {
        bind: inventory_addr,
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let mut fresh = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(body) = page(3).await {
            if body.contains("\"degraded\":false") {
                fresh = true;
                break;
            }
        }
    }
    assert!(fresh, "fresh answers again after the dependency came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_fallback_the_outage_reaches_the_clients() {
    let inventory = InventoryConfig::default().build().await.unwrap();
    let shop = ShopConfig {
        inventory: inventory.url(),
        disable_fallback: true,
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let page = |id: u64| get(format!("{}v1/products/{id}", shop.url()));
    assert!(page(1).await.is_ok());
    drop(inventory);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut failed = 0;
    for _ in 0..20 {
        if page(1).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 20);
    let order = get(format!("{}v1/orders", shop.url())).await;
    assert!(order.is_err(), "GET on the orders route is not allowed");
}
