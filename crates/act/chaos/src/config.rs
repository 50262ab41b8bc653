//! The chaos server as data: [`ChaosConfig`] (API address, token, proxies), each
//! [`ProxyConfig`] with its starting toxics and optional [`AdaptiveConfig`]. Read from a
//! JSON or YAML file with [`ChaosConfig::from_text`], which also takes Toxiproxy's own
//! config files (a bare array of proxies).

use crate::toxic::{check_name, Toxic};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// A whole chaos server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosConfig {
    /// Where the HTTP API listens. Default: no API (an embedding program controls the
    /// proxies through [`ChaosServer`](crate::ChaosServer)'s methods). `ballast chaos
    /// serve` uses 127.0.0.1:8474, Toxiproxy's port.
    #[serde(default)]
    pub api: Option<SocketAddr>,
    /// Bearer token the API requires in `Authorization`. Default: none, which is only
    /// allowed while the API binds a loopback address.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
    /// Seed for every random choice (toxicity, jitter, failure ratios), for runs that
    /// must repeat exactly. Default: a fresh seed per start.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The proxies to start with.
    #[serde(default)]
    pub proxies: Vec<ProxyConfig>,
}

/// One proxy: listen → upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Unique name (used in API paths and metric labels).
    pub name: String,
    /// Address to listen on. Default: `127.0.0.1:0` (loopback, any free port).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `host:port` to connect each client to.
    pub upstream: String,
    /// Accepting connections. Default: true. (Toxiproxy's "down" is `false`.)
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Parse every connection as HTTP/1.1, so HTTP toxics (and an HTTP adaptive
    /// controller) see all requests. Default: false; connections are then parsed only
    /// while the proxy has an HTTP toxic.
    #[serde(default)]
    pub http: bool,
    /// Toxics active from the start.
    #[serde(default)]
    pub toxics: Vec<Toxic>,
    /// Chaos level that follows the traffic. Default: none.
    #[serde(default)]
    pub adaptive: Option<AdaptiveConfig>,
}

fn default_listen() -> String {
    "127.0.0.1:0".to_string()
}
fn default_enabled() -> bool {
    true
}

impl ProxyConfig {
    /// A proxy with every optional setting at its default.
    pub fn new(
        name: impl Into<String>,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        ProxyConfig {
            name: name.into(),
            listen: listen.into(),
            upstream: upstream.into(),
            enabled: true,
            http: false,
            toxics: Vec::new(),
            adaptive: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.name.is_empty() {
            return Err(Error::MissingField {
                field: "name".into(),
            });
        }
        check_name("proxy name", &self.name)?;
        if self.upstream.is_empty() {
            return Err(Error::MissingField {
                field: "upstream".into(),
            });
        }
        check_host_port("upstream", &self.upstream)?;
        if let Some(adaptive) = &self.adaptive {
            adaptive.validate()?;
        }
        Ok(())
    }
}

/// `host:port` with a numeric port (the host is resolved when used).
pub(crate) fn check_host_port(field: &str, text: &str) -> Result<(), Error> {
    let ok = text
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("expected host:port (e.g. 127.0.0.1:6379), got {text:?}"),
        ))
    }
}

/// What the adaptive controller does per level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Delay added to each request (HTTP) or chunk (TCP).
    #[serde(with = "ballast_core::duration_text")]
    pub delay: Duration,
    /// Share of requests answered with an error (HTTP), or of connections reset (TCP).
    pub failure_ratio: f64,
}

/// How the adaptive controller injects faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaptiveMode {
    /// `http_delay` + `http_abort` on requests; QPS counts requests, errors are 5xx.
    Http,
    /// `latency` + `reset_peer` on connections; QPS counts new connections, errors are
    /// failed upstream connects.
    Tcp,
}

