use crate::cli::VerifyArgs;
use crate::output::{write_json, LiveProgress};
use anyhow::Context as _;
use ballast_contract::Contract;
use ballast_verify::{render_html, render_junit, render_table, Event, VerifyOptions};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    // Everything is checked before any traffic: a broken contract exits 2 here.
    let contract = Contract::load(&args.contract)?;
    if let Some(only) = &args.only {
        if !contract.phases.iter().any(|p| &p.name == only) {
            let names: Vec<&str> = contract.phases.iter().map(|p| p.name.as_str()).collect();
            return Err(super::InputError(format!(
                "--only {only:?}: no such phase; the phases are: {}",
                names.join(", ")
            ))
            .into());
        }
    }
    if args.dry_run {
        print!("{}", plan(&contract, args.only.as_deref()));
        return Ok(ExitCode::SUCCESS);
    }

    let profile_dir = args.report.as_ref().map(|dir| dir.join("profiles"));
    let outputs = Outputs {
        report: args.report,
        junit: args.junit,
        json: args.json,
    };
    let options = VerifyOptions {
        only: args.only.clone(),
        // Beside the reports when there are any, so the HTML's graphs have their files.
        profile_dir,
    };
    let report = run_contract(&contract, &options, &outputs, !args.no_progress).await?;
    Ok(exit_code(&report))
}

/// Where a verify run writes its reports.
pub struct Outputs {
    /// report.html, junit.xml and verdict.json go here.
    pub report: Option<std::path::PathBuf>,
    /// JUnit XML.
    pub junit: Option<std::path::PathBuf>,
    /// The JSON verdict.
    pub json: Option<std::path::PathBuf>,
}

/// 0 passed, 1 failed or aborted, 130 interrupted.
pub fn exit_code(report: &ballast_verify::VerifyReport) -> ExitCode {
    if report.interrupted {
        ExitCode::from(130)
    } else if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs `contract` with progress on stderr, prints the verdict table and writes the
/// reports (shared by `ballast verify` and `ballast demo`).
pub async fn run_contract(
    contract: &Contract,
    options: &VerifyOptions,
    outputs: &Outputs,
    show_progress: bool,
) -> anyhow::Result<ballast_verify::VerifyReport> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        super::interrupted().await;
        let _ = stop_tx.send(true);
    });
    let mut progress: Option<LiveProgress> = None;
    let report = ballast_verify::verify(contract, options, stop_rx, |event| match event {
        Event::PhaseStarted {
            index,
            total,
            phase,
            warmup,
        } => {
            if let Some(p) = progress.take() {
                p.finish();
            }
            let what = if warmup { " (warm-up, not judged)" } else { "" };
            let length = if warmup { phase.warmup } else { phase.duration };
            let faults = if phase.chaos.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = phase
                    .chaos
                    .iter()
                    .map(|c| format!("{} on {}", c.toxic, c.proxy))
                    .collect();
                format!(", faults: {}", names.join(", "))
            };
            eprintln!(
                "phase {index}/{total}: {}{what} — {} for {}{faults}",
                phase.name,
                phase.rate,
                ballast_core::format_duration(length)
            );
            progress = Some(LiveProgress::new(show_progress));
        }
        Event::Progress(p) => {
            if let Some(bar) = &progress {
                bar.update(p);
            }
        }
        Event::PhaseFinished(phase, report) => {
            if let Some(p) = progress.take() {
                p.finish();
            }
            eprintln!(
                "phase {} done: {} requests, {:.1} req/s, p95 {:.2}ms, {:.2}% failed",
                phase.name,
                report.requests,
                report.rps,
                report.latency_ms.p95,
                report.error_rate * 100.0
            );
        }
        Event::Note(note) => eprintln!("note: {note}"),
    })
    .await?;
    if let Some(p) = progress.take() {
        p.finish();
    }
    print!("{}", render_table(&report, std::io::stdout().is_terminal()));

    if let Some(dir) = &outputs.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_text(&dir.join("report.html"), &render_html(&report))?;
        write_text(&dir.join("junit.xml"), &render_junit(&report))?;
        write_json(&dir.join("verdict.json"), &report)?;
        eprintln!(
            "wrote {}/report.html, junit.xml and verdict.json",
            dir.display()
        );
    }
    if let Some(path) = &outputs.junit {
        write_text(path, &render_junit(&report))?;
    }
    if let Some(path) = &outputs.json {
        write_json(path, &report)?;
    }
    Ok(report)
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn plan(contract: &Contract, only: Option<&str>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}) against {}",
        contract.name, contract.source, contract.target.base_url
    );
    if let Some(spawn) = &contract.target.spawn {
        let _ = writeln!(out, "  spawns: {} {}", spawn.command, spawn.args.join(" "));
    }
    let _ = writeln!(
        out,
        "\n  {:<16} {:>18} {:>9} {:>9} {:>10}  faults",
        "phase", "rate", "warm-up", "duration", "requests"
    );
    let mut total = 0;
    let mut seconds = 0.0;
    for p in contract
        .phases
        .iter()
        .filter(|p| only.is_none_or(|o| o == p.name))
    {
        let n = p.planned_requests();
        total += n;
        seconds += (p.warmup + p.duration).as_secs_f64();
        let mut chaos: Vec<String> = p
            .chaos
            .iter()
            .map(|c| format!("{} on {}", c.toxic, c.proxy))
            .collect();
        chaos.extend(p.faults.iter().map(|f| f.describe()));
        if let Some(l) = p.limits {
            chaos.push(format!("limits {}", l.describe()));
        }
        if !p.env.is_empty() {
            let env: Vec<String> = p.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            chaos.push(format!("restarted with {}", env.join(" ")));
        }
        let _ = writeln!(
            out,
            "  {:<16} {:>18} {:>9} {:>9} {:>10}  {}",
            p.name,
            p.rate.to_string(),
            ballast_core::format_duration(p.warmup),
            ballast_core::format_duration(p.duration),
            n,
            if chaos.is_empty() {
                "-".into()
            } else {
                chaos.join(", ")
            }
        );
    }
    let _ = writeln!(out, "\n  total: {total} requests over {seconds:.0}s");
    let _ = writeln!(out, "\n  clauses:");
    for c in &contract.clauses {
        let _ = writeln!(
            out,
            "    [{}] {} — {}{}",
            format!("{:?}", c.severity).to_lowercase(),
            c.name,
            c.check,
            c.phase
                .as_ref()
                .map(|p| format!(" (phase {p})"))
                .unwrap_or_default()
        );
    }
    out
}
