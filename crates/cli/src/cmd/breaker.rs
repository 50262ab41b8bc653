//! `ballast breaker replay`: the real breaker over a recorded trace, on simulated time.

use super::InputError;
use ballast_contract::yaml;
use ballast_core::format_duration;
use ballast_tower::breaker::replay::{parse_trace, replay, ReplayReport};
use ballast_tower::breaker::{BreakerConfig, Event};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum BreakerCommand {
    /// Run a breaker over a recorded trace (CSV: time_s,latency_ms,outcome) with simulated
    /// time; print its state timeline and learned thresholds.
    #[command(after_help = "Example:
  ballast breaker replay crates/act/tower/traces/outage.csv --config crates/act/tower/traces/breaker.yaml

Exit codes: 0 replayed; 2 the trace or the config is malformed (file:line: field: reason).")]
    Replay {
        /// The trace: a header `time_s,latency_ms,outcome`, then one call per line
        /// (`12.345,20.5,ok`; outcome ok, error or timeout).
        trace: PathBuf,
        /// Breaker settings (YAML, the keys of `BreakerConfig`); defaults when omitted.
        #[arg(long, value_name = "breaker.yaml")]
        config: Option<PathBuf>,
        /// Also write the full report (every event) as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

pub fn run(command: BreakerCommand) -> anyhow::Result<ExitCode> {
    match command {
        BreakerCommand::Replay {
            trace,
            config,
            json,
        } => {
            let config = match &config {
                Some(path) => load_config(path)?,
                None => BreakerConfig::default(),
            };
            let text = read(&trace)?;
            let calls = parse_trace(&text, &trace.display().to_string())
                .map_err(|e| InputError(e.to_string()))?;
            let report = replay(&config, &calls).map_err(|e| InputError(e.to_string()))?;
            print!("{}", render(&config, &report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report)?;
                std::fs::write(&path, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| InputError(format!("{}: {e}", path.display())).into())
}

/// Reads a breaker YAML file; every error names the file, the line and the field.
fn load_config(path: &Path) -> anyhow::Result<BreakerConfig> {
    let text = read(path)?;
    let file = path.display();
    let root = yaml::parse(&text)
        .map_err(|e| InputError(format!("{file}:{}: {}", e.position.line, e.message)))?;
    let config: BreakerConfig = match serde_path_to_error::deserialize(root.to_json()) {
        Ok(config) => config,
        Err(e) => {
            let field = e.path().to_string();
            let message = e.inner().to_string();
            // "unknown field `x`": point at the key itself, not at its map.
            let unknown = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            let parent = if field == "." {
                String::new()
            } else {
                field.clone()
            };
            let (line, field) = match unknown {
                Some(key) => {
                    let parent = parent
                        .strip_suffix(&key)
                        .map(|p| p.trim_end_matches('.'))
                        .unwrap_or(&parent);
                    let line = root
                        .locate_key(parent, &key)
                        .unwrap_or_else(|| root.locate(parent))
                        .line;
                    let field = if parent.is_empty() {
                        key.clone()
                    } else {
                        format!("{parent}.{key}")
                    };
                    (line, field)
                }
                None => (root.locate(&parent).line, parent),
            };
            return Err(InputError(format!("{file}:{line}: {field}: {message}")).into());
        }
    };
    if let Err(ballast_tower::Error::InvalidConfig { field, message }) = config.validate() {
        let line = root.locate(field).line;
        return Err(InputError(format!("{file}:{line}: {field}: {message}")).into());
    }
    Ok(config)
}

fn percent(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

fn seconds(d: std::time::Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn render(config: &BreakerConfig, report: &ReplayReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "breaker {:?}: {} calls, {} admitted ({} of them failed), {} refused",
        config.name, report.calls, report.admitted, report.admitted_failures, report.rejected
    );
    let _ = writeln!(out, "\ntimeline:");
    let mut any = false;
    for event in &report.events {
        any = true;
        let line = match event {
            Event::StateChanged(t) => format!(
                "  {:>10}  {} → {}  window {} calls, failures {} (trips at {}), slow {} (≥ {}, trips at {})",
                seconds(t.at),
                t.from,
                t.to,
                t.window.calls(),
                percent(t.window.failure_rate()),
                percent(t.thresholds.failure_rate),
                percent(t.window.slow_rate()),
                format_duration(t.thresholds.slow_call_duration),
                percent(t.thresholds.slow_call_rate),
            ),
            Event::SnapshotTaken(s) => format!(
                "  {:>10}  snapshot v{}: baseline failures {}, latency {}; trips at {}, slow ≥ {}",
                seconds(s.taken_at),
                s.version,
                percent(s.failure_baseline),
                format_duration(s.latency_baseline),
                percent(s.failure_threshold),
                format_duration(s.slow_call_duration),
            ),
            Event::RolledBack { at, to, reason } => {
                format!("  {:>10}  rolled back to snapshot v{} ({reason:?})", seconds(*at), to.version)
            }
            Event::ModeChanged { at, mode } => format!("  {:>10}  mode {mode:?}", seconds(*at)),
        };
        let _ = writeln!(out, "{line}");
    }
    if !any {
        let _ = writeln!(out, "  (no state change)");
    }
    let t = report.final_thresholds;
    let _ = writeln!(
        out,
        "\nfinal state {}; thresholds: trips at {} failures or {} slow calls (≥ {})",
        report.final_state,
        percent(t.failure_rate),
        percent(t.slow_call_rate),
        format_duration(t.slow_call_duration)
    );
    match report.final_baseline {
        Some((rate, latency)) => {
            let latency = latency
                .map(format_duration)
                .unwrap_or_else(|| "not learned".into());
            let _ = writeln!(
                out,
                "learned baseline: failures {}, latency quantile {latency}",
                percent(rate)
            );
        }
        None => {
            let _ = writeln!(out, "static thresholds (nothing learned)");
        }
    }
    out
}
