//! `ballast slo status`: an SLO's state now, from a live Prometheus or VictoriaMetrics
//! (any server with Prometheus' HTTP query API). The error ratios are queried directly,
//! so the status does not depend on the recording rules being loaded.

use crate::budget::Budget;
use crate::model::Slo;
use crate::promql::{error_ratio, url_encode, window};
use crate::Error;
use serde::Serialize;

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

/// Queries `server` (e.g. `http://127.0.0.1:9090`) for each SLO.
pub async fn status(server: &str, slos: &[Slo]) -> Result<Vec<Status>, Error> {
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
        let mut burn = Vec::new();
        for w in slo.alert_windows() {
            let ratio = query_scalar(server, &error_ratio(&slo.sli, w).unwrap_or_default()).await?;
            burn.push(WindowBurn {
                window: window(w),
                error_ratio: ratio,
                burn_rate: ratio.map(|r| budget.burn_rate(r)),
            });
        }
        let period = query_scalar(
            server,
            &error_ratio(&slo.sli, slo.window).unwrap_or_default(),
        )
        .await?;
        let rate_of = |w: std::time::Duration| {
            burn.iter()
                .find(|b| b.window == window(w))
                .and_then(|b| b.burn_rate)
        };
        let mut firing = Vec::new();
        for (severity, pairs) in [
            ("page", &slo.alerting.page),
            ("ticket", &slo.alerting.ticket),
        ] {
            let fires = pairs.iter().any(|p| {
                matches!((rate_of(p.long), rate_of(p.short)), (Some(l), Some(s)) if l > p.factor && s > p.factor)
            });
            if fires {
                firing.push(severity.to_string());
            }
        }
        let consumed = period.map(|r| budget.burn_rate(r));
        out.push(Status {
            service: slo.service.clone(),
            slo: slo.name.clone(),
            objective: slo.objective,
            window: window(slo.window),
            sli: period.map(|r| 1.0 - r),
            budget_consumed: consumed,
            budget_remaining: consumed.map(|c| 1.0 - c),
            burn,
            firing,
        });
    }
    Ok(out)
}

/// Runs an instant query and returns the single value (`None` for an empty or NaN result).
pub async fn query_scalar(server: &str, promql: &str) -> Result<Option<f64>, Error> {
    let url = format!(
        "{}/api/v1/query?query={}",
        server.trim_end_matches('/'),
        url_encode(promql)
    );
    let body = ballast_verify::scrape::fetch(&url)
        .await
        .map_err(|e| Error::Query(e.to_string()))?;
    parse_query_response(&body).map_err(|e| Error::Query(format!("{server}: {e}")))
}

/// Reads an instant-query response: `{"status":"success","data":{"resultType":"vector",
/// "result":[{"value":[t,"0.01"]}]}}` (or a scalar).
pub fn parse_query_response(body: &str) -> Result<Option<f64>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("status").and_then(|s| s.as_str()) != Some("success") {
        return Err(format!(
            "query failed: {}",
            v.get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("no error message")
        ));
    }
    let data = v.get("data").ok_or("no data in the response")?;
    let value = match data.get("resultType").and_then(|t| t.as_str()) {
        Some("vector") => {
            let results = data
                .get("result")
                .and_then(|r| r.as_array())
                .ok_or("vector without results")?;
            if results.len() > 1 {
                return Err(format!(
                    "expected one series, got {}; aggregate the SLI queries with sum()",
                    results.len()
                ));
            }
            match results.first() {
                None => return Ok(None),
                Some(r) => r.get("value").cloned().ok_or("a series without a value")?,
            }
        }
        Some("scalar") => data
            .get("result")
            .cloned()
            .ok_or("scalar without a value")?,
        other => return Err(format!("unexpected result type {other:?}")),
    };
    let text = value
        .get(1)
        .and_then(|v| v.as_str())
        .ok_or("expected [time, \"value\"]")?;
    let number: f64 = text
        .parse()
        .map_err(|_| format!("not a number: {text:?}"))?;
    Ok(number.is_finite().then_some(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_recorded_responses() {
        let ok = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.0125"]}]}}"#;
        assert_eq!(parse_query_response(ok), Ok(Some(0.0125)));
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(parse_query_response(empty), Ok(None));
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert_eq!(parse_query_response(nan), Ok(None));
        let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert!(parse_query_response(bad)
            .unwrap_err()
            .contains("parse error at char 5"));
        let many = r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}}"#;
        assert!(parse_query_response(many).unwrap_err().contains("sum()"));
    }
}
