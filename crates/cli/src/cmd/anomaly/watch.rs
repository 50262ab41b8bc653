//! `ballast anomaly`: live watch, offline scoring, and the NAB benchmark.

use super::nab;
use super::{positive_duration, read_series, SourceArgs};
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
        /// Print every point's score as CSV instead of the anomalies.
        #[arg(long)]
        all: bool,
    },
    /// Run detectors over a NAB-format corpus and score them exactly as NAB does.
    #[command(after_help = "Example:
  ballast anomaly nab ../shared/data/nab/data --windows ../shared/data/nab/combined_windows.json \\
      --profiles ../shared/data/nab/profiles.json --out results --json scores.json
  ballast anomaly nab DATA --windows W --score-results ../shared/data/nab/reference/numenta")]
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
    /// File holding a bearer token (or set BALLAST_PROMETHEUS_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
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
            all,
        } => {
            let config = detector.config()?;
            let threshold = detector
                .threshold
                .unwrap_or_else(|| config.recommended_threshold());
            for path in &files {
                let series = read_series(path)?;
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
        bearer_token_file: args.bearer_token_file.clone(),
        timeout: Duration::from_secs(30),
        retries: 3,
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
    let mut watcher = config.build(client)?;
    let learned = watcher.start().await?;
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
        for a in watcher.evaluate().await.context("evaluating")? {
            if args.json {
                println!("{}", serde_json::to_string(&a)?);
            } else {
                println!("{a}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
