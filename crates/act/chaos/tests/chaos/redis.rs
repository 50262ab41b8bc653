//! Through the proxy to the real Redis on 127.0.0.1:6379, with the `redis` crate.

use super::support::*;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const REDIS: &str = "127.0.0.1:6379";

async fn connect(
    addr: SocketAddr,
    response_timeout: Duration,
) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(response_timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn ping(conn: &mut MultiplexedConnection) -> redis::RedisResult<Duration> {
    let started = Instant::now();
    let pong: String = redis::cmd("PING").query_async(conn).await?;
    assert_eq!(pong, "PONG");
    Ok(started.elapsed())
}

/// The fastest of three PINGs.
async fn fastest_ping(conn: &mut MultiplexedConnection) -> Duration {
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        fastest = fastest.min(ping(conn).await.unwrap());
    }
    fastest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_latency_toxic_adds_its_latency_at_the_median() {
    let (server, proxy) = proxy_to("redis", REDIS).await;
    let mut direct = connect(REDIS.parse().unwrap(), Duration::from_secs(5))
        .await
        .unwrap();
    let mut via = connect(proxy, Duration::from_secs(5)).await.unwrap();
    let mut base = Vec::new();
    for _ in 0..50 {
        base.push(ping(&mut direct).await.unwrap());
    }
    server
        .add_toxic(
            "redis",
            toxic(json!({"type": "latency", "attributes": {"latency": 50}})),
        )
        .await
        .unwrap();
    let mut delayed = Vec::new();
    for _ in 0..30 {
        delayed.push(ping(&mut via).await.unwrap());
    }
    let added = ms(p50(&mut delayed)) - ms(p50(&mut base));
    println!("redis PING, latency 50 ms: p50 added {added:.2} ms");
    // Bounds that hold on a busy machine (the exact figure is the benchmarks'): every PING
    // waits at least the toxic's latency, and the median adds less than twice it.
    let fastest = delayed.iter().min().unwrap();
    assert!(*fastest >= Duration::from_millis(50), "{fastest:?}");
    assert!(
        added < 100.0,
        "added {added:.2} ms at p50 for a 50 ms toxic"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_round_trip_and_toxics_apply_live() {
    let (server, proxy) = proxy_to("redis", REDIS).await;
    let mut conn = connect(proxy, Duration::from_secs(5)).await.unwrap();
    let key = format!("ballast-chaos-test-{}", std::process::id());
    let value = "x".repeat(100_000);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    let fast = fastest_ping(&mut conn).await;
    server
        .add_toxic(
            "redis",
            toxic(json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 80}})),
        )
        .await
        .unwrap();
    let got: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(got, value);
    let slow = ping(&mut conn).await.unwrap();
    server
        .remove_toxic("redis", "latency_upstream")
        .await
        .unwrap();
    let back = fastest_ping(&mut conn).await;
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    // Told apart by the toxic's latency alone, so a busy machine cannot blur them (and the
    // fast ones are the fastest of a few PINGs, so one hiccup does not count).
    assert!(fast < Duration::from_millis(80), "{fast:?}");
    assert!(slow >= Duration::from_millis(80), "{slow:?}");
    assert!(
        back < Duration::from_millis(80),
        "the same connection is fast again: {back:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_clients_time_out_behind_a_timeout_toxic() {
    let (server, proxy) = proxy_to("redis", REDIS).await;
    let mut conn = connect(proxy, Duration::from_millis(300)).await.unwrap();
    ping(&mut conn).await.unwrap();
    server
        .add_toxic(
            "redis",
            toxic(json!({"type": "timeout", "attributes": {"timeout": 0}})),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let err = ping(&mut conn).await.expect_err("the response never comes");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.reset().await.unwrap();
    let mut fresh = connect(proxy, Duration::from_secs(5)).await.unwrap();
    ping(&mut fresh).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connections_are_reset_by_reset_peer() {
    let (server, proxy) = proxy_to("redis", REDIS).await;
    let mut conn = connect(proxy, Duration::from_secs(5)).await.unwrap();
    ping(&mut conn).await.unwrap();
    server
        .add_toxic(
            "redis",
            toxic(json!({"type": "reset_peer", "attributes": {"timeout": 0}})),
        )
        .await
        .unwrap();
    let err = ping(&mut conn).await.expect_err("reset");
    assert!(
        err.is_connection_dropped() || err.to_string().to_lowercase().contains("reset"),
        "{err} ({:?})",
        err.kind()
    );
    server.shutdown().await;
}
