//! The result of a run: the `ballast.load.v1` JSON document, its summary table, and
//! exact merging of shards.

use crate::client::ErrorKind;
use crate::config::{LoadConfig, Model, Shard};
use crate::recorder::{EntryTotals, SecondSlice, Totals};
use crate::Error;
use ballast_core::{format_duration, LatencyHistogram, TimelinePoint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The value of a report's `schema` key.
pub const SCHEMA: &str = "ballast.load.v1";
/// How the histograms in a report are encoded.
pub const HISTOGRAM_ENCODING: &str = "hdr-v2-deflate-base64";

/// Which model paced the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Requests sent on a schedule.
    Open,
    /// Workers sending back to back.
    Closed,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles of `h`, in milliseconds.
    pub fn of(h: &LatencyHistogram) -> Self {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        Percentiles {
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p95: ms(h.quantile(0.95)),
            p99: ms(h.quantile(0.99)),
            p999: ms(h.quantile(0.999)),
            max: ms(h.max()),
            mean: ms(h.mean()),
        }
    }
}

/// A finished run (or several shards merged), as written by `--json`.
///
/// Documented key by key in `docs/load-report.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Version of ballast that wrote the report.
    pub ballast_version: String,
    /// Target URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Open or closed model.
    pub mode: Mode,
    /// The rate as asked for (open model), for the whole run (all shards).
    pub rate: Option<String>,
    /// Mean rate the schedule asked of this report's shards, requests/s (open model).
    pub target_rps: Option<f64>,
    /// Workers in flight (closed model).
    pub concurrency: Option<u32>,
    /// Connections per shard.
    pub connections: u32,
    /// Whether HTTP/2 was spoken.
    pub http2: bool,
    /// The shard that wrote this report (absent for whole runs and merges).
    pub shard: Option<Shard>,
    /// How many shard reports this one combines (1 for a single run).
    pub shards_merged: u32,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Length of the run in seconds (the schedule's length for an open run that ended
    /// on time; otherwise start to last response).
    pub duration_s: f64,
    /// Whether the run was stopped early (Ctrl-C).
    pub interrupted: bool,
    /// Requests sent and finished (response or error).
    pub requests: u64,
    /// Requests that got an HTTP response (any status).
    pub responses: u64,
    /// Requests without a response (sum of `error_kinds`).
    pub errors: u64,
    /// Errors plus responses with an unexpected status (default: outside 200–399).
    #[serde(default)]
    pub failures: u64,
    /// `failures / requests` (0 when nothing was sent).
    #[serde(default)]
    pub error_rate: f64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Responses by status code.
    pub status: BTreeMap<String, u64>,
    /// Errors by kind: connect, tls, timeout, reset, protocol.
    pub error_kinds: BTreeMap<String, u64>,
    /// Requests sent more than 10 ms after their due time (open model).
    pub late: u64,
    /// Requests due within the run that were never sent (open model): the generator or
    /// its connections could not keep up.
    pub dropped: u64,
    /// Connections opened beyond the first per worker.
    pub reconnects: u64,
    /// Response bytes received (heads and bodies).
    pub bytes_received: u64,
    /// Latency from the due time (open model: coordinated-omission corrected; closed
    /// model: from the actual send), in ms.
    pub latency_ms: Percentiles,
    /// Service time, from the actual send to the end of the response, in ms.
    pub service_ms: Percentiles,
    /// Delay between due time and actual send, in ms (open model).
    pub send_lag_ms: Percentiles,
    /// Always [`HISTOGRAM_ENCODING`].
    pub histogram_encoding: String,
    /// Latency histogram behind `latency_ms`.
    pub histogram: String,
    /// Service-time histogram behind `service_ms`.
    pub service_histogram: String,
    /// Send-lag histogram behind `send_lag_ms`.
    pub send_lag_histogram: String,
    /// One point per second, by due time.
    pub timeline: Vec<TimelinePoint>,
    /// Results per named request (runs with a request mix only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_request: BTreeMap<String, RequestStats>,
}

/// One named request's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestStats {
    /// Requests finished.
    pub requests: u64,
    /// Requests without a response.
    pub errors: u64,
    /// Errors plus unexpected statuses.
    pub failures: u64,
    /// `failures / requests`.
    pub error_rate: f64,
    /// Responses by status.
    pub status: BTreeMap<String, u64>,
    /// Latency percentiles, ms.
    pub latency_ms: Percentiles,
    /// The latency histogram.
    pub histogram: String,
}

