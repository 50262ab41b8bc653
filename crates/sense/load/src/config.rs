//! What a load run is: data first, checked by [`LoadConfig::build`].

use crate::mix::Mix;
use crate::request::PreparedRequest;
use crate::{Error, LoadTest};
use ballast_core::RateSpec;
use ballast_spec::RequestTemplate;
use ballast_spec::Target;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How requests are paced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Model {
    /// Requests are due at fixed times whatever the responses do; latency counts from the
    /// due time (coordinated-omission corrected).
    Open {
        /// Constant rate or linear ramp.
        rate: RateSpec,
    },
    /// `concurrency` workers send back to back: the most the target serves.
    Closed {
        /// Requests in flight at once.
        concurrency: u32,
    },
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Stop {
    /// After this long (requests in flight then may finish, up to the timeout).
    #[serde(with = "ballast_core::duration_text")]
    After(Duration),
    /// After this many requests.
    Requests(u64),
}

/// One of `count` machines sharing a run (`--shard index/count`, `index` from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This shard's number, 1-based.
    pub index: u32,
    /// How many shards share the run.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected = || format!("expected I/N with 1 ≤ I ≤ N (e.g. 2/4), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(expected)?;
        let index: u32 = i.trim().parse().map_err(|_| expected())?;
        let count: u32 = n.trim().parse().map_err(|_| expected())?;
        if index == 0 || count == 0 || index > count {
            return Err(expected());
        }
        Ok(Shard { index, count })
    }
}

/// A load run (the `ballast load` flags, or what a contract phase asks for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Pacing. Default: closed model, 64 in flight.
    #[serde(default = "default_model")]
    pub model: Model,
    /// End of the run. Default: after 10 s.
    #[serde(default = "default_stop")]
    pub stop: Stop,
    /// TCP connections (HTTP/1.1: also the most requests in flight). Default: the closed
    /// model's concurrency, else 64.
    #[serde(default)]
    pub connections: Option<u32>,
    /// HTTP method. Default: `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body as text.
    #[serde(default)]
    pub body: Option<String>,
    /// Request body read from a file (any bytes). Exclusive with `body`.
    #[serde(default)]
    pub body_file: Option<PathBuf>,
    /// Per-request timeout, connect included. Default: 2 s.
    #[serde(default = "default_timeout", with = "ballast_core::duration_text")]
    pub timeout: Duration,
    /// Speak HTTP/2 (over TLS by ALPN, or cleartext with prior knowledge).
    #[serde(default)]
    pub http2: bool,
    /// Accept any TLS certificate (self-signed test servers).
    #[serde(default)]
    pub insecure: bool,
    /// Run only this shard's part of the load.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// A weighted mix of named requests on `url` (the base URL); when set, `method`,
    /// `headers` and `body` are unused and results are also reported per request.
    #[serde(default)]
    pub requests: Vec<RequestTemplate>,
}

