//! `ballast baseline`, `ballast anomaly`, `ballast leak`: the baseline, anomaly and leak
//! engine (ballast-anomaly) over Prometheus/VictoriaMetrics or, offline, CSV files and
//! NAB-format corpora.

use super::{interrupted, InputError};
use anyhow::Context as _;
use ballast_anomaly::baseline::{Baseline, BaselineConfig, Direction, Seasonality};
use ballast_anomaly::growth::GrowthConfig;
use ballast_anomaly::input::csv::read_series;
use ballast_anomaly::prom::{PromClient, PromConfig};
use ballast_anomaly::trend::{analyse, TrendConfig, Verdict};
use ballast_anomaly::watch::WatchConfig;
use ballast_anomaly::{DetectorConfig, Series};
use ballast_core::parse_duration;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod nab;

/// Where series come from: a server, or CSV files.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Server with Prometheus' query API (Prometheus, VictoriaMetrics), e.g. http://127.0.0.1:9090.
    #[arg(long, value_name = "URL", conflicts_with = "csv")]
    pub prometheus: Option<String>,
    /// Read `timestamp,value` CSV files instead of querying (the positional queries are then
    /// not needed).
    #[arg(long, value_name = "FILE")]
    pub csv: Vec<PathBuf>,
    /// File holding a bearer token for the server (or set BALLAST_PROMETHEUS_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// Per request.
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Extra attempts after a connection failure, timeout, 429 or 5xx.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

