//! `ballast baseline`, `ballast anomaly`, `ballast leak`: the baseline, anomaly and leak
//! engine (ballast-anomaly) over Prometheus/VictoriaMetrics or, offline, CSV files and
//! NAB-format corpora.

use super::InputError;
use ballast_anomaly::baseline::{Baseline, BaselineConfig, Direction, Seasonality};
use ballast_anomaly::input::csv::{read_series_with, Duplicates, RowPolicy, Unordered};
use ballast_anomaly::Series;
use ballast_http::{PromClient, PromConfig};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod leak;
mod nab;
mod watch;

pub use leak::{leak, LeakArgs};
pub use watch::{anomaly, AnomalyCommand};

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
    #[command(flatten)]
    pub peer: super::peer::PeerArgs,
    #[command(flatten)]
    pub rows: RowArgs,
}

/// What to do with CSV rows out of time order and with repeated timestamps.
#[derive(Debug, Clone, Copy, Args)]
pub struct RowArgs {
    /// A CSV row earlier than the row before it. error: stop, naming the file, line and
    /// timestamps; keep: use the rows in file order; sort: sort by time (stable); drop: drop
    /// every row earlier than the last one kept.
    #[arg(long, value_enum, default_value = "error", value_name = "MODE")]
    pub unordered: UnorderedArg,
    /// CSV rows with the same timestamp (after --unordered). error: stop, naming both
    /// lines; keep: all of them; first, last: only the first or last in file order.
    #[arg(long, value_enum, default_value = "error", value_name = "MODE")]
    pub duplicates: DuplicatesArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnorderedArg {
    Error,
    Keep,
    Sort,
    Drop,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DuplicatesArg {
    Error,
    Keep,
    First,
    Last,
}

impl RowArgs {
    fn policy(self) -> RowPolicy {
        RowPolicy {
            unordered: match self.unordered {
                UnorderedArg::Error => Unordered::Error,
                UnorderedArg::Keep => Unordered::Keep,
                UnorderedArg::Sort => Unordered::Sort,
                UnorderedArg::Drop => Unordered::Drop,
            },
            duplicates: match self.duplicates {
                DuplicatesArg::Error => Duplicates::Error,
                DuplicatesArg::Keep => Duplicates::Keep,
                DuplicatesArg::First => Duplicates::First,
                DuplicatesArg::Last => Duplicates::Last,
            },
        }
    }

    /// Reads a CSV series under these rules; what they changed goes to stderr, so a
    /// sorted or thinned series never passes for the file as written.
    pub fn read(self, path: &Path) -> anyhow::Result<Series> {
        let (series, report) = read_series_with(path, self.policy())?;
        if let Some(summary) = report.summary() {
            eprintln!("{}: {summary}", path.display());
        }
        Ok(series)
    }
}

impl SourceArgs {
    fn client(&self) -> anyhow::Result<Option<PromClient>> {
        let Some(url) = &self.prometheus else {
            return Ok(None);
        };
        let config = PromConfig {
            http: self.peer.client_config()?,
            ..PromConfig::new(url.clone())
        };
        Ok(Some(
            config
                .build()
                .map_err(|e| InputError(format!("--prometheus: {e}")))?,
        ))
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
                    out.push((path.display().to_string(), self.rows.read(path)?));
                }
            }
        }
        Ok(out)
    }
}

use super::peer::positive_duration;

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
