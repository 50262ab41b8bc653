//! Operator mode: the `Remediation` custom resource (`heal.ballast.dev/v1alpha1`) and its
//! controller.
//!
//! A Remediation names the actions to take for an incident, and which alerts it is for
//! (`spec.match.labels`). The healer hands it an incident by writing `spec.trigger` (the
//! alert's fingerprint, `startsAt` and labels) with its `kubernetes: { trigger_remediation:
//! {...} }` action ([`KubeAction::TriggerRemediation`]), whose string values it fills from the
//! alert with templates:
//!
//! ```yaml
//! kubernetes:
//!   trigger_remediation:
//!     name: shop-restart
//!     namespace: prod
//!     fingerprint: "{{ fingerprint }}"
//!     starts_at: "{{ startsAt }}"
//!     labels: {alertname: "{{ labels.alertname }}", service: "{{ labels.service }}"}
//! ```
//!
//! The controller then handles each trigger once, and reports through the status subresource,
//! Events and the [`Handler`]:
//!
//! 1. a trigger equal to `status.observedTrigger` was handled already: nothing happens;
//! 2. a trigger whose `labels` lack a label of `spec.match.labels`, or carry it with another
//!    value, is recorded as observed and not acted on (condition `Acting=False`, reason
//!    `NotMatched`, naming the first label that differs; a Normal Event `NotMatched`). An empty
//!    `spec.match.labels` matches every trigger (see [`AlertMatch`]);
//! 3. within `spec.cooldown` of `status.lastAction.time` the trigger is recorded as observed
//!    and skipped (condition `Acting=False`, reason `CoolingDown`, a Normal Event);
//! 4. otherwise the status becomes `Acting=True` *with the trigger observed* before anything
//!    runs, so a crash mid-way never runs the actions twice (at most once per trigger), the
//!    actions run in order through [`Kube::run`] and stop at the first failure, and the status
//!    ends `Succeeded=True` or `Failed=True` with `lastAction`, plus an Event
//!    (`Remediated`, Normal, or `RemediationFailed`, Warning).
//!
//! Actions act in the Remediation's own namespace: one naming another namespace fails
//! (reason `CrossNamespace`) without running anything.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::FIELD_MANAGER;
use crate::{Error, Kube, KubeAction, Outcome};

/// What a Remediation does, and for which alerts.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "heal.ballast.dev",
    version = "v1alpha1",
    kind = "Remediation",
    namespaced,
    status = "RemediationStatus",
    shortname = "rem",
    printcolumn = r#"{"name":"Succeeded","type":"string","jsonPath":".status.conditions[?(@.type==\"Succeeded\")].status"}"#,
    printcolumn = r#"{"name":"Attempts","type":"integer","jsonPath":".status.attempts"}"#,
    printcolumn = r#"{"name":"Last","type":"date","jsonPath":".status.lastAction.time"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSpec {
    /// Which alerts this Remediation is for.
    #[serde(rename = "match")]
    pub match_: AlertMatch,
    /// The actions, run in order; the first failure stops the rest.
    #[schemars(length(min = 1))]
    pub actions: Vec<KubeAction>,
    /// The least time between two runs (humantime: `10m`); a trigger within it is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
    /// The incident to act on, written by the healer (its `trigger_remediation` action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// An alert label selector: every label here must be on the alert with the same value (exact
/// string equality; labels the selector does not name are ignored). An empty selector matches
/// every alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertMatch {
    /// Label name to value; empty: every alert.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl AlertMatch {
    /// Whether an alert with these labels is selected (an empty selector selects every alert).
    pub fn matches(&self, alert_labels: &BTreeMap<String, String>) -> bool {
        self.mismatch(alert_labels).is_none()
    }

    /// Why an alert with these labels is not selected, naming the first label (in name order)
    /// that differs; `None` when it is selected.
    pub fn mismatch(&self, alert_labels: &BTreeMap<String, String>) -> Option<String> {
        self.labels
            .iter()
            .find_map(|(name, want)| match alert_labels.get(name) {
                Some(got) if got == want => None,
                Some(got) => Some(format!("label {name:?} is {got:?}, not {want:?}")),
                None => Some(format!("label {name:?} is missing (want {want:?})")),
            })
    }
}

