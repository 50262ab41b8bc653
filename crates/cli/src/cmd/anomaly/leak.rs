//! `ballast leak`: the trend test and growth watch over gauges.

use super::{positive_duration, share, SourceArgs};
use ballast_anomaly::growth::GrowthConfig;
use ballast_anomaly::trend::{analyse, TrendConfig, Verdict};
use ballast_anomaly::Error;
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;

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
    #[arg(long, default_value_t = 0.001)]
    pub alpha: f64,
    /// Smallest change over the window (share of the median level) that counts.
    #[arg(long, default_value = "20%", value_parser = share)]
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
        let t = match analyse(s, &trend, args.limit) {
            Ok(t) => t,
            // One short series does not stop the others being judged.
            Err(Error::TooLittleData(why)) => {
                if args.json {
                    report.push(serde_json::json!({ "series": s.name, "undecided": why }));
                } else {
                    println!("{:<9} {why}", "undecided");
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
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
