//! Sloth's alert-window files (`apiVersion: sloth.slok.dev/v1`, `kind: AlertWindows`): the
//! page and ticket window pairs and budget shares for one SLO period, e.g. Sloth's
//! `examples/windows/7d.yaml`. Read strictly, like every other spec.

use super::*;
use crate::model::BurnWindow;

/// The alert windows for SLOs of one period.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertWindows {
    /// The SLO period these windows are for.
    pub period: Duration,
    /// Page pairs: quick, then slow.
    pub page: Vec<BurnWindow>,
    /// Ticket pairs: quick, then slow.
    pub ticket: Vec<BurnWindow>,
    /// Where they were read (`file:line`).
    pub origin: String,
}

/// Reads every `AlertWindows` document of `path`.
pub fn load_alert_windows(path: &Path) -> Result<Vec<AlertWindows>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    alert_windows_str(&text, &path.display().to_string())
}

/// Reads every `AlertWindows` document of `text`; `file` names it in messages.
pub fn alert_windows_str(text: &str, file: &str) -> Result<Vec<AlertWindows>, Error> {
    let docs = yaml::parse_documents(text)
        .map_err(|e| Error::Invalid(vec![Diagnostic::syntax(file, &e)]))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for node in &docs {
        let v = node.to_json();
        if v.is_null() {
            continue;
        }
        let mut r = Reader::new(file, node);
        if let Some(w) = document(&mut r, &v) {
            out.push(w);
        }
        problems.extend(r.problems);
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    if out.is_empty() {
        return Err(Error::Invalid(vec![Diagnostic {
            file: file.into(),
            line: 1,
            column: 1,
            path: String::new(),
            message: "no AlertWindows document in the file".into(),
        }]));
    }
    Ok(out)
}

fn document(r: &mut Reader<'_>, v: &Value) -> Option<AlertWindows> {
    r.known_keys(v, "", &["apiVersion", "kind", "spec"]);
    if v.get("apiVersion").and_then(Value::as_str) != Some("sloth.slok.dev/v1") {
        r.error(
            "apiVersion",
            format!(
                "expected sloth.slok.dev/v1, got {}",
                found(v.get("apiVersion"))
            ),
        );
    }
    if v.get("kind").and_then(Value::as_str) != Some("AlertWindows") {
        r.error(
            "kind",
            format!("expected AlertWindows, got {}", found(v.get("kind"))),
        );
    }
    let spec = mapping(r, v, "", "spec")?;
    r.known_keys(spec, "spec", &["sloPeriod", "page", "ticket"]);
    let period = duration(r, spec, "spec", "sloPeriod");
    let page = severity(r, spec, "page", period);
    let ticket = severity(r, spec, "ticket", period);
    Some(AlertWindows {
        period: period?,
        page: page?,
        ticket: ticket?,
        origin: format!("{}:{}", r.file, r.root.locate("spec").line),
    })
}

fn duration(r: &mut Reader<'_>, v: &Value, path: &str, field: &str) -> Option<Duration> {
    let text = r.text(v, path, field)?;
    match window(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            r.error(&join(path, field), e);
            None
        }
    }
}

/// `page` or `ticket`: its `quick` and `slow` pairs.
fn severity(
    r: &mut Reader<'_>,
    spec: &Value,
    which: &str,
    period: Option<Duration>,
) -> Option<Vec<BurnWindow>> {
    let path = join("spec", which);
    let v = mapping(r, spec, "spec", which)?;
    r.known_keys(v, &path, &["quick", "slow"]);
    let quick = pair(r, v, &path, "quick", period);
    let slow = pair(r, v, &path, "slow", period);
    Some(vec![quick?, slow?])
}

fn pair(
    r: &mut Reader<'_>,
    v: &Value,
    base: &str,
    which: &str,
    period: Option<Duration>,
) -> Option<BurnWindow> {
    let path = join(base, which);
    let p = mapping(r, v, base, which)?;
    r.known_keys(
        p,
        &path,
        &["errorBudgetPercent", "shortWindow", "longWindow"],
    );
    let share = match p.get("errorBudgetPercent").and_then(Value::as_f64) {
        Some(x) if x > 0.0 && x <= 100.0 => Some(x / 100.0),
        _ => {
            r.error(
                &join(&path, "errorBudgetPercent"),
                "expected the share of the error budget in percent, above 0 and at most 100",
            );
            None
        }
    };
    let short = duration(r, p, &path, "shortWindow");
    let long = duration(r, p, &path, "longWindow");
    let (share, short, long, period) = (share?, short?, long?, period?);
    if short >= long {
        r.error(
            &join(&path, "shortWindow"),
            "the short window must be shorter than the long window",
        );
        return None;
    }
    if long > period {
        r.error(
            &join(&path, "longWindow"),
            "the long window cannot be longer than the SLO period",
        );
        return None;
    }
    Some(BurnWindow {
        long,
        short,
        factor: share * period.as_secs_f64() / long.as_secs_f64(),
    })
}

/// Sets the period of every SLO whose spec gave none to `default_period` (when given),
/// then the alert windows of every SLO whose period one of `windows` is for (the last one
/// given wins). Other SLOs keep the workbook's budget shares scaled to their period.
pub fn apply_periods(slos: &mut [Slo], default_period: Option<Duration>, windows: &[AlertWindows]) {
    for slo in slos.iter_mut() {
        if let Some(period) = default_period.filter(|_| slo.window_is_default) {
            let defaults = Alerting::defaults(&slo.alerting.name, period);
            slo.window = period;
            slo.alerting.page = defaults.page;
            slo.alerting.ticket = defaults.ticket;
        }
        if let Some(w) = windows.iter().rev().find(|w| w.period == slo.window) {
            slo.alerting.page = w.page.clone();
            slo.alerting.ticket = w.ticket.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVEN_DAYS: &str = "apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  sloPeriod: 7d
  page:
    quick: { errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h }
    slow: { errorBudgetPercent: 12.5, shortWindow: 30m, longWindow: 6h }
  ticket:
    quick: { errorBudgetPercent: 20, shortWindow: 2h, longWindow: 1d }
    slow: { errorBudgetPercent: 42, shortWindow: 6h, longWindow: 3d }
";

    #[test]
    fn factors_are_budget_share_times_period_over_long_window() {
        let w = alert_windows_str(SEVEN_DAYS, "7d.yaml").unwrap();
        assert_eq!(w.len(), 1);
        let factors: Vec<f64> = w[0]
            .page
            .iter()
            .chain(&w[0].ticket)
            .map(|p| (p.factor * 1000.0).round() / 1000.0)
            .collect();
        // 8 % of 168 h in 1 h = 13.44; 12.5 % in 6 h = 3.5; 20 % in 24 h = 1.4; 42 % in 72 h.
        assert_eq!(factors, vec![13.44, 3.5, 1.4, 0.98]);
    }

    #[test]
    fn bad_fields_are_named_with_their_position() {
        let bad = SEVEN_DAYS
            .replace(
                "shortWindow: 5m, longWindow: 1h",
                "shortWindow: 2h, longWindow: 1h",
            )
            .replace("errorBudgetPercent: 42", "errorBudgetPercent: 0")
            .replace("  ticket:", "  tikcet: {}\n  ticket:");
        let e = alert_windows_str(&bad, "7d.yaml").unwrap_err().to_string();
        assert!(e.contains("7d.yaml:6:"), "{e}");
        assert!(e.contains("spec.page.quick.shortWindow"), "{e}");
        assert!(e.contains("spec.ticket.slow.errorBudgetPercent"), "{e}");
        assert!(e.contains("spec.tikcet"), "{e}");
    }
}
