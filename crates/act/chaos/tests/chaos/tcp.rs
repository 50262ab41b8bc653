//! Toxiproxy's toxics on plain TCP, measured.

use super::support::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_100_mib_each_way_byte_exact_with_and_without_toxics() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("bulk", &upstream.to_string()).await;
    let len = 100 * MIB;
    let up_sum = Verifier::expected_checksum(7, len);
    let down_sum = Verifier::expected_checksum(7 ^ 1, len);

    let plain = exchange(proxy, len, 7).await;
    assert_eq!(
        (plain.upstream_mismatched, plain.downstream_mismatched),
        (0, 0),
        "{plain:?}"
    );
    assert_eq!(plain.downstream_bytes, len);
    assert_eq!(
        (plain.upstream_checksum, plain.downstream_checksum),
        (up_sum, down_sum)
    );

    for body in [
        json!({"name": "lat_up", "type": "latency", "stream": "upstream", "attributes": {"latency": 1, "jitter": 1}}),
        json!({"name": "lat_down", "type": "latency", "attributes": {"latency": 1}}),
        json!({"name": "slices", "type": "slicer", "stream": "upstream",
               "attributes": {"average_size": 16384, "size_variation": 8192}}),
        json!({"name": "pace", "type": "bandwidth", "attributes": {"rate": 2000000}}),
    ] {
        server.add_toxic("bulk", toxic(body)).await.unwrap();
    }
    let toxic = exchange(proxy, len, 7).await;
    assert_eq!(
        (toxic.upstream_mismatched, toxic.downstream_mismatched),
        (0, 0),
        "{toxic:?}"
    );
    assert_eq!(toxic.downstream_bytes, len);
    assert_eq!(
        (toxic.upstream_checksum, toxic.downstream_checksum),
        (up_sum, down_sum)
    );
    println!(
        "100 MiB each way: plain {:.2}s, with latency+slicer+bandwidth {:.2}s; checksums up {up_sum:016x} down {down_sum:016x}",
        plain.elapsed.as_secs_f64(),
        toxic.elapsed.as_secs_f64()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_adds_the_configured_delay_at_the_median() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("echo", &upstream.to_string()).await;
    let mut direct = echo_connection(upstream).await;
    let mut via = echo_connection(proxy).await;
    let mut base = Vec::new();
    for _ in 0..50 {
        base.push(echo_round_trip(&mut direct, b"ping").await.unwrap());
    }
    server
        .add_toxic(
            "echo",
            toxic(json!({"type": "latency", "attributes": {"latency": 40}})),
        )
        .await
        .unwrap();
    let mut delayed = Vec::new();
    for _ in 0..30 {
        delayed.push(echo_round_trip(&mut via, b"ping").await.unwrap());
    }
    let added = ms(p50(&mut delayed)) - ms(p50(&mut base));
    println!("latency 40 ms: p50 added {added:.2} ms");
    // Bounds that hold on a busy machine (the exact figure is the benchmarks'): every round
    // trip waits at least the toxic's latency, and the median adds less than twice it (a
    // delay applied twice, or per chunk, would not).
    let fastest = delayed.iter().min().unwrap();
    assert!(*fastest >= Duration::from_millis(40), "{fastest:?}");
    assert!(added < 80.0, "added {added:.2} ms at p50 for a 40 ms toxic");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_caps_the_rate_within_ten_percent() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("bw", &upstream.to_string()).await;
    // 800 KB/s; 2 MB should take 2.5 s.
    server
        .add_toxic(
            "bw",
            toxic(json!({"type": "bandwidth", "attributes": {"rate": 800}})),
        )
        .await
        .unwrap();
    let len = 2_000_000u64;
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let started = Instant::now();
    bulk_request(&mut stream, b'S', len, 3).await;
    let mut v = Verifier::new(3);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        v.feed(&buf[..n]);
    }
    let rate = len as f64 / started.elapsed().as_secs_f64();
    println!("bandwidth 800 KB/s: measured {:.1} KB/s", rate / 1000.0);
    assert_eq!((v.bytes(), v.mismatched_words), (len, 0));
    // A cap: never more than 10 % over. Under it only loosely, as a starved reader on a busy
    // machine is slower than the cap for reasons of its own.
    assert!(
        (0.5..=1.10).contains(&(rate / 800_000.0)),
        "measured {rate:.0} B/s for 800 KB/s"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_exactly_n_bytes() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("limit", &upstream.to_string()).await;
    server
        .add_toxic(
            "limit",
            toxic(json!({"type": "limit_data", "attributes": {"bytes": 1000}})),
        )
        .await
        .unwrap();
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    bulk_request(&mut stream, b'S', 100_000, 5).await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the proxy closes the connection");
    assert_eq!(received.len(), 1000);
    let mut expected = vec![0u8; 1000];
    pattern(5, 0, &mut expected[..1000]);
    assert_eq!(received, expected);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_data_and_closes_after_its_timeout() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("to", &upstream.to_string()).await;
    let mut live = echo_connection(proxy).await;
    echo_round_trip(&mut live, b"before").await.unwrap();
    // timeout 0: data stops, the connection stays open.
    server
        .add_toxic(
            "to",
            toxic(json!({"type": "timeout", "attributes": {"timeout": 0}})),
        )
        .await
        .unwrap();
    let stalled = tokio::time::timeout(
        Duration::from_millis(500),
        echo_round_trip(&mut live, b"lost"),
    )
    .await;
    assert!(stalled.is_err(), "the client must time out");
    // Removing it closes the connection whose data it dropped, as Toxiproxy does.
    server
        .remove_toxic("to", "timeout_downstream")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), live.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the timed-out connection is closed");
    // timeout 300: closed about 300 ms after the last data.
    server
        .add_toxic(
            "to",
            toxic(json!({"type": "timeout", "attributes": {"timeout": 300}})),
        )
        .await
        .unwrap();
    let mut stream = echo_connection(proxy).await;
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // Not before the timeout (less a little: its clock started with the last data, just
    // before ours); not held for good, which the 3-s guard above shows without a bound a
    // busy machine could break.
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_the_connection() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("rst", &upstream.to_string()).await;
    server
        .add_toxic(
            "rst",
            toxic(
                json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}),
            ),
        )
        .await
        .unwrap();
    let mut stream = echo_connection(proxy).await;
    // The reset is reported once, to whichever call meets it first: this write, or the read.
    let err = match stream.write_all(b"hello").await {
        Err(e) => e,
        Ok(()) => {
            let mut buf = [0u8; 16];
            let result = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
                .await
                .unwrap();
            result.expect_err("a reset, not data or EOF")
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_holds_the_close() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("sc", &upstream.to_string()).await;
    server
        .add_toxic(
            "sc",
            toxic(json!({"type": "slow_close", "attributes": {"delay": 400}})),
        )
        .await
        .unwrap();
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    bulk_request(&mut stream, b'S', 8, 1).await;
    let mut first = [0u8; 8];
    stream.read_exact(&mut first).await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(380), "EOF after {held:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_change_on_live_connections_without_dropping_them() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("live", &upstream.to_string()).await;
    let mut stream = echo_connection(proxy).await;
    let fast = fastest_round_trip(&mut stream, b"one").await;
    server
        .add_toxic(
            "live",
            toxic(json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 60}})),
        )
        .await
        .unwrap();
    let slow = fastest_round_trip(&mut stream, b"two").await;
    server
        .update_toxic(
            "live",
            "latency_upstream",
            &json!({"attributes": {"latency": 120}}),
        )
        .await
        .unwrap();
    let slower = fastest_round_trip(&mut stream, b"three").await;
    server
        .remove_toxic("live", "latency_upstream")
        .await
        .unwrap();
    let back = fastest_round_trip(&mut stream, b"four").await;
    // Each is the fastest of a few round trips, so a busy machine's hiccup does not count;
    // the bounds tell the four states apart by the toxic's latency alone.
    assert!(fast < Duration::from_millis(60), "{fast:?}");
    assert!(
        slow >= Duration::from_millis(60) && slow < Duration::from_millis(120),
        "{slow:?}"
    );
    assert!(slower >= Duration::from_millis(120), "{slower:?}");
    assert!(back < Duration::from_millis(60), "{back:?}");
    server.shutdown().await;
}

