//! The Remediation controller against a loopback server answering with recorded API responses
//! (`tests/fixtures/`, written from the published Kubernetes API reference: see
//! `common/mod.rs`): the watcher's list (and a watch held open), the action's requests, the
//! status patches through the status subresource, and the Event.

mod common;

use std::time::Duration;

use ballast_kube::operator::{self, OperatorConfig, RemediationStatus, Report, ReportResult};
use common::{strict, ApiServer, Recorded, Reply::Fixture, Reply::HoldWatch};
use k8s_openapi::api::events::v1::Event;
use serde::Deserialize;

const REMEDIATIONS: &str = "/apis/heal.ballast.dev/v1alpha1/namespaces/prod/remediations";
const STATUS: &str =
    "/apis/heal.ballast.dev/v1alpha1/namespaces/prod/remediations/shop-restart/status";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/prod/deployments/shop";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/prod/events";

#[derive(Deserialize)]
struct StatusPatch {
    status: RemediationStatus,
}

fn status_patch(r: &Recorded) -> RemediationStatus {
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let patch: StatusPatch = strict(&r.body);
    patch.status
}

fn condition<'a>(s: &'a RemediationStatus, type_: &str) -> &'a operator::Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {s:?}"))
}

/// Runs the operator until it reports once, then shuts it down.
async fn run_once(server: &ApiServer) -> Report {
    let kube = server.kube().await;
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(operator::run_until(
        kube,
        OperatorConfig::default(),
        move |report: Report| {
            report_tx.send(report).unwrap();
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let report = tokio::time::timeout(Duration::from_secs(30), report_rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no report; requests: {:?}", server.calls()))
        .unwrap();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    report
}

#[tokio::test]
async fn a_new_trigger_runs_the_actions_then_patches_status_and_records_an_event() {
    let server = ApiServer::start(vec![
        ("GET", REMEDIATIONS, vec![Fixture(200, "remediations.json")]),
        ("WATCH", REMEDIATIONS, vec![HoldWatch]),
        (
            "PATCH",
            STATUS,
            vec![Fixture(200, "remediation-status.json")],
        ),
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
        ("POST", EVENTS, vec![Fixture(201, "event-created.json")]),
    ])
    .await;
    let report = run_once(&server).await;

    assert_eq!(
        (report.namespace.as_str(), report.name.as_str()),
        ("prod", "shop-restart")
    );
    assert_eq!(report.trigger.fingerprint, "a1b2c3d4e5f60718");
    // The trigger's labels carry every label of the (non-empty) spec.match, and one more.
    assert_eq!(
        report.trigger.labels,
        [
            ("alertname".to_string(), "ShopLatencyHigh".to_string()),
            ("service".to_string(), "shop".to_string()),
            ("severity".to_string(), "page".to_string()),
        ]
        .into()
    );
    let ReportResult::Succeeded(outcomes) = &report.result else {
        panic!("{report:?}")
    };
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].target, "deployment/shop");

    // Acting first, then the action, then the result, then the Event.
    assert_eq!(
        server.calls()[1..],
        [
            format!("PATCH {STATUS}"),
            format!("GET {DEPLOYMENT}"),
            format!("PATCH {DEPLOYMENT}"),
            format!("PATCH {STATUS}"),
            format!("POST {EVENTS}"),
        ]
    );
    assert_eq!(server.calls()[0], format!("GET {REMEDIATIONS}"));
    let requests: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| !r.is_watch())
        .collect();

    let acting = status_patch(&requests[1]);
    assert_eq!(condition(&acting, "Acting").status, "True");
    assert_eq!(acting.attempts, 1);
    assert_eq!(acting.observed_trigger.as_ref(), Some(&report.trigger));
    assert_eq!(acting.last_action, None);

    let done = status_patch(&requests[4]);
    assert_eq!(condition(&done, "Acting").status, "False");
    assert_eq!(condition(&done, "Succeeded").status, "True");
    assert_eq!(condition(&done, "Succeeded").reason, "ActionsSucceeded");
    assert_eq!(condition(&done, "Failed").status, "False");
    assert_eq!(done.attempts, 1);
    let last = done.last_action.as_ref().unwrap();
    assert!(last.succeeded);
    assert_eq!(last.summaries, [outcomes[0].summary.clone()]);
    assert!(
        last.summaries[0].starts_with("restarted deployment prod/shop"),
        "{:?}",
        last.summaries
    );
    chrono::DateTime::parse_from_rfc3339(&last.time).unwrap();

    let event: Event = strict(&requests[5].body);
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(event.reason.as_deref(), Some("Remediated"));
    assert_eq!(event.action.as_deref(), Some("Remediate"));
    assert_eq!(event.reporting_controller.as_deref(), Some("ballast-kube"));
    let regarding = event.regarding.unwrap();
    assert_eq!(regarding.kind.as_deref(), Some("Remediation"));
    assert_eq!(
        regarding.api_version.as_deref(),
        Some("heal.ballast.dev/v1alpha1")
    );
    assert_eq!(
        (regarding.namespace.as_deref(), regarding.name.as_deref()),
        (Some("prod"), Some("shop-restart"))
    );
    assert!(event.note.unwrap().contains("a1b2c3d4e5f60718"));
}

#[tokio::test]
async fn a_failing_action_ends_failed_with_a_warning_event() {
    let server = ApiServer::start(vec![
        ("GET", REMEDIATIONS, vec![Fixture(200, "remediations.json")]),
        ("WATCH", REMEDIATIONS, vec![HoldWatch]),
        (
            "PATCH",
            STATUS,
            vec![Fixture(200, "remediation-status.json")],
        ),
        (
            "GET",
            DEPLOYMENT,
            vec![Fixture(404, "status-404-deployment.json")],
        ),
        ("POST", EVENTS, vec![Fixture(201, "event-created.json")]),
    ])
    .await;
    let report = run_once(&server).await;
    let ReportResult::Failed { outcomes, error } = &report.result else {
        panic!("{report:?}")
    };
    assert!(outcomes.is_empty());
    assert!(
        error.contains("deployments.apps \"shop\" not found"),
        "{error}"
    );
    assert!(
        !server.calls().contains(&format!("PATCH {DEPLOYMENT}")),
        "{:?}",
        server.calls()
    );

    let requests: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| !r.is_watch())
        .collect();
    let done = status_patch(requests.iter().rev().find(|r| r.path == STATUS).unwrap());
    assert_eq!(condition(&done, "Failed").status, "True");
    assert_eq!(condition(&done, "Succeeded").status, "False");
    assert_eq!(condition(&done, "Failed").reason, "ActionFailed");
    assert!(condition(&done, "Failed").message.contains("not found"));
    assert_eq!(
        done.last_action.as_ref().unwrap().error.as_deref(),
        Some(error.as_str())
    );

    let event: Event = strict(&requests.last().unwrap().body);
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.reason.as_deref(), Some("RemediationFailed"));
}

