//! The one task that owns the engine: deliveries, action results and recovery checks
//! come to it as messages, so decisions happen one at a time, and every decision is on
//! disk (state, then audit record) before any action it orders is carried out.

use crate::actions::Actions;
use crate::audit::AuditLog;
use crate::metrics::Metrics;
use crate::recovery;
use crate::store::Store;
use ballast_heal_policy::{values, Engine, Event, Incident, Phase, State};
use ballast_heal_policy::webhook::Payload;
use ballast_http::PromClient;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How many messages wait for the engine at most; a receiver that cannot enqueue
/// answers 503 and Alertmanager retries.
pub(crate) const QUEUE: usize = 1024;

pub(crate) enum Msg {
    Deliver {
        payload: Payload,
        reply: oneshot::Sender<Result<Value, String>>,
    },
    ActionDone {
        incident: String,
        ok: bool,
        message: String,
    },
    Verified {
        incident: String,
        check: recovery::Check,
    },
    Status {
        reply: oneshot::Sender<Value>,
    },
}

pub(crate) struct Core {
    pub engine: Engine,
    pub store: Store,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
    pub actions: Actions,
    pub prometheus: Option<PromClient>,
    pub tx: mpsc::Sender<Msg>,
    pub healthy: Arc<AtomicBool>,
    pub force_dry_run: bool,
}

pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Core {
    /// Runs until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let restart = self.engine.restarted(now());
        if !restart.is_empty() {
            let before = self.engine.state().clone();
            if let Err(e) = self.commit(&restart, before) {
                tracing::error!(error = %e, "cannot record the restart");
            }
        }
        let mut expire = tokio::time::interval(Duration::from_secs(60));
        loop {
            let due = self.engine.next_due().map(|t| (t - now()).max(0.0));
            let retry = async {
                match due {
                    Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.min(3600.0))).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                _ = retry => {
                    let before = self.engine.state().clone();
                    let events = self.engine.due(now());
                    if let Err(e) = self.commit(&events, before) {
                        tracing::error!(error = %e, "cannot record a retry");
                    }
                }
                _ = expire.tick() => {
                    let before = self.engine.state().clone();
                    self.engine.expire(now());
                    if self.engine.state() != &before {
                        if let Err(e) = self.store.save(self.engine.state()) {
                            tracing::error!(error = %e, "cannot save the state");
                        }
                    }
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        let before = self.engine.state().clone();
        match msg {
            Msg::Deliver { payload, reply } => {
                if !payload.unknown_fields.is_empty() {
                    self.metrics.unknown_fields(payload.unknown_fields.len());
                    tracing::warn!(fields = ?payload.unknown_fields, "the webhook carried fields this healer does not know; they are recorded, not used");
                }
                if payload.truncated_alerts > 0 {
                    tracing::warn!(truncated = payload.truncated_alerts, group = %payload.group_key, "Alertmanager left alerts out of this delivery (max_alerts)");
                }
                let events = self.engine.receive(now(), &payload);
                let extra = json!({
                    "group_key": payload.group_key,
                    "receiver": payload.receiver,
                    "alerts": payload.alerts.len(),
                    "truncated_alerts": payload.truncated_alerts,
                    "unknown_fields": payload.unknown_fields,
                });
                let answer = self
                    .record(now(), &json!({"event": "delivery", "delivery": extra}))
                    .and_then(|_| self.commit(&events, before));
                let _ = reply.send(match answer {
                    Ok(()) => {
                        self.metrics.delivery("accepted");
                        Ok(json!({ "decisions": events }))
                    }
                    Err(e) => {
                        self.metrics.delivery("failed");
                        Err(e.to_string())
                    }
                });
            }
            Msg::ActionDone { incident, ok, message } => {
                let events = self.engine.action_finished(now(), &incident, ok, &message);
                if let Err(e) = self.commit(&events, before) {
                    tracing::error!(error = %e, %incident, "cannot record an action's result");
                }
            }
            Msg::Verified { incident, check } => {
                let events = self.engine.verified(now(), &incident, check.recovered, &check.detail);
                if let Err(e) = self.commit(&events, before) {
                    tracing::error!(error = %e, %incident, "cannot record a recovery check");
                }
            }
            Msg::Status { reply } => {
                let _ = reply.send(self.status());
            }
        }
    }

    fn record(&mut self, t: f64, value: &Value) -> Result<(), crate::Error> {
        let result = self.audit.append(t, value);
        if result.is_err() {
            self.healthy.store(false, Ordering::Relaxed);
        }
        result
    }

    /// Saves the state, records every event, and only then carries out what they order.
    /// When the state cannot be saved the engine goes back to `before` and nothing is
    /// carried out: the delivery is refused (500) and Alertmanager sends it again.
    fn commit(&mut self, events: &[Event], before: State) -> Result<(), crate::Error> {
        if events.is_empty() {
            return Ok(());
        }
        if self.engine.state() != &before {
            if let Err(e) = self.store.save(self.engine.state()) {
                self.healthy.store(false, Ordering::Relaxed);
                self.engine.set_state(before);
                return Err(e);
            }
        }
        let t = now();
        for event in events {
            let record = self.audit_record(event);
            self.record(t, &record)?;
        }
        self.healthy.store(true, Ordering::Relaxed);
        let engine = &self.engine;
        self.metrics.events(events, |id| engine.incident(id).map(|i| i.policy.clone()).unwrap_or_default());
        self.metrics.set_open(
            engine
                .state()
                .incidents
                .values()
                .filter(|i| !matches!(i.phase, Phase::Done { .. }))
                .count(),
        );
        for event in events {
            match event {
                Event::Act { incident, dry_run: false, .. } => self.carry_out(incident),
                Event::Verify { incident } => self.verify(incident),
                _ => {}
            }
        }
        Ok(())
    }

    fn audit_record(&self, event: &Event) -> Value {
        let mut record = serde_json::to_value(event).unwrap_or_default();
        if let Event::Act { incident, dry_run, .. } = event {
            if let (Some((spec, _)), Some(i)) = (self.engine.action_of(incident), self.engine.incident(incident)) {
                record["action"] = serde_json::to_value(spec).unwrap_or_default();
                record["target"] = json!(i.target);
                record["dry_run"] = json!(*dry_run || self.force_dry_run);
            }
        }
        record
    }

    fn carry_out(&self, id: &str) {
        let (Some(incident), Some((spec, _))) = (self.engine.incident(id).cloned(), self.engine.action_of(id)) else {
            return;
        };
        let spec = spec.clone();
        let actions = self.actions.clone();
        let tx = self.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let result = actions.run(&spec, &values(&incident)).await;
            let (ok, message) = match result {
                Ok(m) => (true, m),
                Err(m) => (false, m),
            };
            tracing::info!(incident = %id, kind = spec.kind(), ok, %message, "action finished");
            let _ = tx.send(Msg::ActionDone { incident: id, ok, message }).await;
        });
    }

    fn verify(&self, id: &str) {
        let (Some(plan), Some(prometheus)) = (self.engine.verify_plan(id).cloned(), self.prometheus.clone()) else {
            return;
        };
        let tx = self.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let check = recovery::check(&prometheus, &plan).await;
            let _ = tx.send(Msg::Verified { incident: id, check }).await;
        });
    }

    fn status(&self) -> Value {
        let state = self.engine.state();
        let mut incidents: Vec<&Incident> = state.incidents.values().collect();
        incidents.sort_by(|a, b| b.opened.total_cmp(&a.opened));
        let open: Vec<_> = incidents.iter().filter(|i| !matches!(i.phase, Phase::Done { .. })).collect();
        json!({
            "healthy": self.healthy.load(Ordering::Relaxed),
            "policy_file": self.engine.policies().file,
            "dry_run": self.force_dry_run,
            "open": open.len(),
            "remembered_deliveries": state.seen.len(),
            "audit_log": self.audit.path().display().to_string(),
            "incidents": incidents.iter().take(50).collect::<Vec<_>>(),
        })
    }
}