/// An incident: an Alertmanager alert's fingerprint, `startsAt` and labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's `startsAt` (RFC 3339).
    pub starts_at: String,
    /// The alert's labels, checked against `spec.match.labels` before acting.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.fingerprint, self.starts_at)
    }
}

/// What the controller last did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStatus {
    /// `Acting`, `Succeeded`, `Failed`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The last run of the actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<LastAction>,
    /// How many times the actions were run.
    #[serde(default)]
    pub attempts: u32,
    /// The last trigger handled (run or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_trigger: Option<Trigger>,
}

/// A status condition, as Kubernetes conditions are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Acting`, `Succeeded` or `Failed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// PascalCase reason.
    pub reason: String,
    /// For people.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
}

/// The last run of a Remediation's actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastAction {
    /// When the run ended (RFC 3339).
    pub time: String,
    /// The trigger it ran for.
    pub trigger: Trigger,
    /// Whether every action succeeded.
    pub succeeded: bool,
    /// One summary line per action run.
    pub summaries: Vec<String>,
    /// The failure, if one stopped the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the controller did for one trigger, handed to the [`Handler`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The Remediation's namespace.
    pub namespace: String,
    /// The Remediation's name.
    pub name: String,
    /// The trigger handled.
    pub trigger: Trigger,
    /// What came of it.
    pub result: ReportResult,
}

/// The result in a [`Report`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReportResult {
    /// Every action ran.
    Succeeded(Vec<Outcome>),
    /// An action failed (or the spec was refused); the outcomes of those before it.
    Failed {
        /// Outcomes of the actions that ran before the failure.
        outcomes: Vec<Outcome>,
        /// The failure.
        error: String,
    },
    /// Skipped: within the cooldown for this long still.
    CoolingDown(Duration),
    /// Not acted on: the trigger's labels do not match `spec.match.labels`; why (the first
    /// label that differs).
    NotMatched(String),
}

/// Told of each trigger handled (for the healer's audit log). Any `Fn(Report)` is one.
pub trait Handler: Send + Sync + 'static {
    /// Called after the status and Event were written.
    fn handle(&self, report: Report);
}

impl<F: Fn(Report) + Send + Sync + 'static> Handler for F {
    fn handle(&self, report: Report) {
        self(report)
    }
}

/// How the operator runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    /// Watch Remediations in every namespace (needs cluster-wide RBAC) rather than only the
    /// [`Kube`]'s namespace. Default false.
    pub all_namespaces: bool,
    /// The Events' reporting controller. Default `ballast-kube`.
    pub reporter: String,
    /// The Events' reporting instance (e.g. the pod name). Default: none (the reporter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            all_namespaces: false,
            reporter: "ballast-kube".into(),
            instance: None,
        }
    }
}

/// Runs the controller on the [`Kube`]'s namespace until the watch stream ends.
pub async fn run(kube: Kube, handler: impl Handler) -> Result<(), Error> {
    run_until(
        kube,
        OperatorConfig::default(),
        handler,
        std::future::pending(),
    )
    .await
}

