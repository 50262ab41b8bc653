//! Live input: a client of the Prometheus HTTP query API (`/api/v1/query_range`,
//! `/api/v1/query`), which VictoriaMetrics serves too. Long ranges are split into chunks
//! below the server's points-per-series limit and stitched back together.

pub mod http;
mod response;

pub use response::{parse_instant_response, parse_range_response};

use crate::series::{format_timestamp, Series};
use crate::Error;
use ballast_core::duration_text;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where and how to query (`prometheus:` in a config; flags on the CLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:9090` (VictoriaMetrics: `:8428`).
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`. Default: none.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// Per request, retries excluded. Default: 30s.
    #[serde(default = "default_timeout", with = "duration_text")]
    pub timeout: Duration,
    /// Extra attempts after a failure worth retrying (connection, timeout, 429, 5xx).
    /// Default: 3.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry, doubling after each. Default: 250ms.
    #[serde(default = "default_backoff", with = "duration_text")]
    pub backoff: Duration,
    /// Points per series per request; longer ranges are split. Prometheus refuses more
    /// than 11,000. Default: 10,000.
    #[serde(default = "default_max_points")]
    pub max_points_per_request: usize,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Duration {
    Duration::from_millis(250)
}
fn default_max_points() -> usize {
    10_000
}

impl PromConfig {
    /// A config with every default for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PromConfig {
            url: url.into(),
            bearer_token: None,
            timeout: default_timeout(),
            retries: default_retries(),
            backoff: default_backoff(),
            max_points_per_request: default_max_points(),
        }
    }

    /// Checks the settings and returns the client. Nothing connects yet.
    pub fn build(&self) -> Result<PromClient, Error> {
        http::Url::parse(&self.url)
            .map_err(|m| Error::Config(format!("prometheus url {:?}: {m}", self.url)))?;
        if self.timeout.is_zero() {
            return Err(Error::Config("prometheus timeout must be above 0".into()));
        }
        if !(2..=11_000).contains(&self.max_points_per_request) {
            return Err(Error::Config(format!(
                "max_points_per_request must be between 2 and 11000, got {}",
                self.max_points_per_request
            )));
        }
        Ok(PromClient {
            base: self.url.trim_end_matches('/').to_string(),
            http: http::HttpClient {
                timeout: self.timeout,
                retries: self.retries,
                backoff: self.backoff,
                bearer_token: self.bearer_token.clone(),
            },
            max_points: self.max_points_per_request,
        })
    }
}

/// A query client for one server.
#[derive(Debug, Clone)]
pub struct PromClient {
    base: String,
    http: http::HttpClient,
    max_points: usize,
}

impl PromClient {
    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The HTTP settings (timeout, retries, token), for other requests to the same network.
    pub fn http(&self) -> http::HttpClient {
        let mut client = self.http.clone();
        // The token is the query server's; never send it elsewhere.
        client.bearer_token = None;
        client
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
            return Err(Error::Config("the query step must be above 0".into()));
        }
        if end < start {
            return Err(Error::Config(format!(
                "the range ends ({}) before it starts ({})",
                format_timestamp(end),
                format_timestamp(start)
            )));
        }
        // Each chunk holds at most max_points steps; the next one starts a step later, so
        // no timestamp is asked twice.
        let span = step_s * (self.max_points - 1) as f64;
        let mut merged: BTreeMap<String, Series> = BTreeMap::new();
        let mut from = start;
        while from <= end {
            let to = (from + span).min(end);
            let url = format!(
                "{}/api/v1/query_range?query={}&start={}&end={}&step={}",
                self.base,
                http::url_encode(query),
                from,
                to,
                step_s
            );
            let response = self.http.get(&url).await?;
            let series = parse_range_response(&response.body)
                .map_err(|m| self.query_error(query, response.status, m))?;
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
                server: self.base.clone(),
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
        let mut url = format!(
            "{}/api/v1/query?query={}",
            self.base,
            http::url_encode(query)
        );
        if let Some(t) = time {
            url.push_str(&format!("&time={t}"));
        }
        let response = self.http.get(&url).await?;
        parse_instant_response(&response.body)
            .map_err(|m| self.query_error(query, response.status, m))
    }

    /// The server's clock, as the time of an instant query of `time()`.
    pub async fn now(&self) -> Result<f64, Error> {
        let values = self.query("time()", None).await?;
        values.first().map(|v| v.1).ok_or_else(|| Error::NoData {
            server: self.base.clone(),
            query: "time()".into(),
            hint: String::new(),
        })
    }

    fn query_error(&self, query: &str, status: u16, message: String) -> Error {
        Error::Query {
            server: self.base.clone(),
            query: query.to_string(),
            message: if status == 200 {
                message
            } else {
                format!("HTTP {status}: {message}")
            },
        }
    }
}
