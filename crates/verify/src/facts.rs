//! What clauses are evaluated against: the phases' load reports, the target's scraped
//! metrics and the watched process, each cut to the window of the phase asked about.

use crate::process::ProcessSample;
use ballast_contract::expr::{
    Aggregate, Fact, FactKind, Facts, LatencyStat, ProcessFact, StatusSel,
};
use ballast_core::LatencyHistogram;
use ballast_http::scrape::Sample;
use ballast_load::Report;
use std::collections::BTreeMap;

/// One judged phase: its load report and when it ran.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    /// Phase name.
    pub name: String,
    /// The judged part's report (warm-up excluded).
    pub report: Report,
    /// Seconds since the run started: judged part's start and end.
    pub window: (f64, f64),
}

/// Everything measured in a run.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// Phases that ran, in order.
    pub phases: Vec<PhaseResult>,
    /// Metric scrapes.
    pub samples: Vec<Sample>,
    /// Process observations.
    pub process: Vec<ProcessSample>,
}

struct Traffic {
    latency: LatencyHistogram,
    requests: u64,
    failures: u64,
    status: BTreeMap<u16, u64>,
    seconds: f64,
}

impl RunData {
    fn phases_for(&self, phase: Option<&str>) -> Option<Vec<&PhaseResult>> {
        match phase {
            Some(name) => self.phases.iter().find(|p| p.name == name).map(|p| vec![p]),
            None if self.phases.is_empty() => None,
            None => Some(self.phases.iter().collect()),
        }
    }

    fn window(&self, phase: Option<&str>) -> Option<(f64, f64)> {
        let phases = self.phases_for(phase)?;
        Some((phases.first()?.window.0, phases.last()?.window.1))
    }

    fn traffic(&self, phase: Option<&str>, request: Option<&str>) -> Option<Traffic> {
        let mut t = Traffic {
            latency: LatencyHistogram::new(),
            requests: 0,
            failures: 0,
            status: BTreeMap::new(),
            seconds: 0.0,
        };
        for p in self.phases_for(phase)? {
            t.seconds += p.report.duration_s;
            let (histogram, requests, failures, status) = match request {
                None => (
                    &p.report.histogram,
                    p.report.requests,
                    p.report.failures,
                    &p.report.status,
                ),
                Some(name) => {
                    let r = p.report.by_request.get(name)?;
                    (&r.histogram, r.requests, r.failures, &r.status)
                }
            };
            t.latency.add(&LatencyHistogram::decode(histogram).ok()?);
            t.requests += requests;
            t.failures += failures;
            for (code, n) in status {
                if let Ok(code) = code.parse::<u16>() {
                    *t.status.entry(code).or_default() += n;
                }
            }
        }
        Some(t)
    }

    fn metric(
        &self,
        window: (f64, f64),
        name: &str,
        labels: &[(String, String)],
        aggregate: Aggregate,
    ) -> Option<f64> {
        // Boundary scrapes are taken right at phase edges; a little slack keeps them in.
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.t >= window.0 - 0.25 && s.t <= window.1 + 0.25)
            .filter_map(|s| {
                let matching: Vec<f64> = s
                    .series
                    .iter()
                    .filter(|series| {
                        series.name == name
                            && labels.iter().all(|(k, v)| {
                                series.labels.iter().any(|(sk, sv)| sk == k && sv == v)
                            })
                    })
                    .map(|series| series.value)
                    .collect();
                (!matching.is_empty()).then(|| (s.t, matching.iter().sum()))
            })
            .collect();
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        let (first, last) = (points.first()?, points.last()?);
        Some(match aggregate {
            Aggregate::Delta | Aggregate::Rate => {
                // Counters only grow; a drop is a restart of the target, counted from zero.
                let delta: f64 = values
                    .windows(2)
                    .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] })
                    .sum();
                if aggregate == Aggregate::Rate {
                    let span = last.0 - first.0;
                    if span <= 0.0 {
                        return None;
                    }
                    delta / span
                } else {
                    delta
                }
            }
            Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregate::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Aggregate::Last => last.1,
        })
    }

    fn process(&self, window: (f64, f64), fact: ProcessFact) -> Option<f64> {
        let inside: Vec<&ProcessSample> = self
            .process
            .iter()
            .filter(|s| s.t >= window.0 - 1.0 && s.t <= window.1 + 1.0)
            .collect();
        if inside.is_empty() {
            return None;
        }
        Some(match fact {
            ProcessFact::RssMax => inside.iter().filter_map(|s| s.rss_bytes).max()? as f64,
            ProcessFact::OomKills => {
                let counts: Vec<u64> = inside.iter().filter_map(|s| s.oom_kills).collect();
                match (counts.first(), counts.last()) {
                    (Some(a), Some(b)) => b.saturating_sub(*a) as f64,
                    // No readable cgroup counter: an OOM kill shows up as the process dying.
                    _ => 0.0,
                }
            }
            ProcessFact::Restarts => inside
                .windows(2)
                .filter(|w| match (w[0].pid, w[1].pid) {
                    (Some(a), Some(b)) => a != b,
                    (Some(_), None) => true,
                    _ => false,
                })
                .count() as f64,
        })
    }
}

impl Facts for RunData {
    fn value(&self, fact: &Fact, phase: Option<&str>) -> Option<f64> {
        let phase = fact.scope.phase.as_deref().or(phase);
        let request = fact.scope.request.as_deref();
        match &fact.kind {
            FactKind::Metric {
                name,
                labels,
                aggregate,
            } => self.metric(self.window(phase)?, name, labels, *aggregate),
            FactKind::Process(p) => self.process(self.window(phase)?, *p),
            kind => {
                let t = self.traffic(phase, request)?;
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
                let has_latency = !t.latency.is_empty();
                match kind {
                    FactKind::Latency(_) if !has_latency => None,
                    FactKind::Latency(LatencyStat::Quantile(q)) => Some(ms(t.latency.quantile(*q))),
                    FactKind::Latency(LatencyStat::Min) => Some(ms(t.latency.min())),
                    FactKind::Latency(LatencyStat::Max) => Some(ms(t.latency.max())),
                    FactKind::Latency(LatencyStat::Mean) => Some(ms(t.latency.mean())),
                    FactKind::Rps => (t.seconds > 0.0).then(|| t.requests as f64 / t.seconds),
                    FactKind::ErrorRate => {
                        (t.requests > 0).then(|| t.failures as f64 / t.requests as f64)
                    }
                    FactKind::Requests => Some(t.requests as f64),
                    FactKind::Errors => Some(t.failures as f64),
                    FactKind::Status(StatusSel::Code(code)) => {
                        Some(t.status.get(code).copied().unwrap_or(0) as f64)
                    }
                    FactKind::Status(StatusSel::Class(class)) => Some(
                        t.status
                            .iter()
                            .filter(|(code, _)| **code / 100 == *class)
                            .map(|(_, n)| *n)
                            .sum::<u64>() as f64,
                    ),
                    FactKind::Metric { .. } | FactKind::Process(_) => None,
                }
            }
        }
    }
}
