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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_steers_the_running_shop() {
    let inventory = InventoryConfig::default().build().await.unwrap();
    let shop = ShopConfig {
        inventory: inventory.url(),
        admin_token: Some("shop-admin".into()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let admin = |path: &'static str, body: &'static str| {
        client
            .post(format!("{}admin/{path}", shop.url()))
            .bearer_auth("shop-admin")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let page = |id: u64| get(format!("{}v1/products/{id}", shop.url()));

    let refused = client
        .get(format!("{}admin/state", shop.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    assert!(page(3).await.unwrap().contains("\"degraded\":false"));
    let forced = admin("fallback", r#"{"force": true}"#).await.unwrap();
    assert_eq!(forced.status(), 200);
    // The inventory is still up, but a forced fallback answers from the cache.
    assert!(page(3).await.unwrap().contains("\"degraded\":true"));
    assert!(
        page(4).await.unwrap().contains("\"degraded\":false"),
        "no cached answer: the inventory is asked"
    );
    admin("fallback", r#"{"force": false}"#).await.unwrap();

    let forced = admin("breaker", r#"{"name": "inventory", "state": "open"}"#)
        .await
        .unwrap();
    let state: serde_json::Value = serde_json::from_str(&forced.text().await.unwrap()).unwrap();
    assert_eq!(state["breakers"]["inventory"]["forced"], "open");
    assert!(
        page(99).await.unwrap_err().contains("503"),
        "a forced-open breaker refuses uncached products"
    );
    let metrics = get(format!("{}metrics", shop.url())).await.unwrap();
    assert!(
        metrics.contains(r#"ballast_admin_forced{what="breaker",name="inventory"} 1"#),
        "{metrics}"
    );
    admin("breaker", r#"{"name": "inventory", "state": "auto"}"#)
        .await
        .unwrap();
    assert!(page(99).await.unwrap().contains("\"degraded\":false"));

    let answer = admin("limit", r#"{"max": 0}"#).await.unwrap();
    assert_eq!(answer.status(), 400);
    let answer = admin("limit", r#"{"max": 3}"#).await.unwrap();
    let state: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(
        state["limit"],
        serde_json::json!({"max": 3, "forced": true})
    );
    let metrics = get(format!("{}metrics", shop.url())).await.unwrap();
    assert!(
        metrics.contains(r#"ballast_limit_limit{limit="shop"} 3"#),
        "{metrics}"
    );
}
