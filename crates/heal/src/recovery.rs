//! Verified recovery: after an action, the SLI is read from Prometheus every `interval`
//! until it is good for `consecutive` readings in a row (recovered) or the deadline
//! passes (not recovered). A reading that cannot be taken — the server down, no data —
//! is not good: recovery is shown, never assumed.

use ballast_heal_policy::VerifyPlan;
use ballast_http::PromClient;
use std::time::Duration;
use tokio::time::Instant;

/// The end of a check: recovered or not, and the readings that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Whether the SLI came back.
    pub recovered: bool,
    /// What was read (the last few readings and the outcome), for the audit log.
    pub detail: String,
    /// Seconds from the start of the check to the first of the good readings.
    pub back_after_s: Option<f64>,
}

/// Reads `plan.query` until it holds or the deadline passes.
pub async fn check(prometheus: &PromClient, plan: &VerifyPlan) -> Check {
    let start = Instant::now();
    let deadline = start + plan.deadline;
    let mut good_in_a_row = 0u32;
    let mut first_good: Option<f64> = None;
    let mut readings: Vec<String> = Vec::new();
    let bound = format!("{} {}", if plan.below { "<" } else { ">" }, plan.bound);
    loop {
        let reading = read(prometheus, plan).await;
        let at = start.elapsed().as_secs_f64();
        let good = matches!(reading, Ok(v) if plan.good(v));
        readings.push(match &reading {
            Ok(v) => format!("{at:.1}s {v:.6}{}", if good { " good" } else { "" }),
            Err(e) => format!("{at:.1}s no reading ({e})"),
        });
        if readings.len() > 6 {
            readings.remove(0);
        }
        if good {
            good_in_a_row += 1;
            first_good.get_or_insert(at);
        } else {
            good_in_a_row = 0;
            first_good = None;
        }
        if good_in_a_row >= plan.consecutive {
            return Check {
                recovered: true,
                detail: format!(
                    "{} {bound} for {} readings: {}",
                    plan.origin,
                    plan.consecutive,
                    readings.join("; ")
                ),
                back_after_s: first_good,
            };
        }
        let next = Instant::now() + plan.interval;
        if next > deadline {
            return Check {
                recovered: false,
                detail: format!(
                    "{} not {bound} within {}: {}",
                    plan.origin,
                    ballast_core::format_duration(plan.deadline),
                    readings.join("; ")
                ),
                back_after_s: None,
            };
        }
        tokio::time::sleep_until(next).await;
    }
}

async fn read(prometheus: &PromClient, plan: &VerifyPlan) -> Result<f64, String> {
    let values = tokio::time::timeout(Duration::from_secs(30), prometheus.query(&plan.query, None))
        .await
        .map_err(|_| "the query took over 30s".to_string())?
        .map_err(|e| e.to_string())?;
    // Several series: the worst one decides.
    let worst = values
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| !v.is_nan())
        .reduce(|a, b| if plan.below { a.max(b) } else { a.min(b) });
    worst.ok_or_else(|| "no data".to_string())
}
