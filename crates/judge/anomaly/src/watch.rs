//! Live anomaly detection (`ballast anomaly watch`): every step, the new samples of each
//! query's series go through that series' own streaming detector; a score at or above the
//! threshold is an anomaly, and [`Watcher::alerts`] gives it Alertmanager's shape for the
//! caller to send. The series come from a [`SeriesSource`] the caller hands in.

use crate::detect::{Detector, DetectorConfig};
use crate::series::format_timestamp;
use crate::Error;
use ballast_core::alert::{self, rfc3339, Alert};
use ballast_core::duration_text;
use ballast_core::source::{SeriesSource, SourceError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of a watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// PromQL queries; each series they return is watched on its own.
    pub queries: Vec<String>,
    /// Evaluation interval and query resolution. Default: 1m.
    #[serde(default = "default_step", with = "duration_text")]
    pub step: Duration,
    /// History the detectors learn from before the first evaluation. Default: 1d.
    #[serde(default = "default_history", with = "duration_text")]
    pub history: Duration,
    /// The detector. Default: the built-in default.
    #[serde(default)]
    pub detector: DetectorConfig,
    /// A score at or above this alerts. Default: the detector's NAB-tuned threshold.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Alertmanager base URL (`http://127.0.0.1:9093`). Default: none (stdout only).
    #[serde(default)]
    pub alertmanager: Option<String>,
    /// Labels added to every alert.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_step() -> Duration {
    Duration::from_secs(60)
}
fn default_history() -> Duration {
    Duration::from_secs(86_400)
}

impl WatchConfig {
    /// A watch of `queries` with every default.
    pub fn new(queries: Vec<String>) -> Self {
        WatchConfig {
            queries,
            step: default_step(),
            history: default_history(),
            detector: DetectorConfig::default(),
            threshold: None,
            alertmanager: None,
            labels: BTreeMap::new(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.queries.is_empty() {
            return Err(Error::Config("give at least one query to watch".into()));
        }
        if self.step.is_zero() || self.history < self.step {
            return Err(Error::Config(
                "the step must be above 0 and the history at least one step".into(),
            ));
        }
        if let Some(t) = self.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(Error::Config(format!(
                    "threshold must be in [0, 1], got {t}"
                )));
            }
        }
        for name in self.labels.keys() {
            if !alert::valid_label_name(name) {
                return Err(Error::Config(format!(
                    "alert label name {name:?} must match [a-zA-Z_][a-zA-Z0-9_]*"
                )));
            }
        }
        if let Some(url) = &self.alertmanager {
            ballast_spec::parse_http_url(url)
                .map_err(|e| Error::Config(format!("alertmanager: {e}")))?;
        }
        self.detector.validate()
    }

    /// Checks the settings; nothing is queried until [`Watcher::start`].
    pub fn build(&self) -> Result<Watcher, Error> {
        self.validate()?;
        let threshold = self
            .threshold
            .unwrap_or_else(|| self.detector.recommended_threshold());
        Ok(Watcher {
            config: self.clone(),
            threshold,
            series: BTreeMap::new(),
            evaluated_until: None,
        })
    }
}

/// One anomalous point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The query.
    pub query: String,
    /// The series (`metric{labels}`).
    pub series: String,
    /// When (Unix seconds).
    pub time: f64,
    /// Its value.
    pub value: f64,
    /// Its score.
    pub score: f64,
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ANOMALY score {:.3} value {} {}",
            format_timestamp(self.time),
            self.score,
            self.value,
            self.series
        )
    }
}

struct Watched {
    query: usize,
    detector: Box<dyn Detector>,
    last_time: f64,
}

/// A running watch.
pub struct Watcher {
    config: WatchConfig,
    threshold: f64,
    series: BTreeMap<String, Watched>,
    evaluated_until: Option<f64>,
}

