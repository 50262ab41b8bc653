//! Against a real Prometheus, VictoriaMetrics and Alertmanager on loopback. Two days of a
//! p99 latency with a daily rhythm go into Prometheus as TSDB blocks (`promtool tsdb
//! create-blocks-from openmetrics`) and into VictoriaMetrics through its import API; the
//! client must read back exactly what went in, in chunks; PromQL errors and empty results
//! must say so; the baseline must find the rhythm; and a live watch must send an anomaly
//! to Alertmanager.

use crate::servers::{self, TempDir};
use ballast_anomaly::baseline::{Baseline, BaselineConfig, Seasonality};
use ballast_anomaly::detect::ewma::EwmaConfig;
use ballast_anomaly::watch::WatchConfig;
use ballast_anomaly::DetectorConfig;
use ballast_http::Error;
use ballast_http::PromConfig;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const METRIC: &str = "ballast_test_p99_seconds";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Two days at one-minute steps ending ten minutes ago: 120 ms by night, 160 ms by day.
fn two_days() -> Vec<(f64, f64)> {
    let end = (now() / 60.0).floor() * 60.0 - 600.0;
    (0..2 * 1440)
        .map(|i| {
            let t = end - (2 * 1440 - 1 - i) as f64 * 60.0;
            let hour = (t % 86_400.0) / 3600.0;
            let base = if (8.0..20.0).contains(&hour) {
                0.16
            } else {
                0.12
            };
            // Deterministic jitter, three decimals, so both stores keep it exactly.
            (t, base + ((i * 7919) % 11) as f64 / 1000.0)
        })
        .collect()
}

fn openmetrics(points: &[(f64, f64)]) -> String {
    let mut out = format!("# TYPE {METRIC} gauge\n");
    for (t, v) in points {
        out.push_str(&format!("{METRIC}{{service=\"shop\"}} {v} {t}\n"));
    }
    out.push_str("# EOF\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_queries_errors_and_baselines_on_prometheus_and_victoriametrics() {
    let dir = TempDir::new("live");
    let points = two_days();
    let storage = dir.path().join("prom-data");
    servers::promtool_blocks(dir.path(), &openmetrics(&points), &storage);
    let prometheus =
        servers::prometheus(dir.path(), "global:\n  scrape_interval: 15s\n", &storage).await;
    let vm = servers::victoria_metrics(dir.path()).await;
    servers::vm_import(&vm.url, &format!("{METRIC}{{service=\"shop\"}}"), &points).await;

    let (start, end) = (points[0].0, points[points.len() - 1].0);
    for server in [&prometheus.url, &vm.url] {
        // 500 points per request: the 2,880 come back in six chunks, stitched.
        let client = PromConfig {
            max_points_per_request: 500,
            ..PromConfig::new(server.clone())
        }
        .build()
        .unwrap();
        let series = client
            .query_range(METRIC, start, end, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(series.len(), 1, "{server}");
        assert_eq!(
            series[0].name,
            format!("{METRIC}{{service=\"shop\"}}"),
            "{server}"
        );
        let got = &series[0].points;
        assert_eq!(got.len(), points.len(), "{server}");
        for (g, (t, v)) in got.iter().zip(&points) {
            assert_eq!(g.t, *t, "{server}");
            assert!((g.v - v).abs() < 1e-9, "{server}: {} vs {v} at {t}", g.v);
        }

        let e = client
            .query_range(
                &format!("rate({METRIC}[5m]"),
                start,
                end,
                Duration::from_secs(60),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Query { .. }) && e.is_input(),
            "{server}: {e}"
        );
        println!("{server}: PromQL error reads: {e}");
        let e = client
            .query_range(
                "ballast_no_such_metric",
                start,
                end,
                Duration::from_secs(60),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NoData { .. }), "{server}: {e}");
        assert!(e.to_string().contains("returned no data between"), "{e}");

        let b = Baseline::compute(&series[0], &BaselineConfig::default()).unwrap();
        assert_eq!(b.seasonality, Seasonality::Daily, "{server}");
        assert_eq!(b.proposal.threshold, 0.17, "{server}: {:?}", b.proposal);
        // 2,880 minutes in 5-minute windows; the first and last may be partial.
        assert!(
            (576..=577).contains(&b.proposal.windows),
            "{server}: {}",
            b.proposal.windows
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_watch_sends_the_anomaly_to_alertmanager() {
    let dir = TempDir::new("watch");
    let vm = servers::victoria_metrics(dir.path()).await;
    let am = servers::alertmanager(dir.path()).await;
    let step = 5.0;
    let series = "ballast_test_queue_depth{queue=\"orders\"}";
    let end = (now() / step).floor() * step - step;
    let history: Vec<(f64, f64)> = (0..120)
        .map(|i| (end - (119 - i) as f64 * step, 40.0 + (i % 5) as f64))
        .collect();
    servers::vm_import(&vm.url, series, &history).await;

    let mut config = WatchConfig::new(vec!["ballast_test_queue_depth".into()]);
    config.step = Duration::from_secs_f64(step);
    config.history = Duration::from_secs(600);
    config.detector = DetectorConfig::Ewma(EwmaConfig::default());
    config.alertmanager = Some(am.url.clone());
    config.labels.insert("team".into(), "shop".into());
    let client = PromConfig::new(vm.url.clone()).build().unwrap();
    let mut watcher = config.build().unwrap();
    let learned = watcher.start(&client).await.unwrap();
    assert!(learned >= 100, "learned only {learned} points");

    // The next step brings a spike: ten times the usual depth.
    let spike_at = (now() / step).floor() * step + step;
    while now() < spike_at + 0.5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    servers::vm_import(&vm.url, series, &[(spike_at, 400.0)]).await;
    // The watch goes by the server's clock, which may lag ours by a moment.
    let vm_client = PromConfig::new(vm.url.clone()).build().unwrap();
    for _ in 0..50 {
        if vm_client.now().await.unwrap() >= spike_at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let anomalies = watcher.evaluate(&client).await.unwrap();
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    let alertmanager = watcher.alertmanager().unwrap().parse().unwrap();
    ballast_http::alertmanager::post_alerts(
        servers::http().client(),
        &alertmanager,
        &watcher.alerts(&anomalies),
    )
    .await
    .unwrap();
    assert_eq!(anomalies[0].value, 400.0);
    assert_eq!(anomalies[0].time, spike_at);

    let r = servers::http()
        .get(&format!("{}/api/v2/alerts", am.url))
        .await
        .unwrap();
    let alerts: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let labels = &alerts[0]["labels"];
    assert_eq!(labels["alertname"], "BallastAnomaly");
    assert_eq!(labels["series"], series);
    assert_eq!(labels["team"], "shop");
    assert_eq!(alerts[0]["annotations"]["value"], "400");
}
