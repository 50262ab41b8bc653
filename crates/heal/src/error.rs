//! The one error type of the healer.

/// What can stop the healer from starting or from recording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file (or something it names) is not usable.
    #[error(transparent)]
    Policy(#[from] ballast_heal_policy::Error),
    /// A setting that cannot work, with the field it is in.
    #[error("{field}: {message}")]
    Config {
        /// The field.
        field: String,
        /// Why.
        message: String,
    },
    /// The state directory, the state file or the audit log.
    #[error("{path}: {message}")]
    Storage {
        /// The file or folder.
        path: String,
        /// Why.
        message: String,
    },
    /// The receiver could not listen.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
    /// An HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] ballast_http::Error),
}

pub(crate) fn storage(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::Storage {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Error {
    /// Whether the user's input is at fault (exit code 2): the policy or a setting.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Policy(_) | Error::Config { .. })
    }
}
