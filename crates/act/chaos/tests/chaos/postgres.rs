//! Through the proxy to the real PostgreSQL on 127.0.0.1:5432 (trust auth, database
//! `test`), with `tokio-postgres`.

use super::support::*;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

const POSTGRES: &str = "127.0.0.1:5432";

async fn connect(addr: SocketAddr) -> Result<Client, tokio_postgres::Error> {
    let mut last = None;
    // The machines have `postgres` or `root` as the superuser.
    for user in ["postgres", "root"] {
        let config = format!(
            "host={} port={} user={user} dbname=test connect_timeout=5",
            addr.ip(),
            addr.port()
        );
        match tokio_postgres::connect(&config, NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return Ok(client);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tried at least one user"))
}

async fn select_one(client: &Client) -> Result<Duration, tokio_postgres::Error> {
    let started = Instant::now();
    let rows = client.simple_query("SELECT 1").await?;
    assert!(!rows.is_empty());
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_latency_toxic_adds_its_latency_at_the_median() {
    let (server, proxy) = proxy_to("pg", POSTGRES).await;
    let direct = connect(POSTGRES.parse().unwrap()).await.unwrap();
    let via = connect(proxy).await.unwrap();
    let mut base = Vec::new();
    for _ in 0..50 {
        base.push(select_one(&direct).await.unwrap());
    }
    server
        .add_toxic(
            "pg",
            toxic(json!({"type": "latency", "attributes": {"latency": 30}})),
        )
        .await
        .unwrap();
    let mut delayed = Vec::new();
    for _ in 0..40 {
        delayed.push(select_one(&via).await.unwrap());
    }
    let added = ms(p50(&mut delayed)) - ms(p50(&mut base));
    println!("postgres SELECT 1, latency 30 ms: p50 added {added:.2} ms");
    // Bounds that hold on a busy machine (the exact figure is the benchmarks'): every query
    // waits at least the toxic's latency, and the median adds less than twice it.
    let fastest = delayed.iter().min().unwrap();
    assert!(*fastest >= Duration::from_millis(30), "{fastest:?}");
    assert!(added < 60.0, "added {added:.2} ms at p50 for a 30 ms toxic");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queries_time_out_behind_a_timeout_toxic() {
    let (server, proxy) = proxy_to("pg", POSTGRES).await;
    let client = connect(proxy).await.unwrap();
    select_one(&client).await.unwrap();
    server
        .add_toxic(
            "pg",
            toxic(json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}})),
        )
        .await
        .unwrap();
    let stalled = tokio::time::timeout(Duration::from_millis(500), select_one(&client)).await;
    assert!(stalled.is_err(), "the query must time out: {stalled:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_are_reset_by_reset_peer() {
    let (server, proxy) = proxy_to("pg", POSTGRES).await;
    let client = connect(proxy).await.unwrap();
    select_one(&client).await.unwrap();
    server
        .add_toxic(
            "pg",
            toxic(json!({"type": "reset_peer", "attributes": {"timeout": 0}})),
        )
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), select_one(&client))
        .await
        .expect("fails fast")
        .expect_err("the connection is reset");
    assert!(client.is_closed(), "{err}");
    // New connections through the same proxy are reset too, until the toxic goes.
    server
        .remove_toxic("pg", "reset_peer_downstream")
        .await
        .unwrap();
    let again = connect(proxy).await.unwrap();
    select_one(&again).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_pass_whole_through_slicer_and_limit_data_cuts_them() {
    let (server, proxy) = proxy_to("pg", POSTGRES).await;
    server
        .add_toxic(
            "pg",
            toxic(json!({"type": "slicer", "attributes": {"average_size": 64, "size_variation": 32, "delay": 10}})),
        )
        .await
        .unwrap();
    let client = connect(proxy).await.unwrap();
    let rows = client
        .query(
            "SELECT g, md5(g::text) FROM generate_series(1, 2000) AS g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2000);
    let last: String = rows[1999].get(1);
    assert_eq!(last.len(), 32);
    server
        .add_toxic(
            "pg",
            toxic(json!({"type": "limit_data", "attributes": {"bytes": 2000}})),
        )
        .await
        .unwrap();
    let cut = client
        .query(
            "SELECT g, md5(g::text) FROM generate_series(1, 2000) AS g",
            &[],
        )
        .await;
    assert!(cut.is_err() && client.is_closed(), "closed mid-result");
    server.shutdown().await;
}
