use ballast_contract::Diagnostic;
use std::path::PathBuf;

/// What the SLO engine can fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A spec is invalid; every problem is listed with its position.
    #[error("{}", ballast_contract::render_diagnostics("the SLO spec", .0))]
    Invalid(Vec<Diagnostic>),
    /// A contract holding SLOs is invalid.
    #[error(transparent)]
    Contract(#[from] ballast_contract::Error),
    /// The rules made from the SLOs would not load in Prometheus; nothing was written.
    #[error("the generated rules would not load in Prometheus, so nothing was written:\n  {}", .0.join("\n  "))]
    Rules(Vec<String>),
    /// A valid SLO that this operation cannot handle.
    #[error("{0}")]
    Unsupported(String),
    /// A query's answer cannot be used (several series where one was expected).
    #[error("{0}")]
    Query(String),
    /// The query server gave no answer: the query or address was wrong, or it failed.
    #[error(transparent)]
    Source(#[from] ballast_core::SourceError),
}
