//! [`AdminConfig`] and the [`Handles`] of the layers it steers.

use super::service::Admin;
use crate::breaker::BreakerHandle;
use crate::fallback::FallbackSwitch;
use crate::limit::ConcurrencyLimit;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings of the admin endpoint (YAML/JSON through serde, or code).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token every request must carry (`Authorization: Bearer <token>`). Required, and
    /// not empty: the endpoint can shed a service's traffic. No default; read it from the
    /// environment or a file, never from the command line.
    pub token: String,
}

// The token never reaches logs through Debug.
impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The running layers an [`Admin`] steers: at most one concurrency limit, any number of
/// fallback caches (forced together) and breakers (by name).
#[derive(Debug, Clone, Default)]
pub struct Handles {
    pub(crate) limit: Option<ConcurrencyLimit>,
    pub(crate) fallbacks: Vec<FallbackSwitch>,
    pub(crate) breakers: Vec<BreakerHandle>,
}

impl Handles {
    /// Nothing to steer yet.
    pub fn new() -> Handles {
        Handles::default()
    }

    /// Steer this concurrency limit (a second call replaces the first).
    pub fn limit(mut self, limit: &ConcurrencyLimit) -> Handles {
        self.limit = Some(limit.clone());
        self
    }

    /// Steer this fallback cache: `cache.switch()` of a [`FallbackCache`](crate::fallback::FallbackCache).
    pub fn fallback(mut self, switch: FallbackSwitch) -> Handles {
        self.fallbacks.push(switch);
        self
    }

    /// Steer this breaker, by its name.
    pub fn breaker(mut self, breaker: &BreakerHandle) -> Handles {
        self.breakers.push(breaker.clone());
        self
    }
}

impl AdminConfig {
    /// Checks the token and the breakers' names (one each) and returns the endpoint.
    pub fn build(&self, handles: Handles) -> Result<Admin, Error> {
        if self.token.trim().is_empty() {
            return Err(Error::InvalidConfig {
                field: "token",
                message: "is empty; the admin endpoint needs a secret (give it through the \
                          environment or a file)"
                    .into(),
            });
        }
        if self.token.trim() != self.token {
            // A header value is read trimmed: a token with spaces or a newline at an end
            // (a file read whole) could never match.
            return Err(Error::InvalidConfig {
                field: "token",
                message: "begins or ends with whitespace (a newline from a file?); trim it".into(),
            });
        }
        let mut breakers = BTreeMap::new();
        for breaker in handles.breakers {
            let name = breaker.name().to_string();
            if breakers.insert(name.clone(), breaker).is_some() {
                return Err(Error::InvalidConfig {
                    field: "breakers",
                    message: format!(
                        "two breakers are named {name:?}; the admin endpoint finds them by name"
                    ),
                });
            }
        }
        Ok(Admin::new(
            self.token.clone(),
            handles.limit,
            handles.fallbacks,
            breakers,
        ))
    }
}
