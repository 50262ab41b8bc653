use thiserror::Error;

/// Everything the chaos proxy can refuse or fail at.
///
/// Each variant also knows the HTTP status and the message Toxiproxy's API would answer
/// with ([`Error::status`], [`Error::api_message`]), so the API can stay compatible while
/// the library and the CLI print the fuller [`Display`](std::fmt::Display) text.
#[derive(Debug, Error)]
pub enum Error {
    /// A request or configuration body is not what was expected.
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// A required field is absent or empty.
    #[error("missing required field: {field}")]
    MissingField {
        /// The field, as the API names it (e.g. `name at proxy 2`).
        field: String,
    },
    /// A toxic's `stream` is neither `upstream` nor `downstream`.
    #[error("stream {got:?} is invalid: expected upstream or downstream")]
    InvalidStream {
        /// The rejected text.
        got: String,
    },
    /// A toxic's `type` is not one this proxy knows.
    #[error(
        "toxic type {got:?} is unknown: expected latency, bandwidth, slow_close, timeout, \
         reset_peer, slicer, limit_data, http_delay or http_abort"
    )]
    InvalidToxicType {
        /// The rejected text.
        got: String,
    },
    /// A setting is out of range or contradicts another.
    #[error("{field}: {message}")]
    InvalidConfig {
        /// The setting, as the user wrote it (a flag, a config key or an attribute).
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// No proxy has this name.
    #[error("proxy {name:?} not found")]
    ProxyNotFound {
        /// The name asked for.
        name: String,
    },
    /// A proxy with this name exists already.
    #[error("proxy {name:?} already exists")]
    ProxyExists {
        /// The name.
        name: String,
    },
    /// The proxy has no toxic with this name.
    #[error("toxic {toxic:?} not found on proxy {proxy:?}")]
    ToxicNotFound {
        /// The proxy.
        proxy: String,
        /// The toxic asked for.
        toxic: String,
    },
    /// The proxy has a toxic with this name already.
    #[error("toxic {toxic:?} already exists on proxy {proxy:?}")]
    ToxicExists {
        /// The proxy.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// An address could not be bound (a proxy's `listen`, or the API).
    #[error("listen tcp {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration file could not be read or parsed.
    #[error("{path}: {message}")]
    ConfigFile {
        /// The file.
        path: String,
        /// What was wrong (with the line where known).
        message: String,
    },
    /// The API client could not reach the server.
    #[error("cannot reach the chaos API at {addr}: {message}")]
    Unreachable {
        /// The API address.
        addr: String,
        /// Why.
        message: String,
    },
    /// The API answered with an error (client side).
    #[error("HTTP {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The `error` field of the body.
        message: String,
    },
}

impl Error {
    /// The HTTP status Toxiproxy's API answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequestBody(_)
            | Error::MissingField { .. }
            | Error::InvalidStream { .. }
            | Error::InvalidToxicType { .. }
            | Error::InvalidConfig { .. }
            | Error::ConfigFile { .. } => 400,
            Error::ProxyNotFound { .. } | Error::ToxicNotFound { .. } => 404,
            Error::ProxyExists { .. } | Error::ToxicExists { .. } => 409,
            Error::Bind { .. } | Error::Unreachable { .. } => 500,
            Error::Api { status, .. } => *status,
        }
    }

    /// The `error` text of Toxiproxy's API for this error: clients and scripts compare these
    /// strings, so the fixed ones are Toxiproxy's own wording.
    pub fn api_message(&self) -> String {
        match self {
            Error::InvalidStream { .. } => {
                "stream was invalid, can be either upstream or downstream".into()
            }
            Error::InvalidToxicType { .. } => "invalid toxic type".into(),
            Error::InvalidConfig { field, message } => {
                format!("bad request body: {field}: {message}")
            }
            Error::ProxyNotFound { .. } => "proxy not found".into(),
            Error::ProxyExists { .. } => "proxy already exists".into(),
            Error::ToxicNotFound { .. } => "toxic not found".into(),
            Error::ToxicExists { .. } => "toxic already exists".into(),
            Error::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_messages_are_toxiproxys_wording() {
        let not_found = Error::ProxyNotFound {
            name: "redis".into(),
        };
        assert_eq!(not_found.status(), 404);
        assert_eq!(not_found.api_message(), "proxy not found");
        assert!(not_found.to_string().contains("redis"));
        let missing = Error::MissingField {
            field: "name at proxy 2".into(),
        };
        assert_eq!(
            missing.api_message(),
            "missing required field: name at proxy 2"
        );
        assert_eq!(
            Error::InvalidStream { got: "up".into() }.api_message(),
            "stream was invalid, can be either upstream or downstream"
        );
    }
}
