//! `ballast slo`: budgets, rules, live status, and what a verify run cost.

use super::slo_rules::{load_specs, Compat, RulesArgs, SpecArgs};
use super::InputError;
use anyhow::Context as _;
use ballast_core::{format_duration, parse_duration};
use ballast_slo::{load_file, Budget, Slo};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// The error budget of an objective over a window, and what given events spend.
    #[command(
        after_help = "Example:\n  ballast slo budget --objective 99.9% --window 30d --total 1000000 --bad 250"
    )]
    Budget {
        /// Objective, e.g. 99.9%.
        #[arg(long, value_parser = parse_objective)]
        objective: f64,
        /// Window, e.g. 30d.
        #[arg(long, default_value = "30d", value_parser = parse_window)]
        window: Duration,
        /// Events in the window.
        #[arg(long, requires = "bad")]
        total: Option<f64>,
        /// Bad events among them.
        #[arg(long, requires = "total")]
        bad: Option<f64>,
    },
    /// Check SLO specs (contracts, OpenSLO, Sloth) without doing anything.
    Check {
        #[command(flatten)]
        input: SpecArgs,
    },
    /// Write Prometheus recording rules and multiwindow burn-rate alerts.
    #[command(
        after_help = "Examples:\n  ballast slo rules shop.yaml -o rules.yaml\n  ballast slo rules --compat sloth --extra-labels team=payments slos/ --exclude '_gen|windows' -o out/\n  ballast slo rules --window-defs windows/7d.yaml --default-period 7d sloth.yml"
    )]
    Rules(RulesArgs),
    /// Write a Grafana dashboard for the SLOs that reads only the rules `slo rules` writes.
    #[command(
        after_help = "Examples:\n  ballast slo dashboard shop.yaml -o dashboard.json\n  ballast slo dashboard --compat sloth --title 'Payments SLOs' --datasource prom-main slos/ -o dashboard.json"
    )]
    Dashboard {
        #[command(flatten)]
        input: SpecArgs,
        /// Output file [default: stdout].
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Whose label names the rules were written with (`slo rules --compat`).
        #[arg(long, value_enum, default_value = "ballast")]
        compat: Compat,
        /// The dashboard's title; its uid is made from it, so a re-import replaces it.
        #[arg(long, default_value = "SLOs")]
        title: String,
        /// The uid of the Prometheus data source the `datasource` variable defaults to.
        #[arg(long, value_name = "UID")]
        datasource: Option<String>,
    },
    /// Live SLI, budget and burn rates from Prometheus or VictoriaMetrics.
    Status {
        #[command(flatten)]
        input: SpecArgs,
        /// Server with Prometheus' query API, e.g. http://127.0.0.1:9090 (https:// too).
        #[arg(long, value_name = "URL")]
        prometheus: String,
        #[command(flatten)]
        peer: super::peer::PeerArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Refresh every --interval, --count times (Ctrl-C stops).
        #[arg(long)]
        watch: bool,
        /// Refresh interval for --watch.
        #[arg(long, default_value = "10s", value_parser = parse_window)]
        interval: Duration,
        /// How many refreshes --watch makes.
        #[arg(long, default_value_t = 360)]
        count: u32,
    },
    /// Error budget a `ballast verify` run spent, for the contract's SLOs.
    Report {
        /// verdict.json written by `ballast verify --json` (or --report).
        #[arg(long, value_name = "RESULT.json")]
        from_verify: PathBuf,
        /// The contract [default: the one named in the result].
        #[arg(long)]
        contract: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_objective(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| format!("expected a percentage like 99.9%, got {s:?}"))?;
    if n > 0.0 && n < 100.0 {
        Ok(n / 100.0)
    } else {
        Err(format!(
            "expected a percentage between 0 and 100 like 99.9%, got {s:?}"
        ))
    }
}

