//! [`KubeAction`]: what [`Kube::run`](crate::Kube::run) can do. None of them deletes anything.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{names, Error};

/// One remediation, externally tagged by its snake_case key:
///
/// ```yaml
/// - rollout_restart: {deployment: shop}
/// - scale: {deployment: shop, namespace: prod, by: 2}
/// - scale: {deployment: shop, replicas: 3}
/// - rollback: {deployment: shop}
/// - patch_configmap: {name: shop-flags, data: {CACHE: "off"}}
/// - trigger_remediation:
///     name: shop-restart
///     fingerprint: "{{ fingerprint }}"
///     starts_at: "{{ startsAt }}"
///     labels: {alertname: "{{ labels.alertname }}", service: "{{ labels.service }}"}
/// ```
///
/// (The `{{ ... }}` templates are the healer's: it fills an action's string values from the
/// alert before handing it over; this crate sees only the rendered strings.)
///
/// A missing `namespace` is the default namespace of the client (in a Remediation: the
/// Remediation's own namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KubeAction {
    /// Restarts a Deployment's pods the way `kubectl rollout restart` does: a strategic-merge
    /// patch setting the pod template's `kubectl.kubernetes.io/restartedAt` annotation.
    RolloutRestart(DeploymentRef),
    /// Sets (`replicas`) or changes (`by`, clamped at 0) a Deployment's replicas through its
    /// `scale` subresource, conditional on the resourceVersion read.
    Scale(Scale),
    /// Rolls a Deployment back to its previous revision the way `kubectl rollout undo` does:
    /// the pod template of the ReplicaSet with the second-highest revision, without its
    /// `pod-template-hash` label.
    Rollback(DeploymentRef),
    /// Sets keys of a ConfigMap's `data` (a merge patch, conditional on the resourceVersion
    /// read). Keys not named are kept; none is removed.
    PatchConfigmap(ConfigMapPatch),
    /// Hands an incident to the operator: a merge patch of a `Remediation`'s `spec.trigger`
    /// (`fingerprint`, `startsAt`, `labels`; label keys of the previous trigger not given are
    /// removed). The Remediation must exist (none is created). An equal trigger sends nothing.
    TriggerRemediation(TriggerRemediation),
}

/// A Deployment, by name and optional namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRef {
    /// The Deployment's name.
    pub deployment: String,
    /// Its namespace; none: the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A `scale` action: exactly one of `replicas` and `by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "ScaleFields", into = "ScaleFields")]
pub struct Scale {
    /// The Deployment's name.
    pub deployment: String,
    /// Its namespace; none: the default one.
    pub namespace: Option<String>,
    /// The replica count wanted.
    pub to: Replicas,
}

/// How a [`Scale`] sets the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// Exactly this many (at least 0).
    Exactly(i32),
    /// The current count plus this (negative to scale down), clamped at 0.
    By(i32),
}

impl Replicas {
    /// The count wanted when the Deployment has `current` replicas.
    pub fn target(self, current: i32) -> i32 {
        match self {
            Replicas::Exactly(n) => n,
            Replicas::By(delta) => current.saturating_add(delta).max(0),
        }
    }
}

/// The wire form of [`Scale`]. In the CRD, a CEL rule makes the API server refuse a Remediation
/// whose `scale` has both or neither of `replicas` and `by`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.replicas) != has(self.by)",
    "message": "give exactly one of replicas and by"
}]))]
struct ScaleFields {
    /// The Deployment's name.
    deployment: String,
    /// Its namespace; none: the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// Set the replicas to exactly this (at least 0). Exactly one of `replicas` and `by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    replicas: Option<i32>,
    /// Add this to the current replicas (negative scales down; the result is clamped at 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<i32>,
}

impl TryFrom<ScaleFields> for Scale {
    type Error = String;

