//! The one error type of the heal policy crate.

use ballast_contract::Diagnostic;

/// What can go wrong reading a policy or a webhook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file could not be read.
    #[error("cannot read {file}: {message}")]
    Read {
        /// The file as given.
        file: String,
        /// Why.
        message: String,
    },
    /// The policy file was read but is not a valid policy: every problem, with its
    /// position.
    #[error("{}", ballast_contract::render_diagnostics("the heal policy", .0))]
    Invalid(Vec<Diagnostic>),
    /// A webhook body that is not Alertmanager's payload (version 4).
    #[error("{0}")]
    Webhook(String),
}