/// Runs the controller until `shutdown` completes (reconciles under way finish first).
pub async fn run_until(
    kube: Kube,
    config: OperatorConfig,
    handler: impl Handler,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    if config.reporter.trim().is_empty() {
        return Err(Error::invalid(
            "operator config",
            "reporter must not be empty",
        ));
    }
    let watch_client = kube.watch_client()?;
    let api: Api<Remediation> = if config.all_namespaces {
        Api::all(watch_client)
    } else {
        Api::namespaced(watch_client, kube.namespace())
    };
    let recorder = Recorder::new(
        kube.client().clone(),
        Reporter {
            controller: config.reporter.clone(),
            instance: config.instance.clone(),
        },
    );
    let ctx = Arc::new(Ctx {
        kube,
        recorder,
        handler: Box::new(handler),
    });
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(remediation = %object, "reconciled"),
                Err(e) => tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "remediation reconcile failed"),
            }
        })
        .await;
    Ok(())
}

struct Ctx {
    kube: Kube,
    recorder: Recorder,
    handler: Box<dyn Handler>,
}

fn error_policy(_: Arc<Remediation>, error: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(%error, "remediation: will retry in 30s");
    Action::requeue(Duration::from_secs(30))
}

async fn reconcile(rem: Arc<Remediation>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let now = chrono::Utc::now();
    let Some(plan) = plan(&rem, now) else {
        return Ok(Action::await_change());
    };
    let namespace = rem.namespace().unwrap_or_default();
    let name = rem.name_any();
    let api: Api<Remediation> = Api::namespaced(ctx.kube.client().clone(), &namespace);
    let reference = rem.object_ref(&());
    let mut status = rem.status.clone().unwrap_or_default();
    let trigger = plan.trigger().clone();
    let stamp = rfc3339(now);
    status.observed_trigger = Some(trigger.clone());
    let (report, event) = match plan {
        Plan::NotMatched { reason, .. } => {
            let message = format!("trigger {trigger} not acted on: spec.match: {reason}");
            set_condition(
                &mut status.conditions,
                "Acting",
                false,
                "NotMatched",
                &message,
                &stamp,
            );
            patch_status(&api, &name, &namespace, &status).await?;
            let event = Event {
                type_: EventType::Normal,
                reason: "NotMatched".into(),
                note: Some(truncate(&message, 1024)),
                action: "Remediate".into(),
                secondary: None,
            };
            (ReportResult::NotMatched(reason), event)
        }
        Plan::CoolingDown { remaining, .. } => {
            let message = format!(
                "trigger {trigger} skipped: within the cooldown for {} more",
                humantime::format_duration(Duration::from_secs(remaining.as_secs()))
            );
            set_condition(
                &mut status.conditions,
                "Acting",
                false,
                "CoolingDown",
                &message,
                &stamp,
            );
            patch_status(&api, &name, &namespace, &status).await?;
            let event = Event {
                type_: EventType::Normal,
                reason: "CoolingDown".into(),
                note: Some(message),
                action: "Remediate".into(),
                secondary: None,
            };
            (ReportResult::CoolingDown(remaining), event)
        }
        Plan::Act { actions, .. } => {
            status.attempts = status.attempts.saturating_add(1);
            let message = format!(
                "running {} action(s) for trigger {trigger}",
                rem.spec.actions.len()
            );
            set_condition(
                &mut status.conditions,
                "Acting",
                true,
                "Acting",
                &message,
                &stamp,
            );
            patch_status(&api, &name, &namespace, &status).await?;
            let (outcomes, error) = match actions {
                Ok(actions) => run_actions(&ctx.kube, &actions).await,
                Err(refused) => (vec![], Some(refused)),
            };
            let end = rfc3339(chrono::Utc::now());
            let summaries: Vec<String> = outcomes.iter().map(|o| o.summary.clone()).collect();
            let ok = error.is_none();
            let (reason, message) = match &error {
                None => (
                    "ActionsSucceeded",
                    format!("trigger {trigger}: {}", summaries.join("; ")),
                ),
                Some(e) => ("ActionFailed", format!("trigger {trigger}: {e}")),
            };
            set_condition(
                &mut status.conditions,
                "Acting",
                false,
                "Done",
                &message,
                &end,
            );
            set_condition(
                &mut status.conditions,
                "Succeeded",
                ok,
                reason,
                &message,
                &end,
            );
            set_condition(
                &mut status.conditions,
                "Failed",
                !ok,
                reason,
                &message,
                &end,
            );
            status.last_action = Some(LastAction {
                time: end,
                trigger: trigger.clone(),
                succeeded: ok,
                summaries,
                error: error.clone(),
            });
            patch_status(&api, &name, &namespace, &status).await?;
            let event = Event {
                type_: if ok {
                    EventType::Normal
                } else {
                    EventType::Warning
                },
                reason: if ok {
                    "Remediated"
                } else {
                    "RemediationFailed"
                }
                .into(),
                note: Some(truncate(&message, 1024)),
                action: "Remediate".into(),
                secondary: None,
            };
            let result = match error {
                None => ReportResult::Succeeded(outcomes),
                Some(error) => ReportResult::Failed { outcomes, error },
            };
            (result, event)
        }
    };
    // The status is the record; an Event that cannot be written is logged, not retried.
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, remediation = %format!("{namespace}/{name}"), "recording the Event failed");
    }
    ctx.handler.handle(Report {
        namespace,
        name,
        trigger,
        result: report,
    });
    Ok(Action::await_change())
}