fn default_model() -> Model {
    Model::Closed { concurrency: 64 }
}
fn default_stop() -> Stop {
    Stop::After(Duration::from_secs(10))
}
fn default_method() -> String {
    "GET".to_string()
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// Most connections one run opens: the machines we run on allow 20,000 open files.
const MAX_CONNECTIONS: u32 = 10_000;

impl LoadConfig {
    /// A closed-model run of 10 s against `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> Self {
        LoadConfig {
            url: url.into(),
            model: default_model(),
            stop: default_stop(),
            connections: None,
            method: default_method(),
            headers: Vec::new(),
            body: None,
            body_file: None,
            timeout: default_timeout(),
            http2: false,
            insecure: false,
            shard: None,
            requests: Vec::new(),
        }
    }

    /// Connections the run opens.
    pub fn effective_connections(&self) -> u32 {
        self.connections.unwrap_or(match self.model {
            Model::Closed { concurrency } if !self.http2 => concurrency,
            Model::Closed { concurrency } => concurrency.min(64),
            Model::Open { .. } => 64,
        })
    }

    /// Checks every setting, reads the body file and prepares the request; binds and
    /// connects nothing (that happens in [`LoadTest::run`]).
    pub fn build(&self) -> Result<LoadTest, Error> {
        let invalid =
            |field: &'static str, message: String| Error::InvalidConfig { field, message };
        let target = Target::parse(&self.url)?;
        let connections = self.effective_connections();
        if connections == 0 || connections > MAX_CONNECTIONS {
            return Err(invalid(
                "--connections",
                format!("expected 1..={MAX_CONNECTIONS}, got {connections}"),
            ));
        }
        match self.model {
            Model::Closed { concurrency } => {
                if concurrency == 0 || concurrency > MAX_CONNECTIONS * 100 {
                    return Err(invalid(
                        "--concurrency",
                        format!("expected 1..={}, got {concurrency}", MAX_CONNECTIONS * 100),
                    ));
                }
                if !self.http2 && concurrency != connections {
                    return Err(invalid(
                        "--connections",
                        format!(
                            "HTTP/1.1 carries one request at a time per connection, so \
                             --connections must equal --concurrency ({concurrency}); got {connections}"
                        ),
                    ));
                }
            }
            Model::Open { rate } => {
                if rate.is_ramp() && !matches!(self.stop, Stop::After(_)) {
                    return Err(invalid(
                        "--rate",
                        "a ramp needs --duration (it spreads the ramp over the run)".into(),
                    ));
                }
            }
        }
        match self.stop {
            Stop::After(d) if d.is_zero() => {
                return Err(invalid(
                    "--duration",
                    "expected a duration above zero, e.g. 30s".into(),
                ))
            }
            Stop::Requests(0) => {
                return Err(invalid("--requests", "expected at least 1 request".into()))
            }
            _ => {}
        }
        if self.timeout.is_zero() {
            return Err(invalid(
                "--timeout",
                "expected a duration above zero, e.g. 2s".into(),
            ));
        }
        if let Some(shard) = self.shard {
            if shard.index == 0 || shard.index > shard.count {
                return Err(invalid(
                    "--shard",
                    format!(
                        "expected I/N with 1 ≤ I ≤ N, got {}/{}",
                        shard.index, shard.count
                    ),
                ));
            }
        }
        let body = match (&self.body, &self.body_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "--body-file",
                    "give either -d/--body or --body-file, not both".into(),
                ))
            }
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(path)) => std::fs::read(path).map_err(|source| Error::File {
                field: "--body-file",
                path: path.clone(),
                source,
            })?,
            (None, None) => Vec::new(),
        };
        let mix = if self.requests.is_empty() {
            let request = PreparedRequest::new(
                &target,
                &target.path_and_query,
                &self.method,
                &self.headers,
                body,
            )?;
            Mix::single(&target, request)
        } else {
            // Template paths go under the base URL's path (`http://h/api` + `/items`).
            let prefix = target
                .path_and_query
                .split('?')
                .next()
                .unwrap_or("")
                .trim_end_matches('/');
            Mix::from_templates(&target, prefix, &self.requests)?
        };
        Ok(LoadTest::new(self.clone(), target, mix, connections))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parsing() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["5/4", "0/4", "1/0", "x/4", "2", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("I/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn defaults_build() {
        let test = LoadConfig::new("http://127.0.0.1:9/").build().unwrap();
        assert_eq!(test.connections(), 64);
    }

    #[test]
    fn contradictions_are_named() {
        let mut cfg = LoadConfig::new("http://127.0.0.1:9/");
        cfg.connections = Some(8);
        let err = cfg.build().unwrap_err().to_string();
        assert!(err.starts_with("--connections"), "{err}");

        let mut cfg = LoadConfig::new("http://127.0.0.1:9/");
        cfg.model = Model::Open {
            rate: "1/s..5/s".parse().unwrap(),
        };
        cfg.stop = Stop::Requests(10);
        assert!(cfg.build().unwrap_err().to_string().starts_with("--rate"));

        let mut cfg = LoadConfig::new("http://127.0.0.1:9/");
        cfg.body = Some("a".into());
        cfg.body_file = Some("/nonexistent".into());
        assert!(cfg
            .build()
            .unwrap_err()
            .to_string()
            .starts_with("--body-file"));

        let mut cfg = LoadConfig::new("http://127.0.0.1:9/");
        cfg.body_file = Some("/nonexistent/body.json".into());
        let err = cfg.build().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/body.json"), "{err}");
    }

    #[test]
    fn config_reads_from_json_and_rejects_typos() {
        let cfg: LoadConfig = serde_json::from_str(
            r#"{"url":"http://127.0.0.1:1/","model":{"open":{"rate":"100/s"}},"stop":{"after":"5s"},"timeout":"1.5s"}"#,
        )
        .unwrap();
        assert_eq!(cfg.timeout, Duration::from_millis(1500));
        assert!(serde_json::from_str::<LoadConfig>(r#"{"url":"x","conections":3}"#).is_err());
    }
}