/// Chaos level that follows the traffic: every `interval` the controller measures the
/// proxy's QPS and error rate and sets
/// `level = clamp(floor(qps / qps_per_level + error_rate × error_weight), 1, tiers)`,
/// then applies `tiers[level - 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// How often to measure and decide. Default: 1s.
    #[serde(default = "default_interval", with = "ballast_core::duration_text")]
    pub interval: Duration,
    /// Requests (or connections) per second that make one level. Default: 500.
    #[serde(default = "default_qps_per_level")]
    pub qps_per_level: f64,
    /// Weight of the error rate (0..1) in the level. Default: 10.
    #[serde(default = "default_error_weight")]
    pub error_weight: f64,
    /// Fault per level, from level 1. Default: 50ms/2 %, 150ms/8 %, 300ms/15 %.
    #[serde(default = "default_tiers")]
    pub tiers: Vec<Tier>,
    /// HTTP or TCP faults. Default: HTTP when the proxy is marked `http`, else TCP.
    #[serde(default)]
    pub mode: Option<AdaptiveMode>,
    /// Status of injected HTTP failures. Default: 503.
    #[serde(default = "default_status")]
    pub status: u16,
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_qps_per_level() -> f64 {
    500.0
}
fn default_error_weight() -> f64 {
    10.0
}
fn default_status() -> u16 {
    503
}
fn default_tiers() -> Vec<Tier> {
    [(50, 0.02), (150, 0.08), (300, 0.15)]
        .into_iter()
        .map(|(ms, failure_ratio)| Tier {
            delay: Duration::from_millis(ms),
            failure_ratio,
        })
        .collect()
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            interval: default_interval(),
            qps_per_level: default_qps_per_level(),
            error_weight: default_error_weight(),
            tiers: default_tiers(),
            mode: None,
            status: default_status(),
        }
    }
}

impl AdaptiveConfig {
    /// The level for a measured QPS and error rate (0..1).
    pub fn level(&self, qps: f64, error_rate: f64) -> usize {
        let raw = qps / self.qps_per_level + error_rate * self.error_weight;
        let max = self.tiers.len().max(1);
        if raw.is_nan() {
            return 1;
        }
        (raw.floor().max(1.0) as usize).min(max)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |field: &str, message: String| {
            Err(Error::invalid(format!("adaptive.{field}"), message))
        };
        if self.interval < Duration::from_millis(10) || self.interval > Duration::from_secs(3600) {
            return bad(
                "interval",
                format!("expected 10ms to 1h, got {:?}", self.interval),
            );
        }
        if !(self.qps_per_level.is_finite() && self.qps_per_level > 0.0) {
            return bad(
                "qps_per_level",
                format!("expected a number above 0, got {}", self.qps_per_level),
            );
        }
        if !(self.error_weight.is_finite() && self.error_weight >= 0.0) {
            return bad(
                "error_weight",
                format!("expected 0 or more, got {}", self.error_weight),
            );
        }
        if self.tiers.is_empty() || self.tiers.len() > 10 {
            return bad(
                "tiers",
                format!("expected 1 to 10 tiers, got {}", self.tiers.len()),
            );
        }
        for (i, tier) in self.tiers.iter().enumerate() {
            if !(0.0..=1.0).contains(&tier.failure_ratio) {
                return bad(
                    &format!("tiers[{i}].failure_ratio"),
                    format!("expected 0 to 1, got {}", tier.failure_ratio),
                );
            }
            if tier.delay > crate::toxic::MAX_TIME {
                return bad(
                    &format!("tiers[{i}].delay"),
                    "expected at most 1 day".into(),
                );
            }
        }
        if !(100..=599).contains(&self.status) || self.status == 101 {
            return bad(
                "status",
                format!(
                    "expected an HTTP status 100..=599 other than 101, got {}",
                    self.status
                ),
            );
        }
        Ok(())
    }
}

