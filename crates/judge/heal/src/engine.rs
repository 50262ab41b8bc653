//! The healer's decisions, with no I/O: deliveries in, events out.
//!
//! An **incident** is one alert (fingerprint) firing from one `startsAt`, as delivered in
//! one group (group key): Alertmanager's HA peers and its retries deliver it many times,
//! and it is decided once. Its life:
//!
//! ```text
//! opened ─▶ act(action 0, try 1) ─ok─▶ verify ─recovered─▶ done: recovered
//!              │ failed                 │ not recovered
//!              ▼                        ▼
//!        retry after `retry_after` (up to `attempts`), then escalate to the next action
//!              … no action left ─▶ done: exhausted
//! ```
//!
//! Before an incident is opened the limits are asked in order: maintenance window,
//! hold-down (the alert resolved less than `hold_down` ago: flapping), one incident at a
//! time per target (a second alert on a busy target joins the open incident), cooldown
//! after the target's last action, and `max_actions_per_hour`. A refused incident is
//! remembered with its reason, so a redelivery does not ask again.
//!
//! The state is plain data ([`State`], serde): the healer persists it before it carries
//! out any action the events ask for, so a healer killed mid-action finds, on restart,
//! the action marked as started and not finished ([`Engine::restarted`]), and checks
//! recovery instead of repeating it blindly.

use crate::policy::{ActionSpec, Policies, Policy, VerifyPlan};
use crate::template::Values;
use crate::webhook::{Payload, Status, WebhookAlert};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many delivery keys are remembered; the oldest go first.
pub const MAX_SEEN: usize = 100_000;
/// At most this many finished incidents are kept for `status`; the oldest go first.
pub const MAX_FINISHED: usize = 10_000;

/// Everything the engine remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Delivery key → when first seen.
    pub seen: BTreeMap<String, f64>,
    /// Incidents by id.
    pub incidents: BTreeMap<String, Incident>,
    /// `policy/target` → start times of its actions (the last hour's, for the rate
    /// limit) .
    pub action_times: BTreeMap<String, Vec<f64>>,
    /// `policy/target` → when its last action finished (cooldown).
    pub last_action_end: BTreeMap<String, f64>,
    /// `policy/fingerprint` → when the alert last resolved (hold-down).
    pub resolved: BTreeMap<String, f64>,
    /// The next incident number.
    pub next_incident: u64,
}

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `policy-N`.
    pub id: String,
    /// The policy that took it.
    pub policy: String,
    /// What it acts on.
    pub target: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's `startsAt`, as delivered.
    pub starts_at: String,
    /// The group it came in.
    pub group_key: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it was opened.
    pub opened: f64,
    /// Where it is.
    pub phase: Phase,
    /// Every try, in order.
    pub attempts: Vec<Attempt>,
    /// When the alert resolved, if it has.
    pub resolved_at: Option<f64>,
    /// Other alerts that joined it (fingerprints).
    pub joined: Vec<String>,
}

/// Where an incident is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// An action is being carried out.
    Acting {
        /// The action's index in the policy.
        action: usize,
        /// 1-based try of that action.
        attempt: u32,
    },
    /// Recovery is being checked after the action.
    Verifying {
        /// The action.
        action: usize,
        /// Its try.
        attempt: u32,
    },
    /// Waiting to try again.
    Waiting {
        /// The action to try.
        action: usize,
        /// The try it will be.
        attempt: u32,
        /// When.
        until: f64,
    },
    /// Finished.
    Done {
        /// How.
        outcome: Outcome,
        /// When.
        at: f64,
    },
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The SLI came back within its objective.
    Recovered,
    /// The action succeeded; the policy checks no recovery.
    Succeeded,
    /// Every action was tried and recovery did not follow.
    Exhausted,
    /// Dry run: the first action was recorded, not carried out.
    DryRun,
    /// Not acted on, and why.
    Refused(String),
    /// The alert resolved while the incident waited for a retry or the next action: no
    /// further action is taken on a condition that no longer holds.
    AlertResolved,
    /// A maintenance window began while the incident was open: no further action.
    Maintenance(String),
}

/// One try of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The action's index.
    pub action: usize,
    /// Its kind.
    pub kind: String,
    /// 1-based.
    pub attempt: u32,
    /// When it started.
    pub started: f64,
    /// When it finished (None: in flight, or interrupted by a restart).
    pub finished: Option<f64>,
    /// Success.
    pub ok: Option<bool>,
    /// What the action or the check said.
    pub message: String,
}

