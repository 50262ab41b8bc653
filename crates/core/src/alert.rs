//! Alerts in Alertmanager's shape (its v2 API, `POST /api/v2/alerts`), so that what
//! ballast judges anomalous travels the same path as Prometheus' own alerts, and the
//! healing loop reads both alike. Sending them is `ballast-http`'s job.

use crate::series::format_timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One alert, as Alertmanager's API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Identity: `alertname`, `series`, and any configured labels.
    pub labels: BTreeMap<String, String>,
    /// Details: `summary`, `score`, `value`, `query`.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339: Alertmanager resolves the alert then unless it is sent again.
    pub ends_at: String,
}

/// RFC 3339 in UTC with milliseconds: `2024-03-01T12:00:00.000Z`.
pub fn rfc3339(t: f64) -> String {
    let whole = format_timestamp(t.floor()).replace(' ', "T");
    let millis = ((t - t.floor()) * 1000.0).round().min(999.0) as u32;
    format!("{whole}.{millis:03}Z")
}

/// Makes a label value out of anything (Alertmanager takes any UTF-8 value) and checks a
/// label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_checks_label_names() {
        assert_eq!(rfc3339(1_397_114_100.25), "2014-04-10T07:15:00.250Z");
        assert!(valid_label_name("team_1"));
        assert!(!valid_label_name("1team") && !valid_label_name("a-b") && !valid_label_name(""));
        let alert = Alert {
            labels: [("alertname".to_string(), "BallastAnomaly".to_string())].into(),
            annotations: BTreeMap::new(),
            starts_at: rfc3339(0.0),
            ends_at: rfc3339(300.0),
        };
        let json = serde_json::to_string(&alert).unwrap();
        assert!(
            json.contains("\"startsAt\":\"1970-01-01T00:00:00.000Z\""),
            "{json}"
        );
    }
}
