//! [`Kube`]: the client, and the five actions.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec};
use kube::api::{ListParams, Patch, PatchParams, ValidationDirective};
use kube::{Api, Client};
use serde_json::json;

use crate::action::{ConfigMapPatch, DeploymentRef, Scale, TriggerRemediation};
use crate::error::Target;
use crate::operator::{Remediation, Trigger};
use crate::outcome::{Change, Outcome};
use crate::selector;
use crate::{Error, KubeAction};

/// The field manager named on every change.
pub const FIELD_MANAGER: &str = "ballast-kube";
/// The pod template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The annotation holding a Deployment's (and its ReplicaSets') revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label the Deployment controller adds to its ReplicaSets' pod templates.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Deployment annotations that a rollback keeps from the Deployment rather than taking from the
/// ReplicaSet (kubectl's list).
const ROLLBACK_KEPT_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// A client for the actions, built by [`KubeConfig::build`](crate::KubeConfig::build).
#[derive(Clone)]
pub struct Kube {
    client: Client,
    config: kube::Config,
    namespace: String,
    timeout: Duration,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("cluster_url", &self.config.cluster_url.to_string())
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Kube {
    pub(crate) fn from_config(mut config: kube::Config, timeout: Duration) -> Result<Kube, Error> {
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        let client = Client::try_from(config.clone()).map_err(|e| Error::Client(Box::new(e)))?;
        Ok(Kube {
            client,
            namespace: config.default_namespace.clone(),
            config,
            timeout,
        })
    }

    /// The namespace of actions that name none.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The underlying kube client (per-request timeouts applied).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A client on the same configuration without the read timeout, for watches (the API
    /// server holds a watch open for minutes).
    pub(crate) fn watch_client(&self) -> Result<Client, Error> {
        let mut config = self.config.clone();
        config.read_timeout = None;
        Client::try_from(config).map_err(|e| Error::Client(Box::new(e)))
    }

    /// Validates and runs one action, within three times the per-request timeout.
    pub async fn run(&self, action: &KubeAction) -> Result<Outcome, Error> {
        action.validate()?;
        let deadline = self.timeout.saturating_mul(3);
        let work = async {
            match action {
                KubeAction::RolloutRestart(d) => self.rollout_restart(d).await,
                KubeAction::Scale(s) => self.scale(s).await,
                KubeAction::Rollback(d) => self.rollback(d).await,
                KubeAction::PatchConfigmap(c) => self.patch_configmap(c).await,
                KubeAction::TriggerRemediation(t) => self.trigger_remediation(t).await,
            }
        };
        let outcome =
            tokio::time::timeout(deadline, work)
                .await
                .map_err(|_| Error::Timeout {
                    action: action.key(),
                    after: deadline,
                })??;
        tracing::info!(action = action.key(), target = %outcome.target,
            namespace = %outcome.namespace, changed = outcome.changed, "{}", outcome.summary);
        Ok(outcome)
    }

    fn ns<'a>(&'a self, named: &'a Option<String>) -> &'a str {
        named.as_deref().unwrap_or(&self.namespace)
    }

    fn params() -> PatchParams {
        PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            field_validation: Some(ValidationDirective::Strict),
            ..PatchParams::default()
        }
    }

