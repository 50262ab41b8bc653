//! `ballast verify` (*judge*): run a stability contract — load, measurement, verdict —
//! and write reports people read (terminal table, JSON, JUnit XML, HTML with charts).
//!
//! [`verify`] spawns the target if the contract says so, runs each phase through the
//! load engine while scraping the target's Prometheus metrics and watching its process
//! every second, then evaluates every clause against what was measured
//! ([`facts::RunData`]) and returns a [`VerifyReport`].
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let contract = ballast_contract::Contract::load("contracts/examples/basic.yaml".as_ref())?;
//! let (_stop_tx, stop) = tokio::sync::watch::channel(false);
//! let report = ballast_verify::verify(&contract, &Default::default(), stop, |_| {}).await?;
//! println!("{}", ballast_verify::render_table(&report, false));
//! std::process::exit(if report.passed { 0 } else { 1 });
//! # }
//! ```
//! The integration tests (`tests/verify.rs`) run real contracts against real servers.
#![deny(missing_docs)]

mod abort;
pub mod facts;
mod faults;
pub mod process;
pub mod profiles;
mod report;
mod run;
mod spawn;
mod supervise;
mod target_faults;

pub use report::{
    render_html, render_junit, render_table, ClauseVerdict, FaultRecord, GraphRecord,
    ObservedValue, Outcome, PhaseRecord, ProfileRecord, VerifyReport, SCHEMA,
};
pub use run::{verify, Event, VerifyOptions};

/// Why a verify run could not complete (a broken clause is not an error: it is a verdict).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A choice of the run is invalid (e.g. `--only` names no phase).
    #[error("{0}")]
    Usage(String),
    /// The target could not be started or never became ready.
    #[error("spawning the target: {0}")]
    Spawn(String),
    /// The load engine refused a phase.
    #[error("{0}")]
    Load(String),
    /// Metrics could not be fetched or parsed.
    #[error("{0}")]
    Scrape(String),
    /// Faults could not be put in place (nothing is left behind: what was added is removed).
    #[error("chaos: {0}")]
    Chaos(String),
    /// A fault on the target (its process, cgroup or DNS) could not be set up.
    #[error("faults: {0}")]
    Fault(String),
}