async fn run_actions(kube: &Kube, actions: &[KubeAction]) -> (Vec<Outcome>, Option<String>) {
    let mut outcomes = Vec::new();
    for action in actions {
        match kube.run(action).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => return (outcomes, Some(format!("{}: {e}", action.key()))),
        }
    }
    (outcomes, None)
}

async fn patch_status(
    api: &Api<Remediation>,
    name: &str,
    namespace: &str,
    status: &RemediationStatus,
) -> Result<(), Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(name, &params, &Patch::Merge(json!({ "status": status })))
        .await
        .map(|_| ())
        .map_err(|e| {
            crate::error::Target {
                verb: "patch",
                resource: "remediations.heal.ballast.dev/status",
                namespace,
                name,
            }
            .err(e)
        })
}

/// What to do for a Remediation now.
#[derive(Debug, PartialEq)]
pub(crate) enum Plan {
    /// Do not act: the trigger's labels do not match `spec.match`, for this reason.
    NotMatched { trigger: Trigger, reason: String },
    /// Skip the trigger: within the cooldown.
    CoolingDown {
        trigger: Trigger,
        remaining: Duration,
    },
    /// Run these actions (their namespace filled in), or fail with this reason.
    Act {
        trigger: Trigger,
        actions: Result<Vec<KubeAction>, String>,
    },
}

impl Plan {
    fn trigger(&self) -> &Trigger {
        match self {
            Plan::NotMatched { trigger, .. }
            | Plan::CoolingDown { trigger, .. }
            | Plan::Act { trigger, .. } => trigger,
        }
    }
}

/// The decision, without I/O: `None` when there is nothing to do.
pub(crate) fn plan(rem: &Remediation, now: chrono::DateTime<chrono::Utc>) -> Option<Plan> {
    let trigger = rem.spec.trigger.clone()?;
    let status = rem.status.clone().unwrap_or_default();
    if status.observed_trigger.as_ref() == Some(&trigger) {
        return None;
    }
    if let Some(reason) = rem.spec.match_.mismatch(&trigger.labels) {
        return Some(Plan::NotMatched { trigger, reason });
    }
    let cooldown = match rem.spec.cooldown.as_deref().map(humantime::parse_duration) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            let reason = format!(
                "spec.cooldown {:?}: {e}",
                rem.spec.cooldown.as_deref().unwrap_or("")
            );
            return Some(Plan::Act {
                trigger,
                actions: Err(reason),
            });
        }
    };
    if let (Some(cooldown), Some(last)) = (cooldown, &status.last_action) {
        if let Ok(last) = chrono::DateTime::parse_from_rfc3339(&last.time) {
            let since = now
                .signed_duration_since(last)
                .to_std()
                .unwrap_or(Duration::ZERO);
            if since < cooldown {
                return Some(Plan::CoolingDown {
                    trigger,
                    remaining: cooldown - since,
                });
            }
        }
    }
    let namespace = rem.namespace().unwrap_or_default();
    Some(Plan::Act {
        trigger,
        actions: scoped(&rem.spec.actions, &namespace),
    })
}

