use std::path::PathBuf;

/// What the anomaly engine can fail at. Every variant names the input it rejected: the
/// file and line, the query and server, the flag.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (not a chained source: the message already holds it).
        error: std::io::Error,
    },
    /// A row of a CSV file is invalid.
    #[error("{}:{line}: {field}: {message}", path.display())]
    Csv {
        /// The file (`-` for text given directly).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column: `timestamp`, `value`, `anomaly_score`, or `row` for the whole line.
        field: String,
        /// What was wrong, with what was found.
        message: String,
    },
    /// A JSON file (NAB windows, profiles, detector config) is invalid.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A NAB corpus is inconsistent (a window outside its file, a file missing).
    #[error("{0}")]
    Corpus(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The series source (a Prometheus-compatible server) gave no series: nothing matched,
    /// the query or address was wrong, or the server failed.
    #[error(transparent)]
    Source(#[from] ballast_core::SourceError),
    /// There is too little data to decide (a trend over three points, a baseline over an hour).
    #[error("{0}")]
    TooLittleData(String),
}

impl Error {
    /// True when the error is the user's input (a malformed file, a PromQL error, an empty
    /// result, an invalid setting, an address where nothing answers) rather than a failure
    /// while running (a timeout, a server error): the CLI exits 2 for these, 1 otherwise.
    pub fn is_input(&self) -> bool {
        !matches!(self, Error::Source(ballast_core::SourceError::Failed(_)))
    }
}