impl Watcher {
    /// The threshold in use.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Series watched so far.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Reads the history (server time minus `history` to now) into fresh detectors. A query
    /// that returns nothing is an error: a watch of nothing would stay silent forever.
    pub async fn start(&mut self, source: &dyn SeriesSource) -> Result<usize, Error> {
        let now = source.now().await?;
        let step = self.config.step.as_secs_f64();
        let end = (now / step).floor() * step;
        let start = end - self.config.history.as_secs_f64();
        let mut points = 0;
        for (i, query) in self.config.queries.clone().iter().enumerate() {
            for s in source
                .query_range(query, start, end, self.config.step)
                .await?
            {
                points += s.points.len();
                let watched = self.watched(i, &s.name);
                for p in &s.points {
                    watched.detector.score(p.t, p.v);
                    watched.last_time = p.t;
                }
            }
        }
        self.evaluated_until = Some(end);
        Ok(points)
    }

    fn watched(&mut self, query: usize, name: &str) -> &mut Watched {
        let history_points =
            (self.config.history.as_secs_f64() / self.config.step.as_secs_f64()) as usize;
        let key = format!("{query}\u{0}{name}");
        self.series.entry(key).or_insert_with(|| Watched {
            query,
            detector: self.config.detector.build_for(history_points),
            last_time: f64::NEG_INFINITY,
        })
    }

    /// Reads the samples since the last evaluation, scores them in time order and returns
    /// the anomalies; with an Alertmanager, sends them there too.
    pub async fn evaluate(&mut self, source: &dyn SeriesSource) -> Result<Vec<Anomaly>, Error> {
        let now = source.now().await?;
        let step = self.config.step.as_secs_f64();
        let end = (now / step).floor() * step;
        let start = self.evaluated_until.map_or(end, |t| t + step);
        if start > end {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for (i, query) in self.config.queries.clone().iter().enumerate() {
            let series = match source
                .query_range(query, start, end, self.config.step)
                .await
            {
                Ok(s) => s,
                // Nothing new this step (a scrape missed, a target away) is not an error.
                Err(SourceError::NoData(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let threshold = self.threshold;
            for s in series {
                tracing::debug!(series = %s.name, points = s.points.len(), first = ?s.points.first(), last = ?s.points.last(), "evaluating");
                let watched = self.watched(i, &s.name);
                let seen_until = watched.last_time;
                for p in s.points.iter().filter(|p| p.t > seen_until) {
                    let score = watched.detector.score(p.t, p.v);
                    watched.last_time = p.t;
                    if score >= threshold {
                        found.push(Anomaly {
                            query: query.clone(),
                            series: s.name.clone(),
                            time: p.t,
                            value: p.v,
                            score,
                        });
                    }
                }
                debug_assert_eq!(watched.query, i);
            }
        }
        self.evaluated_until = Some(end);
        Ok(found)
    }

    /// Where [`alerts`](Watcher::alerts) are to go, as configured.
    pub fn alertmanager(&self) -> Option<&str> {
        self.config.alertmanager.as_deref()
    }

    /// The anomalies as Alertmanager alerts, with the configured labels.
    pub fn alerts(&self, anomalies: &[Anomaly]) -> Vec<Alert> {
        anomalies.iter().map(|a| self.alert(a)).collect()
    }

    fn alert(&self, a: &Anomaly) -> Alert {
        let mut labels = self.config.labels.clone();
        labels.insert("alertname".into(), "BallastAnomaly".into());
        labels.insert("series".into(), a.series.clone());
        labels
            .entry("severity".into())
            .or_insert_with(|| "warning".into());
        let annotations = [
            (
                "summary",
                format!("{} is anomalous (score {:.3})", a.series, a.score),
            ),
            ("score", format!("{:.4}", a.score)),
            ("value", a.value.to_string()),
            ("query", a.query.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // Resolved unless the anomaly goes on: five steps after the point.
        let ends = a.time + 5.0 * self.config.step.as_secs_f64();
        Alert {
            labels,
            annotations,
            starts_at: rfc3339(a.time),
            ends_at: rfc3339(ends),
        }
    }
}
