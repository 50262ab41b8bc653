use super::interrupted;
use crate::cli::LoadArgs;
use crate::output::{write_json, LiveProgress};
use ballast_load::{LoadConfig, Model, Stop};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let config = LoadConfig {
        url: args.url,
        model: match (args.rate, args.concurrency) {
            (Some(rate), _) => Model::Open { rate },
            (None, concurrency) => Model::Closed {
                concurrency: concurrency.unwrap_or(64),
            },
        },
        stop: match (args.duration, args.requests) {
            (_, Some(n)) => Stop::Requests(n),
            (d, None) => Stop::After(d.unwrap_or(Duration::from_secs(10))),
        },
        connections: args.connections,
        method: args.method,
        headers: args.headers,
        body: args.body,
        body_file: args.body_file,
        timeout: args.timeout,
        http2: args.http2,
        insecure: args.insecure,
        shard: args.shard,
        requests: Vec::new(),
    };
    let test = config.build()?;
    let progress = LiveProgress::new(!args.no_progress);
    let report = test.run(interrupted(), |p| progress.update(p)).await?;
    progress.finish();
    print!("{}", report.summary());
    write_and_exit(&report, args.json.as_deref())
}

/// Writes the JSON report when asked; 130 when Ctrl-C cut the run short.
pub(super) fn write_and_exit(
    report: &ballast_load::Report,
    json: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = json {
        write_json(path, report)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