impl SourceArgs {
    fn client(&self) -> anyhow::Result<Option<PromClient>> {
        let Some(url) = &self.prometheus else {
            return Ok(None);
        };
        let token = match &self.bearer_token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| InputError(format!("{}: {e}", path.display())))?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var("BALLAST_PROMETHEUS_TOKEN").ok(),
        };
        let config = PromConfig {
            bearer_token: token,
            timeout: self.timeout,
            retries: self.retries,
            ..PromConfig::new(url.clone())
        };
        Ok(Some(config.build()?))
    }

    /// The series: every CSV file, or every series of every query over the last `window`.
    async fn load(
        &self,
        queries: &[String],
        window: Duration,
        step: Duration,
    ) -> anyhow::Result<Vec<(String, Series)>> {
        let mut out = Vec::new();
        match self.client()? {
            Some(client) => {
                if queries.is_empty() {
                    return Err(InputError("give at least one PromQL query".into()).into());
                }
                let end = client.now().await?;
                let start = end - window.as_secs_f64();
                for q in queries {
                    for s in client.query_range(q, start, end, step).await? {
                        out.push((q.clone(), s));
                    }
                }
            }
            None => {
                if self.csv.is_empty() {
                    return Err(InputError(
                        "give --prometheus URL (with queries) or --csv FILE".into(),
                    )
                    .into());
                }
                if !queries.is_empty() {
                    return Err(InputError(
                        "with --csv, give no queries (the files are the series)".into(),
                    )
                    .into());
                }
                for path in &self.csv {
                    out.push((path.display().to_string(), read_series(path)?));
                }
            }
        }
        Ok(out)
    }
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("expected a duration above zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    match number.parse::<f64>() {
        Ok(v) if v / scale > 0.0 && v / scale < 1.0 => Ok(v / scale),
        _ => Err(format!("expected a share like 99.5% or 0.995, got {s:?}")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BaselineFormat {
    Text,
    Json,
    Contract,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// A seasonal baseline of one series and the SLO objective its history supports.
    #[command(after_help = "Examples:
  ballast baseline suggest 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))' \\
      --prometheus http://127.0.0.1:9090 --window 7d
  ballast baseline suggest --csv p99.csv --format contract --name checkout-p99
  ballast baseline suggest 'sum(rate(http_requests_total[5m]))' --prometheus URL --direction above")]
    Suggest {
        /// PromQL returning one series (aggregate if it returns several).
        query: Option<String>,
        #[command(flatten)]
        source: SourceArgs,
        /// History to read.
        #[arg(long, default_value = "7d", value_parser = positive_duration)]
        window: Duration,
        /// Query resolution [default: the SLO window].
        #[arg(long, value_parser = positive_duration)]
        step: Option<Duration>,
        /// Seasonality of the baseline.
        #[arg(long, value_enum, default_value = "auto")]
        seasonality: SeasonalityArg,
        /// Slot of the day/week.
        #[arg(long, default_value = "1h", value_parser = positive_duration)]
        slot: Duration,
        /// Objective to propose (share of SLO windows).
        #[arg(long, default_value = "99.5%", value_parser = share)]
        objective: f64,
        /// SLO window the objective counts.
        #[arg(long, default_value = "5m", value_parser = positive_duration)]
        slo_window: Duration,
        /// below: the value must stay under the threshold (latency); above: over (throughput).
        #[arg(long, value_enum, default_value = "below")]
        direction: DirectionArg,
        /// Output.
        #[arg(long, value_enum, default_value = "text")]
        format: BaselineFormat,
        /// SLO name in the contract snippet.
        #[arg(long, default_value = "baseline")]
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeasonalityArg {
    Auto,
    None,
    Daily,
    Weekly,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DirectionArg {
    Below,
    Above,
}

pub async fn baseline(command: BaselineCommand) -> anyhow::Result<ExitCode> {
    let BaselineCommand::Suggest {
        query,
        source,
        window,
        step,
        seasonality,
        slot,
        objective,
        slo_window,
        direction,
        format,
        name,
    } = command;
    let queries: Vec<String> = query.iter().cloned().collect();
    let series = source
        .load(&queries, window, step.unwrap_or(slo_window))
        .await?;
    if series.len() != 1 {
        return Err(InputError(format!(
            "a baseline is for one series, got {}: aggregate the query (e.g. max(...)) or give one CSV file",
            series.len()
        ))
        .into());
    }
    let (origin, s) = &series[0];
    let config = BaselineConfig {
        seasonality: match seasonality {
            SeasonalityArg::Auto => Seasonality::Auto,
            SeasonalityArg::None => Seasonality::None,
            SeasonalityArg::Daily => Seasonality::Daily,
            SeasonalityArg::Weekly => Seasonality::Weekly,
        },
        slot,
        objective,
        slo_window,
        direction: match direction {
            DirectionArg::Below => Direction::Below,
            DirectionArg::Above => Direction::Above,
        },
        ..Default::default()
    };
    let b = Baseline::compute(s, &config)?;
    match format {
        BaselineFormat::Text => print!("{}", b.to_text(slo_window)),
        BaselineFormat::Json => println!("{}", serde_json::to_string_pretty(&b)?),
        BaselineFormat::Contract => {
            let promql = query.unwrap_or_else(|| format!("<PromQL for {origin}>"));
            print!("{}", b.contract_snippet(&name, &promql, slo_window));
        }
    }
    Ok(ExitCode::SUCCESS)
}

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
    #[arg(long, default_value = "ewma")]
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
    serde_json::from_str(&text).map_err(|e| {
        InputError(format!(
            "{}:{}:{}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
        .into()
    })
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

#[derive(Debug, Args)]
pub struct LeakArgs {
    /// PromQL queries of gauges (go_goroutines, tokio tasks, heap in use, RSS, open fds).
    pub queries: Vec<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// History to test.
    #[arg(long, default_value = "6h", value_parser = positive_duration)]
    pub window: Duration,
    /// Query resolution [default: window ÷ 720].
    #[arg(long, value_parser = positive_duration)]
    pub step: Option<Duration>,
    /// Project the time until a growing series reaches this value.
    #[arg(long)]
    pub limit: Option<f64>,
    /// Significance level of the Mann–Kendall test.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Smallest change over the window (share of the median level) that counts.
    #[arg(long, default_value = "5%", value_parser = share)]
    pub min_change: f64,
    /// Growth watch: growth over --growth-windows consecutive windows that emits an event.
    #[arg(long, default_value = "40%", value_parser = growth_share)]
    pub growth: f64,
    /// Growth watch: consecutive windows.
    #[arg(long, default_value_t = 5)]
    pub growth_windows: usize,
    /// Growth watch: window length.
    #[arg(long, default_value = "1m", value_parser = positive_duration)]
    pub growth_window: Duration,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn growth_share(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    match t.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(if s.contains('%') { v / 100.0 } else { v }),
        _ => Err(format!("expected a growth like 40%, got {s:?}")),
    }
}

pub async fn leak(args: LeakArgs) -> anyhow::Result<ExitCode> {
    let step = args
        .step
        .unwrap_or_else(|| Duration::from_secs_f64((args.window.as_secs_f64() / 720.0).max(1.0)));
    let series = args.source.load(&args.queries, args.window, step).await?;
    let trend = TrendConfig {
        alpha: args.alpha,
        min_relative_change: args.min_change,
        ..Default::default()
    };
    let growth = GrowthConfig {
        threshold: args.growth,
        windows: args.growth_windows,
        window: args.growth_window,
    };
    growth.build()?;
    let mut any_growing = false;
    let mut report = Vec::new();
    for (_, s) in &series {
        let t = analyse(s, &trend, args.limit)?;
        let events = growth.build()?.scan(s);
        any_growing |= t.verdict == Verdict::Growing;
        if args.json {
            report.push(serde_json::json!({ "trend": t, "growth_events": events }));
            continue;
        }
        println!(
            "{:<9} {}  slope {:+.4}/h  change {:+.1}% over {}  Mann–Kendall p={:.2e} (τ {:.2}, {} buckets){}{}",
            t.verdict.to_string(),
            t.series,
            t.slope_per_hour,
            t.relative_change * 100.0,
            ballast_core::format_duration(Duration::from_secs_f64(t.span_seconds)),
            t.p_value,
            t.tau,
            t.buckets,
            if t.restarts > 0 { format!(", {} restart(s)", t.restarts) } else { String::new() },
            t.hours_to_limit.map(|h| format!(", reaches {} in {h:.1} h", args.limit.unwrap_or_default())).unwrap_or_default()
        );
        for e in events {
            println!(
                "          growth +{:.0}% over {} windows: {} → {} ({} .. {})",
                e.growth * 100.0,
                args.growth_windows,
                e.from_value,
                e.to_value,
                ballast_anomaly::series::format_timestamp(e.from_time),
                ballast_anomaly::series::format_timestamp(e.to_time)
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    // Exit 1 when something leaks, so a CI step can gate on it.
    Ok(if any_growing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
