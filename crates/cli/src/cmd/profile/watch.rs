//! `ballast profile watch` (seed 5.4): sample heap in use every window; when it has grown
//! by more than `--growth` over `--windows` consecutive rising windows, capture a full
//! profile set, keep the worst `--keep` captures (by heap size) for diffing, and say so on
//! stdout (a JSON line), to a webhook and to Alertmanager.

use super::super::InputError;
use anyhow::Context as _;
use ballast_attribution::{HeapGrowth, HeapGrowthConfig, Trigger};
use ballast_core::alert::{rfc3339, Alert};
use ballast_http::{Client, PromClient, PromConfig, Request};
use ballast_profile::capture::{CaptureConfig, Kind};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The service's base URL (where /debug/pprof/ is served).
    pub url: String,
    /// How often the heap is sampled (one window).
    #[arg(long, default_value = "30s", value_parser = super::super::peer::positive_duration)]
    pub every: Duration,
    /// Growth that triggers a capture, over the rising windows (40% as in the seed).
    #[arg(long, default_value = "40%", value_parser = share)]
    pub growth: f64,
    /// Consecutive rising windows needed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub windows: u64,
    /// Captures kept (the largest heaps); older smaller ones are deleted.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub keep: u64,
    /// The CPU window of each capture, seconds (the other kinds at its start and end).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// Read heap in use from this PromQL query (summed) instead of /debug/pprof/heap,
    /// e.g. go_memstats_heap_inuse_bytes{job="shop"}.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,
    /// The Prometheus (or VictoriaMetrics) that answers --query. The credentials flags are
    /// the service's; none are sent here.
    #[arg(long, value_name = "URL", requires = "query")]
    pub prometheus: Option<String>,
    /// POST each event as JSON to this URL (without the service's credentials).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Send each event to this Alertmanager as the alert BallastHeapGrowth.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = super::super::peer::positive_duration)]
    pub run_for: Option<Duration>,
    /// Where captures go, a folder each.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub peer: super::super::peer::PeerArgs,
}

fn share(text: &str) -> Result<f64, String> {
    let v = ballast_core::parse_percent(text).map_err(|e| e.to_string())?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("expected a share above 0, such as 40%".into())
    }
}

fn parse_url(text: &str, flag: &str) -> anyhow::Result<url::Url> {
    url::Url::parse(text).map_err(|e| InputError(format!("{flag} {text:?}: {e}")).into())
}

/// Where the heap size comes from.
enum HeapSource {
    Endpoint(url::Url),
    Query(Box<PromClient>, String),
}

impl HeapSource {
    async fn sample(&self, client: &Client) -> anyhow::Result<u64> {
        match self {
            HeapSource::Endpoint(url) => {
                let answer = client.send(Request::get(url.clone())).await?;
                if !answer.is_success() {
                    anyhow::bail!(
                        "{url}: status {}: {}",
                        answer.status,
                        answer.text().lines().next().unwrap_or("")
                    );
                }
                let profile = ballast_profile::decode(&answer.body)
                    .with_context(|| format!("reading the heap profile from {url}"))?;
                let index = profile.sample_index("inuse_space").ok_or_else(|| {
                    anyhow::anyhow!("{url}: the heap profile has no inuse_space sample type")
                })?;
                Ok(profile.total(index).max(0) as u64)
            }
            HeapSource::Query(prometheus, query) => {
                let values = prometheus.query(query, None).await?;
                if values.is_empty() {
                    anyhow::bail!("{query}: no series");
                }
                Ok(values.iter().map(|(_, v)| v.max(0.0)).sum::<f64>() as u64)
            }
        }
    }
}

pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let base = parse_url(&args.url, "URL")?;
    // Credentials in the URL never reach events or alerts.
    let shown_url = ballast_http::redact(&base);
    let client_config = args.peer.client_config()?;
    let client = client_config.build()?;
    // Webhook and Alertmanager are other parties: the service's credentials stay with it.
    let notifier = ballast_http::ClientConfig {
        auth: None,
        ..client_config.clone()
    }
    .build()?;
    let template = CaptureConfig {
        kinds: Kind::ALL.to_vec(),
        seconds: args.seconds,
        timeout: args.peer.timeout,
        client: client_config.clone(),
        ..CaptureConfig::new(base.clone(), args.output.join("check"))
    };
    let probe = template.build()?;
    let source = match (&args.query, &args.prometheus) {
        (Some(query), Some(url)) => HeapSource::Query(
            Box::new(PromConfig::new(url.clone()).build()?),
            query.clone(),
        ),
        _ => {
            // Go's heap profile is as of the last GC; with the heap doubling between GCs a
            // growing heap would read as a plateau for minutes. gc=1 makes it current (one
            // GC per window; ballast-tower's endpoint ignores the parameter).
            let mut url = probe.endpoint(Kind::Heap);
            url.query_pairs_mut().append_pair("gc", "1");
            HeapSource::Endpoint(url)
        }
    };
    let webhook = args
        .webhook
        .as_deref()
        .map(|u| parse_url(u, "--webhook"))
        .transpose()?;
    let alertmanager = args
        .alertmanager
        .as_deref()
        .map(|u| parse_url(u, "--alertmanager"))
        .transpose()?;
    std::fs::create_dir_all(&args.output)
        .map_err(|e| InputError(format!("{}: {e}", args.output.display())))?;

    let mut growth = HeapGrowth::new(HeapGrowthConfig {
        growth: args.growth,
        windows: args.windows as usize,
    });
    // Captures kept, by heap size at the trigger: the worst ones are the ones to diff.
    let mut kept: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let deadline = args.run_for.map(|d| tokio::time::Instant::now() + d);
    let mut ticker = tokio::time::interval(args.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = super::super::interrupted();
    tokio::pin!(stop);
    let mut sequence = 0u64;
    eprintln!(
        "watching heap in use every {}s: a capture when it grows over {:.0}% across {} rising windows",
        args.every.as_secs_f64(),
        args.growth * 100.0,
        args.windows
    );
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut stop => break,
            _ = sleep_until(deadline) => break,
        }
        // Ctrl-C and --for end the run whatever it is doing.
        let sampled = tokio::select! {
            sampled = source.sample(&client) => sampled,
            _ = &mut stop => break,
            _ = sleep_until(deadline) => break,
        };
        let heap = match sampled {
            Ok(h) => h,
            Err(e) => {
                // One failed sample is a gap, not a reason to stop watching.
                eprintln!("heap sample failed: {e:#}");
                continue;
            }
        };
        let Some(trigger) = growth.push(heap) else {
            eprintln!("heap {}", ballast_core::format_bytes(heap));
            continue;
        };
        sequence += 1;
        let now = unix_now();
        let dir = args
            .output
            .join(format!("capture-{}-{sequence}", now as u64));
        eprintln!(
            "heap grew {:.0}% over {} windows ({} → {}): capturing into {}",
            trigger.growth * 100.0,
            trigger.windows,
            ballast_core::format_bytes(trigger.from),
            ballast_core::format_bytes(trigger.to),
            dir.display()
        );
        let config = CaptureConfig {
            out_dir: dir.clone(),
            ..template.clone()
        };
        let capture = config.build()?;
        let ran = tokio::select! {
            ran = capture.run(|_| {}) => Some(ran),
            _ = &mut stop => None,
            _ = sleep_until(deadline) => None,
        };
        // Stopped mid-capture: a partial folder is not a capture.
        let Some(ran) = ran else {
            let _ = std::fs::remove_dir_all(&dir);
            break;
        };
        let captured = match ran {
            Ok(manifest) => manifest.written().count(),
            Err(e) => {
                eprintln!("capture failed: {e}");
                0
            }
        };
        // Only a capture with files competes for a place among the kept ones.
        if captured > 0 {
            kept.insert((trigger.to, sequence), dir.clone());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        while kept.len() > args.keep as usize {
            if let Some((_, smallest)) = kept.pop_first() {
                let _ = std::fs::remove_dir_all(&smallest);
            }
        }
        let event = event_json(&shown_url, &trigger, &dir, captured, now);
        println!("{event}");
        if let Some(url) = &webhook {
            let request = Request::new(http::Method::POST, url.clone())
                .body("application/json", event.to_string());
            match notifier.send(request).await {
                Ok(r) if r.is_success() => {}
                Ok(r) => eprintln!("webhook {url}: status {}", r.status),
                Err(e) => eprintln!("webhook {url}: {e}"),
            }
        }
        if let Some(url) = &alertmanager {
            let alert = alert(&shown_url, &trigger, &dir, now, args.every);
            if let Err(e) = ballast_http::alertmanager::post_alerts(&notifier, url, &[alert]).await
            {
                eprintln!("alertmanager {url}: {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn event_json(
    url: &str,
    trigger: &Trigger,
    dir: &std::path::Path,
    files: usize,
    now: f64,
) -> serde_json::Value {
    serde_json::json!({
        "event": "heap_growth",
        "at": rfc3339(now),
        "url": url,
        "from_bytes": trigger.from,
        "to_bytes": trigger.to,
        "growth": trigger.growth,
        "windows": trigger.windows,
        "capture": dir.display().to_string(),
        "files": files,
    })
}

fn alert(url: &str, trigger: &Trigger, dir: &std::path::Path, now: f64, every: Duration) -> Alert {
    Alert {
        labels: BTreeMap::from([
            ("alertname".to_string(), "BallastHeapGrowth".to_string()),
            ("instance".to_string(), url.to_string()),
            ("severity".to_string(), "warning".to_string()),
        ]),
        annotations: BTreeMap::from([
            (
                "summary".to_string(),
                format!(
                    "heap in use grew {:.0}% over {} windows ({} to {} bytes)",
                    trigger.growth * 100.0,
                    trigger.windows,
                    trigger.from,
                    trigger.to
                ),
            ),
            ("capture".to_string(), dir.display().to_string()),
        ]),
        starts_at: rfc3339(now),
        // Resolves on its own unless the heap keeps growing.
        ends_at: rfc3339(now + 10.0 * every.as_secs_f64()),
    }
}