/// The fastest of three round trips on `stream`.
async fn fastest_round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        fastest = fastest.min(echo_round_trip(stream, message).await.unwrap());
    }
    fastest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_proxy_is_down_and_comes_back() {
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("down", &upstream.to_string()).await;
    let mut live = echo_connection(proxy).await;
    echo_round_trip(&mut live, b"up").await.unwrap();
    let update = ballast_chaos::ProxyUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    server.update_proxy("down", update).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), live.read_to_end(&mut rest))
        .await
        .expect("live connections are closed");
    assert!(
        TcpStream::connect(proxy).await.is_err(),
        "nothing listens while down"
    );
    let update = ballast_chaos::ProxyUpdate {
        enabled: Some(true),
        ..Default::default()
    };
    let info = server.update_proxy("down", update).await.unwrap();
    assert_eq!(info.listen_addr(), Some(proxy), "the same port again");
    let mut again = echo_connection(proxy).await;
    echo_round_trip(&mut again, b"again").await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_server_closes_its_live_connections() {
    // Connections run on the relay threads, which outlive the server: dropping it (without
    // shutdown, and with no API holding the proxies) must still end them.
    let (upstream, _task) = bulk_server().await;
    let (server, proxy) = proxy_to("dropped", &upstream.to_string()).await;
    let mut live = echo_connection(proxy).await;
    echo_round_trip(&mut live, b"before").await.unwrap();
    drop(server);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), live.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the live connection is closed once its server is dropped"
    );
    // The aborted accept loop lets go of its listener when the runtime next runs it.
    let mut listening = true;
    for _ in 0..100 {
        if TcpStream::connect(proxy).await.is_err() {
            listening = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!listening, "nothing listens after the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_work_after_the_upstream_restarts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let (server, proxy) = proxy_to("restart", &upstream.to_string()).await;
    let serve = |listener: tokio::net::TcpListener| {
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        })
    };
    let task = serve(listener);
    let mut first = TcpStream::connect(proxy).await.unwrap();
    echo_round_trip(&mut first, b"a").await.unwrap();
    // Kill the upstream: its listener goes away.
    task.abort();
    let _ = task.await;
    drop(first);
    let mut refused = TcpStream::connect(proxy).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), refused.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "no upstream: the client is closed, {n:?}"
    );
    // Restart it on the same port.
    let listener = tokio::net::TcpListener::bind(upstream).await.unwrap();
    let _task = serve(listener);
    let mut second = TcpStream::connect(proxy).await.unwrap();
    echo_round_trip(&mut second, b"b").await.unwrap();
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("ballast_chaos_upstream_connect_errors_total{proxy=\"restart\"} 1"),
        "{metrics}"
    );
    server.shutdown().await;
}