    async fn rollout_restart(&self, d: &DeploymentRef) -> Result<Outcome, Error> {
        let ns = self.ns(&d.namespace);
        let name = d.deployment.as_str();
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let target = |verb| Target {
            verb,
            resource: "deployments.apps",
            namespace: ns,
            name,
        };
        let before = api.get(name).await.map_err(|e| target("get").err(e))?;
        if paused(&before) {
            return Err(Error::Paused {
                action: "rollout_restart",
                namespace: ns.into(),
                name: name.into(),
            });
        }
        let previous = template_annotation(&before, RESTARTED_AT);
        let restarted_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}});
        let after = api
            .patch(name, &Self::params(), &Patch::Strategic(patch))
            .await
            .map_err(|e| target("patch").err(e))?;
        Ok(Outcome {
            action: "rollout_restart".into(),
            namespace: ns.into(),
            target: format!("deployment/{name}"),
            changed: true,
            summary: format!("restarted deployment {ns}/{name} (restartedAt {restarted_at})"),
            change: Change::RolloutRestart {
                restarted_at,
                previous_restarted_at: previous,
                generation_before: before.metadata.generation,
                generation_after: after.metadata.generation,
            },
        })
    }

    async fn scale(&self, s: &Scale) -> Result<Outcome, Error> {
        let ns = self.ns(&s.namespace);
        let name = s.deployment.as_str();
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let target = |verb| Target {
            verb,
            resource: "deployments.apps/scale",
            namespace: ns,
            name,
        };
        let scale = api
            .get_scale(name)
            .await
            .map_err(|e| target("get").err(e))?;
        let before = scale
            .spec
            .as_ref()
            .and_then(|spec| spec.replicas)
            .unwrap_or(0);
        let wanted = s.to.target(before);
        let outcome = |after: i32, changed: bool| Outcome {
            action: "scale".into(),
            namespace: ns.into(),
            target: format!("deployment/{name}"),
            changed,
            summary: if changed {
                format!("scaled deployment {ns}/{name} from {before} to {after} replicas")
            } else {
                format!("deployment {ns}/{name} already has {before} replicas")
            },
            change: Change::Scale {
                replicas_before: before,
                replicas_after: after,
            },
        };
        if wanted == before {
            return Ok(outcome(before, false));
        }
        // The resourceVersion read makes the patch conditional: a concurrent change answers 409.
        let patch = json!({
            "metadata": {"resourceVersion": scale.metadata.resource_version},
            "spec": {"replicas": wanted},
        });
        let after = api
            .patch_scale(name, &Self::params(), &Patch::Merge(patch))
            .await
            .map_err(|e| target("patch").err(e))?;
        let after = after.spec.and_then(|spec| spec.replicas).ok_or_else(|| {
            Error::Unexpected(format!(
                "the scale of deployment {ns}/{name} came back without spec.replicas"
            ))
        })?;
        Ok(outcome(after, true))
    }

    async fn rollback(&self, d: &DeploymentRef) -> Result<Outcome, Error> {
        let ns = self.ns(&d.namespace);
        let name = d.deployment.as_str();
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let target = |verb| Target {
            verb,
            resource: "deployments.apps",
            namespace: ns,
            name,
        };
        let deployment = deployments
            .get(name)
            .await
            .map_err(|e| target("get").err(e))?;
        if paused(&deployment) {
            return Err(Error::Paused {
                action: "rollback",
                namespace: ns.into(),
                name: name.into(),
            });
        }
        let spec = deployment.spec.as_ref().ok_or_else(|| {
            Error::Unexpected(format!("deployment {ns}/{name} came back without a spec"))
        })?;
        let labels = selector::to_query(&spec.selector)?;
        let replicasets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let list = replicasets
            .list(&ListParams::default().labels(&labels))
            .await
            .map_err(|e| {
                Target {
                    verb: "list",
                    resource: "replicasets.apps",
                    namespace: ns,
                    name: &labels,
                }
                .err(e)
            })?;
        let uid = deployment.metadata.uid.as_deref();
        let owned: Vec<&ReplicaSet> = list
            .items
            .iter()
            .filter(|rs| {
                rs.metadata.owner_references.iter().flatten().any(|o| {
                    o.controller == Some(true)
                        && o.kind == "Deployment"
                        && Some(o.uid.as_str()) == uid
                })
            })
            .collect();
        let (latest, previous) = latest_and_previous(&owned);
        let (Some((from_revision, _)), Some((to_revision, rs))) = (latest, previous) else {
            return Err(Error::NoPreviousRevision {
                namespace: ns.into(),
                name: name.into(),
            });
        };
        let from_revision = annotation(&deployment.metadata.annotations, REVISION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(from_revision);
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        let mut template = rs
            .spec
            .as_ref()
            .and_then(|spec| spec.template.clone())
            .ok_or_else(|| {
                Error::Unexpected(format!("replicaset {ns}/{rs_name} has no pod template"))
            })?;
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        let images_before = images(&spec.template);
        let outcome = |changed: bool, images_after: Vec<String>| Outcome {
            action: "rollback".into(),
            namespace: ns.into(),
            target: format!("deployment/{name}"),
            changed,
            summary: if changed {
                format!("rolled back deployment {ns}/{name} from revision {from_revision} to revision {to_revision}")
            } else {
                format!("deployment {ns}/{name}: skipped rollback (the current template already matches revision {to_revision})")
            },
            change: Change::Rollback {
                from_revision,
                to_revision,
                to_replicaset: rs_name.clone(),
                images_before: images_before.clone(),
                images_after,
            },
        };
        if same_template(&spec.template, &template) {
            return Ok(outcome(false, images_before.clone()));
        }
        let mut annotations = BTreeMap::new();
        let current = deployment.metadata.annotations.clone().unwrap_or_default();
        for key in ROLLBACK_KEPT_ANNOTATIONS {
            if let Some(v) = current.get(key) {
                annotations.insert(key.to_string(), v.clone());
            }
        }
        for (k, v) in rs.metadata.annotations.iter().flatten() {
            if !ROLLBACK_KEPT_ANNOTATIONS.contains(&k.as_str()) {
                annotations.insert(k.clone(), v.clone());
            }
        }
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]))
        .map_err(|e| Error::Unexpected(format!("building the rollback patch: {e}")))?;
        let after = deployments
            .patch(name, &Self::params(), &Patch::<()>::Json(patch))
            .await
            .map_err(|e| target("patch").err(e))?;
        let images_after = after
            .spec
            .as_ref()
            .map(|s| images(&s.template))
            .unwrap_or_default();
        Ok(outcome(true, images_after))
    }

    async fn patch_configmap(&self, c: &ConfigMapPatch) -> Result<Outcome, Error> {
        let ns = self.ns(&c.namespace);
        let name = c.name.as_str();
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let target = |verb| Target {
            verb,
            resource: "configmaps",
            namespace: ns,
            name,
        };
        let current = api.get(name).await.map_err(|e| target("get").err(e))?;
        let data = current.data.clone().unwrap_or_default();
        let (mut changed_keys, mut added_keys, mut unchanged_keys) = (vec![], vec![], vec![]);
        let mut before = BTreeMap::new();
        let mut send = serde_json::Map::new();
        for (key, value) in &c.data {
            match data.get(key) {
                Some(old) if old == value => unchanged_keys.push(key.clone()),
                Some(old) => {
                    changed_keys.push(key.clone());
                    before.insert(key.clone(), old.clone());
                    send.insert(key.clone(), value.clone().into());
                }
                None => {
                    added_keys.push(key.clone());
                    send.insert(key.clone(), value.clone().into());
                }
            }
        }
        let changed = !send.is_empty();
        if changed {
            let patch = json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "data": send,
            });
            let after = api
                .patch(name, &Self::params(), &Patch::Merge(patch))
                .await
                .map_err(|e| target("patch").err(e))?;
            let after = after.data.unwrap_or_default();
            if let Some(key) = c
                .data
                .iter()
                .find(|(k, v)| after.get(*k) != Some(v))
                .map(|(k, _)| k)
            {
                return Err(Error::Unexpected(format!(
                    "configmap {ns}/{name}: the API server's answer does not hold the value set for {key:?}"
                )));
            }
        }
        let summary = if changed {
            format!(
                "patched configmap {ns}/{name}: changed [{}], added [{}]",
                changed_keys.join(", "),
                added_keys.join(", ")
            )
        } else {
            format!("configmap {ns}/{name} already holds every value asked")
        };
        Ok(Outcome {
            action: "patch_configmap".into(),
            namespace: ns.into(),
            target: format!("configmap/{name}"),
            changed,
            summary,
            change: Change::PatchConfigmap {
                changed_keys,
                added_keys,
                unchanged_keys,
                before,
            },
        })
    }

    async fn trigger_remediation(&self, t: &TriggerRemediation) -> Result<Outcome, Error> {
        let ns = self.ns(&t.namespace);
        let name = t.name.as_str();
        let api: Api<Remediation> = Api::namespaced(self.client.clone(), ns);
        let target = |verb| Target {
            verb,
            resource: "remediations.heal.ballast.dev",
            namespace: ns,
            name,
        };
        // Read first: a missing Remediation is refused with the API server's 404 (a merge
        // patch would not create one either), and the previous trigger is reported.
        let current = api.get(name).await.map_err(|e| target("get").err(e))?;
        let previous = current.spec.trigger.clone();
        let wanted = Trigger {
            fingerprint: t.fingerprint.clone(),
            starts_at: t.starts_at.clone(),
            labels: t.labels.clone(),
        };
        let changed = previous.as_ref() != Some(&wanted);
        if changed {
            let patch = trigger_patch(previous.as_ref(), &wanted);
            let after = api
                .patch(name, &Self::params(), &Patch::Merge(patch))
                .await
                .map_err(|e| target("patch").err(e))?;
            if after.spec.trigger.as_ref() != Some(&wanted) {
                return Err(Error::Unexpected(format!(
                    "remediation {ns}/{name}: the API server's answer does not hold the trigger set ({:?})",
                    after.spec.trigger
                )));
            }
        }
        let summary = match (&previous, changed) {
            (_, false) => format!("remediation {ns}/{name} already has trigger {wanted}"),
            (Some(p), true) => format!("triggered remediation {ns}/{name}: {wanted} (was {p})"),
            (None, true) => format!("triggered remediation {ns}/{name}: {wanted}"),
        };
        Ok(Outcome {
            action: "trigger_remediation".into(),
            namespace: ns.into(),
            target: format!("remediation/{name}"),
            changed,
            summary,
            change: Change::TriggerRemediation {
                fingerprint: wanted.fingerprint,
                starts_at: wanted.starts_at,
                labels: wanted.labels,
                previous_fingerprint: previous.as_ref().map(|p| p.fingerprint.clone()),
                previous_starts_at: previous.map(|p| p.starts_at),
            },
        })
    }
}

