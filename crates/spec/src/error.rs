use thiserror::Error;

/// A definition that does not hold: a URL, a template or a toxic.
///
/// Callers map these onto their own errors (the chaos API onto Toxiproxy's statuses and
/// wording, the contract checker onto a file position), so each variant keeps the input
/// it rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A target URL is malformed or unsupported.
    #[error("URL {input}: {reason}")]
    InvalidUrl {
        /// The rejected text.
        input: String,
        /// What was wrong and what was expected.
        reason: String,
    },
    /// A toxic's body is not what was expected.
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// A toxic's `stream` is neither `upstream` nor `downstream`.
    #[error("stream \"{got}\" is invalid: expected upstream or downstream")]
    InvalidStream {
        /// The rejected text.
        got: String,
    },
    /// A toxic's `type` is not one ballast knows.
    #[error(
        "toxic type \"{got}\" is unknown: expected latency, bandwidth, slow_close, timeout, \
         reset_peer, slicer, limit_data, noop, http_delay or http_abort"
    )]
    InvalidToxicType {
        /// The rejected text.
        got: String,
    },
    /// A value is out of range or contradicts another.
    #[error("{field}: {message}")]
    InvalidConfig {
        /// The field, as the user wrote it.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }
}
