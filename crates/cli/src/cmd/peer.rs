//! How the CLI reaches a query server or another peer: one set of flags for every command
//! that reads from Prometheus, VictoriaMetrics or Alertmanager.

use super::InputError;
use ballast_http::{Auth, ClientConfig};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Credentials, TLS, timeouts and retries for a query server.
#[derive(Debug, Clone, Args)]
pub struct PeerArgs {
    /// File holding a bearer token for the server (or set BALLAST_PROMETHEUS_TOKEN).
    #[arg(long, value_name = "FILE", conflicts_with = "basic_auth_file")]
    pub bearer_token_file: Option<PathBuf>,
    /// File holding `user:password` for HTTP basic auth (or set
    /// BALLAST_PROMETHEUS_BASIC_AUTH).
    #[arg(long, value_name = "FILE")]
    pub basic_auth_file: Option<PathBuf>,
    /// PEM file of CA certificates to trust for an https:// server, besides the public roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate from an https:// server (testing only).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Per request attempt, connecting included.
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Extra attempts after a connection failure, timeout, 429, 502, 503 or 504.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

impl PeerArgs {
    /// The HTTP client settings these flags (and the environment) ask for.
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let auth = match (&self.bearer_token_file, &self.basic_auth_file) {
            (Some(path), _) => Some(Auth::Bearer(secret(path, "--bearer-token-file")?)),
            (None, Some(path)) => Some(basic(&secret(path, "--basic-auth-file")?, path)?),
            (None, None) => match (
                std::env::var("BALLAST_PROMETHEUS_TOKEN"),
                std::env::var("BALLAST_PROMETHEUS_BASIC_AUTH"),
            ) {
                (Ok(token), _) if !token.trim().is_empty() => {
                    Some(Auth::Bearer(token.trim().to_string()))
                }
                (_, Ok(pair)) if !pair.trim().is_empty() => Some(basic(
                    pair.trim(),
                    Path::new("BALLAST_PROMETHEUS_BASIC_AUTH"),
                )?),
                _ => None,
            },
        };
        if let Some(path) = &self.ca_file {
            if !path.is_file() {
                return Err(
                    InputError(format!("--ca-file {}: no such file", path.display())).into(),
                );
            }
        }
        if self.retries > 20 {
            return Err(
                InputError(format!("--retries {}: expected at most 20", self.retries)).into(),
            );
        }
        Ok(ClientConfig {
            timeout: self.timeout,
            retries: self.retries,
            auth,
            ca_file: self.ca_file.clone(),
            insecure: self.insecure_skip_verify,
            ..ClientConfig::default()
        })
    }
}

/// The first line of a secret file, trimmed; an empty one is an error, never "no auth".
fn secret(path: &Path, flag: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("{flag} {}: {e}", path.display())))?;
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    if line.is_empty() {
        return Err(InputError(format!("{flag} {}: the file is empty", path.display())).into());
    }
    Ok(line)
}

fn basic(pair: &str, from: &Path) -> anyhow::Result<Auth> {
    match pair.split_once(':') {
        Some((username, password)) if !username.is_empty() => Ok(Auth::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }),
        _ => Err(InputError(format!(
            "{}: expected user:password on the first line",
            from.display()
        ))
        .into()),
    }
}

pub(crate) fn positive_duration(s: &str) -> Result<Duration, String> {
    match ballast_core::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("expected a duration above zero".into()),
        Err(e) => Err(e.to_string()),
    }
}
