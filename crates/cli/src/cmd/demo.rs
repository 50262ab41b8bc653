//! Until the full demo (every engine on an embedded shop) lands, `demo` shows the load
//! engine for real: a built-in HTTP service on loopback that stalls once, an open-model
//! run against it, and the summary — where corrected latency shows the stall that
//! service time hides.

use super::interrupted;
use crate::cli::{DemoArgs, DemoCommand, DemoServeArgs};
use crate::output::{write_json, LiveProgress};
use anyhow::Context as _;
use ballast_demo::{DemoServerConfig, SlowAbove, Stall};
use ballast_load::{LoadConfig, Model, Stop};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(DemoCommand::Serve(serve_args)) = args.serve {
        return serve(serve_args).await;
    }
    let stall = Stall {
        at: args.duration / 2,
        length: Duration::from_millis(300),
    };
    let server = DemoServerConfig {
        latency: Duration::from_micros(200),
        stall: Some(stall),
        fail_every: Some(200),
        ..Default::default()
    }
    .build()
    .await
    .context("starting the built-in service")?;
    println!(
        "ballast demo: built-in service on {} (200µs per request, every 200th answered 503, \
         one {}ms stall at {:.1}s)",
        server.url(),
        stall.length.as_millis(),
        stall.at.as_secs_f64()
    );
    println!(
        "sending {} for {:.0}s (open model, 16 connections)\n",
        args.rate,
        args.duration.as_secs_f64()
    );
    let mut config = LoadConfig::new(server.url());
    config.model = Model::Open { rate: args.rate };
    config.stop = Stop::After(args.duration);
    config.connections = Some(16);
    let test = config.build()?;
    let progress = LiveProgress::new(!args.no_progress);
    let report = test.run(interrupted(), |p| progress.update(p)).await?;
    progress.finish();
    server.shutdown().await;
    print!("{}", report.summary());
    println!(
        "\nThe stall held {} requests back: corrected p99 {:.1}ms vs service-time p99 {:.1}ms.\n\
         A closed-loop tool would have reported the second figure.",
        report.late, report.latency_ms.p99, report.service_ms.p99
    );
    if let Some(path) = &args.json {
        write_json(path, &report)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// `ballast demo serve`: the built-in service alone, until Ctrl-C or SIGTERM.
async fn serve(args: DemoServeArgs) -> anyhow::Result<ExitCode> {
    let server = DemoServerConfig {
        bind: args.bind,
        latency: args.latency,
        fail_every: args.fail_every,
        slow_above: match (args.slow_above, args.slow_by) {
            (Some(rate), Some(extra)) => Some(SlowAbove {
                rps: rate.at_fraction(0.0).per_second(),
                extra,
            }),
            _ => None,
        },
        dependency_timeout_at: args.dependency_timeout_at,
        ..Default::default()
    }
    .build()
    .await
    .map_err(|e| super::InputError(e.to_string()))?;
    eprintln!(
        "ballast demo service listening on {} (metrics at {}metrics)",
        server.url(),
        server.url()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
