//! The five actions, run by kube's real client against a loopback server answering with
//! recorded API responses (`tests/fixtures/`, written from the published Kubernetes API
//! reference: see `common/mod.rs`). Each test checks the exact requests sent.

mod common;

use std::collections::BTreeMap;

use ballast_kube::{Change, Error, KubeAction, KubeConfig, RESTARTED_AT};
use common::{fixture_as, strict, ApiServer, Reply::Fixture};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec};
use serde_json::json;

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/prod/deployments/shop";
const SCALE: &str = "/apis/apps/v1/namespaces/prod/deployments/shop/scale";
const REPLICASETS: &str = "/apis/apps/v1/namespaces/prod/replicasets";
const CONFIGMAP: &str = "/api/v1/namespaces/prod/configmaps/shop-flags";
const REMEDIATION: &str =
    "/apis/heal.ballast.dev/v1alpha1/namespaces/prod/remediations/shop-restart";

/// The healer's action once its templates are filled from the alert.
const TRIGGER: &str = r#"{"trigger_remediation": {"name": "shop-restart",
    "fingerprint": "a1b2c3d4e5f60718", "starts_at": "2026-02-01T09:58:00Z",
    "labels": {"alertname": "ShopLatencyHigh", "service": "shop", "severity": "page"}}}"#;

fn action(json: &str) -> KubeAction {
    serde_json::from_str(json).unwrap()
}

fn assert_patch_params(r: &common::Recorded, content_type: &str) {
    assert_eq!(r.method, "PATCH");
    assert_eq!(r.content_type.as_deref(), Some(content_type), "{r:?}");
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("ballast-kube")
    );
    assert_eq!(
        r.query.get("fieldValidation").map(String::as_str),
        Some("Strict")
    );
}

#[tokio::test]
async fn rollout_restart_patches_the_pod_template_annotation_like_kubectl() {
    let server = ApiServer::start(vec![
        (
            "GET",
            DEPLOYMENT,
            vec![Fixture(200, "deployment-shop.json")],
        ),
        (
            "PATCH",
            DEPLOYMENT,
            vec![Fixture(200, "deployment-shop-restarted.json")],
        ),
    ])
    .await;
    let kube = server.kube().await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let outcome = kube
        .run(&action(r#"{"rollout_restart": {"deployment": "shop"}}"#))
        .await
        .unwrap();
    let ended = chrono::Utc::now();

    assert_eq!(
        server.calls(),
        [format!("GET {DEPLOYMENT}"), format!("PATCH {DEPLOYMENT}")]
    );
    let requests = server.requests();
    // The kubeconfig's bearer token and its context's namespace (`prod`) were used.
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer test-token")
    );
    let patch = &requests[1];
    assert_patch_params(patch, "application/strategic-merge-patch+json");
    let _: Deployment = strict(&patch.body);
    let body = patch.json();
    let value = body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        body,
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: value}}}}})
    );
    let at = chrono::DateTime::parse_from_rfc3339(&value).unwrap();
    assert!(
        at >= started && at <= ended,
        "{value} not between {started} and {ended}"
    );

    assert_eq!(outcome.action, "rollout_restart");
    assert_eq!(
        (outcome.namespace.as_str(), outcome.target.as_str()),
        ("prod", "deployment/shop")
    );
    assert!(outcome.changed);
    assert_eq!(
        outcome.change,
        Change::RolloutRestart {
            restarted_at: value,
            previous_restarted_at: Some("2026-01-10T08:00:00Z".into()),
            generation_before: Some(4),
            generation_after: Some(5),
        }
    );
}

#[tokio::test]
async fn a_paused_deployment_is_neither_restarted_nor_rolled_back() {
    let server = ApiServer::start(vec![(
        "GET",
        DEPLOYMENT,
        vec![Fixture(200, "deployment-shop-paused.json")],
    )])
    .await;
    let kube = server.kube().await;
    for json in [
        r#"{"rollout_restart": {"deployment": "shop"}}"#,
        r#"{"rollback": {"deployment": "shop"}}"#,
    ] {
        let err = kube.run(&action(json)).await.unwrap_err();
        assert!(matches!(err, Error::Paused { .. }), "{err}");
        assert!(err.to_string().contains("paused"), "{err}");
    }
    assert!(
        server.calls().iter().all(|c| c.starts_with("GET ")),
        "{:?}",
        server.calls()
    );
}

