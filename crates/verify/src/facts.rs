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
    /// Restarts verify made on purpose (a phase's `env`): from when the old process was
    /// stopped to when the new one was ready, seconds since the run started. A change of
    /// process across one is not a restart of the target's own.
    pub planned_restarts: Vec<(f64, f64)>,
    /// When verify supervised the watched process itself: the times it exited without
    /// verify asking, seconds since the run started. Restarts are then counted from these,
    /// exactly, not from once-a-second samples.
    pub exits: Option<Vec<f64>>,
    /// Profiles captured, by phase.
    pub profiles: BTreeMap<String, crate::profiles::PhaseProfiles>,
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
        // One scrape says nothing about change: a delta of 0 would be invented.
        if matches!(aggregate, Aggregate::Delta | Aggregate::Rate) && points.len() < 2 {
            return None;
        }
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

    /// The process samples that bound `window`: the last one taken at or before its
    /// start, those inside, and the first one at or after its end — so whatever happened
    /// in the window happened between two of them. `None` without a sample on each side
    /// (the watch did not cover the window).
    fn process_window(&self, window: (f64, f64)) -> Option<&[ProcessSample]> {
        let samples = &self.process;
        let from = samples.iter().rposition(|s| s.t <= window.0)?;
        let to = samples.iter().position(|s| s.t >= window.1)?;
        (from <= to).then(|| &samples[from..=to])
    }

    fn process(&self, window: (f64, f64), fact: ProcessFact) -> Option<f64> {
        let bounds = self.process_window(window)?;
        match fact {
            // Unreadable everywhere (the process never seen): no data.
            ProcessFact::RssMax => bounds
                .iter()
                .filter_map(|s| s.rss_bytes)
                .max()
                .map(|b| b as f64),
            ProcessFact::OomKills => {
                // The counter is cumulative: kills in the window are its rise across it.
                // Unreadable at either end, the rise is unknown — undecided, not 0.
                let (first, last) = (bounds.first()?.oom_kills?, bounds.last()?.oom_kills?);
                Some(last.saturating_sub(first) as f64)
            }
            ProcessFact::Restarts => {
                // Never seen in the window: nothing is known about its restarts.
                if !bounds.iter().any(|s| s.pid.is_some()) {
                    return None;
                }
                if let Some(exits) = &self.exits {
                    let (from, to) = (bounds.first()?.t, bounds.last()?.t);
                    return Some(exits.iter().filter(|&&t| t > from && t <= to).count() as f64);
                }
                let id = |s: &ProcessSample| s.pid.zip(s.started);
                let planned = |a: f64, b: f64| {
                    self.planned_restarts
                        .iter()
                        .any(|&(from, to)| b >= from && a <= to)
                };
                Some(
                    bounds
                        .windows(2)
                        .filter(|w| !planned(w[0].t, w[1].t))
                        .filter(|w| match (id(&w[0]), id(&w[1])) {
                            (Some(a), Some(b)) => a != b,
                            // It exited: a crash counts even when nothing restarts it.
                            (Some(_), None) => true,
                            _ => false,
                        })
                        .count() as f64,
                )
            }
        }
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
            FactKind::Profile { kind, stat } => self.profiles.get(phase?)?.value(*kind, stat),
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
                    FactKind::Metric { .. } | FactKind::Process(_) | FactKind::Profile { .. } => {
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_http::scrape::Series;

    fn at(t: f64, pid: Option<u32>, rss: Option<u64>, oom: Option<u64>) -> ProcessSample {
        ProcessSample {
            t,
            pid,
            started: pid.map(|p| u64::from(p) * 10),
            rss_bytes: rss,
            oom_kills: oom,
        }
    }

    fn data(process: Vec<ProcessSample>) -> RunData {
        RunData {
            process,
            ..RunData::default()
        }
    }

    #[test]
    fn oom_kills_rise_across_the_window_and_are_unknown_when_unreadable() {
        let d = data(vec![
            at(0.0, Some(7), Some(1), Some(0)),
            at(1.0, Some(7), Some(2), Some(0)),
            at(2.0, None, None, Some(1)),
            at(3.0, None, None, Some(1)),
        ]);
        assert_eq!(d.process((0.5, 2.5), ProcessFact::OomKills), Some(1.0));
        // The process is gone but its group still counts: the kill stays visible.
        assert_eq!(d.process((2.5, 2.9), ProcessFact::OomKills), Some(0.0));
        let unreadable = data(vec![
            at(0.0, Some(7), Some(1), None),
            at(3.0, Some(7), Some(1), None),
        ]);
        assert_eq!(unreadable.process((1.0, 2.0), ProcessFact::OomKills), None);
        let lost_at_the_end = data(vec![
            at(0.0, Some(7), Some(1), Some(0)),
            at(3.0, None, None, None),
        ]);
        assert_eq!(
            lost_at_the_end.process((1.0, 2.0), ProcessFact::OomKills),
            None
        );
        // No sample after the window: it was not covered.
        assert_eq!(d.process((2.5, 9.0), ProcessFact::OomKills), None);
    }

    #[test]
    fn restarts_need_the_process_seen_and_count_exits_and_new_identities() {
        let d = data(vec![
            at(0.0, Some(7), Some(1), None),
            at(1.0, Some(7), Some(1), None),
            at(2.0, None, None, None),
            at(3.0, Some(9), Some(1), None),
            at(4.0, Some(11), Some(1), None),
        ]);
        assert_eq!(d.process((0.5, 3.0), ProcessFact::Restarts), Some(1.0));
        assert_eq!(d.process((0.5, 4.0), ProcessFact::Restarts), Some(2.0));
        assert_eq!(d.process((0.0, 1.0), ProcessFact::Restarts), Some(0.0));
        // The same pid with a new start time is a new process.
        let reused = data(vec![
            at(0.0, Some(7), Some(1), None),
            ProcessSample {
                started: Some(1),
                ..at(1.0, Some(7), Some(1), None)
            },
        ]);
        assert_eq!(reused.process((0.0, 1.0), ProcessFact::Restarts), Some(1.0));
        let never_seen = data(vec![at(0.0, None, None, None), at(1.0, None, None, None)]);
        assert_eq!(never_seen.process((0.0, 1.0), ProcessFact::Restarts), None);
        // A restart verify made for a phase's env (from 1.5 s to 2.8 s) is not the
        // target's; the later change of pid is.
        let mut planned = d;
        planned.planned_restarts = vec![(1.5, 2.8)];
        assert_eq!(
            planned.process((0.5, 4.0), ProcessFact::Restarts),
            Some(1.0)
        );
        assert_eq!(
            planned.process((0.5, 3.0), ProcessFact::Restarts),
            Some(0.0)
        );
        assert_eq!(never_seen.process((0.0, 1.0), ProcessFact::RssMax), None);
    }

    #[test]
    fn rss_max_is_over_the_bounding_samples() {
        let d = data(vec![
            at(0.0, Some(7), Some(10), None),
            at(1.0, Some(7), Some(50), None),
            at(2.0, Some(7), Some(20), None),
            at(3.0, Some(7), Some(90), None),
        ]);
        assert_eq!(d.process((0.5, 1.5), ProcessFact::RssMax), Some(50.0));
    }

    #[test]
    fn a_delta_from_one_scrape_is_unknown() {
        let scrape = |t: f64, v: f64| Sample {
            t,
            series: vec![Series {
                name: "x_total".into(),
                labels: vec![],
                value: v,
            }],
        };
        let mut d = RunData {
            samples: vec![scrape(1.0, 5.0)],
            ..RunData::default()
        };
        assert_eq!(d.metric((0.0, 2.0), "x_total", &[], Aggregate::Delta), None);
        assert_eq!(
            d.metric((0.0, 2.0), "x_total", &[], Aggregate::Last),
            Some(5.0)
        );
        d.samples.push(scrape(2.0, 8.0));
        assert_eq!(
            d.metric((0.0, 2.0), "x_total", &[], Aggregate::Delta),
            Some(3.0)
        );
    }
}
