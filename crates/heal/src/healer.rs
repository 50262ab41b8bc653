//! The one task that owns the engine: deliveries, action results and recovery checks
//! come to it as messages, so decisions happen one at a time, and every decision is on
//! disk (state, then audit record) before any action it orders is carried out.

use crate::actions::Actions;
use crate::audit::AuditLog;
use crate::metrics::Metrics;
use crate::recovery;
use crate::store::Store;
use ballast_heal_policy::webhook::Payload;
use ballast_heal_policy::{values, Engine, Event, Incident, Phase, State};
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
    /// A record to write before the events of the next commit (the delivery itself).
    pub pending_record: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revert {
    Yes,
    No,
}

/// An action's spec for the audit log: header and environment values are replaced, as
/// they may hold credentials written in the policy (tokens themselves are only ever named
/// by their variable).
fn redacted(mut spec: Value) -> Value {
    for kind in ["http", "exec"] {
        for field in ["headers", "env"] {
            if let Some(map) = spec
                .get_mut(kind)
                .and_then(|a| a.get_mut(field))
                .and_then(Value::as_object_mut)
            {
                for v in map.values_mut() {
                    *v = json!("<redacted>");
                }
            }
        }
    }
    spec
}

pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Core {
    /// Runs until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let before = self.engine.state().clone();
        let restart = self.engine.restarted(now());
        if !restart.is_empty() {
            if let Err(e) = self.commit(&restart, before, Revert::No) {
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
                    if let Err(e) = self.commit(&events, before, Revert::No) {
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
                self.pending_record = Some(json!({"event": "delivery", "delivery": extra}));
                let answer = self.commit(&events, before, Revert::Yes);
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
            Msg::ActionDone {
                incident,
                ok,
                message,
            } => {
                let events = self.engine.action_finished(now(), &incident, ok, &message);
                if let Err(e) = self.commit(&events, before, Revert::No) {
                    tracing::error!(error = %e, %incident, "cannot record an action's result");
                }
            }
            Msg::Verified { incident, check } => {
                let events = self
                    .engine
                    .verified(now(), &incident, check.recovered, &check.detail);
                if let Err(e) = self.commit(&events, before, Revert::No) {
                    tracing::error!(error = %e, %incident, "cannot record a recovery check");
                }
            }
            Msg::Status { reply } => {
                let _ = reply.send(self.status());
            }
        }
    }

    /// Saves the state, records every event, and only then carries out what they order.
    ///
    /// A delivery whose state cannot be saved is undone (`Revert::Yes`): the engine goes
    /// back to `before`, nothing is carried out, the webhook answers 500 and Alertmanager
    /// delivers again. An action's result or a retry is never undone (`Revert::No`): it
    /// stays in memory, is carried out, and is saved with the next change that can be.
    /// Once the state is saved, what it orders is carried out even when the audit log
    /// cannot be written (the healer then reports itself unhealthy).
    fn commit(
        &mut self,
        events: &[Event],
        before: State,
        revert: Revert,
    ) -> Result<(), crate::Error> {
        let prefix = self.pending_record.take();
        if events.is_empty() && prefix.is_none() && self.engine.state() == &before {
            return Ok(());
        }
        let mut outcome = Ok(());
        if self.engine.state() != &before {
            if let Err(e) = self.store.save(self.engine.state()) {
                self.healthy.store(false, Ordering::Relaxed);
                if revert == Revert::Yes {
                    self.engine.set_state(before);
                    return Err(e);
                }
                tracing::error!(error = %e, "cannot save the state; carrying on with it in memory");
                outcome = Err(e);
            }
        }
        let t = now();
        let records: Vec<Value> = prefix
            .into_iter()
            .chain(events.iter().map(|e| self.audit_record(e)))
            .collect();
        match self.audit.append_all(t, &records) {
            Ok(()) if outcome.is_ok() => self.healthy.store(true, Ordering::Relaxed),
            Ok(()) => {}
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "cannot write the audit log");
                if outcome.is_ok() {
                    outcome = Err(e);
                }
            }
        }
        let engine = &self.engine;
        self.metrics.events(events, |id| {
            engine
                .incident(id)
                .map(|i| i.policy.clone())
                .unwrap_or_default()
        });
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
                Event::Act {
                    incident,
                    dry_run: false,
                    ..
                } => self.carry_out(incident),
                Event::Verify { incident } => self.verify(incident),
                _ => {}
            }
        }
        // A delivery is acknowledged once its decision is saved, whatever the audit log:
        // refusing it now would have Alertmanager resend what is already decided.
        if revert == Revert::Yes {
            if let Err(e) = &outcome {
                tracing::error!(error = %e, "a delivery's audit record could not be written");
            }
            return Ok(());
        }
        outcome
    }

    fn audit_record(&self, event: &Event) -> Value {
        let mut record = serde_json::to_value(event).unwrap_or_default();
        if let Event::Act {
            incident, dry_run, ..
        } = event
        {
            if let (Some((spec, _)), Some(i)) = (
                self.engine.action_of(incident),
                self.engine.incident(incident),
            ) {
                record["action"] = redacted(serde_json::to_value(spec).unwrap_or_default());
                record["target"] = json!(i.target);
                record["dry_run"] = json!(*dry_run || self.force_dry_run);
            }
        }
        record
    }

    fn carry_out(&self, id: &str) {
        let (Some(incident), Some((spec, _))) =
            (self.engine.incident(id).cloned(), self.engine.action_of(id))
        else {
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
            let _ = tx
                .send(Msg::ActionDone {
                    incident: id,
                    ok,
                    message,
                })
                .await;
        });
    }

    fn verify(&self, id: &str) {
        let (Some(plan), Some(prometheus)) = (
            self.engine.verify_plan(id).cloned(),
            self.prometheus.clone(),
        ) else {
            return;
        };
        let tx = self.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let check = recovery::check(&prometheus, &plan).await;
            let _ = tx
                .send(Msg::Verified {
                    incident: id,
                    check,
                })
                .await;
        });
    }

    fn status(&self) -> Value {
        let state = self.engine.state();
        let mut incidents: Vec<&Incident> = state.incidents.values().collect();
        incidents.sort_by(|a, b| b.opened.total_cmp(&a.opened));
        let open: Vec<_> = incidents
            .iter()
            .filter(|i| !matches!(i.phase, Phase::Done { .. }))
            .collect();
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
