//! The gcpause Go program (`go/gcpause`, built on ballast's Go integration): started at
//! GOGC=5 it collects many times a second; `POST /admin/gc {"percent": 400}` with the token
//! makes `go_gogc` 400 and the collection rate fall.

use ballast_testkit::{go_build, go_program, listening_on, Port, Server, TempDir};
use std::time::{Duration, Instant};

const TOKEN: &str = "gc-admin-secret";

/// `go_gogc` and `go_gc_cycles_total` from `/metrics`.
async fn scrape(client: &reqwest::Client, server: &Server) -> (f64, f64, Instant) {
    let text = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = Instant::now();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    };
    (value("go_gogc"), value("go_gc_cycles_total"), at)
}

/// Collections per second over `window`.
async fn gc_rate(client: &reqwest::Client, server: &Server, window: Duration) -> (f64, f64) {
    let (gogc, before, start) = scrape(client, server).await;
    tokio::time::sleep(window).await;
    let (_, after, end) = scrape(client, server).await;
    (gogc, (after - before) / (end - start).as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_gogc_through_the_admin_endpoint_cuts_the_collection_rate() {
    let dir = TempDir::new("gcpause");
    let binary = go_build(&go_program("gcpause"), &dir.path().join("go"), "gcpause");
    // 32 MiB live, 16 MiB/s of garbage: at GOGC=5 a collection every ~1.6 MiB (about ten a
    // second), at GOGC=400 one every ~128 MiB (one in eight seconds).
    let args = [
        "-listen",
        "127.0.0.1:0",
        "-token-env",
        "GCPAUSE_TOKEN",
        "-live-mib",
        "32",
        "-churn-mib",
        "16",
    ]
    .map(String::from);
    let server = Server::try_start_with_env(
        binary.to_str().unwrap(),
        &args,
        &[("GOGC", "5"), ("GCPAUSE_TOKEN", TOKEN)],
        Port::Log(listening_on),
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let admin = format!("{}/admin/gc", server.url());

    let (gogc, at_5) = gc_rate(&client, &server, Duration::from_secs(3)).await;
    assert_eq!(gogc, 5.0);
    assert!(
        at_5 >= 2.0,
        "at GOGC=5 the program should collect often, got {at_5:.2}/s"
    );

    // Without the token nothing changes.
    let refused = client
        .post(&admin)
        .body(r#"{"percent": 400}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let refused = client
        .post(&admin)
        .bearer_auth("nope")
        .body(r#"{"percent": 400}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(scrape(&client, &server).await.0, 5.0);

    let answer = client
        .post(&admin)
        .bearer_auth(TOKEN)
        .body(r#"{"percent": 400}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"previous": 5, "percent": 400}));

    let (gogc, at_400) = gc_rate(&client, &server, Duration::from_secs(3)).await;
    assert_eq!(gogc, 400.0);
    eprintln!("GC cycles/s: {at_5:.2} at GOGC=5, {at_400:.2} at GOGC=400");
    assert!(
        at_400 < at_5 / 4.0,
        "raising GOGC to 400 should cut the collection rate: {at_5:.2}/s → {at_400:.2}/s"
    );
    server.stop().await;
}
