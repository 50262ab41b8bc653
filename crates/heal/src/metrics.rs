//! The healer's own metrics, for the dashboards that watch the watcher.

use ballast_heal_policy::{Event, Outcome};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result_ {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyResult {
    policy: String,
    result: String,
}

/// Counters and gauges, encoded in Prometheus' text format at `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    deliveries: Family<Result_, Counter>,
    alerts: Family<Decision, Counter>,
    actions: Family<PolicyResult, Counter>,
    recoveries: Family<PolicyResult, Counter>,
    closed: Family<PolicyResult, Counter>,
    open: Gauge,
    unknown_fields: Counter,
    recovery_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ballast_heal");
        let m = Metrics {
            deliveries: Family::default(),
            alerts: Family::default(),
            actions: Family::default(),
            recoveries: Family::default(),
            closed: Family::default(),
            open: Gauge::default(),
            unknown_fields: Counter::default(),
            recovery_seconds: Histogram::new([
                1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
            ]),
            registry: Registry::default(),
        };
        registry.register(
            "deliveries",
            "Webhook deliveries by result (accepted, rejected, unauthorized, failed)",
            m.deliveries.clone(),
        );
        registry.register(
            "alerts",
            "Alerts in deliveries by decision",
            m.alerts.clone(),
        );
        registry.register(
            "actions",
            "Actions by policy and result (ok, failed, dry_run)",
            m.actions.clone(),
        );
        registry.register(
            "recoveries",
            "Recovery checks by policy and result",
            m.recoveries.clone(),
        );
        registry.register(
            "incidents_closed",
            "Incidents closed by policy and outcome",
            m.closed.clone(),
        );
        registry.register(
            "incidents_open",
            "Incidents being acted on or checked",
            m.open.clone(),
        );
        registry.register(
            "webhook_unknown_fields",
            "Payload fields this healer does not know (a newer Alertmanager?)",
            m.unknown_fields.clone(),
        );
        registry.register(
            "incident_seconds",
            "From opening an incident to closing it recovered",
            m.recovery_seconds.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// One delivery's fate.
    pub fn delivery(&self, result: &str) {
        self.deliveries
            .get_or_create(&Result_ {
                result: result.into(),
            })
            .inc();
    }

    /// Fields a payload carried that version 4 does not define.
    pub fn unknown_fields(&self, n: usize) {
        self.unknown_fields.inc_by(n as u64);
    }

    /// What the engine decided.
    pub fn events(&self, events: &[Event], policy_of: impl Fn(&str) -> String) {
        for e in events {
            let decision = |d: &str| {
                self.alerts
                    .get_or_create(&Decision { decision: d.into() })
                    .inc();
            };
            match e {
                Event::Duplicate { .. } => decision("duplicate"),
                Event::Unmatched { .. } => decision("unmatched"),
                Event::Refused { .. } => decision("refused"),
                Event::Opened { .. } => decision("opened"),
                Event::Joined { .. } => decision("joined"),
                Event::Resolved { .. } => decision("resolved"),
                Event::Act {
                    incident,
                    dry_run: true,
                    ..
                } => self.count(&self.actions, &policy_of(incident), "dry_run"),
                Event::ActionDone { incident, ok, .. } => self.count(
                    &self.actions,
                    &policy_of(incident),
                    if *ok { "ok" } else { "failed" },
                ),
                Event::Verified {
                    incident,
                    recovered,
                    ..
                } => self.count(
                    &self.recoveries,
                    &policy_of(incident),
                    if *recovered {
                        "recovered"
                    } else {
                        "not_recovered"
                    },
                ),
                Event::Closed {
                    incident,
                    outcome,
                    after_s,
                } => {
                    let name = match outcome {
                        Outcome::Recovered => "recovered",
                        Outcome::Succeeded => "succeeded",
                        Outcome::Exhausted => "exhausted",
                        Outcome::DryRun => "dry_run",
                        Outcome::Refused(_) => "refused",
                        Outcome::AlertResolved => "alert_resolved",
                        Outcome::Maintenance(_) => "maintenance",
                    };
                    if matches!(outcome, Outcome::Recovered | Outcome::Succeeded) {
                        self.recovery_seconds.observe(*after_s);
                    }
                    self.count(&self.closed, &policy_of(incident), name);
                }
                _ => {}
            }
        }
    }

    fn count(&self, family: &Family<PolicyResult, Counter>, policy: &str, result: &str) {
        family
            .get_or_create(&PolicyResult {
                policy: policy.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Incidents not yet closed.
    pub fn set_open(&self, n: usize) {
        self.open.set(n as i64);
    }

    /// The text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