/// The actions with the Remediation's namespace filled in; one naming another is refused.
fn scoped(actions: &[KubeAction], namespace: &str) -> Result<Vec<KubeAction>, String> {
    if actions.is_empty() {
        return Err("spec.actions is empty".into());
    }
    actions
        .iter()
        .map(|action| {
            let mut action = action.clone();
            let key = action.key();
            let slot = match &mut action {
                KubeAction::RolloutRestart(d) | KubeAction::Rollback(d) => &mut d.namespace,
                KubeAction::Scale(s) => &mut s.namespace,
                KubeAction::PatchConfigmap(c) => &mut c.namespace,
                KubeAction::TriggerRemediation(t) => &mut t.namespace,
            };
            match slot {
                Some(other) if other != namespace => Err(format!(
                    "CrossNamespace: {key} names namespace {other:?}, but a Remediation acts only in its own ({namespace:?})"
                )),
                _ => {
                    *slot = Some(namespace.to_string());
                    Ok(action)
                }
            }
        })
        .collect()
}

fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    on: bool,
    reason: &str,
    message: &str,
    now: &str,
) {
    let status = if on { "True" } else { "False" };
    let message = truncate(message, 32 * 1024);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.status = status.into();
                c.last_transition_time = now.into();
            }
            c.reason = reason.into();
            c.message = message;
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time: now.into(),
        }),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The Remediation CRD, made valid for the API server: `additionalProperties: false` (from
/// the actions' `deny_unknown_fields`) is dropped where `properties` are listed, since a
/// structural schema may not have both; the API server prunes unknown fields instead.
pub fn crd() -> CustomResourceDefinition {
    let mut value = serde_json::to_value(Remediation::crd()).expect("a CRD serializes");
    drop_closed_objects(&mut value);
    serde_json::from_value(value).expect("the CRD still deserializes")
}

fn drop_closed_objects(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties")
                && map.get("additionalProperties") == Some(&json!(false))
            {
                map.remove("additionalProperties");
            }
            map.values_mut().for_each(drop_closed_objects);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_closed_objects),
        _ => {}
    }
}

/// The CRD as the YAML checked in at `deploy/crds/remediation.yaml`.
pub fn crd_yaml() -> String {
    let value = serde_json::to_value(crd()).expect("a CRD serializes");
    let mut out = String::from(
        "# Generated by `cargo run -p ballast-kube --example crd`: do not edit by hand.\n",
    );
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    emitter.dump(&to_yaml(&value)).expect("writing to a String");
    out.push('\n');
    out
}

