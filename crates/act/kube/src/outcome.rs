//! [`Outcome`]: what an action changed, before and after.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What [`Kube::run`](crate::Kube::run) did. `after` values are the API server's answer to
/// the change, not what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The action's key, e.g. `scale`.
    pub action: String,
    /// The namespace acted in.
    pub namespace: String,
    /// The object acted on, `deployment/shop`, `configmap/shop-flags` or
    /// `remediation/shop-restart`.
    pub target: String,
    /// Whether a change was sent (false: the object already was as asked, nothing was sent).
    pub changed: bool,
    /// One line for people, e.g. `scaled deployment prod/shop from 2 to 4 replicas`.
    pub summary: String,
    /// The details, by action.
    pub change: Change,
}

/// The details of an [`Outcome`], tagged by the action's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// `rollout_restart`.
    RolloutRestart {
        /// The `kubectl.kubernetes.io/restartedAt` value set (RFC 3339, UTC).
        restarted_at: String,
        /// The value it replaced, if the Deployment had been restarted before.
        previous_restarted_at: Option<String>,
        /// `metadata.generation` before.
        generation_before: Option<i64>,
        /// `metadata.generation` in the API server's answer to the patch.
        generation_after: Option<i64>,
    },
    /// `scale`.
    Scale {
        /// `spec.replicas` before.
        replicas_before: i32,
        /// `spec.replicas` after.
        replicas_after: i32,
    },
    /// `rollback`.
    Rollback {
        /// The revision that was current (the Deployment's `deployment.kubernetes.io/revision`).
        from_revision: i64,
        /// The revision whose pod template was restored (the Deployment controller records it
        /// under a new, higher revision number).
        to_revision: i64,
        /// The ReplicaSet of `to_revision`.
        to_replicaset: String,
        /// Container images before, in template order.
        images_before: Vec<String>,
        /// Container images after.
        images_after: Vec<String>,
    },
    /// `patch_configmap`.
    PatchConfigmap {
        /// Keys whose value changed.
        changed_keys: Vec<String>,
        /// Keys that did not exist before.
        added_keys: Vec<String>,
        /// Keys named that already had the value asked.
        unchanged_keys: Vec<String>,
        /// The previous values of the changed keys (what an undo would set back).
        before: BTreeMap<String, String>,
    },
    /// `trigger_remediation`.
    TriggerRemediation {
        /// The fingerprint written to `spec.trigger`.
        fingerprint: String,
        /// The `startsAt` written.
        starts_at: String,
        /// The labels written.
        labels: BTreeMap<String, String>,
        /// The fingerprint of the trigger it replaced, if the Remediation had one.
        previous_fingerprint: Option<String>,
        /// The `startsAt` of the trigger it replaced.
        previous_starts_at: Option<String>,
    },
}
