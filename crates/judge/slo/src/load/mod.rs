//! Reading SLOs from ballast contracts, OpenSLO v1 and v1alpha documents and Sloth
//! `prometheus/v1` specs into one model. Every problem is reported with file, line, column
//! and field. Nothing is skipped: each document of a file is read or refused, and each key
//! is mapped into the model, accepted as display text (`displayName`, descriptions), or
//! refused where it stands — a field the format defines but ballast does not support with
//! why, any other as unknown with the fields expected there.

use crate::model::{Alerting, Sli, Slo};
use crate::promql::check_query;
use crate::Error;
use ballast_contract::yaml::{self, Node};
use ballast_contract::{Diagnostic, SliSpec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

mod alert_windows;
mod openslo_v1;
mod openslo_v1alpha;
mod pyrra;
mod reader;
mod sloth;
mod sloth_plugins;

pub use alert_windows::{alert_windows_str, apply_periods, load_alert_windows, AlertWindows};
use openslo_v1::openslo;
use reader::*;
use sloth::sloth;

/// Reads every SLO in `path` (format detected from its content).
pub fn load_file(path: &Path) -> Result<Vec<Slo>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(
        &text,
        &path.display().to_string(),
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// Reads every SLO in `text`; `file` names it in messages.
pub fn load_str(text: &str, file: &str, base_dir: &Path) -> Result<Vec<Slo>, Error> {
    let docs = yaml::parse_documents(text)
        .map_err(|e| Error::Invalid(vec![Diagnostic::syntax(file, &e)]))?;
    let first = docs.first().map(Node::to_json).unwrap_or_default();
    if first.get("version").and_then(Value::as_str) == Some("prometheus/v1")
        || first.get("apiVersion").and_then(Value::as_str) == Some("sloth.slok.dev/v1")
    {
        return sloth(file, &docs);
    }
    if first.get("apiVersion").and_then(Value::as_str) == Some(pyrra::API_VERSION) {
        return pyrra::pyrra(file, &docs);
    }
    if first
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("openslo/"))
    {
        return openslo(file, &docs);
    }
    if first.get("phases").is_some() || first.get("target").is_some() {
        // The contract reader reads the first document only, so a second one would be
        // ignored without this.
        if let Some(second) = docs.get(1) {
            return Err(Error::Invalid(vec![Diagnostic {
                file: file.into(),
                line: second.position.line,
                column: second.position.column,
                path: String::new(),
                message: "a contract is one YAML document; this second document would not \
                          be read: put it in a file of its own"
                    .into(),
            }]));
        }
        let contract = ballast_contract::Contract::parse(text, file, base_dir)?;
        return Ok(contract
            .slos
            .iter()
            .map(|s| Slo {
                service: contract.name.clone(),
                name: s.name.clone(),
                description: None,
                objective: s.objective,
                window: s.window,
                window_is_default: false,
                sli: match &s.sli {
                    SliSpec::Ratio { good, total } => Sli::Good {
                        good: good.clone(),
                        total: total.clone(),
                    },
                    SliSpec::Availability { request } => Sli::VerifyAvailability {
                        request: request.clone(),
                    },
                    SliSpec::Latency {
                        threshold,
                        request: _,
                        histogram: Some(histogram),
                    } => Sli::Latency {
                        histogram: histogram.clone(),
                        threshold_seconds: ballast_core::parse_duration(threshold)
                            .unwrap_or_default()
                            .as_secs_f64(),
                    },
                    SliSpec::Latency {
                        threshold,
                        request,
                        histogram: None,
                    } => Sli::VerifyLatency {
                        threshold: ballast_core::parse_duration(threshold).unwrap_or_default(),
                        request: request.clone(),
                    },
                },
                labels: BTreeMap::new(),
                alerting: Alerting::defaults(&alert_name(&contract.name, &s.name), s.window),
                origin: file.to_string(),
                spec: "ballast/contract".into(),
                tweaks: Default::default(),
                kubernetes: None,
            })
            .collect());
    }
    Err(Error::Invalid(vec![Diagnostic {
        file: file.into(),
        line: 1,
        column: 1,
        path: String::new(),
        message:
            "unknown SLO format; expected a ballast contract (with slos:), an OpenSLO document \
                  (apiVersion: openslo/v1 or openslo/v1alpha), a Sloth spec (version: prometheus/v1, or \
                  apiVersion: sloth.slok.dev/v1) or a Pyrra ServiceLevelObjective (apiVersion: \
                  pyrra.dev/v1alpha1)"
                .into(),
    }]))
}

/// `ShopCheckoutLatency` from `shop`, `checkout-latency`.
fn alert_name(service: &str, slo: &str) -> String {
    format!("{service} {slo}")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<String>()
        + "BurnRate"
}

/// Parses `28d`, `1w`, `30d`, `7d` (OpenSLO allows weeks).
fn window(text: &str) -> Result<Duration, String> {
    if let Some(weeks) = text
        .trim()
        .strip_suffix('w')
        .and_then(|n| n.parse::<u64>().ok())
    {
        return Ok(Duration::from_secs(weeks * 7 * 86_400));
    }
    ballast_core::parse_duration(text)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if d.is_zero() {
                Err("expected a window above zero, e.g. 30d".into())
            } else {
                Ok(d)
            }
        })
}

fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// A value as a message shows it: JSON text (strings quoted), or `nothing` when absent.
fn found(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "nothing".into(),
        Some(v) => v.to_string(),
    }
}
