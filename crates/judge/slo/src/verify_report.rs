//! `ballast slo report --from-verify`: how much error budget a verify run would have
//! spent, for the contract's own availability and latency SLOs.

use crate::budget::Budget;
use crate::model::{Sli, Slo};
use ballast_core::LatencyHistogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// A verify run's traffic in one phase, as its result file holds it (the CLI reads the
/// file; this crate only judges).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhaseTraffic {
    /// Phase name.
    pub name: String,
    /// Every request of the phase.
    pub all: Traffic,
    /// Each named request.
    pub by_request: BTreeMap<String, Traffic>,
}

/// Counts of one stream of requests.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Traffic {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (error or unexpected status).
    pub failures: u64,
    /// Requests that got no response.
    pub errors: u64,
    /// Latencies of the answered ones, in `ballast-core`'s portable encoding.
    pub histogram: String,
}

/// One SLO against a verify run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpend {
    /// SLO name.
    pub slo: String,
    /// Requests judged.
    pub total: u64,
    /// Bad requests (failed, or slower than the threshold).
    pub bad: u64,
    /// Bad ÷ total.
    pub error_ratio: f64,
    /// Error ratio ÷ allowed ratio.
    pub burn_rate: f64,
    /// Bad requests as a share of the budget the same number of requests allows.
    pub budget_consumed: f64,
    /// At this burn rate, hours until the window's budget is gone.
    pub exhausted_after_hours: Option<f64>,
}

/// Spend of each verify-measured SLO in `slos` over a run's phases.
pub fn spend(phases: &[PhaseTraffic], slos: &[Slo]) -> Result<Vec<RunSpend>, String> {
    let mut out = Vec::new();
    for slo in slos {
        let budget = Budget::new(slo.objective, slo.window)
            .ok_or_else(|| format!("{}: bad objective", slo.name))?;
        let (mut total, mut bad) = (0u64, 0u64);
        for phase in phases {
            let r = &phase.all;
            match &slo.sli {
                Sli::VerifyAvailability { request: None } => {
                    total += r.requests;
                    bad += r.failures;
                }
                Sli::VerifyAvailability {
                    request: Some(name),
                } => {
                    if let Some(s) = phase.by_request.get(name) {
                        total += s.requests;
                        bad += s.failures;
                    }
                }
                Sli::VerifyLatency { threshold, request } => {
                    let (histogram, requests, failures) = match request {
                        None => (&r.histogram, r.requests, r.errors),
                        Some(name) => match phase.by_request.get(name) {
                            Some(s) => (&s.histogram, s.requests, s.errors),
                            None => continue,
                        },
                    };
                    let h = LatencyHistogram::decode(histogram)
                        .map_err(|e| format!("phase {}: {e}", phase.name))?;
                    let fast = h.count_at_or_below(*threshold);
                    total += requests;
                    // Slow responses and requests that got no response at all are bad.
                    bad += (h.len() - fast) + failures.min(requests);
                }
                _ => continue,
            }
        }
        if !matches!(
            slo.sli,
            Sli::VerifyAvailability { .. } | Sli::VerifyLatency { .. }
        ) {
            continue;
        }
        let s = budget.spend(total as f64, bad as f64);
        out.push(RunSpend {
            slo: slo.name.clone(),
            total,
            bad,
            error_ratio: if total > 0 {
                bad as f64 / total as f64
            } else {
                0.0
            },
            burn_rate: s.burn_rate,
            budget_consumed: s.consumed,
            exhausted_after_hours: s.exhausted_after.map(|d| d.as_secs_f64() / 3600.0),
        });
    }
    Ok(out)
}