impl RequestStats {
    fn of(totals: &EntryTotals) -> Self {
        let requests = totals.latency.len() + totals.errors;
        RequestStats {
            requests,
            errors: totals.errors,
            failures: totals.failures,
            error_rate: ratio(totals.failures, requests),
            status: totals
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            latency_ms: Percentiles::of(&totals.latency),
            histogram: totals.latency.encode(),
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// What a finished run hands to [`Report::build`].
pub(crate) struct RunFacts<'a> {
    pub config: &'a LoadConfig,
    pub connections: u32,
    pub started: SystemTime,
    pub duration: Duration,
    pub interrupted: bool,
    pub totals: Totals,
    pub dropped: u64,
    pub request_names: Vec<String>,
    pub seconds: Vec<SecondSlice>,
}

fn timeline_point(s: &SecondSlice) -> TimelinePoint {
    let p = Percentiles::of(&s.latency);
    TimelinePoint {
        t: s.t,
        requests: s.requests,
        errors: s.errors,
        failures: s.failures,
        status_5xx: s.status_5xx,
        p50: p.p50,
        p90: p.p90,
        p99: p.p99,
        histogram: s.latency.encode(),
    }
}

impl Report {
    pub(crate) fn build(facts: RunFacts<'_>) -> Report {
        let RunFacts {
            config,
            connections,
            started,
            duration,
            interrupted,
            totals,
            dropped,
            request_names,
            seconds,
        } = facts;
        let errors: u64 = totals.errors.iter().sum();
        let responses = totals.latency.len();
        let requests = responses + errors;
        let seconds_f = duration.as_secs_f64().max(1e-9);
        let method = match config.requests.as_slice() {
            [] => config.method.clone(),
            [only] => only.method.clone(),
            _ => "MIX".to_string(),
        };
        let (mode, rate, target_rps, concurrency) = match &config.model {
            Model::Open { rate } => {
                let shards = config.shard.map_or(1.0, |s| f64::from(s.count));
                let mean =
                    (rate.at_fraction(0.0).per_second() + rate.at_fraction(1.0).per_second()) / 2.0;
                (
                    Mode::Open,
                    Some(rate.to_string()),
                    Some(mean / shards),
                    None,
                )
            }
            Model::Closed { concurrency } => (Mode::Closed, None, None, Some(*concurrency)),
        };
        Report {
            schema: SCHEMA.into(),
            ballast_version: env!("CARGO_PKG_VERSION").into(),
            url: config.url.clone(),
            method,
            mode,
            rate,
            target_rps,
            concurrency,
            connections,
            http2: config.http2,
            shard: config.shard,
            shards_merged: 1,
            started_unix_ms: started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            duration_s: duration.as_secs_f64(),
            interrupted,
            requests,
            responses,
            errors,
            failures: totals.failures,
            error_rate: ratio(totals.failures, requests),
            rps: requests as f64 / seconds_f,
            status: totals
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            error_kinds: ErrorKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), totals.errors[k.index()]))
                .collect(),
            late: totals.late,
            dropped,
            reconnects: totals.connects.saturating_sub(u64::from(connections)),
            bytes_received: totals.bytes_received,
            latency_ms: Percentiles::of(&totals.latency),
            service_ms: Percentiles::of(&totals.service),
            send_lag_ms: Percentiles::of(&totals.send_lag),
            histogram_encoding: HISTOGRAM_ENCODING.into(),
            histogram: totals.latency.encode(),
            service_histogram: totals.service.encode(),
            send_lag_histogram: totals.send_lag.encode(),
            timeline: seconds.iter().map(timeline_point).collect(),
            by_request: request_names
                .iter()
                .zip(&totals.per_request)
                .map(|(name, entry)| (name.clone(), RequestStats::of(entry)))
                .collect(),
        }
    }

    /// Reads a report written by `--json`, checking its schema and histograms.
    /// `source_name` (usually the file name) prefixes every error.
    pub fn from_json(text: &str, source_name: &str) -> Result<Report, Error> {
        let fail = |message: String| Error::Report {
            source_name: source_name.to_string(),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            fail(format!(
                "not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => return Err(fail(format!("schema is {other:?}; expected {SCHEMA:?}"))),
            None => {
                return Err(fail(format!(
                    "no \"schema\" key; expected a {SCHEMA} report from `ballast load --json`"
                )))
            }
        }
        let report: Report =
            serde_json::from_value(value).map_err(|e| fail(format!("invalid report: {e}")))?;
        if report.histogram_encoding != HISTOGRAM_ENCODING {
            return Err(fail(format!(
                "histogram_encoding is {:?}; expected {HISTOGRAM_ENCODING:?}",
                report.histogram_encoding
            )));
        }
        for (name, encoded) in [
            ("histogram", &report.histogram),
            ("service_histogram", &report.service_histogram),
            ("send_lag_histogram", &report.send_lag_histogram),
        ] {
            LatencyHistogram::decode(encoded).map_err(|e| fail(format!("{name}: {e}")))?;
        }
        for (name, p) in [
            ("latency_ms", &report.latency_ms),
            ("service_ms", &report.service_ms),
            ("send_lag_ms", &report.send_lag_ms),
        ] {
            let values = [p.p50, p.p90, p.p95, p.p99, p.p999, p.max, p.mean];
            if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(fail(format!(
                    "{name}: expected milliseconds ≥ 0, got {values:?}"
                )));
            }
        }
        if !report.duration_s.is_finite() || report.duration_s < 0.0 || !report.rps.is_finite() {
            return Err(fail("duration_s and rps must be finite and ≥ 0".into()));
        }
        for (i, point) in report.timeline.iter().enumerate() {
            LatencyHistogram::decode(&point.histogram)
                .map_err(|e| fail(format!("timeline[{i}].histogram: {e}")))?;
        }
        Ok(report)
    }

    /// The latency histogram (from due time).
    pub fn latency_histogram(&self) -> Result<LatencyHistogram, Error> {
        Ok(LatencyHistogram::decode(&self.histogram)?)
    }

    /// The service-time histogram.
    pub fn service_histogram(&self) -> Result<LatencyHistogram, Error> {
        Ok(LatencyHistogram::decode(&self.service_histogram)?)
    }

    /// Merges shard reports of one run exactly: counts add, histograms add, and every
    /// percentile is recomputed from the merged histograms.
    pub fn merge(reports: &[Report]) -> Result<Report, Error> {
        let fail = |message: String| Error::Report {
            source_name: "merge".into(),
            message,
        };
        let first = reports
            .first()
            .ok_or_else(|| fail("no reports to merge".into()))?;
        for r in reports {
            if r.mode != first.mode || r.url != first.url || r.method != first.method {
                return Err(fail(format!(
                    "reports differ in mode, URL or method ({:?} {} {} vs {:?} {} {}); merge only shards of one run",
                    first.mode, first.method, first.url, r.mode, r.method, r.url
                )));
            }
        }
        let mut latency = LatencyHistogram::new();
        let mut service = LatencyHistogram::new();
        let mut lag = LatencyHistogram::new();
        let mut status: BTreeMap<String, u64> = BTreeMap::new();
        let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
        let mut seconds: BTreeMap<u64, SecondSlice> = BTreeMap::new();
        let mut by_request: BTreeMap<String, EntryTotals> = BTreeMap::new();
        let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
        let (requests, responses, errors) =
            (sum(|r| r.requests), sum(|r| r.responses), sum(|r| r.errors));
        let failures = sum(|r| r.failures);
        let (late, dropped, reconnects, bytes) = (
            sum(|r| r.late),
            sum(|r| r.dropped),
            sum(|r| r.reconnects),
            sum(|r| r.bytes_received),
        );
        for r in reports {
            latency.add(&LatencyHistogram::decode(&r.histogram)?);
            service.add(&LatencyHistogram::decode(&r.service_histogram)?);
            lag.add(&LatencyHistogram::decode(&r.send_lag_histogram)?);
            for (k, v) in &r.status {
                *status.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &r.error_kinds {
                *error_kinds.entry(k.clone()).or_default() += v;
            }
            for p in &r.timeline {
                let entry = seconds.entry(p.t).or_insert_with(|| SecondSlice::new(p.t));
                entry.requests += p.requests;
                entry.errors += p.errors;
                entry.failures += p.failures;
                entry.status_5xx += p.status_5xx;
                entry.latency.add(&LatencyHistogram::decode(&p.histogram)?);
            }
            for (name, stats) in &r.by_request {
                let entry = by_request.entry(name.clone()).or_default();
                entry
                    .latency
                    .add(&LatencyHistogram::decode(&stats.histogram)?);
                entry.errors += stats.errors;
                entry.failures += stats.failures;
                for (code, n) in &stats.status {
                    let code: u16 = code.parse().map_err(|_| {
                        fail(format!(
                            "by_request.{name}.status: {code:?} is not a status code"
                        ))
                    })?;
                    *entry.status.entry(code).or_default() += n;
                }
            }
        }
        let duration_s = reports.iter().map(|r| r.duration_s).fold(0.0, f64::max);
        let target_rps = first
            .target_rps
            .map(|_| reports.iter().filter_map(|r| r.target_rps).sum());
        Ok(Report {
            schema: SCHEMA.into(),
            ballast_version: env!("CARGO_PKG_VERSION").into(),
            url: first.url.clone(),
            method: first.method.clone(),
            mode: first.mode,
            rate: first.rate.clone(),
            target_rps,
            concurrency: first
                .concurrency
                .map(|_| reports.iter().filter_map(|r| r.concurrency).sum()),
            connections: reports.iter().map(|r| r.connections).sum(),
            http2: first.http2,
            shard: None,
            shards_merged: reports.iter().map(|r| r.shards_merged).sum(),
            started_unix_ms: reports.iter().map(|r| r.started_unix_ms).min().unwrap_or(0),
            duration_s,
            interrupted: reports.iter().any(|r| r.interrupted),
            requests,
            responses,
            errors,
            failures,
            error_rate: ratio(failures, requests),
            rps: if duration_s > 0.0 {
                requests as f64 / duration_s
            } else {
                0.0
            },
            status,
            error_kinds,
            late,
            dropped,
            reconnects,
            bytes_received: bytes,
            latency_ms: Percentiles::of(&latency),
            service_ms: Percentiles::of(&service),
            send_lag_ms: Percentiles::of(&lag),
            histogram_encoding: HISTOGRAM_ENCODING.into(),
            histogram: latency.encode(),
            service_histogram: service.encode(),
            send_lag_histogram: lag.encode(),
            timeline: seconds.values().map(timeline_point).collect(),
            by_request: by_request
                .iter()
                .map(|(name, e)| (name.clone(), RequestStats::of(e)))
                .collect(),
        })
    }

    /// The table `ballast load` prints at the end.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let model = match (self.mode, &self.rate, self.concurrency) {
            (Mode::Open, Some(rate), _) => format!("open model, {rate}"),
            (_, _, Some(c)) => format!("closed model, {c} in flight"),
            _ => "open model".to_string(),
        };
        let _ = writeln!(
            out,
            "{} {}  ({model}, {} connections{})",
            self.method,
            self.url,
            self.connections,
            if self.http2 { ", HTTP/2" } else { "" }
        );
        if self.interrupted {
            let _ = writeln!(out, "  interrupted: the figures cover the part that ran");
        }
        let _ = write!(
            out,
            "  requests   {:>10}   in {:.2}s   {:.1} req/s",
            self.requests, self.duration_s, self.rps
        );
        if let Some(target) = self.target_rps {
            let off = if target > 0.0 {
                (self.rps / target - 1.0) * 100.0
            } else {
                0.0
            };
            let _ = write!(out, "   (target {target:.1}/s, {off:+.2}%)");
        }
        let _ = writeln!(out);
        let kinds: Vec<String> = self
            .error_kinds
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            out,
            "  errors     {:>10}   {}",
            self.errors,
            kinds.join(" · ")
        );
        if self.mode == Mode::Open {
            let _ = writeln!(
                out,
                "  schedule   late {} · dropped {} · send lag p99 {}",
                self.late,
                self.dropped,
                format_duration(millis(self.send_lag_ms.p99))
            );
        }
        let _ = writeln!(
            out,
            "  reconnects {:>10}   received {:.1} MiB",
            self.reconnects,
            self.bytes_received as f64 / 1048576.0
        );
        let statuses: Vec<String> = self
            .status
            .iter()
            .map(|(k, v)| format!("{k} × {v}"))
            .collect();
        let _ = writeln!(
            out,
            "  status     {}",
            if statuses.is_empty() {
                "none".into()
            } else {
                statuses.join(" · ")
            }
        );
        let _ = writeln!(
            out,
            "\n  {:<9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"
        );
        let label = if self.mode == Mode::Open {
            "corrected"
        } else {
            "total"
        };
        for (name, p) in [(label, &self.latency_ms), ("service", &self.service_ms)] {
            let f = |ms: f64| format_duration(millis(ms));
            let _ = writeln!(
                out,
                "  {:<9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
                name,
                f(p.p50),
                f(p.p90),
                f(p.p95),
                f(p.p99),
                f(p.p999),
                f(p.max),
                f(p.mean)
            );
        }
        for (name, r) in &self.by_request {
            let f = |ms: f64| format_duration(millis(ms));
            let _ = writeln!(
                out,
                "  {:<9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}   {} req, {:.2}% failed",
                truncate(name, 9),
                f(r.latency_ms.p50),
                f(r.latency_ms.p90),
                f(r.latency_ms.p95),
                f(r.latency_ms.p99),
                f(r.latency_ms.p999),
                f(r.latency_ms.max),
                f(r.latency_ms.mean),
                r.requests,
                r.error_rate * 100.0
            );
        }
        if self.late > 0 || self.dropped > 0 {
            let _ = writeln!(
                out,
                "\n  warning: the generator fell behind the schedule ({} late, {} dropped); \
                add --connections or machines (--shard), or lower --rate",
                self.late, self.dropped
            );
        }
        out
    }
}

fn truncate(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_string()
    } else {
        name.chars()
            .take(width - 1)
            .chain(std::iter::once('…'))
            .collect()
    }
}

/// Milliseconds (from a report, possibly edited by hand) as a duration, never panicking.
fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1e3).unwrap_or(if ms > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}
