//! Prometheus' HTTP query API (`/api/v1/query_range`, `/api/v1/query`), which
//! VictoriaMetrics serves too. Long ranges are split into chunks below the server's
//! points-per-series limit and stitched back together.

mod response;

pub use response::{parse_instant_response, parse_range_response};

use crate::client::{Client, ClientConfig};
use crate::Error;
use ballast_core::series::{format_timestamp, Series};
use ballast_core::source::{SeriesSource, SourceError, SourceFuture};
use ballast_spec::encode_component;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where and how to query (`prometheus:` in a config; flags on the CLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:9090` (VictoriaMetrics: `:8428`);
    /// `https://` works, with `http.ca_file` for a private CA.
    pub url: String,
    /// Timeouts, retries, credentials, TLS. Default: [`ClientConfig::default`].
    #[serde(default)]
    pub http: ClientConfig,
    /// Points per series per request; longer ranges are split. Prometheus refuses more
    /// than 11,000. Default: 10,000.
    #[serde(default = "default_max_points")]
    pub max_points_per_request: usize,
}

fn default_max_points() -> usize {
    10_000
}

impl PromConfig {
    /// A config with every default for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PromConfig {
            url: url.into(),
            http: ClientConfig::default(),
            max_points_per_request: default_max_points(),
        }
    }

    /// Checks the settings and returns the client. Nothing connects yet.
    pub fn build(&self) -> Result<PromClient, Error> {
        let base = ballast_spec::parse_http_url(&self.url)?;
        if !(2..=11_000).contains(&self.max_points_per_request) {
            return Err(Error::Config {
                field: "max_points_per_request".into(),
                message: format!("expected 2 to 11000, got {}", self.max_points_per_request),
            });
        }
        Ok(PromClient {
            base,
            shown: self.url.trim_end_matches('/').to_string(),
            http: self.http.build()?,
            max_points: self.max_points_per_request,
        })
    }
}

/// A query client for one server.
#[derive(Debug, Clone)]
pub struct PromClient {
    base: url::Url,
    shown: String,
    http: Client,
    max_points: usize,
}

impl PromClient {
    /// The server's base URL, as given.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// `base` + `path` + `?query` with each value percent-encoded.
    fn endpoint(&self, path: &str, params: &[(&str, String)]) -> url::Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}{path}"));
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_component(v)))
            .collect();
        url.set_query(Some(&query.join("&")));
        url
    }

    async fn get_json(&self, url: &url::Url) -> Result<(u16, String), Error> {
        let response = self.http.get(url).await?;
        Ok((response.status, response.text()))
    }

    /// Every series `query` returns over `[start, end]` (Unix seconds) at `step`, in time
    /// order. An empty result is [`Error::NoData`]; a PromQL error is [`Error::Query`].
    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<Vec<Series>, Error> {
        let step_s = step.as_secs_f64();
        if step_s <= 0.0 {
            return Err(Error::Config {
                field: "step".into(),
                message: "expected a step above 0".into(),
            });
        }
        if end < start {
            return Err(Error::Config {
                field: "range".into(),
                message: format!(
                    "the range ends ({}) before it starts ({})",
                    format_timestamp(end),
                    format_timestamp(start)
                ),
            });
        }
        // Each chunk holds at most max_points steps; the next one starts a step later, so
        // no timestamp is asked twice.
        let span = step_s * (self.max_points - 1) as f64;
        let mut merged: BTreeMap<String, Series> = BTreeMap::new();
        let mut from = start;
        while from <= end {
            let to = (from + span).min(end);
            let url = self.endpoint(
                "/api/v1/query_range",
                &[
                    ("query", query.to_string()),
                    ("start", from.to_string()),
                    ("end", to.to_string()),
                    ("step", step_s.to_string()),
                ],
            );
            let (status, body) = self.get_json(&url).await?;
            let series =
                parse_range_response(&body).map_err(|m| self.query_error(query, status, m))?;
            for s in series {
                let entry = merged.entry(s.name.clone()).or_insert_with(|| Series {
                    name: s.name.clone(),
                    points: Vec::new(),
                });
                let last = entry.points.last().map(|p| p.t);
                entry.points.extend(
                    s.points
                        .into_iter()
                        .filter(|p| last.is_none_or(|l| p.t > l)),
                );
            }
            from = to + step_s;
        }
        if merged.values().all(|s| s.points.is_empty()) {
            return Err(Error::NoData {
                server: self.shown.clone(),
                query: query.to_string(),
                hint: format!(
                    " between {} and {} UTC (check the metric name and labels, and that the server holds that range)",
                    format_timestamp(start.floor()),
                    format_timestamp(end.floor())
                ),
            });
        }
        Ok(merged
            .into_values()
            .filter(|s| !s.points.is_empty())
            .collect())
    }

    /// The value of each series `query` returns at `time` (now when `None`).
    pub async fn query(&self, query: &str, time: Option<f64>) -> Result<Vec<(String, f64)>, Error> {
        let mut params = vec![("query", query.to_string())];
        if let Some(t) = time {
            params.push(("time", t.to_string()));
        }
        let url = self.endpoint("/api/v1/query", &params);
        let (status, body) = self.get_json(&url).await?;
        parse_instant_response(&body).map_err(|m| self.query_error(query, status, m))
    }

    /// The server's clock, as the time of an instant query of `time()`.
    pub async fn now(&self) -> Result<f64, Error> {
        let values = self.query("time()", None).await?;
        values.first().map(|v| v.1).ok_or_else(|| Error::NoData {
            server: self.shown.clone(),
            query: "time()".into(),
            hint: String::new(),
        })
    }

    fn query_error(&self, query: &str, status: u16, message: String) -> Error {
        Error::Query {
            server: self.shown.clone(),
            query: query.to_string(),
            message: if status == 200 {
                message
            } else {
                format!("HTTP {status}: {message}")
            },
        }
    }
}

/// Judges read series through [`SeriesSource`]; the errors keep their kind (nothing
/// matched, the user's input, a failure while running).
impl SeriesSource for PromClient {
    fn now(&self) -> SourceFuture<'_, f64> {
        Box::pin(async move { PromClient::now(self).await.map_err(source_error) })
    }

    fn instant<'a>(&'a self, query: &'a str) -> SourceFuture<'a, Vec<(String, f64)>> {
        Box::pin(async move {
            PromClient::query(self, query, None)
                .await
                .map_err(source_error)
        })
    }

    fn query_range<'a>(
        &'a self,
        query: &'a str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> SourceFuture<'a, Vec<Series>> {
        Box::pin(async move {
            PromClient::query_range(self, query, start, end, step)
                .await
                .map_err(source_error)
        })
    }
}

fn source_error(e: Error) -> SourceError {
    match e {
        Error::NoData { .. } => SourceError::NoData(e.to_string()),
        e if e.is_input() => SourceError::Input(e.to_string()),
        e => SourceError::Failed(e.to_string()),
    }
}
