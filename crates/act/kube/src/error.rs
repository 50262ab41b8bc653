//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong building a [`Kube`](crate::Kube) or running a
/// [`KubeAction`](crate::KubeAction).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The [`KubeConfig`](crate::KubeConfig) or a [`KubeAction`](crate::KubeAction) is invalid.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was checked, e.g. `kube config` or `action scale`.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The kubeconfig file could not be read or did not name a usable context.
    #[error("kubeconfig {}: {source}", path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(default locations)".into()))]
    Kubeconfig {
        /// The file named in the config, `None` for `$KUBECONFIG` / `~/.kube/config`.
        path: Option<PathBuf>,
        /// kube's reason.
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error("no Kubernetes configuration found: {0}")]
    Infer(#[source] Box<kube::config::InferConfigError>),
    /// The client could not be built from the configuration (e.g. a bad certificate).
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] Box<kube::Error>),
    /// The API server refused a request: its Status object's `code`, `reason` and `message`.
    #[error("{verb} {resource} {object}: {code} {reason}: {message}")]
    Api {
        /// `get`, `list`, `patch`.
        verb: &'static str,
        /// `deployments.apps`, `deployments.apps/scale`, `configmaps`, ...
        resource: &'static str,
        /// `namespace/name` (for a list, `namespace/label-selector`).
        object: String,
        /// The HTTP status code, e.g. 404.
        code: u16,
        /// The Status reason, e.g. `NotFound`, `Forbidden`, `Conflict`.
        reason: String,
        /// The Status message, e.g. `deployments.apps "shop" not found`.
        message: String,
    },
    /// The request did not get an answer from the API server (connection, TLS, decoding).
    #[error("{verb} {resource} {object}: {source}")]
    Request {
        /// `get`, `list`, `patch`.
        verb: &'static str,
        /// The resource of the request.
        resource: &'static str,
        /// `namespace/name`.
        object: String,
        /// kube's reason.
        #[source]
        source: Box<kube::Error>,
    },
    /// `rollback` found no revision older than the current one, as `kubectl rollout undo` does.
    #[error("rollback deployment {namespace}/{name}: no rollout history found (no previous revision to roll back to)")]
    NoPreviousRevision {
        /// The deployment's namespace.
        namespace: String,
        /// The deployment.
        name: String,
    },
    /// A paused deployment is neither restarted nor rolled back (kubectl refuses both too).
    #[error("{action} deployment {namespace}/{name}: the deployment is paused; resume it first")]
    Paused {
        /// `rollout_restart` or `rollback`.
        action: &'static str,
        /// The deployment's namespace.
        namespace: String,
        /// The deployment.
        name: String,
    },
    /// An answer that lacks what the action needs (e.g. a Scale without `spec.replicas`).
    #[error("{0}")]
    Unexpected(String),
    /// The whole action took longer than its deadline.
    #[error("{action} timed out after {after:?}")]
    Timeout {
        /// The action's key.
        action: &'static str,
        /// The deadline.
        after: Duration,
    },
}

impl Error {
    /// The API server's HTTP status code, when it refused the request.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Where a request went: for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub verb: &'static str,
    pub resource: &'static str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl Target<'_> {
    pub(crate) fn err(self, e: kube::Error) -> Error {
        match e {
            kube::Error::Api(status) => Error::Api {
                verb: self.verb,
                resource: self.resource,
                object: format!("{}/{}", self.namespace, self.name),
                code: status.code,
                reason: status.reason,
                message: status.message,
            },
            source => Error::Request {
                verb: self.verb,
                resource: self.resource,
                object: format!("{}/{}", self.namespace, self.name),
                source: Box::new(source),
            },
        }
    }
}
