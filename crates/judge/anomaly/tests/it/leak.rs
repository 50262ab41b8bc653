//! Real targets: two small Go programs (standard library only, built here with the
//! system's Go) expose their goroutine count and heap. One leaks a goroutine holding
//! 1 MiB every 3 s on average; the other never leaks but has wandering workers and a GC
//! sawtooth. Prometheus scrapes one leaky instance and twenty steady ones (seeds 1–20)
//! every second; after 20 s to settle and 150 s of data `ballast leak`'s test must call the leaky one growing
//! and none of the twenty steady ones.
//!
//! `BALLAST_RECORD_LEAK=DIR` writes every series read to DIR as CSV (the fixtures of
//! `leak_recorded` were made so).

use crate::servers::{self, TempDir};
use ballast_anomaly::series::format_timestamp;
use ballast_anomaly::trend::{analyse, TrendConfig, Verdict};
use ballast_http::PromConfig;
use ballast_testkit::{Port, Server};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const STEADY_INSTANCES: u64 = 20;
const DATA: Duration = Duration::from_secs(150);
const WARMUP: Duration = Duration::from_secs(20);

fn go_build(dir: &Path, name: &str) -> std::path::PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/go")
        .join(name)
        .join("main.go");
    ballast_testkit::go_build(&source, dir, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_tells_the_leaky_go_program_from_twenty_steady_ones() {
    let dir = TempDir::new("leak");
    let steady = go_build(dir.path(), "steady");
    let leaky = go_build(dir.path(), "leaky");
    let mut children = Vec::new();
    let mut targets = Vec::new();
    let mut instances = vec![(leaky.clone(), "leaky", 1)];
    instances.extend((1..=STEADY_INSTANCES).map(|seed| (steady.clone(), "steady", seed)));
    for (binary, job, seed) in instances {
        // On port 0; Go's log says nothing of the port, so it is read from /proc.
        let child = Server::start(
            binary.to_str().unwrap(),
            &["-addr=127.0.0.1:0".into(), format!("-seed={seed}")],
            Port::Proc,
            Duration::from_secs(60),
        )
        .await;
        targets.push(format!(
            "  - job_name: {job}-{seed}\n    static_configs:\n      - targets: [\"{}\"]\n        labels: {{ program: {job}, seed: \"{seed}\" }}\n",
            child.addr()
        ));
        children.push(child);
    }
    let started = Instant::now();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n{}",
        targets.concat()
    );
    let prometheus = servers::prometheus(dir.path(), &config, &dir.path().join("prom-data")).await;
    let client = PromConfig::new(prometheus.url.clone()).build().unwrap();

    // The window opens once every program has settled: a fresh Go runtime's heap climbs to
    // its working size and the workers to their level in the first seconds, which is growth
    // a steady program only shows at startup (on a busy machine, for longer).
    if let Some(left) = WARMUP.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let began = client.now().await.unwrap();
    let waiting = Instant::now();
    while waiting.elapsed() < DATA {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let end = client.now().await.unwrap();
    assert!(end - began <= 180.0, "more than 3 minutes of data");
    let record = std::env::var_os("BALLAST_RECORD_LEAK");
    let mut verdicts = Vec::new();
    for metric in ["go_goroutines", "go_memstats_heap_inuse_bytes"] {
        let series = client
            .query_range(metric, began, end, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            series.len() as u64,
            STEADY_INSTANCES + 1,
            "{metric}: {series:?}"
        );
        for s in series {
            let is_leaky = s.name.contains("program=\"leaky\"");
            let t = match analyse(&s, &TrendConfig::default(), None) {
                Ok(t) => t,
                // Too few sawtooth teeth to judge: undecided, which is not a flag.
                Err(e @ ballast_anomaly::Error::TooLittleData(_)) => {
                    println!("undecided {}: {e}", s.name);
                    verdicts.push((metric, is_leaky, None));
                    continue;
                }
                Err(e) => panic!("{}: {e}", s.name),
            };
            println!(
                "{:<9} {} slope {:+.1}/h change {:+.1}% p={:.1e} buckets {}",
                t.verdict.to_string(),
                s.name,
                t.slope_per_hour,
                t.relative_change * 100.0,
                t.p_value,
                t.buckets
            );
            if let Some(dir) = &record {
                let name = s.name.replace(['{', '}', '"', ',', '='], "_");
                let csv: String = std::iter::once("timestamp,value\n".to_string())
                    .chain(
                        s.points
                            .iter()
                            .map(|p| format!("{},{}\n", format_timestamp(p.t), p.v)),
                    )
                    .collect();
                std::fs::write(Path::new(dir).join(format!("{name}.csv")), csv).unwrap();
            }
            verdicts.push((metric, is_leaky, Some(t.verdict)));
        }
    }
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    println!(
        "data: {:.0} s ending {}",
        end - began,
        format_timestamp(unix as f64)
    );
    for (metric, is_leaky, verdict) in &verdicts {
        match (*is_leaky, *metric) {
            // The goroutines tell the programs apart. (The leaky heap is reported above; its
            // GC sawtooth leaves few buckets in 150 s, so it is not asserted.)
            (true, "go_goroutines") => assert_eq!(
                *verdict,
                Some(Verdict::Growing),
                "the leaky program's goroutines were not seen growing"
            ),
            (true, _) => {}
            (false, _) => assert_ne!(
                *verdict,
                Some(Verdict::Growing),
                "a steady program's {metric} was flagged"
            ),
        }
    }
    drop(children);
}