#[tokio::test]
async fn a_trigger_whose_labels_do_not_match_is_not_acted_on() {
    // spec.match wants service=shop; the trigger's alert is service=cart.
    let server = ApiServer::start(vec![
        (
            "GET",
            REMEDIATIONS,
            vec![Fixture(200, "remediations-not-matched.json")],
        ),
        ("WATCH", REMEDIATIONS, vec![HoldWatch]),
        (
            "PATCH",
            STATUS,
            vec![Fixture(200, "remediation-status.json")],
        ),
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
        ("POST", EVENTS, vec![Fixture(201, "event-created.json")]),
    ])
    .await;
    let report = run_once(&server).await;
    assert_eq!(report.trigger.fingerprint, "0f1e2d3c4b5a6978");
    assert_eq!(
        report.result,
        ReportResult::NotMatched(r#"label "service" is "cart", not "shop""#.into())
    );
    // No action ran: one status patch, then the Event.
    assert_eq!(
        server.calls(),
        [
            format!("GET {REMEDIATIONS}"),
            format!("PATCH {STATUS}"),
            format!("POST {EVENTS}"),
        ]
    );
    let requests: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| !r.is_watch())
        .collect();
    let status = status_patch(&requests[1]);
    let acting = condition(&status, "Acting");
    assert_eq!(
        (acting.status.as_str(), acting.reason.as_str()),
        ("False", "NotMatched")
    );
    assert!(
        acting
            .message
            .contains(r#"label "service" is "cart", not "shop""#),
        "{}",
        acting.message
    );
    // Observed, so it is not evaluated again; nothing counted as a run.
    assert_eq!(status.observed_trigger.as_ref(), Some(&report.trigger));
    assert_eq!(status.attempts, 0);
    assert_eq!(status.last_action, None);
    assert!(status.conditions.iter().all(|c| c.type_ == "Acting"));

    let event: Event = strict(&requests[2].body);
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(event.reason.as_deref(), Some("NotMatched"));
    assert_eq!(event.action.as_deref(), Some("Remediate"));
    let note = event.note.unwrap();
    assert!(
        note.contains("0f1e2d3c4b5a6978") && note.contains(r#""service""#),
        "{note}"
    );
}
