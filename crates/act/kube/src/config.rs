//! [`KubeConfig`]: how to reach the API server.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names;
use crate::{Error, Kube};

/// How [`Kube`] reaches the Kubernetes API server.
///
/// Every field has a default, so `{}` is a valid config:
///
/// | field        | default | meaning |
/// | ---          | ---     | ---     |
/// | `kubeconfig` | none    | a kubeconfig file; none: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account |
/// | `context`    | none    | the kubeconfig context; none: its `current-context` |
/// | `namespace`  | none    | the namespace of actions that name none; none: the context's namespace (in a pod: the pod's), else `default` |
/// | `timeout`    | `10s`   | connect, read and write timeout of each request; an action (up to three requests) gets three times it |
///
/// ```
/// let config: ballast_kube::KubeConfig =
///     serde_json::from_str(r#"{"context": "prod", "timeout": "5s"}"#).unwrap();
/// config.validate().unwrap();
/// assert_eq!(config.timeout, std::time::Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubeConfig {
    /// A kubeconfig file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The namespace of actions that name none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Per-request timeout (humantime: `10s`, `1m30s`).
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for KubeConfig {
    fn default() -> Self {
        KubeConfig {
            kubeconfig: None,
            context: None,
            namespace: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The longest per-request timeout accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

impl KubeConfig {
    /// Checks the fields without touching the file system or the network.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::invalid("kube config", reason));
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return bad(format!(
                "timeout must be more than 0 and at most {}, got {}",
                humantime::format_duration(MAX_TIMEOUT),
                humantime::format_duration(self.timeout)
            ));
        }
        if let Some(context) = &self.context {
            if context.trim().is_empty() {
                return bad("context must not be empty".into());
            }
        }
        if let Some(path) = &self.kubeconfig {
            if path.as_os_str().is_empty() {
                return bad("kubeconfig must not be empty".into());
            }
        }
        if let Some(namespace) = &self.namespace {
            names::namespace(namespace).map_err(|r| Error::invalid("kube config", r))?;
        }
        Ok(())
    }

    /// Validates, loads the kubeconfig (or the in-cluster config) and builds the client.
    ///
    /// Nothing is sent to the API server yet: an unreachable server shows on the first action.
    pub async fn build(&self) -> Result<Kube, Error> {
        self.validate()?;
        let options = kube::config::KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let mut config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let file = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                    Error::Kubeconfig {
                        path: Some(path.clone()),
                        source: Box::new(source),
                    }
                })?;
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|source| Error::Kubeconfig {
                        path: Some(path.clone()),
                        source: Box::new(source),
                    })?
            }
            (None, Some(_)) => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|source| Error::Kubeconfig {
                    path: None,
                    source: Box::new(source),
                })?,
            (None, None) => kube::Config::infer()
                .await
                .map_err(|e| Error::Infer(Box::new(e)))?,
        };
        if let Some(namespace) = &self.namespace {
            config.default_namespace = namespace.clone();
        }
        Kube::from_config(config, self.timeout)
    }
}

mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_ones() {
        let config: KubeConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, KubeConfig::default());
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.namespace, None);
        config.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<KubeConfig>(r#"{"namspace": "x"}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `namspace`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for (json, needle) in [
            (r#"{"timeout": "0s"}"#, "timeout"),
            (r#"{"timeout": "10m"}"#, "timeout"),
            (r#"{"namespace": "Shop"}"#, "namespace"),
            (r#"{"namespace": ""}"#, "namespace"),
            (r#"{"context": " "}"#, "context"),
        ] {
            let config: KubeConfig = serde_json::from_str(json).unwrap();
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
        let err = serde_json::from_str::<KubeConfig>(r#"{"timeout": "soon"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }

    #[test]
    fn round_trips_through_json() {
        let config = KubeConfig {
            kubeconfig: Some("/etc/kube/config".into()),
            context: Some("prod".into()),
            namespace: Some("shop".into()),
            timeout: Duration::from_millis(2500),
        };
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<KubeConfig>(&text).unwrap(), config);
    }
}
