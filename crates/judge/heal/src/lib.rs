//! ballast's healing judge: what the self-healing controller (`ballast heal`) decides,
//! with no I/O, so every rule is testable on simulated time.
//!
//! - [`webhook`]: Alertmanager's webhook payload (version 4, `truncatedAlerts`
//!   included), parsed with errors that name the field.
//! - [`Policies`]: the heal policy file — matchers → ordered actions, per-policy cooldown,
//!   actions per hour, hold-down for flapping alerts, tries before escalation, dry run,
//!   maintenance windows, and how recovery is checked (PromQL, or an SLO through the SLO
//!   engine). Every problem is reported with file, line, column and field.
//! - [`Engine`]: deliveries in, [`Event`]s out. One incident per alert, group and
//!   `startsAt`, however many times Alertmanager's HA peers and retries deliver it.
//!
//! The healer that carries the decisions out (receiver, audit log, actions, recovery
//! checks) is `ballast-heal`.
//!
//! ```
//! use ballast_heal_policy::{webhook, Engine, Event, Policies, State};
//!
//! let policy = r#"
//! policies:
//!   - name: shop-latency
//!     match: { labels: { alertname: ShopLatency } }
//!     actions:
//!       - tower: { admin: "http://127.0.0.1:18400/admin", token_env: SHOP_ADMIN_TOKEN, fallback: force }
//! "#;
//! let policies = Policies::parse(policy, "heal.yaml", ".".as_ref())?;
//! let mut engine = Engine::new(policies, State::default());
//!
//! let body = r#"{"version": "4", "groupKey": "{}:{alertname=\"ShopLatency\"}", "status": "firing",
//!   "receiver": "heal", "alerts": [{"status": "firing", "labels": {"alertname": "ShopLatency"},
//!   "startsAt": "2026-12-01T20:00:00Z", "fingerprint": "3c9d2e1f"}]}"#;
//! let delivery = webhook::parse(body.as_bytes())?;
//! let now = 1_796_155_230.0;
//! let first = engine.receive(now, &delivery);
//! assert!(first.iter().any(|e| matches!(e, Event::Act { action: 0, attempt: 1, .. })));
//! // The second Alertmanager of the pair delivers the same alert: nothing more is done.
//! let second = engine.receive(now + 0.2, &delivery);
//! assert!(matches!(second[..], [Event::Duplicate { .. }]));
//!
//! let broken = policy.replace("fallback: force", "fallback: sometimes");
//! let err = Policies::parse(&broken, "heal.yaml", ".".as_ref()).unwrap_err();
//! assert!(err.to_string().contains("heal.yaml:6:"), "{err}");
//! assert!(err.to_string().contains("expected force or auto"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod engine;
mod error;
mod maintenance;
pub mod policy;
pub mod template;
pub mod time;
pub mod webhook;

pub use engine::{
    delivery_key, values, Attempt, Engine, Event, Incident, Outcome, Phase, State, MAX_FINISHED,
    MAX_SEEN,
};
pub use error::Error;
pub use maintenance::{Maintenance, MaintenanceSpec, Weekly};
pub use policy::{ActionSpec, Policies, Policy, VerifyPlan};

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod policy_tests;
