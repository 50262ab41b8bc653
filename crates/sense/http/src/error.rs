use std::path::PathBuf;
use thiserror::Error;

/// What reading from (or notifying) a peer can fail at.
#[derive(Debug, Error)]
pub enum Error {
    /// A URL is malformed or unsupported.
    #[error(transparent)]
    Url(#[from] ballast_spec::Error),
    /// A setting is out of range.
    #[error("{field}: {message}")]
    Config {
        /// The setting.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("CA file {}: {message}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Nothing answered at the address, after every retry (a wrong URL or a peer down).
    #[error("{url}: {message}")]
    Unreachable {
        /// The URL (password hidden).
        url: String,
        /// What happened.
        message: String,
    },
    /// The exchange failed after connecting (timeout, reset, TLS, malformed answer), after
    /// every retry.
    #[error("{url}: {message}")]
    Transport {
        /// The URL (password hidden).
        url: String,
        /// What happened.
        message: String,
    },
    /// The peer answered with a status the caller cannot use.
    #[error("{url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// The URL (password hidden).
        url: String,
        /// The status.
        status: u16,
        /// The start of the body (servers say why there).
        body: String,
    },
    /// The body is longer than the client reads.
    #[error("{url}: the answer is larger than {limit} bytes (max_body_bytes)")]
    TooLarge {
        /// The URL (password hidden).
        url: String,
        /// The cap.
        limit: u64,
    },
    /// A query server rejected a query (a PromQL error): not worth retrying.
    #[error("{server}: query \"{query}\" failed: {message}")]
    Query {
        /// The server.
        server: String,
        /// The PromQL.
        query: String,
        /// The server's error type and message.
        message: String,
    },
    /// A query succeeded but returned nothing to work on.
    #[error("{server}: query \"{query}\" returned no data{hint}")]
    NoData {
        /// The server.
        server: String,
        /// The PromQL.
        query: String,
        /// Advice, already formatted (may be empty).
        hint: String,
    },
    /// A scraped page or an API answer is not in the expected format.
    #[error("{url}: {message}")]
    Format {
        /// Where it came from.
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// True when the error is the user's input (a malformed URL or setting, an address
    /// where nothing answers, a PromQL error, an empty result) rather than a failure while
    /// running (a timeout, a server error): the CLI exits 2 for these, 1 otherwise.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::Url(_)
                | Error::Config { .. }
                | Error::CaFile { .. }
                | Error::Unreachable { .. }
                | Error::Query { .. }
                | Error::NoData { .. }
        )
    }
}
