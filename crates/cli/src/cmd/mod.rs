//! One module per subcommand; each turns flags into an engine config and runs it.

pub mod anomaly;
pub mod breaker;
pub mod chaos;
mod contract;
mod demo;
pub mod heal;
mod load;
mod peer;
pub mod profile;
mod report;
pub mod slo;
mod slo_rules;
mod verify;

use crate::cli::{Cli, Command, ContractCommand, ReportCommand, Shell};
use clap::CommandFactory;
use std::process::ExitCode;

/// Marks an error as the user's input (exit code 2).
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InputError {}

/// 2 for bad input (flags, files, unreachable targets), 1 for anything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let input = error.chain().any(|cause| {
        cause.downcast_ref::<InputError>().is_some()
            || cause.downcast_ref::<ballast_load::Error>().is_some()
            || cause.downcast_ref::<ballast_contract::Error>().is_some()
            || matches!(
                cause.downcast_ref::<ballast_slo::Error>(),
                Some(
                    ballast_slo::Error::Invalid(_)
                        | ballast_slo::Error::Contract(_)
                        | ballast_slo::Error::Read { .. }
                        | ballast_slo::Error::Unsupported(_)
                        | ballast_slo::Error::Rules(_)
                        | ballast_slo::Error::Source(
                            ballast_core::SourceError::Input(_)
                                | ballast_core::SourceError::NoData(_)
                        )
                )
            )
            || cause
                .downcast_ref::<ballast_http::Error>()
                .is_some_and(ballast_http::Error::is_input)
            || matches!(
                cause.downcast_ref::<ballast_verify::Error>(),
                Some(ballast_verify::Error::Usage(_))
            )
            || cause
                .downcast_ref::<ballast_anomaly::Error>()
                .is_some_and(ballast_anomaly::Error::is_input)
            || cause
                .downcast_ref::<ballast_profile::Error>()
                .is_some_and(ballast_profile::Error::is_input)
            || cause
                .downcast_ref::<ballast_attribution::Error>()
                .is_some_and(ballast_attribution::Error::is_input)
            || cause
                .downcast_ref::<ballast_heal::Error>()
                .is_some_and(ballast_heal::Error::is_input)
    });
    if input {
        2
    } else {
        1
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Load(args) => load::run(args).await,
        Command::Report {
            command: ReportCommand::Merge { inputs, output },
        } => report::merge(&inputs, &output),
        Command::Demo(args) => demo::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Slo { command } => slo::run(command).await,
        Command::Profile { command } => profile::run(command).await,
        Command::Heal { command } => heal::run(command).await,
        Command::Supervise(args) => heal::supervise(args).await,
        Command::Chaos { command } => chaos::run(command).await,
        Command::Breaker { command } => breaker::run(command),
        Command::Baseline { command } => anomaly::baseline(command).await,
        Command::Anomaly { command } => anomaly::anomaly(command).await,
        Command::Leak(args) => anomaly::leak(args).await,
        Command::Contract { command } => match command {
            ContractCommand::Check { contract } => contract::check(&contract),
            ContractCommand::Schema => contract::schema(),
            ContractCommand::Init {
                from_openapi,
                output,
                base_url,
            } => contract::init(&from_openapi, output.as_deref(), base_url.as_deref()),
        },
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut out = std::io::stdout();
            let generator = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(generator, &mut command, "ballast", &mut out);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Completes at the first Ctrl-C; a second one exits at once.
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling here (rare): never interrupt.
        std::future::pending::<()>().await;
    }
    eprintln!("\nstopping: waiting for requests in flight (Ctrl-C again to quit now)");
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
}
