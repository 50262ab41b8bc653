//! `ballast slo status`: an SLO's state now, from a live Prometheus or VictoriaMetrics
//! (any server with Prometheus' HTTP query API), handed in as a [`SeriesSource`]. The
//! error ratios are queried directly, so the status does not depend on the recording
//! rules being loaded.

use crate::budget::Budget;
use crate::model::Slo;
use crate::promql::{error_ratio, window};
use crate::Error;
use ballast_core::SeriesSource;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One window's burn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowBurn {
    /// The window, Prometheus notation.
    pub window: String,
    /// Error ratio over it (`None`: no data yet).
    pub error_ratio: Option<f64>,
    /// Error ratio ÷ allowed ratio.
    pub burn_rate: Option<f64>,
}

/// An SLO's live state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Service.
    pub service: String,
    /// SLO name.
    pub slo: String,
    /// The group's labels when the SLI keeps several series (Pyrra's `grouping`, a
    /// `sum by (…)` query), e.g. `{route="/cart"}`; empty for one series.
    pub group: String,
    /// Objective, 0..1.
    pub objective: f64,
    /// Window, Prometheus notation.
    pub window: String,
    /// Good share over the window (as much of it as the server holds).
    pub sli: Option<f64>,
    /// Share of the error budget spent over the window.
    pub budget_consumed: Option<f64>,
    /// 1 − consumed.
    pub budget_remaining: Option<f64>,
    /// Every alert window.
    pub burn: Vec<WindowBurn>,
    /// Alerts whose condition holds now (`page`, `ticket`).
    pub firing: Vec<String>,
}

