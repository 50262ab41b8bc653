//! `abort_when`: the steady state of a chaos phase, judged on each completed second of
//! live measurements; broken for long enough, it stops the experiment.

use ballast_contract::expr::{Aggregate, Fact, FactKind, Facts, LatencyStat};
use ballast_contract::AbortPlan;
use ballast_http::scrape::Scraper;
use ballast_load::Progress;
use std::cell::RefCell;
use tokio::sync::watch;

/// Watches one phase.
pub(crate) struct AbortWatch<'a> {
    plan: &'a AbortPlan,
    phase: &'a str,
    scraper: Option<&'a Scraper>,
    state: RefCell<State>,
    trigger: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    last_elapsed: std::time::Duration,
    last_second: u64,
    broken_for: u64,
    reason: Option<String>,
}

/// The last second's figures as clause facts.
struct Live<'a> {
    progress: &'a Progress,
    scraper: Option<&'a Scraper>,
}

impl Facts for Live<'_> {
    fn value(&self, fact: &Fact, _phase: Option<&str>) -> Option<f64> {
        let p = self.progress;
        match &fact.kind {
            FactKind::Latency(LatencyStat::Quantile(_)) => {
                (p.last_second_requests > 0).then_some(p.last_second_p99.as_secs_f64() * 1000.0)
            }
            FactKind::Rps | FactKind::Requests => Some(p.last_second_requests as f64),
            FactKind::Errors => Some(p.last_second_failures as f64),
            FactKind::ErrorRate => (p.last_second_requests > 0)
                .then(|| p.last_second_failures as f64 / p.last_second_requests as f64),
            FactKind::Metric {
                name,
                labels,
                aggregate,
            } => {
                let samples = self.scraper?.samples();
                let sum = |i: usize| -> Option<(f64, f64)> {
                    let s = samples.get(i)?;
                    let values: Vec<f64> = s
                        .series
                        .iter()
                        .filter(|x| {
                            &x.name == name
                                && labels
                                    .iter()
                                    .all(|(k, v)| x.labels.iter().any(|(a, b)| a == k && b == v))
                        })
                        .map(|x| x.value)
                        .collect();
                    (!values.is_empty()).then(|| (s.t, values.iter().sum()))
                };
                let n = samples.len();
                let last = sum(n.checked_sub(1)?)?;
                match aggregate {
                    Aggregate::Last => Some(last.1),
                    Aggregate::Rate => {
                        let before = sum(n.checked_sub(2)?)?;
                        (last.0 > before.0)
                            .then(|| (last.1 - before.1).max(0.0) / (last.0 - before.0))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl<'a> AbortWatch<'a> {
    pub(crate) fn new(
        plan: &'a AbortPlan,
        phase: &'a str,
        scraper: Option<&'a Scraper>,
    ) -> (Self, watch::Receiver<bool>) {
        let (trigger, rx) = watch::channel(false);
        (
            AbortWatch {
                plan,
                phase,
                scraper,
                state: RefCell::new(State::default()),
                trigger,
            },
            rx,
        )
    }

    /// Called on every progress report; judges each second once, when it is complete.
    pub(crate) fn observe(&self, progress: &Progress) {
        let second = progress.elapsed.as_secs();
        let mut state = self.state.borrow_mut();
        // A new run (the warm-up, then the judged part) starts its clock again.
        if progress.elapsed < state.last_elapsed {
            state.last_second = 0;
        }
        state.last_elapsed = progress.elapsed;
        // Each second is judged half a second after it ended, when the requests that were
        // still in flight at its end have reported.
        if second == 0
            || second == state.last_second
            || progress.elapsed.subsec_millis() < 500
            || state.reason.is_some()
        {
            return;
        }
        state.last_second = second;
        let evaluation = self.plan.expr.evaluate(
            &Live {
                progress,
                scraper: self.scraper,
            },
            None,
        );
        match evaluation.holds {
            Some(true) => state.broken_for = 0,
            Some(false) => state.broken_for += 1,
            None => {}
        }
        if state.broken_for >= self.plan.after.as_secs().max(1) {
            let observed: Vec<String> = evaluation
                .observed
                .iter()
                .map(|o| format!("{} = {}", o.fact, o.display()))
                .collect();
            state.reason = Some(format!(
                "phase {}: steady state `{}` broken for {}s ({}); faults removed and the run stopped",
                self.phase,
                self.plan.check,
                state.broken_for,
                observed.join(", ")
            ));
            let _ = self.trigger.send(true);
        }
    }

    /// Why it aborted, if it did.
    pub(crate) fn reason(&self) -> Option<String> {
        self.state.borrow().reason.clone()
    }
}
