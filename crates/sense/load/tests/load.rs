//! The load engine against real HTTP servers on loopback (`ballast-demo`).

use ballast_demo::{DemoServer, DemoServerConfig, Stall};
use ballast_load::{LoadConfig, Mode, Model, Report, Shard, Stop};
use std::time::Duration;

async fn server(config: DemoServerConfig) -> DemoServer {
    config
        .build()
        .await
        .expect("demo server starts on loopback")
}

async fn run(config: &LoadConfig) -> Report {
    config
        .build()
        .unwrap()
        .run(std::future::pending(), |_| {})
        .await
        .unwrap()
}

fn open(url: String, rate: &str, stop: Stop, connections: u32) -> LoadConfig {
    let mut config = LoadConfig::new(url);
    config.model = Model::Open {
        rate: rate.parse().unwrap(),
    };
    config.stop = stop;
    config.connections = Some(connections);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_holds_the_rate_within_one_percent() {
    let target = server(DemoServerConfig::default()).await;
    let report = run(&open(
        target.url(),
        "2000/s",
        Stop::After(Duration::from_secs(3)),
        16,
    ))
    .await;
    let error = (report.rps / 2000.0 - 1.0).abs();
    assert!(
        error <= 0.01,
        "achieved {} req/s for 2000/s ({:.2}% off)",
        report.rps,
        error * 100.0
    );
    assert_eq!(report.requests, 6000);
    assert_eq!(report.dropped, 0);
    assert_eq!(report.errors, 0);
    assert_eq!(report.status.get("200"), Some(&6000));
    assert_eq!(target.requests_served(), 6000);
    assert_eq!(report.mode, Mode::Open);
    // Every second of the run is on the timeline, each with its share of the schedule.
    assert_eq!(report.timeline.len(), 3);
    assert!(
        report.timeline.iter().all(|p| p.requests == 2000),
        "{:?}",
        report.timeline
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_sends_the_area_under_the_line() {
    let target = server(DemoServerConfig::default()).await;
    let report = run(&open(
        target.url(),
        "0/s..1000/s",
        Stop::After(Duration::from_secs(2)),
        8,
    ))
    .await;
    assert_eq!(report.requests + report.dropped, 1000);
    assert_eq!(report.dropped, 0);
    let first = report.timeline[0].requests;
    let second = report.timeline[1].requests;
    assert_eq!(
        (first, second),
        (250, 750),
        "a linear ramp puts 1/4 in the first half"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrected_latency_shows_a_stall_that_service_time_hides() {
    // 500 req/s for 4 s; the server freezes once for 1 s at t = 1 s. Ten connections hang
    // on the stall while ~500 more requests fall due: an honest tool charges each of
    // them the wait since its due time.
    let stall = Stall {
        at: Duration::from_secs(1),
        length: Duration::from_secs(1),
    };
    let target = server(DemoServerConfig {
        stall: Some(stall),
        ..Default::default()
    })
    .await;
    let mut config = open(
        target.url(),
        "500/s",
        Stop::After(Duration::from_secs(4)),
        10,
    );
    config.timeout = Duration::from_secs(3);
    let report = run(&config).await;
    assert_eq!(report.errors, 0);
    assert!(
        report.latency_ms.p99 >= 800.0,
        "corrected p99 {} ms",
        report.latency_ms.p99
    );
    assert!(
        report.latency_ms.p90 >= 100.0,
        "corrected p90 {} ms",
        report.latency_ms.p90
    );
    // "Hidden" and "past" bounds are half the stall, not a figure for a quiet machine: a busy
    // one adds tens of milliseconds, a missed stall would add a second.
    assert!(
        report.service_ms.p99 < 400.0,
        "service p99 {} ms",
        report.service_ms.p99
    );
    assert!(
        report.service_ms.max >= 800.0,
        "the requests caught in the stall took ~1 s"
    );
    assert!(report.late >= 400, "late {}", report.late);
    // The stall lands in second 1 of the timeline.
    assert!(report.timeline[1].p99 >= 800.0, "{:?}", report.timeline[1]);
    assert!(report.timeline[3].p99 < 400.0, "{:?}", report.timeline[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_shards_equal_one_run() {
    let target = server(DemoServerConfig::default()).await;
    let shard = |index| {
        let mut config = open(target.url(), "1000/s", Stop::Requests(1001), 4);
        config.shard = Some(Shard { index, count: 2 });
        config
    };
    let (first, second) = (shard(1), shard(2));
    let (a, b) = tokio::join!(run(&first), run(&second));
    assert_eq!(
        (a.requests, b.requests),
        (501, 500),
        "1001 split into 501 + 500"
    );
    let whole = run(&open(target.url(), "1000/s", Stop::Requests(1001), 4)).await;

    // Through JSON, as `ballast report merge` does.
    let a = Report::from_json(&serde_json::to_string(&a).unwrap(), "a.json").unwrap();
    let b = Report::from_json(&serde_json::to_string(&b).unwrap(), "b.json").unwrap();
    let merged = Report::merge(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(merged.requests, whole.requests);
    assert_eq!(
        merged.latency_histogram().unwrap().len(),
        whole.latency_histogram().unwrap().len()
    );
    assert_eq!(merged.status, whole.status);
    assert_eq!(merged.shards_merged, 2);
    assert_eq!(merged.target_rps, Some(1000.0));

    // Percentiles come from the added histograms, not from averaging the shards'.
    let mut added = a.latency_histogram().unwrap();
    added.add(&b.latency_histogram().unwrap());
    assert_eq!(merged.latency_histogram().unwrap(), added);
    let timeline_total: u64 = merged.timeline.iter().map(|p| p.requests).sum();
    assert_eq!(timeline_total, 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_counted_as_timeouts() {
    let target = server(DemoServerConfig {
        latency: Duration::from_millis(400),
        ..Default::default()
    })
    .await;
    let mut config = LoadConfig::new(target.url());
    config.model = Model::Closed { concurrency: 4 };
    config.stop = Stop::Requests(8);
    config.timeout = Duration::from_millis(100);
    let report = run(&config).await;
    assert_eq!(report.error_kinds["timeout"], 8, "{:?}", report.error_kinds);
    assert_eq!(report.errors, 8);
    assert_eq!(report.responses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_as_connect_errors() {
    // The listener closes after one accepted connection (the pre-flight check), so every
    // worker's connect is refused.
    let target = server(DemoServerConfig {
        accept_limit: Some(1),
        ..Default::default()
    })
    .await;
    let mut config = LoadConfig::new(target.url());
    config.model = Model::Closed { concurrency: 2 };
    config.stop = Stop::Requests(10);
    let report = run(&config).await;
    assert_eq!(
        report.error_kinds["connect"], 10,
        "{:?}",
        report.error_kinds
    );
    assert_eq!(report.responses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_counted_as_resets_and_statuses_by_code() {
    let target = server(DemoServerConfig {
        reset_every: Some(5),
        fail_every: Some(3),
        ..Default::default()
    })
    .await;
    let mut config = LoadConfig::new(target.url());
    config.model = Model::Closed { concurrency: 1 };
    config.stop = Stop::Requests(30);
    let report = run(&config).await;
    assert_eq!(report.requests, 30);
    assert!(report.error_kinds["reset"] >= 1, "{:?}", report.error_kinds);
    assert!(
        report.status.get("503").copied().unwrap_or(0) >= 1,
        "{:?}",
        report.status
    );
    assert!(report.reconnects >= 1, "a reset connection is replaced");
    let points_5xx: u64 = report.timeline.iter().map(|p| p.status_5xx).sum();
    assert_eq!(points_5xx, report.status["503"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_insecure_and_http2_both_work() {
    let target = server(DemoServerConfig {
        tls: true,
        ..Default::default()
    })
    .await;
    let mut config = LoadConfig::new(target.url());
    config.model = Model::Closed { concurrency: 2 };
    config.stop = Stop::Requests(50);

    // Without --insecure the self-signed certificate is refused.
    let strict = run(&config).await;
    assert_eq!(strict.error_kinds["tls"], 50, "{:?}", strict.error_kinds);

    config.insecure = true;
    let h1 = run(&config).await;
    assert_eq!(
        h1.status.get("200"),
        Some(&50),
        "{:?} {:?}",
        h1.status,
        h1.error_kinds
    );

    config.http2 = true;
    let h2 = run(&config).await;
    assert_eq!(
        h2.status.get("200"),
        Some(&50),
        "{:?} {:?}",
        h2.status,
        h2.error_kinds
    );
    assert!(h2.http2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http2_multiplexes_over_few_connections() {
    let target = server(DemoServerConfig::default()).await;
    let mut config = LoadConfig::new(target.url());
    config.model = Model::Closed { concurrency: 32 };
    config.connections = Some(2);
    config.http2 = true;
    config.stop = Stop::Requests(500);
    let report = run(&config).await;
    assert_eq!(
        report.status.get("200"),
        Some(&500),
        "{:?}",
        report.error_kinds
    );
    assert_eq!(report.reconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_bodies_reach_the_server() {
    let target = server(DemoServerConfig::default()).await;
    let mut config = LoadConfig::new(target.url());
    config.method = "POST".into();
    config.body = Some("{\"sku\":42}".into());
    config.headers = vec![("Content-Type".into(), "application/json".into())];
    config.model = Model::Closed { concurrency: 2 };
    config.stop = Stop::Requests(20);
    let report = run(&config).await;
    assert_eq!(report.status.get("200"), Some(&20));
    assert_eq!(report.method, "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_early_still_reports() {
    let target = server(DemoServerConfig::default()).await;
    let config = open(
        target.url(),
        "200/s",
        Stop::After(Duration::from_secs(30)),
        4,
    );
    let stop = tokio::time::sleep(Duration::from_millis(700));
    let report = config.build().unwrap().run(stop, |_| {}).await.unwrap();
    assert!(report.interrupted);
    assert!(
        report.requests > 50 && report.requests < 400,
        "{}",
        report.requests
    );
    assert!(report.duration_s < 5.0);
}

#[tokio::test]
async fn an_unreachable_target_fails_before_any_load() {
    let nothing = ballast_testkit::RefusedPort::new();
    let err = LoadConfig::new(format!("http://{}/", nothing.addr()))
        .build()
        .unwrap()
        .run(std::future::pending(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot connect") && err.contains(&nothing.addr().to_string()),
        "{err}"
    );
}

/// Report files the fuzzer found (fuzz/artifacts/load_report): read, merged and
/// summarised without a panic.
#[test]
fn fuzzed_report_files_are_refused_or_summarised() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        if let Ok(report) = Report::from_json(&text, "fuzz.json") {
            let _ = report.summary();
            let _ = Report::merge(&[report.clone(), report]);
        }
    }
}
