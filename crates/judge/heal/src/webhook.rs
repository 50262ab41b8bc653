//! Alertmanager's webhook payload, version 4, exactly as its documentation gives it
//! (`alertmanager/notify/webhook`): the group, its common labels, and each alert with its
//! fingerprint and `startsAt`, the three things an incident is known by.
//!
//! Parsing is strict about what the healer relies on (version, status, times, the
//! fingerprint) and tolerant of fields a newer Alertmanager may add: those are kept in
//! [`Payload::unknown_fields`] so the receiver can record them instead of dropping them
//! unseen — refusing them would lose the alert, since Alertmanager does not retry a 4xx.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The body Alertmanager POSTs to a webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// Always `"4"` today.
    pub version: String,
    /// Identifies the alert group (route and group-by labels).
    pub group_key: String,
    /// How many alerts were left out by the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` when any alert of the group fires.
    pub status: Status,
    /// The receiver's name in Alertmanager's configuration.
    pub receiver: String,
    /// The labels the group is formed by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert of the group shares.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert of the group shares.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// A link back to the Alertmanager that sent it.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// The alerts (at most `max_alerts` of them).
    pub alerts: Vec<WebhookAlert>,
    /// Fields this version of the payload does not define, by path (`alerts[0].foo`).
    #[serde(skip)]
    pub unknown_fields: Vec<String>,
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds.
    Firing,
    /// It no longer does.
    Resolved,
}

/// One alert of the group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// Firing or resolved.
    pub status: Status,
    /// Its identity.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its details.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, as Alertmanager writes it.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing with no end known.
    #[serde(default)]
    pub ends_at: String,
    /// Where the alert came from (a Prometheus graph link).
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// A hash of the labels: the alert's identity across deliveries.
    pub fingerprint: String,
}

const PAYLOAD_FIELDS: [&str; 10] = [
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
];
const ALERT_FIELDS: [&str; 7] = [
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
];

/// The largest body the receiver reads: Alertmanager's own `max_alerts` is unlimited by
/// default, and a group of 10,000 alerts with rich annotations stays well below this.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// Parses a webhook body. The error names the field and what was expected, for the 400
/// answer.
pub fn parse(body: &[u8]) -> Result<Payload, crate::Error> {
    let bad = |m: String| crate::Error::Webhook(m);
    if body.len() > MAX_BODY_BYTES {
        return Err(bad(format!(
            "the body is {} bytes; at most {MAX_BODY_BYTES} are read",
            body.len()
        )));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(bad(
            "expected a JSON object (Alertmanager's webhook payload)".into(),
        ));
    };
    match object.get("version") {
        Some(Value::String(v)) if v == "4" => {}
        Some(other) => {
            return Err(bad(format!(
                "version: expected \"4\" (the payload this receiver reads), found {other}"
            )))
        }
        None => return Err(bad("version: missing; expected \"4\"".into())),
    }
    let mut unknown: Vec<String> = object
        .keys()
        .filter(|k| !PAYLOAD_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    if let Some(Value::Array(alerts)) = object.get("alerts") {
        for (i, alert) in alerts.iter().enumerate() {
            if let Some(a) = alert.as_object() {
                unknown.extend(
                    a.keys()
                        .filter(|k| !ALERT_FIELDS.contains(&k.as_str()))
                        .map(|k| format!("alerts[{i}].{k}")),
                );
            }
        }
    }
    let mut payload = typed(value)?;
    for (i, alert) in payload.alerts.iter().enumerate() {
        if alert.fingerprint.trim().is_empty() {
            return Err(bad(format!(
                "alerts[{i}].fingerprint: expected a non-empty hash"
            )));
        }
        crate::time::parse_rfc3339(&alert.starts_at)
            .map_err(|e| bad(format!("alerts[{i}].startsAt: {e}")))?;
        if !alert.ends_at.is_empty() {
            crate::time::parse_rfc3339(&alert.ends_at)
                .map_err(|e| bad(format!("alerts[{i}].endsAt: {e}")))?;
        }
    }
    payload.unknown_fields = unknown;
    Ok(payload)
}

fn typed(value: Value) -> Result<Payload, crate::Error> {
    serde_path_to_error::deserialize::<_, Payload>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        crate::Error::Webhook(if path == "." {
            message
        } else {
            format!("{path}: {message}")
        })
    })
}

impl WebhookAlert {
    /// The alert's `startsAt` in seconds since the epoch (checked by [`parse`]).
    pub fn starts_at_secs(&self) -> f64 {
        crate::time::parse_rfc3339(&self.starts_at).unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{
      "receiver": "heal", "status": "firing", "version": "4",
      "groupKey": "{}/{severity=\"page\"}:{alertname=\"ShopLatency\"}",
      "truncatedAlerts": 0,
      "groupLabels": {"alertname": "ShopLatency"},
      "commonLabels": {"alertname": "ShopLatency", "service": "shop"},
      "commonAnnotations": {"summary": "p99 over 200ms"},
      "externalURL": "http://127.0.0.1:9093",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "ShopLatency", "service": "shop", "severity": "page"},
        "annotations": {"summary": "p99 over 200ms"},
        "startsAt": "2026-12-01T20:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": "c0ffee12ab34cd56"
      }]
    }"#;

    #[test]
    fn reads_alertmanagers_documented_payload() {
        let p = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(p.status, Status::Firing);
        assert_eq!(p.alerts[0].fingerprint, "c0ffee12ab34cd56");
        assert_eq!(p.common_labels["service"], "shop");
        assert!(p.unknown_fields.is_empty());
        assert!((p.alerts[0].starts_at_secs() - 1_796_155_200.123).abs() < 1e-3);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |body: &str| parse(body.as_bytes()).unwrap_err().to_string();
        assert!(err("[]").contains("expected a JSON object"));
        assert!(err(&SAMPLE.replace("\"4\"", "\"3\"")).contains("version: expected \"4\""));
        assert!(err(&SAMPLE.replace(
            "\"firing\",\n        \"labels\"",
            "\"burning\",\n        \"labels\""
        ))
        .contains("alerts[0]"));
        assert!(
            err(&SAMPLE.replace("2026-12-01T20:00:00.123456789Z", "yesterday"))
                .contains("alerts[0].startsAt")
        );
        assert!(err(&SAMPLE.replace("c0ffee12ab34cd56", " ")).contains("fingerprint"));
        assert!(err("{\"version\": \"4\"").contains("not JSON"));
    }

    #[test]
    fn keeps_the_names_of_fields_it_does_not_know() {
        let body = SAMPLE
            .replace(
                "\"truncatedAlerts\": 0,",
                "\"truncatedAlerts\": 0, \"tenant\": \"a\",",
            )
            .replace("\"fingerprint\":", "\"priority\": 1, \"fingerprint\":");
        let p = parse(body.as_bytes()).unwrap();
        assert_eq!(
            p.unknown_fields,
            vec!["tenant".to_string(), "alerts[0].priority".to_string()]
        );
    }
}
