//! Against a real Prometheus and a real VictoriaMetrics, started here on loopback: both
//! scrape the demo service, whose error rate this test sets (every 10th request fails);
//! Prometheus also evaluates the rules ballast generated. The page alert must fire in
//! Prometheus, and `status` must report the burn the test caused, from both servers.

use ballast_demo::DemoServerConfig;
use ballast_slo::{Alerting, BurnWindow, Sli, Slo};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// An SLO with windows short enough to see burn within seconds: 99 % over an hour, pages
/// when both 20 s and 5 s burn faster than 5×, tickets at 2× over 40 s and 10 s.
fn demo_slo() -> Slo {
    let s = Duration::from_secs;
    Slo {
        service: "demo".into(),
        name: "availability".into(),
        description: None,
        objective: 0.99,
        window: s(3600),
        window_is_default: false,
        sli: Sli::Events {
            errors: "demo_requests_total{status=\"503\"}".into(),
            total: "demo_requests_total".into(),
        },
        labels: BTreeMap::new(),
        alerting: Alerting {
            page: vec![BurnWindow {
                long: s(20),
                short: s(5),
                factor: 5.0,
            }],
            ticket: vec![BurnWindow {
                long: s(40),
                short: s(10),
                factor: 2.0,
            }],
            ..Alerting::defaults("DemoAvailabilityBurn", s(3600))
        },
        origin: "live test".into(),
        spec: "test".into(),
        tweaks: Default::default(),
        kubernetes: None,
    }
}

/// GETs `url` once; the body of a 2xx answer.
async fn fetch(url: &str) -> Result<String, ballast_http::Error> {
    let client = ballast_http::ClientConfig {
        timeout: Duration::from_secs(5),
        retries: 0,
        ..Default::default()
    }
    .build()?;
    client.get_text(&url.parse().expect("a test URL")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burn_is_seen_by_prometheus_alerts_and_by_status_on_prometheus_and_victoriametrics() {
    let demo = DemoServerConfig {
        fail_every: Some(10),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let temp = ballast_testkit::TempDir::new("slo-live");
    let dir = temp.path();
    let slo = demo_slo();
    std::fs::write(
        dir.join("rules.yaml"),
        ballast_slo::rules::generate(std::slice::from_ref(&slo)).unwrap(),
    )
    .unwrap();
    let scrape = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{:?}]\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [\"{}\"]\n",
        dir.join("rules.yaml").display().to_string(),
        demo.addr()
    );
    std::fs::write(dir.join("prometheus.yml"), &scrape).unwrap();
    // VictoriaMetrics refuses keys it does not know (rule_files, evaluation_interval).
    let vm_scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [\"{}\"]\n",
        demo.addr()
    );
    std::fs::write(dir.join("vm.yml"), vm_scrape).unwrap();

    // Both on port 0, the port each got read back (ballast-testkit).
    let prometheus =
        ballast_testkit::prometheus(&dir.join("prometheus.yml"), &dir.join("prom-data"), &[]).await;
    let victoria = ballast_testkit::victoria_metrics(
        &dir.join("vm-data"),
        &[
            format!("-promscrape.config={}", dir.join("vm.yml").display()),
            "-search.latencyOffset=0s".into(),
        ],
    )
    .await;
    let prom = prometheus.url();
    let vm = victoria.url();

    // Traffic: 100 requests a second, a tenth of them answered 503 (burn rate 10 on 99 %).
    let url = demo.url();
    let load = tokio::spawn(async move {
        for _ in 0..1200 {
            let _ = fetch(&url).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    // The page alert fires in Prometheus.
    let start = Instant::now();
    let mut fired = false;
    while start.elapsed() < Duration::from_secs(90) && !fired {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Ok(body) = fetch(&format!("{prom}/api/v1/alerts")).await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            fired = v["data"]["alerts"].as_array().unwrap().iter().any(|a| {
                a["labels"]["severity"] == "page"
                    && a["labels"]["ballast_id"] == "demo-availability"
                    && a["state"] == "firing"
            });
        }
    }
    assert!(
        fired,
        "the page alert never fired in Prometheus within 90 s"
    );

    for server in [&prom, &vm] {
        let source = ballast_http::PromConfig::new(server.as_str())
            .build()
            .unwrap();
        let statuses = ballast_slo::status::status(&source, std::slice::from_ref(&slo))
            .await
            .unwrap();
        let s = &statuses[0];
        let burn20 = s
            .burn
            .iter()
            .find(|b| b.window == "20s")
            .and_then(|b| b.burn_rate)
            .unwrap();
        assert!(
            (6.0..=15.0).contains(&burn20),
            "{server}: 20s burn rate {burn20} (expected ~10)"
        );
        assert!(
            s.firing.contains(&"page".to_string()),
            "{server}: {:?}",
            s.firing
        );
        let consumed = s.budget_consumed.unwrap();
        assert!(
            consumed > 5.0,
            "{server}: consumed {consumed} (10 % errors on a 1 % budget)"
        );
        let sli = s.sli.unwrap();
        assert!((0.85..0.95).contains(&sli), "{server}: SLI {sli}");
    }
    load.abort();
}
