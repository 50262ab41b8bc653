//! `ballast`: a thin shell over the engines. It parses flags into the engines' configs,
//! runs them, and maps failures to exit codes: 2 for bad input, 1 for failures while
//! running, 130 when interrupted.

mod cli;
mod cmd;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}

/// A reader that stops early (`ballast anomaly score --all f.csv | head`) closes the pipe;
/// the next print to stdout then fails, which Rust's `print!` turns into a panic with a
/// backtrace. Like Go's programs and the shell's own tools, ballast stops quietly instead,
/// with 141 (128 + SIGPIPE). Only a failed print to stdout is treated so: a broken socket
/// is an error as before (SIGPIPE stays ignored), and every other panic reaches the
/// default hook.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