#[tokio::test]
async fn api_errors_carry_the_status_reason_and_message() {
    let server = ApiServer::start(vec![(
        "GET",
        DEPLOYMENT,
        vec![
            Fixture(404, "status-404-deployment.json"),
            Fixture(403, "status-403-deployment.json"),
        ],
    )])
    .await;
    let kube = server.kube().await;
    let err = kube
        .run(&action(r#"{"rollout_restart": {"deployment": "shop"}}"#))
        .await
        .unwrap_err();
    match &err {
        Error::Api {
            code,
            reason,
            message,
            verb,
            object,
            ..
        } => {
            assert_eq!((*code, reason.as_str(), *verb), (404, "NotFound", "get"));
            assert_eq!(message, "deployments.apps \"shop\" not found");
            assert_eq!(object, "prod/shop");
        }
        other => panic!("not an API error: {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("404 NotFound: deployments.apps \"shop\" not found"),
        "{err}"
    );

    let err = kube
        .run(&action(r#"{"rollback": {"deployment": "shop"}}"#))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(403));
    assert!(
        err.to_string()
            .contains("403 Forbidden: deployments.apps \"shop\" is forbidden"),
        "{err}"
    );
    assert_eq!(
        server.calls(),
        [format!("GET {DEPLOYMENT}"), format!("GET {DEPLOYMENT}")]
    );
}

#[tokio::test]
async fn scale_by_clamps_at_zero_and_patches_the_scale_subresource_conditionally() {
    let server = ApiServer::start(vec![
        ("GET", SCALE, vec![Fixture(200, "scale-shop.json")]),
        ("PATCH", SCALE, vec![Fixture(200, "scale-shop-0.json")]),
    ])
    .await;
    let kube = server.kube().await;
    let outcome = kube
        .run(&action(r#"{"scale": {"deployment": "shop", "by": -5}}"#))
        .await
        .unwrap();
    assert_eq!(
        server.calls(),
        [format!("GET {SCALE}"), format!("PATCH {SCALE}")]
    );
    let patch = &server.requests()[1];
    assert_patch_params(patch, "application/merge-patch+json");
    let sent: Scale = strict(&patch.body);
    assert_eq!(sent.spec.unwrap().replicas, Some(0));
    assert_eq!(
        patch.json(),
        json!({"metadata": {"resourceVersion": "48213"}, "spec": {"replicas": 0}})
    );
    assert_eq!(
        outcome.change,
        Change::Scale {
            replicas_before: 2,
            replicas_after: 0
        }
    );
    assert!(outcome.changed);
    assert_eq!(
        outcome.summary,
        "scaled deployment prod/shop from 2 to 0 replicas"
    );
}

#[tokio::test]
async fn scale_to_replicas_in_a_named_namespace_and_unchanged_sends_nothing() {
    let server = ApiServer::start(vec![
        ("GET", SCALE, vec![Fixture(200, "scale-shop.json")]),
        ("PATCH", SCALE, vec![Fixture(200, "scale-shop-5.json")]),
    ])
    .await;
    let kube = server.kube().await;
    let outcome = kube
        .run(&action(
            r#"{"scale": {"deployment": "shop", "namespace": "prod", "replicas": 5}}"#,
        ))
        .await
        .unwrap();
    assert_eq!(server.requests()[1].json()["spec"], json!({"replicas": 5}));
    assert_eq!(
        outcome.change,
        Change::Scale {
            replicas_before: 2,
            replicas_after: 5
        }
    );

    let same = kube
        .run(&action(
            r#"{"scale": {"deployment": "shop", "replicas": 2}}"#,
        ))
        .await
        .unwrap();
    assert!(!same.changed);
    assert_eq!(
        same.change,
        Change::Scale {
            replicas_before: 2,
            replicas_after: 2
        }
    );
    assert_eq!(server.calls().len(), 3, "{:?}", server.calls());
    assert_eq!(server.calls()[2], format!("GET {SCALE}"));
}

#[tokio::test]
async fn a_concurrent_change_answers_conflict() {
    let server = ApiServer::start(vec![
        ("GET", SCALE, vec![Fixture(200, "scale-shop.json")]),
        ("PATCH", SCALE, vec![Fixture(409, "status-409-scale.json")]),
    ])
    .await;
    let err = server
        .kube()
        .await
        .run(&action(r#"{"scale": {"deployment": "shop", "by": 1}}"#))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(409));
    assert!(
        err.to_string()
            .contains("Conflict: Operation cannot be fulfilled"),
        "{err}"
    );
    assert_eq!(server.requests()[1].json()["spec"], json!({"replicas": 3}));
}

#[tokio::test]
async fn rollback_restores_the_previous_replicaset_template_like_kubectl_rollout_undo() {
    let server = ApiServer::start(vec![
        (
            "GET",
            DEPLOYMENT,
            vec![Fixture(200, "deployment-shop.json")],
        ),
        (
            "GET",
            REPLICASETS,
            vec![Fixture(200, "replicasets-shop.json")],
        ),
        (
            "PATCH",
            DEPLOYMENT,
            vec![Fixture(200, "deployment-shop-rolled-back.json")],
        ),
    ])
    .await;
    let outcome = server
        .kube()
        .await
        .run(&action(r#"{"rollback": {"deployment": "shop"}}"#))
        .await
        .unwrap();
    assert_eq!(
        server.calls(),
        [
            format!("GET {DEPLOYMENT}"),
            format!("GET {REPLICASETS}"),
            format!("PATCH {DEPLOYMENT}")
        ]
    );
    let requests = server.requests();
    assert_eq!(
        requests[1].query.get("labelSelector").map(String::as_str),
        Some("app=shop")
    );
    let patch = &requests[2];
    assert_patch_params(patch, "application/json-patch+json");
    let ops = patch.json();
    let ops = ops.as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(
        (ops[0]["op"].as_str(), ops[0]["path"].as_str()),
        (Some("replace"), Some("/spec/template"))
    );
    assert_eq!(
        (ops[1]["op"].as_str(), ops[1]["path"].as_str()),
        (Some("replace"), Some("/metadata/annotations"))
    );

    // The template is revision 2's (not the foreign revision 9's), without pod-template-hash.
    let sent: PodTemplateSpec = strict(ops[0]["value"].to_string().as_bytes());
    let list: k8s_openapi::List<ReplicaSet> = fixture_as("replicasets-shop.json");
    let rs = list
        .items
        .iter()
        .find(|rs| rs.metadata.name.as_deref() == Some("shop-5c6d7e8f9a"))
        .unwrap();
    let mut expected = rs.spec.clone().unwrap().template.unwrap();
    expected
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .remove("pod-template-hash");
    assert_eq!(sent, expected);
    assert!(!ops[0]["value"].to_string().contains("pod-template-hash"));

    // Annotations, as kubectl makes them: its skipped keys (revision, last-applied,
    // desired/max-replicas, ...) come from the Deployment, every other from the ReplicaSet.
    let annotations: BTreeMap<String, String> =
        serde_json::from_value(ops[1]["value"].clone()).unwrap();
    let current: Deployment = fixture_as("deployment-shop.json");
    let current = current.metadata.annotations.unwrap();
    let expected: BTreeMap<String, String> = [
        ("deployment.kubernetes.io/revision", "3"),
        ("kubernetes.io/change-cause", "image shop:1.2"),
        (
            "kubectl.kubernetes.io/last-applied-configuration",
            current["kubectl.kubernetes.io/last-applied-configuration"].as_str(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(annotations, expected);
    // The ReplicaSet's own revision ("2") and replica annotations are not copied.
    assert!(rs
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .contains_key("deployment.kubernetes.io/desired-replicas"));

    assert_eq!(
        outcome.change,
        Change::Rollback {
            from_revision: 3,
            to_revision: 2,
            to_replicaset: "shop-5c6d7e8f9a".into(),
            images_before: vec!["registry.example/shop:1.3".into()],
            images_after: vec!["registry.example/shop:1.2".into()],
        }
    );
    assert_eq!(
        outcome.summary,
        "rolled back deployment prod/shop from revision 3 to revision 2"
    );
}

#[tokio::test]
async fn rollback_without_a_previous_revision_is_a_clear_error_and_patches_nothing() {
    let server = ApiServer::start(vec![
        (
            "GET",
            DEPLOYMENT,
            vec![Fixture(200, "deployment-shop.json")],
        ),
        (
            "GET",
            REPLICASETS,
            vec![Fixture(200, "replicasets-shop-one-revision.json")],
        ),
    ])
    .await;
    let err = server
        .kube()
        .await
        .run(&action(r#"{"rollback": {"deployment": "shop"}}"#))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoPreviousRevision { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "rollback deployment prod/shop: no rollout history found (no previous revision to roll back to)"
    );
    assert_eq!(
        server.calls(),
        [format!("GET {DEPLOYMENT}"), format!("GET {REPLICASETS}")]
    );
}

#[tokio::test]
async fn patch_configmap_merges_only_the_changed_keys_conditionally() {
    let server = ApiServer::start(vec![
        (
            "GET",
            CONFIGMAP,
            vec![Fixture(200, "configmap-shop-flags.json")],
        ),
        (
            "PATCH",
            CONFIGMAP,
            vec![Fixture(200, "configmap-shop-flags-patched.json")],
        ),
    ])
    .await;
    let outcome = server
        .kube()
        .await
        .run(&action(
            r#"{"patch_configmap": {"name": "shop-flags", "data": {"CACHE": "off", "LOG_LEVEL": "info", "FALLBACK": "forced"}}}"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        server.calls(),
        [format!("GET {CONFIGMAP}"), format!("PATCH {CONFIGMAP}")]
    );
    let patch = &server.requests()[1];
    assert_patch_params(patch, "application/merge-patch+json");
    let _: ConfigMap = strict(&patch.body);
    assert_eq!(
        patch.json(),
        json!({"metadata": {"resourceVersion": "47001"}, "data": {"CACHE": "off", "FALLBACK": "forced"}})
    );
    assert_eq!(
        outcome.change,
        Change::PatchConfigmap {
            changed_keys: vec!["CACHE".into()],
            added_keys: vec!["FALLBACK".into()],
            unchanged_keys: vec!["LOG_LEVEL".into()],
            before: [("CACHE".to_string(), "on".to_string())].into(),
        }
    );
    assert_eq!(outcome.target, "configmap/shop-flags");
}

#[tokio::test]
async fn an_answer_without_the_values_set_is_an_error() {
    // The "patched" answer lacks NEW: the change did not take as asked.
    let server = ApiServer::start(vec![
        (
            "GET",
            CONFIGMAP,
            vec![Fixture(200, "configmap-shop-flags.json")],
        ),
        (
            "PATCH",
            CONFIGMAP,
            vec![Fixture(200, "configmap-shop-flags-patched.json")],
        ),
    ])
    .await;
    let err = server
        .kube()
        .await
        .run(&action(
            r#"{"patch_configmap": {"name": "shop-flags", "data": {"NEW": "1"}}}"#,
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not hold the value set for \"NEW\""),
        "{err}"
    );
}

#[tokio::test]
async fn trigger_remediation_merge_patches_spec_trigger_replacing_the_labels() {
    let server = ApiServer::start(vec![
        (
            "GET",
            REMEDIATION,
            vec![Fixture(200, "remediation-shop-restart.json")],
        ),
        (
            "PATCH",
            REMEDIATION,
            vec![Fixture(200, "remediation-shop-restart-triggered.json")],
        ),
    ])
    .await;
    let outcome = server.kube().await.run(&action(TRIGGER)).await.unwrap();
    assert_eq!(
        server.calls(),
        [format!("GET {REMEDIATION}"), format!("PATCH {REMEDIATION}")]
    );
    let patch = &server.requests()[1];
    assert_patch_params(patch, "application/merge-patch+json");
    // The previous trigger's `instance` label is removed (a merge patch would keep it).
    assert_eq!(
        patch.json(),
        json!({"spec": {"trigger": {
            "fingerprint": "a1b2c3d4e5f60718",
            "startsAt": "2026-02-01T09:58:00Z",
            "labels": {"alertname": "ShopLatencyHigh", "service": "shop", "severity": "page",
                       "instance": null},
        }}})
    );
    assert!(outcome.changed);
    assert_eq!(
        (
            outcome.action.as_str(),
            outcome.namespace.as_str(),
            outcome.target.as_str()
        ),
        ("trigger_remediation", "prod", "remediation/shop-restart")
    );
    assert_eq!(
        outcome.summary,
        "triggered remediation prod/shop-restart: a1b2c3d4e5f60718@2026-02-01T09:58:00Z \
         (was 99aa88bb77cc66dd@2026-01-31T22:10:00Z)"
    );
    assert_eq!(
        outcome.change,
        Change::TriggerRemediation {
            fingerprint: "a1b2c3d4e5f60718".into(),
            starts_at: "2026-02-01T09:58:00Z".into(),
            labels: [
                ("alertname".to_string(), "ShopLatencyHigh".to_string()),
                ("service".to_string(), "shop".to_string()),
                ("severity".to_string(), "page".to_string()),
            ]
            .into(),
            previous_fingerprint: Some("99aa88bb77cc66dd".into()),
            previous_starts_at: Some("2026-01-31T22:10:00Z".into()),
        }
    );
}

#[tokio::test]
async fn trigger_remediation_refuses_a_missing_remediation_with_the_api_message() {
    let server = ApiServer::start(vec![(
        "GET",
        REMEDIATION,
        vec![Fixture(404, "status-404-remediation.json")],
    )])
    .await;
    let err = server.kube().await.run(&action(TRIGGER)).await.unwrap_err();
    assert_eq!(err.status_code(), Some(404));
    assert_eq!(
        err.to_string(),
        "get remediations.heal.ballast.dev prod/shop-restart: 404 NotFound: \
         remediations.heal.ballast.dev \"shop-restart\" not found"
    );
    // Nothing is created or patched.
    assert_eq!(server.calls(), [format!("GET {REMEDIATION}")]);
}

#[tokio::test]
async fn trigger_remediation_with_the_same_trigger_sends_nothing_and_checks_the_answer() {
    let server = ApiServer::start(vec![(
        "GET",
        REMEDIATION,
        vec![Fixture(200, "remediation-shop-restart-triggered.json")],
    )])
    .await;
    let outcome = server.kube().await.run(&action(TRIGGER)).await.unwrap();
    assert!(!outcome.changed);
    assert_eq!(server.calls(), [format!("GET {REMEDIATION}")]);
    let Change::TriggerRemediation {
        previous_fingerprint,
        ..
    } = &outcome.change
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(previous_fingerprint.as_deref(), Some("a1b2c3d4e5f60718"));

    // An answer still holding the old trigger: the change did not take as asked.
    let server = ApiServer::start(vec![
        (
            "GET",
            REMEDIATION,
            vec![Fixture(200, "remediation-shop-restart.json")],
        ),
        (
            "PATCH",
            REMEDIATION,
            vec![Fixture(200, "remediation-shop-restart.json")],
        ),
    ])
    .await;
    let err = server.kube().await.run(&action(TRIGGER)).await.unwrap_err();
    assert!(
        err.to_string().contains("does not hold the trigger set"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_actions_send_nothing() {
    let server = ApiServer::start(vec![]).await;
    let err = server
        .kube()
        .await
        .run(&action(r#"{"rollback": {"deployment": "../../secrets"}}"#))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    // A template the healer left unfilled is refused before any request.
    let err = server
        .kube()
        .await
        .run(&action(
            r#"{"trigger_remediation": {"name": "shop-restart", "fingerprint": "f", "starts_at": "{{ startsAt }}"}}"#,
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid action trigger_remediation: starts_at"),
        "{err}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn config_picks_the_context_and_namespace() {
    let server = ApiServer::start(vec![(
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/shop/scale",
        vec![Fixture(200, "scale-shop.json")],
    )])
    .await;
    // Context `other` has no namespace: actions go to `default`.
    let kube = KubeConfig {
        kubeconfig: Some(server.kubeconfig()),
        context: Some("other".into()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    assert_eq!(kube.namespace(), "default");
    let same = kube
        .run(&action(
            r#"{"scale": {"deployment": "shop", "replicas": 2}}"#,
        ))
        .await
        .unwrap();
    assert_eq!(same.namespace, "default");
    // An explicit namespace wins over the context's.
    let kube = KubeConfig {
        kubeconfig: Some(server.kubeconfig()),
        namespace: Some("shop".into()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    assert_eq!(kube.namespace(), "shop");

    let err = KubeConfig {
        kubeconfig: Some(server.kubeconfig()),
        context: Some("nope".into()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Kubeconfig { .. }), "{err}");
    let err = KubeConfig {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
}
