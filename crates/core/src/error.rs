use thiserror::Error;

/// Everything that can go wrong while parsing or decoding ballast's shared values.
///
/// Each variant carries the input it rejected, so that a caller (a CLI flag, a contract
/// field) can name what it got and what it expected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A duration did not parse.
    #[error("expected a duration like \"250ms\", \"1.5s\" or \"1m30s\", got {input:?}{hint}")]
    Duration {
        /// The rejected text.
        input: String,
        /// Extra advice, already formatted (may be empty).
        hint: String,
    },
    /// A rate did not parse.
    #[error(
        "expected a rate like \"500/s\", \"30/m\" or a ramp \"100/s..2000/s\", got {input:?}{hint}"
    )]
    Rate {
        /// The rejected text.
        input: String,
        /// Extra advice, already formatted (may be empty).
        hint: String,
    },
    /// A size did not parse.
    #[error("expected a size like \"256MiB\", \"1.5GiB\" or \"500MB\", got {input:?}{hint}")]
    Size {
        /// The rejected text.
        input: String,
        /// Extra advice, already formatted (may be empty).
        hint: String,
    },
    /// A share did not parse.
    #[error("expected a share like \"80%\" (0% to 100%), got {input:?}")]
    Share {
        /// The rejected text.
        input: String,
    },
    /// A signal name is not one ballast knows.
    #[error("unknown signal {input:?}; expected one of {known} (or its number)")]
    Signal {
        /// The rejected text.
        input: String,
        /// The names accepted.
        known: String,
    },
    /// An encoded histogram could not be decoded.
    #[error("invalid encoded histogram: {0}")]
    Histogram(String),
}