    fn try_from(f: ScaleFields) -> Result<Scale, String> {
        let to = match (f.replicas, f.by) {
            (Some(n), None) if n < 0 => {
                return Err(format!("replicas must be at least 0, got {n}"))
            }
            (Some(n), None) => Replicas::Exactly(n),
            (None, Some(delta)) => Replicas::By(delta),
            (Some(_), Some(_)) => return Err("give either `replicas` or `by`, not both".into()),
            (None, None) => return Err("give one of `replicas` and `by`".into()),
        };
        Ok(Scale {
            deployment: f.deployment,
            namespace: f.namespace,
            to,
        })
    }
}

impl From<Scale> for ScaleFields {
    fn from(s: Scale) -> ScaleFields {
        let (replicas, by) = match s.to {
            Replicas::Exactly(n) => (Some(n), None),
            Replicas::By(delta) => (None, Some(delta)),
        };
        ScaleFields {
            deployment: s.deployment,
            namespace: s.namespace,
            replicas,
            by,
        }
    }
}

/// A `patch_configmap` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigMapPatch {
    /// The ConfigMap's name.
    pub name: String,
    /// Its namespace; none: the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The keys to set and their values (at least one).
    pub data: BTreeMap<String, String>,
}

/// A `trigger_remediation` action: the incident to write into a Remediation's `spec.trigger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRemediation {
    /// The Remediation's name.
    pub name: String,
    /// Its namespace; none: the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The alert's fingerprint (written as `spec.trigger.fingerprint`).
    pub fingerprint: String,
    /// The alert's `startsAt`, RFC 3339 (written as `spec.trigger.startsAt`).
    pub starts_at: String,
    /// The alert's labels (written as `spec.trigger.labels`), which the operator checks against
    /// the Remediation's `spec.match.labels` before acting.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl KubeAction {
    /// The action's snake_case key, e.g. `rollout_restart`.
    pub fn key(&self) -> &'static str {
        match self {
            KubeAction::RolloutRestart(_) => "rollout_restart",
            KubeAction::Scale(_) => "scale",
            KubeAction::Rollback(_) => "rollback",
            KubeAction::PatchConfigmap(_) => "patch_configmap",
            KubeAction::TriggerRemediation(_) => "trigger_remediation",
        }
    }

    /// The object acted on: its kind (`deployment`, `configmap`, `remediation`) and name.
    pub fn target(&self) -> (&'static str, &str) {
        match self {
            KubeAction::RolloutRestart(d) | KubeAction::Rollback(d) => {
                ("deployment", &d.deployment)
            }
            KubeAction::Scale(s) => ("deployment", &s.deployment),
            KubeAction::PatchConfigmap(c) => ("configmap", &c.name),
            KubeAction::TriggerRemediation(t) => ("remediation", &t.name),
        }
    }

    /// The namespace the action names, if any.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            KubeAction::RolloutRestart(d) | KubeAction::Rollback(d) => d.namespace.as_deref(),
            KubeAction::Scale(s) => s.namespace.as_deref(),
            KubeAction::PatchConfigmap(c) => c.namespace.as_deref(),
            KubeAction::TriggerRemediation(t) => t.namespace.as_deref(),
        }
    }

    /// Checks names, namespaces and ConfigMap keys (what the API server would refuse, and
    /// anything that could change a request's path), and a trigger's fingerprint, `starts_at`
    /// (RFC 3339) and label names.
    pub fn validate(&self) -> Result<(), Error> {
        let what = format!("action {}", self.key());
        let invalid = |reason: String| Error::invalid(what.clone(), reason);
        let (kind, name) = self.target();
        names::object(kind, name).map_err(invalid)?;
        if let Some(namespace) = self.namespace() {
            names::namespace(namespace).map_err(invalid)?;
        }
        if let KubeAction::PatchConfigmap(c) = self {
            if c.data.is_empty() {
                return Err(invalid("data must set at least one key".into()));
            }
            for key in c.data.keys() {
                names::configmap_key(key).map_err(invalid)?;
            }
        }
        if let KubeAction::TriggerRemediation(t) = self {
            if t.fingerprint.trim().is_empty() {
                return Err(invalid("fingerprint must not be empty".into()));
            }
            if t.fingerprint.len() > 256 {
                return Err(invalid(format!(
                    "fingerprint {:?} is longer than 256 characters",
                    t.fingerprint
                )));
            }
            if let Err(e) = chrono::DateTime::parse_from_rfc3339(&t.starts_at) {
                return Err(invalid(format!(
                    "starts_at {:?} is not an RFC 3339 time: {e}",
                    t.starts_at
                )));
            }
            if let Some(name) = t.labels.keys().find(|k| k.trim().is_empty()) {
                return Err(invalid(format!("label name {name:?} is empty")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<KubeAction, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn every_action_parses_by_its_key() {
        assert_eq!(
            parse(r#"{"rollout_restart": {"deployment": "shop"}}"#).unwrap(),
            KubeAction::RolloutRestart(DeploymentRef {
                deployment: "shop".into(),
                namespace: None
            })
        );
        assert_eq!(
            parse(r#"{"scale": {"deployment": "shop", "namespace": "prod", "by": -2}}"#).unwrap(),
            KubeAction::Scale(Scale {
                deployment: "shop".into(),
                namespace: Some("prod".into()),
                to: Replicas::By(-2)
            })
        );
        assert_eq!(
            parse(r#"{"scale": {"deployment": "shop", "replicas": 0}}"#).unwrap(),
            KubeAction::Scale(Scale {
                deployment: "shop".into(),
                namespace: None,
                to: Replicas::Exactly(0)
            })
        );
        assert_eq!(
            parse(r#"{"rollback": {"deployment": "shop"}}"#)
                .unwrap()
                .key(),
            "rollback"
        );
        let patch = parse(r#"{"patch_configmap": {"name": "flags", "data": {"A": "1"}}}"#).unwrap();
        assert_eq!(patch.target(), ("configmap", "flags"));
        let trigger = parse(
            r#"{"trigger_remediation": {"name": "shop-restart", "namespace": "prod",
                "fingerprint": "a1b2", "starts_at": "2026-02-01T09:58:00Z",
                "labels": {"service": "shop"}}}"#,
        )
        .unwrap();
        assert_eq!(
            trigger,
            KubeAction::TriggerRemediation(TriggerRemediation {
                name: "shop-restart".into(),
                namespace: Some("prod".into()),
                fingerprint: "a1b2".into(),
                starts_at: "2026-02-01T09:58:00Z".into(),
                labels: [("service".to_string(), "shop".to_string())].into(),
            })
        );
        assert_eq!(
            (trigger.key(), trigger.target(), trigger.namespace()),
            (
                "trigger_remediation",
                ("remediation", "shop-restart"),
                Some("prod")
            )
        );
        // Labels may be left out.
        let bare = parse(
            r#"{"trigger_remediation": {"name": "r", "fingerprint": "f", "starts_at": "2026-02-01T09:58:00Z"}}"#,
        )
        .unwrap();
        let KubeAction::TriggerRemediation(bare) = bare else {
            panic!()
        };
        assert!(bare.labels.is_empty());
    }

    #[test]
    fn malformed_actions_are_refused_naming_the_problem() {
        for (json, needle) in [
            (
                r#"{"restart": {"deployment": "shop"}}"#,
                "unknown variant `restart`",
            ),
            (
                r#"{"rollback": {"deployment": "shop", "revision": 3}}"#,
                "unknown field `revision`",
            ),
            (
                r#"{"scale": {"deployment": "shop"}}"#,
                "give one of `replicas` and `by`",
            ),
            (
                r#"{"scale": {"deployment": "shop", "replicas": 1, "by": 1}}"#,
                "not both",
            ),
            (
                r#"{"scale": {"deployment": "shop", "replicas": -1}}"#,
                "at least 0",
            ),
            (
                r#"{"scale": {"deployment": "shop", "by": 1, "max": 3}}"#,
                "unknown field `max`",
            ),
            (
                r#"{"patch_configmap": {"name": "f"}}"#,
                "missing field `data`",
            ),
            (
                r#"{"trigger_remediation": {"name": "r", "fingerprint": "f"}}"#,
                "missing field `starts_at`",
            ),
            (
                r#"{"trigger_remediation": {"name": "r", "fingerprint": "f", "startsAt": "x"}}"#,
                "unknown field `startsAt`",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn serializes_back_to_the_same_form() {
        for json in [
            r#"{"rollout_restart":{"deployment":"shop"}}"#,
            r#"{"scale":{"deployment":"shop","namespace":"prod","by":-2}}"#,
            r#"{"scale":{"deployment":"shop","replicas":3}}"#,
            r#"{"rollback":{"deployment":"shop","namespace":"prod"}}"#,
            r#"{"patch_configmap":{"name":"flags","data":{"A":"1","B":"2"}}}"#,
            r#"{"trigger_remediation":{"name":"r","namespace":"prod","fingerprint":"f","starts_at":"2026-02-01T09:58:00Z","labels":{"a":"1"}}}"#,
            r#"{"trigger_remediation":{"name":"r","fingerprint":"f","starts_at":"2026-02-01T09:58:00.123Z"}}"#,
        ] {
            assert_eq!(serde_json::to_string(&parse(json).unwrap()).unwrap(), json);
        }
    }

    #[test]
    fn by_clamps_at_zero_and_saturates() {
        assert_eq!(Replicas::By(-5).target(3), 0);
        assert_eq!(Replicas::By(-3).target(3), 0);
        assert_eq!(Replicas::By(-1).target(3), 2);
        assert_eq!(Replicas::By(2).target(3), 5);
        assert_eq!(Replicas::By(i32::MAX).target(3), i32::MAX);
        assert_eq!(Replicas::By(i32::MIN).target(-1), 0);
        assert_eq!(Replicas::Exactly(7).target(3), 7);
    }

    #[test]
    fn validate_checks_names_and_keys() {
        let bad = [
            r#"{"rollout_restart": {"deployment": "../secrets"}}"#,
            r#"{"rollback": {"deployment": "shop", "namespace": "Prod"}}"#,
            r#"{"patch_configmap": {"name": "flags", "data": {}}}"#,
            r#"{"patch_configmap": {"name": "flags", "data": {"a/b": "1"}}}"#,
            r#"{"trigger_remediation": {"name": "Shop", "fingerprint": "f", "starts_at": "2026-02-01T09:58:00Z"}}"#,
            r#"{"trigger_remediation": {"name": "r", "namespace": "a/b", "fingerprint": "f", "starts_at": "2026-02-01T09:58:00Z"}}"#,
            r#"{"trigger_remediation": {"name": "r", "fingerprint": " ", "starts_at": "2026-02-01T09:58:00Z"}}"#,
            r#"{"trigger_remediation": {"name": "r", "fingerprint": "f", "starts_at": "{{ startsAt }}"}}"#,
            r#"{"trigger_remediation": {"name": "r", "fingerprint": "f", "starts_at": "2026-02-01T09:58:00Z", "labels": {"": "x"}}}"#,
        ];
        for json in bad {
            let err = parse(json).unwrap().validate().unwrap_err().to_string();
            assert!(err.starts_with("invalid action "), "{json}: {err}");
        }
        parse(r#"{"scale": {"deployment": "shop.v2", "namespace": "prod", "by": 1}}"#)
            .unwrap()
            .validate()
            .unwrap();
        parse(
            r#"{"trigger_remediation": {"name": "shop-restart", "fingerprint": "a1b2",
                "starts_at": "2026-02-01T09:58:00.123+01:00", "labels": {"service": "shop"}}}"#,
        )
        .unwrap()
        .validate()
        .unwrap();
    }
}