impl ChaosConfig {
    /// Reads a configuration file's text: JSON (`path` ending in `.json`) or YAML, either a
    /// whole `ChaosConfig` or Toxiproxy's bare array of proxies. `path` names the source
    /// in errors.
    pub fn from_text(text: &str, path: &str) -> Result<ChaosConfig, Error> {
        let file_error = |message: String| Error::ConfigFile {
            path: path.to_string(),
            message,
        };
        let config = if path.ends_with(".json") {
            // Straight from the text, so errors carry their line and column.
            if text.trim_start().starts_with('[') {
                let proxies: Vec<ProxyConfig> =
                    serde_json::from_str(text).map_err(|e| file_error(e.to_string()))?;
                ChaosConfig {
                    proxies,
                    ..Default::default()
                }
            } else {
                serde_json::from_str(text).map_err(|e| file_error(e.to_string()))?
            }
        } else {
            let value = yaml_to_json(text).map_err(file_error)?;
            if value.is_array() {
                let proxies: Vec<ProxyConfig> =
                    serde_json::from_value(value).map_err(|e| file_error(e.to_string()))?;
                ChaosConfig {
                    proxies,
                    ..Default::default()
                }
            } else {
                serde_json::from_value(value).map_err(|e| file_error(e.to_string()))?
            }
        };
        config.validate().map_err(|e| file_error(e.to_string()))?;
        Ok(config)
    }

    /// Checks every setting without binding anything.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(token) = &self.token {
            if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::invalid(
                    "token",
                    "expected a non-empty token without spaces",
                ));
            }
        }
        if let Some(api) = self.api {
            if !api.ip().is_loopback() && self.token.is_none() {
                return Err(Error::invalid(
                    "token",
                    format!(
                        "the API would listen on {api}, which is not loopback: anyone who can \
                         reach it could break your dependencies. Set a bearer token (--token), \
                         or bind 127.0.0.1"
                    ),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, proxy) in self.proxies.iter().enumerate() {
            proxy
                .validate()
                .map_err(|e| Error::invalid(format!("proxies[{i}]"), e.to_string()))?;
            if !names.insert(proxy.name.as_str()) {
                return Err(Error::invalid(
                    format!("proxies[{i}].name"),
                    format!("{:?} is used by two proxies", proxy.name),
                ));
            }
        }
        Ok(())
    }
}

/// YAML → JSON values, so one set of serde types reads both.
fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn convert(yaml: Yaml) -> Result<serde_json::Value, String> {
        Ok(match yaml {
            Yaml::Null => serde_json::Value::Null,
            Yaml::Boolean(b) => b.into(),
            Yaml::Integer(i) => i.into(),
            Yaml::Real(text) => {
                let f: f64 = text.parse().map_err(|_| format!("bad number {text:?}"))?;
                serde_json::Number::from_f64(f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| format!("number {text:?} is not finite"))?
            }
            Yaml::String(s) => s.into(),
            Yaml::Array(items) => items
                .into_iter()
                .map(convert)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
            Yaml::Hash(map) => {
                let mut object = serde_json::Map::new();
                for (key, value) in map {
                    let key = match key {
                        Yaml::String(s) => s,
                        Yaml::Integer(i) => i.to_string(),
                        other => {
                            return Err(format!("keys must be strings, got {}", convert(other)?))
                        }
                    };
                    object.insert(key, convert(value)?);
                }
                serde_json::Value::Object(object)
            }
            Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
            Yaml::BadValue => return Err("a value could not be read".into()),
        })
    }
    let documents = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let lines = document_lines(text);
    // Empty documents (a stray `---`) hold nothing; a second one with content would be
    // left unread, so it is refused at its line.
    let mut full = documents
        .into_iter()
        .enumerate()
        .filter(|(_, d)| !matches!(d, Yaml::Null | Yaml::BadValue));
    let first = full.next();
    if let Some((i, _)) = full.next() {
        let line = lines.get(i).copied().unwrap_or(1);
        return Err(format!(
            "line {line}: a second YAML document: a chaos config is one document, and the \
             second would not be read; put it in a file of its own"
        ));
    }
    match first {
        None => Ok(serde_json::json!({})),
        Some((_, d)) => convert(d),
    }
}