/// Queries `server` for each SLO.
pub async fn status(server: &dyn SeriesSource, slos: &[Slo]) -> Result<Vec<Status>, Error> {
    let mut out = Vec::new();
    for slo in slos {
        let Some(budget) = Budget::new(slo.objective, slo.window) else {
            return Err(Error::Unsupported(format!(
                "{}: objective must be between 0 and 1",
                slo.origin
            )));
        };
        if error_ratio(&slo.sli, slo.window).is_none() {
            return Err(Error::Unsupported(format!(
                "{}: SLO {:?} is measured by `ballast verify`; `slo status` needs a ratio SLI with PromQL queries",
                slo.origin, slo.name
            )));
        }
        // Every window's ratio for every group the queries return.
        let mut windows = slo.alert_windows();
        windows.push(slo.window);
        let mut ratios: BTreeMap<String, BTreeMap<Duration, f64>> = BTreeMap::new();
        for &w in &windows {
            let query = error_ratio(&slo.sli, w).unwrap_or_default();
            for (labels, value) in server.instant(&query).await? {
                if value.is_finite() {
                    ratios.entry(labels).or_default().insert(w, value);
                }
            }
        }
        if ratios.is_empty() {
            // No data yet: one status saying so.
            ratios.insert(String::new(), BTreeMap::new());
        }
        let grouped = ratios.len() > 1;
        for (labels, by_window) in ratios {
            let burn: Vec<WindowBurn> = slo
                .alert_windows()
                .into_iter()
                .map(|w| {
                    let ratio = by_window.get(&w).copied();
                    WindowBurn {
                        window: window(w),
                        error_ratio: ratio,
                        burn_rate: ratio.map(|r| budget.burn_rate(r)),
                    }
                })
                .collect();
            let rate_of = |w: Duration| by_window.get(&w).map(|r| budget.burn_rate(*r));
            let mut firing = Vec::new();
            for (severity, pairs, disabled) in [
                ("page", &slo.alerting.page, slo.alerting.page_disabled),
                ("ticket", &slo.alerting.ticket, slo.alerting.ticket_disabled),
            ] {
                let fires = pairs.iter().any(|p| {
                    matches!((rate_of(p.long), rate_of(p.short)), (Some(l), Some(s)) if l > p.factor && s > p.factor)
                });
                // A disabled alert is not written, so it cannot fire.
                if fires && !disabled {
                    firing.push(severity.to_string());
                }
            }
            let period = by_window.get(&slo.window).copied();
            let consumed = period.map(|r| budget.burn_rate(r));
            out.push(Status {
                service: slo.service.clone(),
                slo: slo.name.clone(),
                group: if grouped || labels != "{}" {
                    labels
                } else {
                    String::new()
                },
                objective: slo.objective,
                window: window(slo.window),
                sli: period.map(|r| 1.0 - r),
                budget_consumed: consumed,
                budget_remaining: consumed.map(|c| 1.0 - c),
                burn,
                firing,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_core::source::{SourceError, SourceFuture};
    use ballast_core::Series;

    type Answer = Result<Vec<(String, f64)>, SourceError>;

    /// Answers instant queries from a table, as a server would have.
    struct Recorded(Vec<(&'static str, Answer)>);

    impl SeriesSource for Recorded {
        fn now(&self) -> SourceFuture<'_, f64> {
            Box::pin(async { Ok(0.0) })
        }
        fn instant<'a>(&'a self, query: &'a str) -> SourceFuture<'a, Vec<(String, f64)>> {
            let answer = self
                .0
                .iter()
                .find(|(q, _)| *q == query)
                .map(|(_, a)| a.clone())
                .unwrap_or(Ok(Vec::new()));
            Box::pin(async move { answer })
        }
        fn query_range<'a>(
            &'a self,
            _: &'a str,
            _: f64,
            _: f64,
            _: std::time::Duration,
        ) -> SourceFuture<'a, Vec<Series>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    #[tokio::test]
    async fn one_status_per_group_and_disabled_alerts_never_fire() {
        let text = r#"
version: prometheus/v1
service: shop
slos:
  - name: errors
    objective: 99
    sli:
      events:
        error_query: sum by (route) (rate(errors_total[{{.window}}]))
        total_query: sum by (route) (rate(requests_total[{{.window}}]))
    alerting:
      name: ShopErrors
      ticket_alert: { disable: true }
"#;
        let slos = crate::load_str(text, "shop.yaml", ".".as_ref()).unwrap();
        // /cart fails 50 % in every window (burn 50), /pay 0.1 % (burn 0.1).
        let mut answers = Vec::new();
        for w in slos[0].alert_windows().into_iter().chain([slos[0].window]) {
            let q = error_ratio(&slos[0].sli, w).unwrap();
            let q: &'static str = Box::leak(q.into_boxed_str());
            answers.push((
                q,
                Ok(vec![
                    ("{route=\"/cart\"}".to_string(), 0.5),
                    ("{route=\"/pay\"}".to_string(), 0.001),
                ]),
            ));
        }
        let statuses = status(&Recorded(answers), &slos).await.unwrap();
        assert_eq!(statuses.len(), 2);
        let cart = statuses.iter().find(|s| s.group.contains("/cart")).unwrap();
        let pay = statuses.iter().find(|s| s.group.contains("/pay")).unwrap();
        assert_eq!(
            cart.firing,
            vec!["page".to_string()],
            "the ticket is disabled"
        );
        assert!(pay.firing.is_empty());
        assert!((cart.sli.unwrap() - 0.5).abs() < 1e-12);
        assert!((pay.burn[0].burn_rate.unwrap() - 0.1).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_query_the_server_refuses_is_an_error_naming_why() {
        let slos = crate::load_str(
            "version: prometheus/v1\nservice: shop\nslos:\n  - name: a\n    objective: 99\n    sli: { events: { error_query: errors_total, total_query: requests_total } }\n    alerting: { name: A }\n",
            "shop.yaml",
            ".".as_ref(),
        )
        .unwrap();
        let q = error_ratio(&slos[0].sli, slos[0].alert_windows()[0]).unwrap();
        let q: &'static str = Box::leak(q.into_boxed_str());
        let source = Recorded(vec![(
            q,
            Err(SourceError::Input("parse error at char 5".into())),
        )]);
        let e = status(&source, &slos).await.unwrap_err().to_string();
        assert!(e.contains("parse error at char 5"), "{e}");
        // No data at all: one status that says so, not an error.
        let none = status(&Recorded(Vec::new()), &slos).await.unwrap();
        assert_eq!(none.len(), 1);
        assert!(none[0].sli.is_none() && none[0].firing.is_empty());
    }
}
