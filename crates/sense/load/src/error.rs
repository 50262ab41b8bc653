use std::path::PathBuf;
use thiserror::Error;

/// Everything the load engine can report as a failure of the *run itself*.
///
/// Failures of individual requests are not errors: they are counted by kind in the
/// [`Report`](crate::Report).
#[derive(Debug, Error)]
pub enum Error {
    /// The target URL is malformed or unsupported.
    #[error("URL {input:?}: {reason}")]
    InvalidUrl {
        /// The rejected text.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// A setting is out of range or contradicts another.
    #[error("{field}: {message}")]
    InvalidConfig {
        /// The setting's name as the user wrote it (a flag or a contract key).
        field: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The pre-flight connection to the target failed, so no load was sent.
    #[error("URL {url}: cannot connect to {addr}: {reason}")]
    Unreachable {
        /// The target URL.
        url: String,
        /// Host and port tried.
        addr: String,
        /// Why the connection failed.
        reason: String,
    },
    /// A file named in the configuration could not be read.
    #[error("{field} {path}: {source}")]
    File {
        /// The setting that named the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A result file is not a `ballast.load.v1` report, or reports cannot be merged.
    #[error("{source_name}: {message}")]
    Report {
        /// The file (or other source) being read.
        source_name: String,
        /// What was wrong.
        message: String,
    },
    /// A shared value (rate, duration, histogram) was invalid.
    #[error(transparent)]
    Core(#[from] ballast_core::Error),
}

impl From<ballast_spec::Error> for Error {
    fn from(error: ballast_spec::Error) -> Self {
        match error {
            ballast_spec::Error::InvalidUrl { input, reason } => {
                Error::InvalidUrl { input, reason }
            }
            other => Error::InvalidConfig {
                field: "request",
                message: other.to_string(),
            },
        }
    }
}