/// What the engine decided: each is written to the audit log; [`Event::Act`] and
/// [`Event::Verify`] are also orders for the healer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A delivery already decided (an HA peer's copy, a retry, a repeat).
    Duplicate {
        /// The delivery key.
        key: String,
    },
    /// No policy takes the alert.
    Unmatched {
        /// Its fingerprint.
        fingerprint: String,
        /// Its `alertname`.
        alertname: String,
    },
    /// A new incident, refused: nothing will be done.
    Refused {
        /// The incident.
        incident: String,
        /// The policy.
        policy: String,
        /// Why.
        reason: String,
    },
    /// A new incident that will be acted on.
    Opened {
        /// The incident.
        incident: String,
        /// The policy.
        policy: String,
        /// The target.
        target: String,
        /// The alert's fingerprint.
        fingerprint: String,
        /// The alert's `startsAt`.
        starts_at: String,
    },
    /// An alert on a target that already has an open incident.
    Joined {
        /// The open incident.
        incident: String,
        /// The alert.
        fingerprint: String,
    },
    /// Carry out an action (or, in dry run, only record it).
    Act {
        /// The incident.
        incident: String,
        /// The action's index.
        action: usize,
        /// 1-based try.
        attempt: u32,
        /// Dry run: record, do not act.
        dry_run: bool,
    },
    /// An action finished.
    ActionDone {
        /// The incident.
        incident: String,
        /// The action's index.
        action: usize,
        /// Its try.
        attempt: u32,
        /// Whether it succeeded.
        ok: bool,
        /// What it said.
        message: String,
    },
    /// Check recovery.
    Verify {
        /// The incident.
        incident: String,
    },
    /// The recovery check ended.
    Verified {
        /// The incident.
        incident: String,
        /// Whether the SLI came back.
        recovered: bool,
        /// The readings.
        detail: String,
    },
    /// The same action will be tried again.
    Retry {
        /// The incident.
        incident: String,
        /// The action.
        action: usize,
        /// The try it will be.
        attempt: u32,
        /// When.
        at: f64,
    },
    /// The next action will be tried.
    Escalated {
        /// The incident.
        incident: String,
        /// The action given up on.
        from: usize,
        /// The next one.
        to: usize,
    },
    /// The incident ended.
    Closed {
        /// The incident.
        incident: String,
        /// How.
        outcome: Outcome,
        /// Seconds from opening.
        after_s: f64,
    },
    /// The alert resolved.
    Resolved {
        /// Its fingerprint.
        fingerprint: String,
        /// The incident it belonged to, if one.
        incident: Option<String>,
    },
    /// A restart found an action started and not finished.
    Interrupted {
        /// The incident.
        incident: String,
        /// The action.
        action: usize,
    },
}

/// The decision engine over a set of policies and a state.
#[derive(Debug)]
pub struct Engine {
    policies: Policies,
    state: State,
}

const HOUR: f64 = 3600.0;

impl Engine {
    /// An engine with a state read back from disk (or the default).
    pub fn new(policies: Policies, state: State) -> Engine {
        Engine { policies, state }
    }

    /// The policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The state, for persisting and `status`.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Puts a state back (the healer does when it could not save the one a decision
    /// made: nothing of that decision may stand unsaved).
    pub fn set_state(&mut self, state: State) {
        self.state = state;
    }

    /// An incident.
    pub fn incident(&self, id: &str) -> Option<&Incident> {
        self.state.incidents.get(id)
    }

    /// The policy of an incident.
    pub fn policy_of(&self, incident: &Incident) -> Option<&Policy> {
        self.policies
            .policies
            .iter()
            .find(|p| p.name == incident.policy)
    }

    /// The action an incident's current phase names, with the values for its templates.
    pub fn action_of(&self, id: &str) -> Option<(&ActionSpec, Values<'_>)> {
        let incident = self.state.incidents.get(id)?;
        let action = match incident.phase {
            Phase::Acting { action, .. }
            | Phase::Verifying { action, .. }
            | Phase::Waiting { action, .. } => action,
            Phase::Done { .. } => return None,
        };
        let policy = self.policy_of(incident)?;
        Some((&policy.actions.get(action)?.0, values(incident)))
    }

