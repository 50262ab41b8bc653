//! HTTP-aware toxics and the adaptive level, against ballast's demo HTTP server.

use super::support::*;
use ballast_chaos::{AdaptiveConfig, ChaosServer, ProxyConfig, Tier};
use ballast_demo::{DemoServer, DemoServerConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn demo() -> DemoServer {
    DemoServerConfig::default().build().await.unwrap()
}

/// A keep-alive HTTP/1.1 connection.
async fn http_client(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// GET `path`; returns the status and the time taken.
async fn get(sender: &mut SendRequest<Empty<Bytes>>, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    sender.ready().await.unwrap();
    let request = http::Request::get(path)
        .header("host", "demo")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    (status, started.elapsed())
}

async fn level(server: &ChaosServer) -> Option<u64> {
    server.proxy("web").await.unwrap().chaos_level
}

async fn http_proxy(upstream: SocketAddr) -> (ChaosServer, SocketAddr) {
    let mut config = ProxyConfig::new("web", "127.0.0.1:0", upstream.to_string());
    config.http = true;
    let server = chaos(vec![config]).await;
    let addr = server.proxy_addr("web").await.unwrap();
    (server, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_abort_fails_the_set_share_of_matched_requests_only() {
    let upstream = demo().await;
    let (server, proxy) = http_proxy(upstream.addr()).await;
    server
        .add_toxic(
            "web",
            toxic(
                json!({"name": "api_503", "type": "http_abort", "toxicity": 0.1,
                         "attributes": {"status": 503, "path_prefix": "/api/"}}),
            ),
        )
        .await
        .unwrap();
    // Four keep-alive connections share the requests; the server's dice are seeded, so
    // the count is the same every run whatever the interleaving.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(async move {
            let mut client = http_client(proxy).await;
            let (mut failed, mut other_failed) = (0u32, 0u32);
            for i in 0..2500 {
                let (status, _) = get(&mut client, &format!("/api/orders/{i}")).await;
                match status {
                    503 => failed += 1,
                    200 => {}
                    s => panic!("unexpected status {s}"),
                }
                if i % 5 == 0 {
                    let (status, _) = get(&mut client, "/health").await;
                    other_failed += u32::from(status != 200);
                }
            }
            (failed, other_failed)
        }));
    }
    let (mut failed, mut other_failed) = (0, 0);
    for task in tasks {
        let (f, o) = task.await.unwrap();
        failed += f;
        other_failed += o;
    }
    let ratio = f64::from(failed) / 10_000.0;
    println!("http_abort 10 % on /api/: {failed} of 10000 answered 503 ({:.2} %), /health failures {other_failed} of 2000", ratio * 100.0);
    assert!((ratio - 0.10).abs() <= 0.02, "{failed} of 10000 failed");
    assert_eq!(other_failed, 0, "the unmatched path is never failed");
    assert_eq!(
        upstream.requests_served(),
        12_000 - u64::from(failed),
        "aborted requests never reach the upstream"
    );
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains(&format!(
            "ballast_chaos_requests_failed_total{{proxy=\"web\",toxic=\"api_503\"}} {failed}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("ballast_chaos_http_requests_total{proxy=\"web\"} 12000"),
        "{metrics}"
    );
    server.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_delay_holds_only_matching_requests() {
    let upstream = demo().await;
    let (server, proxy) = http_proxy(upstream.addr()).await;
    server
        .add_toxic(
            "web",
            toxic(json!({"type": "http_delay", "attributes": {"delay": 40, "method": "GET", "path_prefix": "/slow"}})),
        )
        .await
        .unwrap();
    let mut client = http_client(proxy).await;
    let (mut slow, mut fast) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        slow.push(get(&mut client, "/slow/x").await.1);
        fast.push(get(&mut client, "/fast").await.1);
    }
    let added = ms(p50(&mut slow)) - ms(p50(&mut fast));
    println!("http_delay 40 ms on /slow: p50 added {added:.2} ms");
    // Bounds that hold on a busy machine (the exact figure is the benchmarks'): every
    // matching request is held at least the delay, the median adds less than twice it, and
    // the other path is not held (its median is under the delay).
    let quickest = slow.iter().min().unwrap();
    assert!(*quickest >= Duration::from_millis(40), "{quickest:?}");
    assert!(added < 80.0, "added {added:.2} ms");
    let fast_p50 = p50(&mut fast);
    assert!(fast_p50 < Duration::from_millis(40), "{fast_p50:?}");
    server.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_toxics_reach_connections_opened_after_they_are_added() {
    let upstream = demo().await;
    // Not marked http: only connections opened while an HTTP toxic exists are parsed.
    let (server, proxy) = proxy_to("web", &upstream.addr().to_string()).await;
    let mut before = http_client(proxy).await;
    assert_eq!(get(&mut before, "/").await.0, 200);
    server
        .add_toxic(
            "web",
            toxic(json!({"type": "http_abort", "attributes": {"status": 502}})),
        )
        .await
        .unwrap();
    let mut after = http_client(proxy).await;
    assert_eq!(get(&mut after, "/").await.0, 502);
    assert_eq!(
        get(&mut before, "/").await.0,
        200,
        "plain connections are not parsed"
    );
    server.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_level_follows_the_traffic() {
    let upstream = demo().await;
    let mut config = ProxyConfig::new("web", "127.0.0.1:0", upstream.addr().to_string());
    config.http = true;
    config.adaptive = Some(AdaptiveConfig {
        interval: Duration::from_millis(250),
        // Low enough that one client on a busy machine still reaches the top level: the
        // test is about the controller following traffic, not about a request rate.
        qps_per_level: 10.0,
        tiers: vec![
            Tier {
                delay: Duration::ZERO,
                failure_ratio: 0.0,
            },
            Tier {
                delay: Duration::from_millis(1),
                failure_ratio: 0.0,
            },
            Tier {
                delay: Duration::from_millis(2),
                failure_ratio: 0.3,
            },
        ],
        ..Default::default()
    });
    let server = chaos(vec![config]).await;
    let proxy = server.proxy_addr("web").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(level(&server).await, Some(1), "idle: the lowest level");
    // Load far above 3 × 10 QPS for 1.5 s.
    let mut client = http_client(proxy).await;
    let started = Instant::now();
    let mut failed = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        if get(&mut client, "/").await.0 == 503 {
            failed += 1;
        }
    }
    assert_eq!(level(&server).await, Some(3), "busy: the top level");
    assert!(failed > 0, "the top tier fails requests");
    let toxics = server.toxics("web").await.unwrap();
    let abort = toxics.iter().find(|t| t.name == "adaptive_abort").unwrap();
    assert_eq!(abort.toxicity, 0.3);
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("ballast_chaos_level{proxy=\"web\"} 3"),
        "{metrics}"
    );
    // Quiet again: back down.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(level(&server).await, Some(1));
    // Reset removes the controller and its toxics.
    server.reset().await.unwrap();
    let info = server.proxy("web").await.unwrap();
    assert_eq!((info.chaos_level, info.toxics.len()), (None, 0));
    server.shutdown().await;
    upstream.shutdown().await;
}
