//! Maintenance windows: times when the healer decides and records but does not act —
//! a planned migration must not be "healed" by a restart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A window as written: either `from`/`to` (RFC 3339), or `weekly` days and UTC hours.
/// `labels` restricts it to alerts carrying them; `policies` to those policies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// Start, RFC 3339.
    #[serde(default)]
    pub from: Option<String>,
    /// End, RFC 3339.
    #[serde(default)]
    pub to: Option<String>,
    /// Every week.
    #[serde(default)]
    pub weekly: Option<Weekly>,
    /// Only alerts with these labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Only these policies (all when empty).
    #[serde(default)]
    pub policies: Vec<String>,
}

/// Every week on `days` from `start` to `end` (UTC, `HH:MM`; `end` before `start` runs
/// past midnight).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Weekly {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM` UTC.
    pub start: String,
    /// `HH:MM` UTC.
    pub end: String,
}

/// A checked window.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    when: When,
    labels: BTreeMap<String, String>,
    policies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum When {
    Once {
        from: f64,
        to: f64,
    },
    Weekly {
        days: [bool; 7],
        start: u32,
        end: u32,
    },
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl MaintenanceSpec {
    /// Checks the window; the error is (field, message).
    pub fn check(&self) -> Result<Maintenance, (&'static str, String)> {
        let when = match (&self.from, &self.to, &self.weekly) {
            (Some(f), Some(t), None) => {
                let from = crate::time::parse_rfc3339(f).map_err(|e| ("from", e))?;
                let to = crate::time::parse_rfc3339(t).map_err(|e| ("to", e))?;
                if to <= from {
                    return Err(("to", "expected a time after `from`".into()));
                }
                When::Once { from, to }
            }
            (None, None, Some(w)) => {
                let mut days = [false; 7];
                if w.days.is_empty() {
                    return Err((
                        "weekly.days",
                        format!("expected days from {}", DAYS.join(", ")),
                    ));
                }
                for d in &w.days {
                    let i = DAYS.iter().position(|x| x.eq_ignore_ascii_case(d)).ok_or((
                        "weekly.days",
                        format!("{d:?} is not one of {}", DAYS.join(", ")),
                    ))?;
                    days[i] = true;
                }
                let start = minutes(&w.start).ok_or((
                    "weekly.start",
                    format!("expected HH:MM (UTC), found {:?}", w.start),
                ))?;
                let end = minutes(&w.end).ok_or((
                    "weekly.end",
                    format!("expected HH:MM (UTC), found {:?}", w.end),
                ))?;
                if start == end {
                    return Err((
                        "weekly.end",
                        "expected an end different from the start".into(),
                    ));
                }
                When::Weekly { days, start, end }
            }
            _ => return Err(("", "expected either from and to, or weekly".into())),
        };
        Ok(Maintenance {
            when,
            labels: self.labels.clone(),
            policies: self.policies.clone(),
        })
    }
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Maintenance {
    /// Whether the window covers `now` (Unix seconds) for this policy and alert.
    pub fn covers(&self, now: f64, policy: &str, labels: &BTreeMap<String, String>) -> bool {
        if !self.policies.is_empty() && !self.policies.iter().any(|p| p == policy) {
            return false;
        }
        if !self.labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
        match self.when {
            When::Once { from, to } => (from..to).contains(&now),
            When::Weekly { days, start, end } => {
                let day_number = (now / 86_400.0).floor() as i64;
                // 1970-01-01 was a Thursday (index 3 from Monday).
                let weekday = (day_number + 3).rem_euclid(7) as usize;
                let minute = ((now.rem_euclid(86_400.0)) / 60.0) as u32;
                if start < end {
                    days[weekday] && (start..end).contains(&minute)
                } else {
                    // Past midnight: the evening part belongs to the listed day, the
                    // morning part to the day before's window.
                    (days[weekday] && minute >= start) || (days[(weekday + 6) % 7] && minute < end)
                }
            }
        }
    }

    /// A short description for the audit log.
    pub fn describe(&self) -> String {
        match &self.when {
            When::Once { from, to } => format!(
                "maintenance {} to {}",
                crate::time::format_rfc3339(*from),
                crate::time::format_rfc3339(*to)
            ),
            When::Weekly { days, start, end } => {
                let names: Vec<_> = DAYS
                    .iter()
                    .zip(days)
                    .filter(|(_, on)| **on)
                    .map(|(d, _)| *d)
                    .collect();
                format!(
                    "weekly maintenance {} {:02}:{:02}-{:02}:{:02} UTC",
                    names.join(","),
                    start / 60,
                    start % 60,
                    end / 60,
                    end % 60
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(days: &[&str], start: &str, end: &str) -> Maintenance {
        MaintenanceSpec {
            from: None,
            to: None,
            weekly: Some(Weekly {
                days: days.iter().map(|d| d.to_string()).collect(),
                start: start.into(),
                end: end.into(),
            }),
            labels: BTreeMap::new(),
            policies: vec![],
        }
        .check()
        .unwrap()
    }

    #[test]
    fn weekly_windows_know_the_weekday_and_midnight() {
        // 2026-12-05 is a Saturday.
        let sat_0300 = crate::time::parse_rfc3339("2026-12-05T03:00:00Z").unwrap();
        let none = BTreeMap::new();
        assert!(weekly(&["sat"], "02:00", "04:00").covers(sat_0300, "p", &none));
        assert!(!weekly(&["sun"], "02:00", "04:00").covers(sat_0300, "p", &none));
        assert!(!weekly(&["sat"], "03:01", "04:00").covers(sat_0300, "p", &none));
        // Friday 23:00 to 04:00: Saturday 03:00 is inside.
        assert!(weekly(&["fri"], "23:00", "04:00").covers(sat_0300, "p", &none));
        assert!(!weekly(&["sat"], "23:00", "04:00").covers(sat_0300, "p", &none));
    }

    #[test]
    fn once_windows_labels_and_policies_restrict() {
        let spec = MaintenanceSpec {
            from: Some("2026-12-24T00:00:00Z".into()),
            to: Some("2026-12-26T00:00:00Z".into()),
            weekly: None,
            labels: [("service".to_string(), "shop".to_string())].into(),
            policies: vec!["restart".into()],
        };
        let m = spec.check().unwrap();
        let t = crate::time::parse_rfc3339("2026-12-25T12:00:00Z").unwrap();
        let shop: BTreeMap<_, _> = [("service".to_string(), "shop".to_string())].into();
        assert!(m.covers(t, "restart", &shop));
        assert!(!m.covers(t, "throttle", &shop));
        assert!(!m.covers(t, "restart", &BTreeMap::new()));
        assert!(!m.covers(t + 86_400.0 * 2.0, "restart", &shop));
        let mut bad = spec.clone();
        bad.to = Some("2026-12-23T00:00:00Z".into());
        assert_eq!(bad.check().unwrap_err().0, "to");
        bad.weekly = Some(Weekly {
            days: vec!["sat".into()],
            start: "2:00".into(),
            end: "04:00".into(),
        });
        assert_eq!(bad.check().unwrap_err().0, "");
    }
}
