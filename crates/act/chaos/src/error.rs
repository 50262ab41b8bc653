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
    /// An address could not be bound (a proxy's `listen`, or the API). The text is Go's
    /// `net.Listen` error, which Toxiproxy answers with and its clients compare:
    /// `listen tcp 127.0.0.1:3310: bind: address already in use`.
    #[error("{}", bind_text(addr, op, source))]
    Bind {
        /// The address, as Go prints it: resolved (IPv4 first) when the system call failed,
        /// the host asked for when the lookup did.
        addr: String,
        /// What failed: `lookup`, or the system call (`socket`, `bind`, `listen`, ...).
        op: &'static str,
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

/// Go's wording: `listen tcp ADDR: OP: reason` for a failed system call, `listen tcp:
/// lookup HOST: reason` for a failed lookup, the reason being the C library's text with a
/// lower-case first letter (Go's errno table) and without Rust's `(os error N)`.
fn bind_text(addr: &str, op: &str, source: &std::io::Error) -> String {
    let text = source.to_string();
    let text = match source.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    };
    let mut chars = text.chars();
    let reason = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    match op {
        "lookup" => format!("listen tcp: lookup {addr}: {reason}"),
        _ => format!("listen tcp {addr}: {op}: {reason}"),
    }
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

/// A toxic the shared model refused keeps its Toxiproxy status and wording.
impl From<ballast_spec::Error> for Error {
    fn from(error: ballast_spec::Error) -> Self {
        use ballast_spec::Error as Spec;
        match error {
            Spec::BadRequestBody(message) => Error::BadRequestBody(message),
            Spec::InvalidStream { got } => Error::InvalidStream { got },
            Spec::InvalidToxicType { got } => Error::InvalidToxicType { got },
            Spec::InvalidConfig { field, message } => Error::InvalidConfig { field, message },
            Spec::InvalidUrl { input, reason } => Error::InvalidConfig {
                field: input,
                message: reason,
            },
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

    #[test]
    fn bind_errors_read_like_gos() {
        let in_use = Error::Bind {
            addr: "127.0.0.1:3310".into(),
            op: "bind",
            source: std::io::Error::from_raw_os_error(98),
        };
        assert_eq!(
            (in_use.status(), in_use.api_message()),
            (
                500,
                "listen tcp 127.0.0.1:3310: bind: address already in use".into()
            )
        );
        let lookup = Error::Bind {
            addr: "nowhere.invalid".into(),
            op: "lookup",
            source: std::io::Error::other("No such host"),
        };
        assert_eq!(
            lookup.to_string(),
            "listen tcp: lookup nowhere.invalid: no such host"
        );
    }

    #[test]
    fn toxic_errors_have_toxiproxys_statuses() {
        use serde_json::json;
        let cases = [
            (
                json!({"type": "latency", "stream": "sideways"}),
                "stream was invalid",
            ),
            (json!({"type": "nope"}), "invalid toxic type"),
            (json!({}), "invalid toxic type"),
            (json!({"type": 3}), "bad request body: type"),
            (json!({"type": "latency", "toxicity": 2}), "toxicity"),
            (json!({"type": "latency", "toxicity": "x"}), "toxicity"),
            (json!({"type": "latency", "name": "a/b"}), "toxic name"),
            (
                json!({"type": "http_delay", "stream": "downstream"}),
                "stream",
            ),
            (json!([1]), "expected a toxic object"),
        ];
        for (body, needle) in cases {
            let err = Error::from(crate::Toxic::from_json(&body, false).unwrap_err());
            assert_eq!(err.status(), 400, "{body}");
            assert!(
                err.api_message().contains(needle),
                "{body}: {}",
                err.api_message()
            );
        }
    }
}