fn to_yaml(value: &serde_json::Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match value {
        serde_json::Value::Null => Yaml::Null,
        serde_json::Value::Bool(b) => Yaml::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        serde_json::Value::String(s) => Yaml::String(s.clone()),
        serde_json::Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        serde_json::Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remediation(json: serde_json::Value) -> Remediation {
        serde_json::from_value(json).unwrap()
    }

    fn base(status: serde_json::Value) -> Remediation {
        remediation(json!({
            "apiVersion": "heal.ballast.dev/v1alpha1", "kind": "Remediation",
            "metadata": {"name": "r", "namespace": "prod"},
            "spec": {
                "match": {"labels": {"service": "shop"}},
                "actions": [{"rollout_restart": {"deployment": "shop"}}, {"scale": {"deployment": "shop", "by": 1}}],
                "cooldown": "10m",
                "trigger": {"fingerprint": "f1", "startsAt": "2026-02-01T09:58:00Z",
                            "labels": {"service": "shop", "severity": "page"}}
            },
            "status": status
        }))
    }

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    #[test]
    fn a_new_trigger_acts_in_the_remediations_namespace() {
        let Some(Plan::Act { trigger, actions }) =
            plan(&base(json!(null)), at("2026-02-01T10:00:00Z"))
        else {
            panic!()
        };
        assert_eq!(trigger.to_string(), "f1@2026-02-01T09:58:00Z");
        let actions = actions.unwrap();
        assert!(
            actions.iter().all(|a| a.namespace() == Some("prod")),
            "{actions:?}"
        );
    }

    #[test]
    fn an_observed_trigger_or_none_does_nothing() {
        let observed = base(json!({"observedTrigger": {
            "fingerprint": "f1", "startsAt": "2026-02-01T09:58:00Z",
            "labels": {"service": "shop", "severity": "page"}}}));
        assert_eq!(plan(&observed, at("2026-02-01T10:00:00Z")), None);
        let mut quiet = base(json!(null));
        quiet.spec.trigger = None;
        assert_eq!(plan(&quiet, at("2026-02-01T10:00:00Z")), None);
        // Same fingerprint, new startsAt: a new incident.
        let again = base(json!({"observedTrigger": {
            "fingerprint": "f1", "startsAt": "2026-01-01T00:00:00Z",
            "labels": {"service": "shop", "severity": "page"}}}));
        assert!(matches!(
            plan(&again, at("2026-02-01T10:00:00Z")),
            Some(Plan::Act { .. })
        ));
    }

    #[test]
    fn a_trigger_whose_labels_do_not_match_is_not_acted_on() {
        let now = at("2026-02-01T10:00:00Z");
        let with_labels = |labels: serde_json::Value| {
            let mut rem = base(json!(null));
            rem.spec.trigger.as_mut().unwrap().labels = serde_json::from_value(labels).unwrap();
            rem
        };
        let Some(Plan::NotMatched { trigger, reason }) =
            plan(&with_labels(json!({"service": "cart"})), now)
        else {
            panic!()
        };
        assert_eq!(trigger.fingerprint, "f1");
        assert_eq!(reason, r#"label "service" is "cart", not "shop""#);
        assert!(matches!(
            plan(&with_labels(json!({})), now),
            Some(Plan::NotMatched { reason, .. }) if reason == r#"label "service" is missing (want "shop")"#
        ));
        // Not matching wins over the cooldown: it is not this Remediation's incident.
        let mut cooling = with_labels(json!({"service": "cart"}));
        cooling.status = Some(
            serde_json::from_value(json!({"lastAction": {
                "time": "2026-02-01T09:59:00Z", "succeeded": true, "summaries": [],
                "trigger": {"fingerprint": "f0", "startsAt": "2026-02-01T09:00:00Z"}}}))
            .unwrap(),
        );
        assert!(matches!(plan(&cooling, now), Some(Plan::NotMatched { .. })));
        // Once observed, a not-matched trigger is not evaluated again.
        let mut observed = with_labels(json!({"service": "cart"}));
        observed.status = Some(RemediationStatus {
            observed_trigger: observed.spec.trigger.clone(),
            ..Default::default()
        });
        assert_eq!(plan(&observed, now), None);
        // An empty spec.match matches every trigger, labelled or not.
        let mut any = with_labels(json!({}));
        any.spec.match_ = AlertMatch::default();
        assert!(matches!(
            plan(&any, now),
            Some(Plan::Act { actions: Ok(_), .. })
        ));
    }

    #[test]
    fn cooldown_skips_a_trigger_until_it_has_passed() {
        let last = |time: &str| {
            base(json!({"lastAction": {
                "time": time, "succeeded": true, "summaries": [],
                "trigger": {"fingerprint": "f0", "startsAt": "2026-02-01T09:00:00Z"}}}))
        };
        let now = at("2026-02-01T10:00:00Z");
        assert_eq!(
            plan(&last("2026-02-01T09:57:00Z"), now),
            Some(Plan::CoolingDown {
                trigger: base(json!(null)).spec.trigger.unwrap(),
                remaining: Duration::from_secs(7 * 60)
            })
        );
        assert!(matches!(
            plan(&last("2026-02-01T09:50:00Z"), now),
            Some(Plan::Act { .. })
        ));
        let mut bad = last("2026-02-01T09:57:00Z");
        bad.spec.cooldown = Some("soon".into());
        let Some(Plan::Act {
            actions: Err(reason),
            ..
        }) = plan(&bad, now)
        else {
            panic!()
        };
        assert!(reason.contains("spec.cooldown"), "{reason}");
    }

    #[test]
    fn an_action_in_another_namespace_is_refused() {
        let mut rem = base(json!(null));
        rem.spec.actions.push(
            serde_json::from_value(
                json!({"rollback": {"deployment": "db", "namespace": "kube-system"}}),
            )
            .unwrap(),
        );
        let Some(Plan::Act {
            actions: Err(reason),
            ..
        }) = plan(&rem, at("2026-02-01T10:00:00Z"))
        else {
            panic!()
        };
        assert!(
            reason.starts_with("CrossNamespace: rollback names namespace \"kube-system\""),
            "{reason}"
        );
        // Naming its own namespace is fine.
        let mut rem = base(json!(null));
        rem.spec.actions = vec![serde_json::from_value(
            json!({"rollback": {"deployment": "shop", "namespace": "prod"}}),
        )
        .unwrap()];
        assert!(matches!(
            plan(&rem, at("2026-02-01T10:00:00Z")),
            Some(Plan::Act { actions: Ok(_), .. })
        ));
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let mut conditions = Vec::new();
        set_condition(&mut conditions, "Acting", true, "Acting", "a", "t1");
        set_condition(&mut conditions, "Acting", true, "Acting", "b", "t2");
        assert_eq!(
            (
                conditions[0].last_transition_time.as_str(),
                conditions[0].message.as_str()
            ),
            ("t1", "b")
        );
        set_condition(&mut conditions, "Acting", false, "Done", "c", "t3");
        assert_eq!(
            (
                conditions[0].status.as_str(),
                conditions[0].last_transition_time.as_str()
            ),
            ("False", "t3")
        );
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn alert_match_needs_every_label() {
        let m = AlertMatch {
            labels: [
                ("service".into(), "shop".into()),
                ("severity".into(), "page".into()),
            ]
            .into(),
        };
        let alert = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(m.matches(&alert(&[
            ("service", "shop"),
            ("severity", "page"),
            ("x", "y")
        ])));
        assert!(!m.matches(&alert(&[("service", "shop")])));
        assert!(!m.matches(&alert(&[("service", "shop"), ("severity", "ticket")])));
        assert!(AlertMatch::default().matches(&alert(&[])));
        assert!(AlertMatch::default().matches(&alert(&[("service", "cart")])));
        // The first label (by name) that differs is named.
        assert_eq!(
            m.mismatch(&alert(&[("severity", "ticket")])).as_deref(),
            Some(r#"label "service" is missing (want "shop")"#)
        );
        assert_eq!(
            m.mismatch(&alert(&[("service", "shop"), ("severity", "ticket")]))
                .as_deref(),
            Some(r#"label "severity" is "ticket", not "page""#)
        );
        assert_eq!(
            m.mismatch(&alert(&[("service", "Shop"), ("severity", "page")]))
                .as_deref(),
            Some(r#"label "service" is "Shop", not "shop""#)
        );
        assert_eq!(
            m.mismatch(&alert(&[("service", "shop"), ("severity", "page")])),
            None
        );
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate(&"é".repeat(10), 8), "éé..."); // 7 bytes: a third é would make 9
    }
}