/// The merge patch setting `spec.trigger` to `wanted`: a merge patch merges maps, so label
/// keys of the previous trigger that `wanted` lacks are set to null (removed).
pub(crate) fn trigger_patch(previous: Option<&Trigger>, wanted: &Trigger) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> = wanted
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    for key in previous.iter().flat_map(|p| p.labels.keys()) {
        if !wanted.labels.contains_key(key) {
            labels.insert(key.clone(), serde_json::Value::Null);
        }
    }
    json!({"spec": {"trigger": {
        "fingerprint": wanted.fingerprint,
        "startsAt": wanted.starts_at,
        "labels": labels,
    }}})
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused) == Some(true)
}

fn annotation(map: &Option<BTreeMap<String, String>>, key: &str) -> Option<String> {
    map.as_ref().and_then(|m| m.get(key)).cloned()
}

fn template_annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| annotation(&m.annotations, key))
}

fn images(t: &PodTemplateSpec) -> Vec<String> {
    t.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| c.image.clone().unwrap_or_default())
        .collect()
}

/// A ReplicaSet and its revision.
pub(crate) type Revision<'a> = (i64, &'a ReplicaSet);

/// The newest and second-newest revisions among the ReplicaSets, as kubectl picks them (an
/// unparseable revision annotation is skipped; a missing one counts as revision 0).
pub(crate) fn latest_and_previous<'a>(
    sets: &[&'a ReplicaSet],
) -> (Option<Revision<'a>>, Option<Revision<'a>>) {
    let mut latest: Option<Revision<'a>> = None;
    let mut previous: Option<Revision<'a>> = None;
    for rs in sets {
        let revision = match annotation(&rs.metadata.annotations, REVISION) {
            None => 0,
            Some(v) => match v.parse::<i64>() {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        match latest {
            Some((l, _)) if revision <= l => {
                if previous.is_none_or(|(p, _)| p < revision) && revision < l {
                    previous = Some((revision, rs));
                }
            }
            _ => {
                previous = latest;
                latest = Some((revision, rs));
            }
        }
    }
    (latest, previous)
}

/// Whether two pod templates are equal, ignoring `pod-template-hash`.
fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(m) = t.metadata.as_mut() {
            if let Some(labels) = m.labels.as_mut() {
                labels.remove(POD_TEMPLATE_HASH);
                if labels.is_empty() {
                    m.labels = None;
                }
            }
        }
        t
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs(name: &str, revision: Option<&str>) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: revision.map(|r| [(REVISION.to_string(), r.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    type Picked = Option<(i64, String)>;

    fn pick(sets: &[ReplicaSet]) -> (Picked, Picked) {
        let refs: Vec<&ReplicaSet> = sets.iter().collect();
        let (l, p) = latest_and_previous(&refs);
        let name =
            |x: Option<(i64, &ReplicaSet)>| x.map(|(n, rs)| (n, rs.metadata.name.clone().unwrap()));
        (name(l), name(p))
    }

    #[test]
    fn previous_is_the_second_highest_revision_in_any_order() {
        let sets = [
            rs("b", Some("2")),
            rs("d", Some("4")),
            rs("a", Some("1")),
            rs("c", Some("3")),
        ];
        assert_eq!(pick(&sets), (Some((4, "d".into())), Some((3, "c".into()))));
        let sets = [rs("d", Some("4")), rs("c", Some("3"))];
        assert_eq!(pick(&sets), (Some((4, "d".into())), Some((3, "c".into()))));
        let sets = [
            rs("c", Some("3")),
            rs("x", Some("junk")),
            rs("d", Some("10")),
        ];
        assert_eq!(pick(&sets), (Some((10, "d".into())), Some((3, "c".into()))));
    }

    #[test]
    fn one_revision_has_no_previous() {
        assert_eq!(pick(&[rs("a", Some("1"))]), (Some((1, "a".into())), None));
        assert_eq!(pick(&[]), (None, None));
        assert_eq!(pick(&[rs("a", Some("x"))]), (None, None));
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let a = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "shop".to_string())].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut b = a.clone();
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), "abc".into());
        assert!(same_template(&a, &b));
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".into(), "web".into());
        assert!(!same_template(&a, &b));
    }
}