/// The line each document of `text` starts at, in order.
fn document_lines(text: &str) -> Vec<usize> {
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;
    struct Starts {
        lines: Vec<usize>,
        open: bool,
    }
    impl MarkedEventReceiver for Starts {
        fn on_event(&mut self, event: Event, mark: Marker) {
            match event {
                Event::DocumentStart => self.open = true,
                Event::DocumentEnd => self.open = false,
                // The document's first node: where its content starts.
                Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
                    if self.open =>
                {
                    self.lines.push(mark.line());
                    self.open = false;
                }
                _ => {}
            }
        }
    }
    let mut starts = Starts {
        lines: Vec::new(),
        open: false,
    };
    let _ = Parser::new_from_str(text).load(&mut starts, true);
    starts.lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_document_is_refused_at_its_line_and_empty_ones_skipped() {
        let e = yaml_to_json("api: 127.0.0.1:8474\n---\n---\nseed: 7\n").unwrap_err();
        assert!(e.starts_with("line 4: a second YAML document"), "{e}");
        let v = yaml_to_json("---\napi: 127.0.0.1:8474\n---\n").unwrap();
        assert_eq!(v["api"], "127.0.0.1:8474");
    }

    #[test]
    fn reads_yaml_and_json_alike() {
        let yaml = "
api: 127.0.0.1:8474
seed: 7
proxies:
  - name: redis
    listen: 127.0.0.1:26379
    upstream: 127.0.0.1:6379
    toxics:
      - type: latency
        attributes: {latency: 100}
    adaptive:
      interval: 500ms
      tiers: [{delay: 10ms, failure_ratio: 0.5}]
";
        let config = ChaosConfig::from_text(yaml, "chaos.yaml").unwrap();
        assert_eq!(config.proxies[0].toxics[0].name, "latency_downstream");
        assert_eq!(config.seed, Some(7));
        let adaptive = config.proxies[0].adaptive.as_ref().unwrap();
        assert_eq!(adaptive.interval, Duration::from_millis(500));
        assert_eq!(adaptive.qps_per_level, 500.0);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(ChaosConfig::from_text(&json, "c.json").unwrap(), config);
    }

    #[test]
    fn takes_toxiproxy_config_files() {
        let text = r#"[{"name": "web", "listen": "127.0.0.1:18080", "upstream": "localhost:8080", "enabled": true}]"#;
        let config = ChaosConfig::from_text(text, "toxiproxy.json").unwrap();
        assert_eq!(config.proxies[0].upstream, "localhost:8080");
        assert_eq!(config.api, None);
    }

    #[test]
    fn typos_and_bad_values_name_their_place() {
        let err = ChaosConfig::from_text(
            r#"{"proxies": [{"name": "a", "upstrem": "x:1"}]}"#,
            "c.json",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("upstrem") && err.to_string().contains("line 1"),
            "{err}"
        );
        let err = ChaosConfig::from_text("proxies:\n  - {name: a, upstream: nohost}\n", "c.yaml")
            .unwrap_err();
        assert!(err.to_string().contains("host:port"), "{err}");
        let err = ChaosConfig::from_text(
            "proxies:\n  - {name: a, upstream: 'h:1'}\n  - {name: a, upstream: 'h:2'}\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("two proxies"), "{err}");
        let err = ChaosConfig::from_text("api: 0.0.0.0:8474\n", "c.yaml").unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
        assert!(ChaosConfig::from_text("api: 0.0.0.0:8474\ntoken: s3cret\n", "c.yaml").is_ok());
        assert!(ChaosConfig::from_text("a: [", "c.yaml").is_err());
    }

    #[test]
    fn level_follows_the_formula() {
        let adaptive = AdaptiveConfig::default();
        assert_eq!(adaptive.level(0.0, 0.0), 1);
        assert_eq!(adaptive.level(999.0, 0.0), 1);
        assert_eq!(adaptive.level(1000.0, 0.0), 2);
        assert_eq!(adaptive.level(100.0, 0.2), 2);
        assert_eq!(adaptive.level(100_000.0, 1.0), 3);
        assert_eq!(adaptive.level(f64::NAN, 0.0), 1);
        let mut bad = AdaptiveConfig::default();
        bad.tiers[1].failure_ratio = 2.0;
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tiers[1].failure_ratio"));
    }
}