    /// The recovery check of an incident's policy.
    pub fn verify_plan(&self, id: &str) -> Option<&VerifyPlan> {
        let incident = self.state.incidents.get(id)?;
        self.policy_of(incident)?.verify.as_ref()
    }

    /// Takes a webhook delivery.
    pub fn receive(&mut self, now: f64, payload: &Payload) -> Vec<Event> {
        let mut events = Vec::new();
        for alert in &payload.alerts {
            let key = delivery_key(&payload.group_key, alert);
            if self.state.seen.contains_key(&key) {
                events.push(Event::Duplicate { key });
                continue;
            }
            self.remember(key, now);
            match alert.status {
                Status::Firing => self.firing(now, payload, alert, &mut events),
                Status::Resolved => self.resolved(now, alert, &mut events),
            }
        }
        events
    }

    fn remember(&mut self, key: String, now: f64) {
        if self.state.seen.len() >= MAX_SEEN {
            if let Some(oldest) = self
                .state
                .seen
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, _)| k.clone())
            {
                self.state.seen.remove(&oldest);
            }
        }
        self.state.seen.insert(key, now);
    }

    fn firing(
        &mut self,
        now: f64,
        payload: &Payload,
        alert: &WebhookAlert,
        events: &mut Vec<Event>,
    ) {
        let Some(policy) = self
            .policies
            .find(&alert.labels, &alert.annotations)
            .cloned()
        else {
            events.push(Event::Unmatched {
                fingerprint: alert.fingerprint.clone(),
                alertname: alert.labels.get("alertname").cloned().unwrap_or_default(),
            });
            return;
        };
        self.state.next_incident += 1;
        let id = format!("{}-{}", policy.name, self.state.next_incident);
        let mut incident = Incident {
            id: id.clone(),
            policy: policy.name.clone(),
            target: String::new(),
            fingerprint: alert.fingerprint.clone(),
            starts_at: alert.starts_at.clone(),
            group_key: payload.group_key.clone(),
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            opened: now,
            phase: Phase::Acting {
                action: 0,
                attempt: 1,
            },
            attempts: Vec::new(),
            resolved_at: None,
            joined: Vec::new(),
        };
        let refusal = match policy.target.render(&values(&incident)) {
            Ok(target) => {
                incident.target = target;
                self.refusal(now, &policy, &incident)
            }
            Err(e) => Some(Refusal::Reason(format!("the target cannot be named: {e}"))),
        };
        match refusal {
            Some(Refusal::Join(open)) => {
                self.state.next_incident -= 1;
                if let Some(o) = self.state.incidents.get_mut(&open) {
                    o.joined.push(alert.fingerprint.clone());
                }
                events.push(Event::Joined {
                    incident: open,
                    fingerprint: alert.fingerprint.clone(),
                });
            }
            Some(Refusal::Reason(reason)) => {
                incident.phase = Phase::Done {
                    outcome: Outcome::Refused(reason.clone()),
                    at: now,
                };
                events.push(Event::Refused {
                    incident: id.clone(),
                    policy: policy.name.clone(),
                    reason,
                });
                self.insert(incident);
            }
            None => {
                events.push(Event::Opened {
                    incident: id.clone(),
                    policy: policy.name.clone(),
                    target: incident.target.clone(),
                    fingerprint: incident.fingerprint.clone(),
                    starts_at: incident.starts_at.clone(),
                });
                self.insert(incident);
                self.start_action(now, &id, 0, 1, events);
            }
        }
    }

    fn insert(&mut self, incident: Incident) {
        self.state.incidents.insert(incident.id.clone(), incident);
        let finished: Vec<(f64, String)> = self
            .state
            .incidents
            .values()
            .filter_map(|i| match i.phase {
                Phase::Done { at, .. } => Some((at, i.id.clone())),
                _ => None,
            })
            .collect();
        if finished.len() > MAX_FINISHED {
            let mut finished = finished;
            finished.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, id) in finished.iter().take(finished.len() - MAX_FINISHED) {
                self.state.incidents.remove(id);
            }
        }
    }

    fn refusal(&self, now: f64, policy: &Policy, incident: &Incident) -> Option<Refusal> {
        if let Some(m) = self
            .policies
            .maintenance
            .iter()
            .find(|m| m.covers(now, &policy.name, &incident.labels))
        {
            return Some(Refusal::Reason(format!("in {}", m.describe())));
        }
        let flap_key = format!("{}/{}", policy.name, incident.fingerprint);
        if let Some(resolved) = self.state.resolved.get(&flap_key) {
            let since = now - resolved;
            if since < policy.hold_down.as_secs_f64() {
                return Some(Refusal::Reason(format!(
                    "flapping: the alert resolved {since:.0}s ago, within the {}s hold-down",
                    policy.hold_down.as_secs()
                )));
            }
        }
        if let Some(open) = self
            .state
            .incidents
            .values()
            .find(|i| i.target == incident.target && !matches!(i.phase, Phase::Done { .. }))
        {
            return Some(Refusal::Join(open.id.clone()));
        }
        let key = format!("{}/{}", policy.name, incident.target);
        if let Some(end) = self.state.last_action_end.get(&key) {
            let since = now - end;
            if since < policy.cooldown.as_secs_f64() {
                return Some(Refusal::Reason(format!(
                    "cooling down: the last action on {} ended {since:.0}s ago, within the {}s cooldown",
                    incident.target,
                    policy.cooldown.as_secs()
                )));
            }
        }
        if self.actions_last_hour(&key, now) >= policy.max_actions_per_hour as usize {
            return Some(Refusal::Reason(format!(
                "rate limit: {} actions on {} in the last hour (max_actions_per_hour {})",
                self.actions_last_hour(&key, now),
                incident.target,
                policy.max_actions_per_hour
            )));
        }
        None
    }

    fn actions_last_hour(&self, key: &str, now: f64) -> usize {
        self.state
            .action_times
            .get(key)
            .map_or(0, |t| t.iter().filter(|t| now - **t < HOUR).count())
    }

    fn start_action(
        &mut self,
        now: f64,
        id: &str,
        action: usize,
        attempt: u32,
        events: &mut Vec<Event>,
    ) {
        let Some(incident) = self.state.incidents.get(id) else {
            return;
        };
        let Some(policy) = self.policy_of(incident).cloned() else {
            return;
        };
        let key = format!("{}/{}", policy.name, incident.target);
        if attempt > 1 || action > 0 {
            if incident.resolved_at.is_some() {
                self.close(now, id, Outcome::AlertResolved, events);
                return;
            }
            if let Some(m) = self
                .policies
                .maintenance
                .iter()
                .find(|m| m.covers(now, &policy.name, &incident.labels))
            {
                let why = m.describe();
                self.close(now, id, Outcome::Maintenance(why), events);
                return;
            }
            // Tries within an incident count against the hourly limit as well.
            if self.actions_last_hour(&key, now) >= policy.max_actions_per_hour as usize {
                self.close(now, id, Outcome::Exhausted, events);
                return;
            }
        }
        let Some((spec, _)) = policy.actions.get(action) else {
            self.close(now, id, Outcome::Exhausted, events);
            return;
        };
        let times = self.state.action_times.entry(key).or_default();
        times.retain(|t| now - *t < HOUR);
        times.push(now);
        let incident = self.state.incidents.get_mut(id).expect("checked above");
        incident.phase = Phase::Acting { action, attempt };
        incident.attempts.push(Attempt {
            action,
            kind: spec.kind().into(),
            attempt,
            started: now,
            finished: None,
            ok: None,
            message: String::new(),
        });
        events.push(Event::Act {
            incident: id.into(),
            action,
            attempt,
            dry_run: policy.dry_run,
        });
        if policy.dry_run {
            let incident = self.state.incidents.get_mut(id).expect("checked above");
            if let Some(a) = incident.attempts.last_mut() {
                a.finished = Some(now);
                a.message = "dry run: not carried out".into();
            }
            self.close(now, id, Outcome::DryRun, events);
        }
    }

    /// The healer reports that the action it was asked for finished.
    pub fn action_finished(&mut self, now: f64, id: &str, ok: bool, message: &str) -> Vec<Event> {
        let mut events = Vec::new();
        let Some(incident) = self.state.incidents.get_mut(id) else {
            return events;
        };
        let Phase::Acting { action, attempt } = incident.phase else {
            return events;
        };
        if let Some(a) = incident.attempts.last_mut() {
            a.finished = Some(now);
            a.ok = Some(ok);
            a.message = message.chars().take(2000).collect();
        }
        let key = format!("{}/{}", incident.policy, incident.target);
        self.state.last_action_end.insert(key, now);
        events.push(Event::ActionDone {
            incident: id.into(),
            action,
            attempt,
            ok,
            message: message.chars().take(2000).collect(),
        });
        if !ok {
            self.failed(now, id, action, attempt, &mut events);
        } else if self.verify_plan(id).is_some() {
            let incident = self.state.incidents.get_mut(id).expect("present");
            incident.phase = Phase::Verifying { action, attempt };
            events.push(Event::Verify {
                incident: id.into(),
            });
        } else {
            self.close(now, id, Outcome::Succeeded, &mut events);
        }
        events
    }

    /// The healer reports the end of a recovery check.
    pub fn verified(&mut self, now: f64, id: &str, recovered: bool, detail: &str) -> Vec<Event> {
        let mut events = Vec::new();
        let Some(incident) = self.state.incidents.get_mut(id) else {
            return events;
        };
        let Phase::Verifying { action, attempt } = incident.phase else {
            return events;
        };
        if let Some(a) = incident.attempts.last_mut() {
            a.message = format!("{}; recovery: {detail}", a.message);
            if !recovered {
                a.ok = Some(false);
            }
        }
        events.push(Event::Verified {
            incident: id.into(),
            recovered,
            detail: detail.into(),
        });
        if recovered {
            self.close(now, id, Outcome::Recovered, &mut events);
        } else {
            self.failed(now, id, action, attempt, &mut events);
        }
        events
    }

    fn failed(&mut self, now: f64, id: &str, action: usize, attempt: u32, events: &mut Vec<Event>) {
        let Some(incident) = self.state.incidents.get(id) else {
            return;
        };
        let Some(policy) = self.policy_of(incident).cloned() else {
            return;
        };
        if attempt < policy.attempts {
            let until = now + policy.retry_after.as_secs_f64();
            let incident = self.state.incidents.get_mut(id).expect("present");
            incident.phase = Phase::Waiting {
                action,
                attempt: attempt + 1,
                until,
            };
            events.push(Event::Retry {
                incident: id.into(),
                action,
                attempt: attempt + 1,
                at: until,
            });
            if policy.retry_after.is_zero() {
                events.extend(self.due(now));
            }
        } else if action + 1 < policy.actions.len() {
            events.push(Event::Escalated {
                incident: id.into(),
                from: action,
                to: action + 1,
            });
            self.start_action(now, id, action + 1, 1, events);
        } else {
            self.close(now, id, Outcome::Exhausted, events);
        }
    }

    /// Retries whose wait is over; the healer calls this on a timer.
    pub fn due(&mut self, now: f64) -> Vec<Event> {
        let ready: Vec<(String, usize, u32)> = self
            .state
            .incidents
            .values()
            .filter_map(|i| match i.phase {
                Phase::Waiting {
                    action,
                    attempt,
                    until,
                } if until <= now => Some((i.id.clone(), action, attempt)),
                _ => None,
            })
            .collect();
        let mut events = Vec::new();
        for (id, action, attempt) in ready {
            self.start_action(now, &id, action, attempt, &mut events);
        }
        events
    }

    /// When the next retry is due, for the healer's timer.
    pub fn next_due(&self) -> Option<f64> {
        self.state
            .incidents
            .values()
            .filter_map(|i| match i.phase {
                Phase::Waiting { until, .. } => Some(until),
                _ => None,
            })
            .min_by(f64::total_cmp)
    }

    /// After a restart: an action that was started and never reported finished may or may
    /// not have taken effect. It is not repeated blindly: recovery is checked first (and
    /// a policy without a check counts it as failed, so the usual retry and escalation
    /// decide). A recovery check that was under way starts again.
    pub fn restarted(&mut self, now: f64) -> Vec<Event> {
        let mut events = Vec::new();
        let ids: Vec<(String, Phase)> = self
            .state
            .incidents
            .values()
            .map(|i| (i.id.clone(), i.phase.clone()))
            .collect();
        for (id, phase) in ids {
            match phase {
                Phase::Acting { action, .. } => {
                    events.push(Event::Interrupted {
                        incident: id.clone(),
                        action,
                    });
                    // The action may have taken effect: its target cools down as after any.
                    if let Some(i) = self.state.incidents.get(&id) {
                        let key = format!("{}/{}", i.policy, i.target);
                        self.state.last_action_end.insert(key, now);
                    }
                    let message = "interrupted: the healer stopped before the action reported back";
                    if self.verify_plan(&id).is_some() {
                        let incident = self.state.incidents.get_mut(&id).expect("present");
                        if let Some(a) = incident.attempts.last_mut() {
                            a.message = message.into();
                        }
                        let Phase::Acting { action, attempt } = incident.phase else {
                            continue;
                        };
                        incident.phase = Phase::Verifying { action, attempt };
                        events.push(Event::Verify {
                            incident: id.clone(),
                        });
                    } else {
                        events.extend(self.action_finished(now, &id, false, message));
                    }
                }
                Phase::Verifying { .. } => events.push(Event::Verify {
                    incident: id.clone(),
                }),
                _ => {}
            }
        }
        events
    }

    fn resolved(&mut self, now: f64, alert: &WebhookAlert, events: &mut Vec<Event>) {
        let ends = crate::time::parse_rfc3339(&alert.ends_at)
            .ok()
            .filter(|t| *t > 0.0 && *t <= now + 60.0)
            .unwrap_or(now);
        let incident = self
            .state
            .incidents
            .values_mut()
            .filter(|i| i.fingerprint == alert.fingerprint && i.starts_at == alert.starts_at)
            .max_by(|a, b| a.opened.total_cmp(&b.opened));
        let id = incident.map(|i| {
            i.resolved_at.get_or_insert(ends);
            (i.id.clone(), i.policy.clone())
        });
        let policy = match &id {
            Some((_, p)) => Some(p.clone()),
            None => self
                .policies
                .find(&alert.labels, &alert.annotations)
                .map(|p| p.name.clone()),
        };
        if let Some(p) = policy {
            self.state
                .resolved
                .insert(format!("{p}/{}", alert.fingerprint), ends);
        }
        events.push(Event::Resolved {
            fingerprint: alert.fingerprint.clone(),
            incident: id.map(|(i, _)| i),
        });
    }

    fn close(&mut self, now: f64, id: &str, outcome: Outcome, events: &mut Vec<Event>) {
        let Some(incident) = self.state.incidents.get_mut(id) else {
            return;
        };
        incident.phase = Phase::Done {
            outcome: outcome.clone(),
            at: now,
        };
        events.push(Event::Closed {
            incident: id.into(),
            outcome,
            after_s: now - incident.opened,
        });
    }

    /// Forgets delivery keys and finished incidents older than `dedupe_for`, and hold-down
    /// and rate-limit entries past their use.
    pub fn expire(&mut self, now: f64) {
        let keep = self.policies.dedupe_for.as_secs_f64();
        self.state.seen.retain(|_, t| now - *t < keep);
        self.state.incidents.retain(|_, i| match i.phase {
            Phase::Done { at, .. } => now - at < keep,
            _ => true,
        });
        let longest_hold = self
            .policies
            .policies
            .iter()
            .map(|p| p.hold_down.max(p.cooldown).as_secs_f64())
            .fold(HOUR, f64::max);
        self.state.resolved.retain(|_, t| now - *t < longest_hold);
        self.state
            .last_action_end
            .retain(|_, t| now - *t < longest_hold);
        self.state.action_times.retain(|_, times| {
            times.retain(|t| now - *t < HOUR);
            !times.is_empty()
        });
    }
}

enum Refusal {
    Join(String),
    Reason(String),
}

/// The key a delivery is known by: group, alert, its start, and firing or resolved.
pub fn delivery_key(group_key: &str, alert: &WebhookAlert) -> String {
    let status = match alert.status {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    };
    format!(
        "{group_key}\u{1f}{}\u{1f}{}\u{1f}{status}",
        alert.fingerprint, alert.starts_at
    )
}

/// The values an incident's action templates are written with.
pub fn values(incident: &Incident) -> Values<'_> {
    Values {
        labels: Some(&incident.labels),
        annotations: Some(&incident.annotations),
        fields: [
            ("fingerprint", incident.fingerprint.clone()),
            ("startsAt", incident.starts_at.clone()),
            ("policy", incident.policy.clone()),
            ("incident", incident.id.clone()),
            ("target", incident.target.clone()),
        ]
        .into(),
    }
}
