//! Kubernetes remediation actions for `ballast heal`, and an operator mode.
//!
//! [`KubeConfig`] says how to reach the API server; [`KubeConfig::build`] makes a [`Kube`],
//! whose [`Kube::run`] carries out one [`KubeAction`] and answers an [`Outcome`] with the
//! before and after of what it changed:
//!
//! - `rollout_restart`: as `kubectl rollout restart` (a strategic-merge patch of the pod
//!   template's `kubectl.kubernetes.io/restartedAt` annotation);
//! - `scale`: `replicas` (exactly) or `by` (relative, clamped at 0), a merge patch of the
//!   `scale` subresource, conditional on the resourceVersion read;
//! - `rollback`: as `kubectl rollout undo` (the pod template of the ReplicaSet with the
//!   previous revision, minus `pod-template-hash`, through a JSON patch);
//! - `patch_configmap`: a merge patch of `data`, conditional on the resourceVersion read;
//! - `trigger_remediation`: a merge patch of a `Remediation`'s `spec.trigger` (fingerprint,
//!   `startsAt`, labels), which hands the incident to the [`operator`]; the Remediation must
//!   exist.
//!
//! No action deletes anything. Every change names the field manager `ballast-kube` and asks
//! for strict field validation. API errors keep the API server's reason and message
//! ([`Error::Api`]).
//!
//! [`operator`] runs a controller for the `Remediation` custom resource
//! (`heal.ballast.dev/v1alpha1`), whose CRD [`operator::crd_yaml`] writes
//! (checked in at `deploy/crds/remediation.yaml`). The healer connects to it through
//! `trigger_remediation` (its `kubernetes: { trigger_remediation: {...} }` action, the string
//! values filled from the alert with `{{ labels.NAME }}`, `{{ fingerprint }}` and
//! `{{ startsAt }}`); the controller acts on a trigger only when its labels match the
//! Remediation's `spec.match.labels`.
//!
//! The crate is built on kube-rs (rustls with ring, no OpenSSL) and k8s-openapi's `v1_34`
//! types. Its tests run kube's real client against a loopback server answering with API
//! responses written from the published Kubernetes API reference (there is no API server on
//! the test machines), and check every request body against k8s-openapi's types.
//!
//! ```
//! use ballast_kube::{KubeAction, KubeConfig};
//!
//! let actions: Vec<KubeAction> = serde_json::from_str(r#"[
//!     {"rollout_restart": {"deployment": "shop"}},
//!     {"scale": {"deployment": "shop", "namespace": "prod", "by": 2}},
//!     {"rollback": {"deployment": "shop"}},
//!     {"patch_configmap": {"name": "shop-flags", "data": {"CACHE": "off"}}},
//!     {"trigger_remediation": {"name": "shop-restart", "fingerprint": "a1b2c3d4e5f60718",
//!         "starts_at": "2026-02-01T09:58:00Z", "labels": {"service": "shop"}}}
//! ]"#).unwrap();
//! for action in &actions {
//!     action.validate().unwrap();
//!     println!("{} {:?}", action.key(), action.target());
//! }
//! assert_eq!(actions[1].namespace(), Some("prod"));
//!
//! // `by` and `replicas` exclude each other; unknown fields are refused.
//! assert!(serde_json::from_str::<KubeAction>(
//!     r#"{"scale": {"deployment": "shop", "by": 1, "replicas": 2}}"#).is_err());
//!
//! let config: KubeConfig = serde_json::from_str(r#"{"context": "prod"}"#).unwrap();
//! config.validate().unwrap();
//! // With a cluster: `let outcome = config.build().await?.run(&actions[0]).await?;`
//! ```

mod action;
mod client;
mod config;
mod error;
mod names;
pub mod operator;
mod outcome;
mod selector;

pub use crate::action::{
    ConfigMapPatch, DeploymentRef, KubeAction, Replicas, Scale, TriggerRemediation,
};
pub use crate::client::{Kube, FIELD_MANAGER, POD_TEMPLATE_HASH, RESTARTED_AT, REVISION};
pub use crate::config::{KubeConfig, MAX_TIMEOUT};
pub use crate::error::Error;
pub use crate::outcome::{Change, Outcome};