fn parse_window(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("expected a duration above zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn load_all(input: &SpecArgs) -> anyhow::Result<Vec<Slo>> {
    Ok(load_specs(input)?
        .into_iter()
        .flat_map(|s| s.slos)
        .collect())
}

fn percent(v: Option<f64>) -> String {
    v.map_or("no data".into(), |v| format!("{:.4}%", v * 100.0))
}

pub async fn run(command: SloCommand) -> anyhow::Result<ExitCode> {
    match command {
        SloCommand::Budget {
            objective,
            window,
            total,
            bad,
        } => {
            let budget = Budget::new(objective, window)
                .ok_or_else(|| InputError("objective must be between 0 and 100%".into()))?;
            let minutes = budget.as_time().as_secs_f64() / 60.0;
            println!(
                "objective {}% over {}: error budget {:.1} minutes ({}) of full outage, {:.4}% of events",
                objective * 100.0,
                format_duration(window),
                minutes,
                format_duration(budget.as_time()),
                budget.allowed_ratio() * 100.0
            );
            if let (Some(total), Some(bad)) = (total, bad) {
                if bad > total || total < 0.0 || bad < 0.0 {
                    return Err(InputError(format!(
                        "--bad {bad} must be between 0 and --total {total}"
                    ))
                    .into());
                }
                let s = budget.spend(total, bad);
                println!(
                    "{bad} bad of {total} events: {:.1} allowed, {:.1} left, {:.2}% of the budget spent, burn rate {:.3}{}",
                    s.allowed_bad,
                    s.remaining_bad,
                    s.consumed * 100.0,
                    s.burn_rate,
                    s.exhausted_after.map(|d| format!(", budget gone after {} at this rate", format_duration(d))).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SloCommand::Check { input } => {
            let specs = load_specs(&input)?;
            // What `slo rules` would refuse is refused here too: invalid PromQL, names
            // Prometheus does not allow, the same SLO twice.
            let all: Vec<Slo> = specs.iter().flat_map(|s| s.slos.clone()).collect();
            let with_rules: Vec<Slo> = all
                .iter()
                .filter(|s| ballast_slo::promql::error_ratio(&s.sli, s.window).is_some())
                .cloned()
                .collect();
            ballast_slo::rules::check(&ballast_slo::rules::build(
                &with_rules,
                &ballast_slo::RuleOptions::default(),
            )?)?;
            for s in &specs {
                println!("{}: ok — {} SLO(s)", s.file.display(), s.slos.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        SloCommand::Rules(args) => {
            super::slo_rules::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        SloCommand::Dashboard {
            input,
            output,
            compat,
            title,
            datasource,
        } => {
            let slos = load_all(&input)?;
            let options = ballast_slo::dashboard::DashboardOptions {
                flavour: match compat {
                    Compat::Ballast => ballast_slo::Flavour::Ballast,
                    Compat::Sloth => ballast_slo::Flavour::Sloth,
                },
                title,
                datasource,
            };
            let dashboard = ballast_slo::dashboard::build(&slos, &options)?;
            let text = serde_json::to_string_pretty(&dashboard)? + "\n";
            match output {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "wrote {} (Grafana: Dashboards > New > Import; uid {})",
                        path.display(),
                        ballast_slo::dashboard::uid(&options.title)
                    );
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        SloCommand::Status {
            input,
            prometheus,
            peer,
            json,
            watch,
            interval,
            count,
        } => {
            let slos = load_all(&input)?;
            let source = ballast_http::PromConfig {
                http: peer.client_config()?,
                ..ballast_http::PromConfig::new(prometheus.as_str())
            }
            .build()
            .map_err(|e| InputError(format!("--prometheus: {e}")))?;
            let rounds = if watch { count.max(1) } else { 1 };
            for round in 0..rounds {
                if round > 0 {
                    tokio::time::sleep(interval).await;
                }
                let statuses = ballast_slo::status::status(&source, &slos).await?;
                if json {
                    println!("{}", serde_json::to_string(&statuses)?);
                    continue;
                }
                for s in &statuses {
                    println!(
                        "{}/{}{}  objective {}% over {}  SLI {}  budget spent {}  left {}{}",
                        s.service,
                        s.slo,
                        s.group,
                        s.objective * 100.0,
                        s.window,
                        percent(s.sli),
                        percent(s.budget_consumed),
                        percent(s.budget_remaining),
                        if s.firing.is_empty() {
                            String::new()
                        } else {
                            format!("  FIRING: {}", s.firing.join(", "))
                        }
                    );
                    let burns: Vec<String> = s
                        .burn
                        .iter()
                        .map(|b| {
                            format!(
                                "{} {}",
                                b.window,
                                b.burn_rate.map_or("-".into(), |r| format!("{r:.2}x"))
                            )
                        })
                        .collect();
                    println!("    burn rate  {}", burns.join("  "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SloCommand::Report {
            from_verify,
            contract,
            json,
        } => {
            let text = std::fs::read_to_string(&from_verify)
                .map_err(|e| InputError(format!("{}: {e}", from_verify.display())))?;
            let report: ballast_verify::VerifyReport =
                serde_json::from_str(&text).map_err(|e| {
                    InputError(format!(
                        "{}: not a ballast.verify.v1 result: {e}",
                        from_verify.display()
                    ))
                })?;
            let contract_path = contract.unwrap_or_else(|| PathBuf::from(&report.source));
            let slos = load_file(Path::new(&contract_path))?;
            let phases = phase_traffic(&report);
            let spends = ballast_slo::verify_report::spend(&phases, &slos).map_err(InputError)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&spends)?);
            } else {
                for s in &spends {
                    println!(
                        "{}: {} bad of {} requests ({:.3}%), burn rate {:.2}, {:.1}% of the budget those requests allow{}",
                        s.slo,
                        s.bad,
                        s.total,
                        s.error_ratio * 100.0,
                        s.burn_rate,
                        s.budget_consumed * 100.0,
                        s.exhausted_after_hours.map(|h| format!("; at this rate the window's budget lasts {h:.1} h")).unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A verify result's traffic, in the shape the SLO judge reads.
fn phase_traffic(
    report: &ballast_verify::VerifyReport,
) -> Vec<ballast_slo::verify_report::PhaseTraffic> {
    use ballast_slo::verify_report::{PhaseTraffic, Traffic};
    report
        .phases
        .iter()
        .map(|phase| {
            let r = &phase.report;
            PhaseTraffic {
                name: phase.name.clone(),
                all: Traffic {
                    requests: r.requests,
                    failures: r.failures,
                    errors: r.errors,
                    histogram: r.histogram.clone(),
                },
                by_request: r
                    .by_request
                    .iter()
                    .map(|(name, s)| {
                        let traffic = Traffic {
                            requests: s.requests,
                            failures: s.failures,
                            errors: s.errors,
                            histogram: s.histogram.clone(),
                        };
                        (name.clone(), traffic)
                    })
                    .collect(),
            }
        })
        .collect()
}
