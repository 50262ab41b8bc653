//! `ballast anomaly`: live watch, offline scoring, and the NAB benchmark.

use super::nab;
use super::{positive_duration, RowArgs, SourceArgs};
use crate::cmd::{interrupted, InputError};
use anyhow::Context as _;
use ballast_anomaly::watch::WatchConfig;
use ballast_anomaly::DetectorConfig;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum AnomalyCommand {
    /// Watch live series: score every step, print anomalies, optionally alert an Alertmanager.
    #[command(after_help = "Examples:
  ballast anomaly watch 'sum(rate(http_requests_total[1m]))' --prometheus http://127.0.0.1:9090 --step 1m
  ballast anomaly watch go_goroutines --prometheus URL --alertmanager http://127.0.0.1:9093 --label team=shop")]
    Watch(WatchArgs),
    /// Score CSV files offline, one detector run per file, and print the anomalies.
    Score {
        /// `timestamp,value` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        detector: DetectorArgs,
        #[command(flatten)]
        rows: RowArgs,
        /// Print every point's score as CSV instead of the anomalies.
        #[arg(long)]
        all: bool,
    },
    /// Run detectors over a NAB-format corpus and score them exactly as NAB does.
    #[command(
        after_help = "Examples (BALLAST_NAB_DIR: a NAB checkout, holding data/ and combined_windows.json):
  ballast anomaly nab $BALLAST_NAB_DIR/data --windows $BALLAST_NAB_DIR/combined_windows.json \\
      --profiles $BALLAST_NAB_DIR/profiles.json --out results --json scores.json
  ballast anomaly nab $BALLAST_NAB_DIR/data --windows $BALLAST_NAB_DIR/combined_windows.json \\
      --score-results $BALLAST_NAB_DIR/reference/numenta

Rows are scored in file order, as NAB does, even where a file's timestamps step back or repeat."
    )]
    Nab(nab::NabArgs),
}

/// Which detector and threshold.
#[derive(Debug, Args)]
pub struct DetectorArgs {
    /// Built-in detector.
    #[arg(long, default_value = "novelty")]
    pub detector: String,
    /// Detector settings as JSON (`{"kind": "...", ...}`), instead of --detector.
    #[arg(long, value_name = "FILE", conflicts_with = "detector")]
    pub detector_config: Option<PathBuf>,
    /// Alert at or above this score [default: the detector's NAB-tuned threshold].
    #[arg(long)]
    pub threshold: Option<f64>,
}

impl DetectorArgs {
    pub fn config(&self) -> anyhow::Result<DetectorConfig> {
        let config = match &self.detector_config {
            Some(path) => read_detector_config(path)?,
            None => DetectorConfig::named(&self.detector)?,
        };
        config.validate()?;
        Ok(config)
    }
}

pub fn read_detector_config(path: &Path) -> anyhow::Result<DetectorConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    Ok(DetectorConfig::from_json(&text, path)?)
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// PromQL queries; every series they return is watched.
    #[arg(required = true)]
    pub queries: Vec<String>,
    /// Server with Prometheus' query API.
    #[arg(long, value_name = "URL")]
    pub prometheus: String,
    #[command(flatten)]
    pub peer: crate::cmd::peer::PeerArgs,
    /// Evaluation interval and query resolution.
    #[arg(long, default_value = "1m", value_parser = positive_duration)]
    pub step: Duration,
    /// History the detectors learn from first.
    #[arg(long, default_value = "1d", value_parser = positive_duration)]
    pub history: Duration,
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Send anomalies to this Alertmanager (POST /api/v2/alerts).
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// Extra alert label, NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub label: Vec<String>,
    /// Stop after this many evaluations [default: until Ctrl-C].
    #[arg(long)]
    pub count: Option<u64>,
    /// Print anomalies as JSON lines.
    #[arg(long)]
    pub json: bool,
}

pub async fn anomaly(command: AnomalyCommand) -> anyhow::Result<ExitCode> {
    match command {
        AnomalyCommand::Watch(args) => watch(args).await,
        AnomalyCommand::Score {
            files,
            detector,
            rows,
            all,
        } => {
            let config = detector.config()?;
            let threshold = detector
                .threshold
                .unwrap_or_else(|| config.recommended_threshold());
            for path in &files {
                let series = rows.read(path)?;
                let mut d = config.build()?;
                if all {
                    println!("timestamp,value,anomaly_score");
                }
                for p in &series.points {
                    let score = d.score(p.t, p.v);
                    let time = ballast_anomaly::series::format_timestamp(p.t);
                    if all {
                        println!("{time},{},{score}", p.v);
                    } else if score >= threshold {
                        println!(
                            "{}: {time} ANOMALY score {score:.3} value {}",
                            path.display(),
                            p.v
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AnomalyCommand::Nab(args) => nab::run(args),
    }
}

async fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let source = SourceArgs {
        prometheus: Some(args.prometheus.clone()),
        csv: vec![],
        peer: args.peer.clone(),
        rows: RowArgs {
            unordered: super::UnorderedArg::Error,
            duplicates: super::DuplicatesArg::Error,
        },
    };
    let client = source.client()?.expect("a server was given");
    let mut labels = std::collections::BTreeMap::new();
    for l in &args.label {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| InputError(format!("--label expects NAME=VALUE, got {l:?}")))?;
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    let config = WatchConfig {
        step: args.step,
        history: args.history,
        detector: args.detector.config()?,
        threshold: args.detector.threshold,
        alertmanager: args.alertmanager.clone(),
        labels,
        ..WatchConfig::new(args.queries.clone())
    };
    let mut watcher = config.build()?;
    let learned = watcher.start(&client).await?;
    let alertmanager = match watcher.alertmanager() {
        Some(url) => Some((
            ballast_spec::parse_http_url(url)
                .map_err(|e| InputError(format!("--alertmanager: {e}")))?,
            // The query server's credentials stay with the query server.
            ballast_http::ClientConfig {
                timeout: args.peer.timeout,
                retries: args.peer.retries,
                ..Default::default()
            }
            .build()?,
        )),
        None => None,
    };
    eprintln!(
        "watching {} series ({learned} points of history), every {}, threshold {:.3}",
        watcher.series_count(),
        ballast_core::format_duration(args.step),
        watcher.threshold()
    );
    let stop = interrupted();
    tokio::pin!(stop);
    let mut round = 0u64;
    loop {
        if args.count.is_some_and(|c| round >= c) {
            break;
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(if round == 0 { Duration::ZERO } else { args.step }) => {}
        }
        round += 1;
        let anomalies = watcher.evaluate(&client).await.context("evaluating")?;
        for a in &anomalies {
            if args.json {
                println!("{}", serde_json::to_string(a)?);
            } else {
                println!("{a}");
            }
        }
        if let Some((url, http)) = &alertmanager {
            ballast_http::alertmanager::post_alerts(http, url, &watcher.alerts(&anomalies))
                .await
                .context("sending the anomalies to Alertmanager")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
