//! The engine's rules on simulated time.

use crate::webhook::{Payload, Status, WebhookAlert};
use crate::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const T0: f64 = 1_796_155_200.0;

fn policies(extra: &str) -> Policies {
    tuned(&[], extra)
}

/// The test policy with some of its limits replaced (`("cooldown", "0s")`).
fn tuned(limits: &[(&str, &str)], extra: &str) -> Policies {
    let mut text = format!(
        r#"
prometheus: http://127.0.0.1:9090
policies:
  - name: shop
    match: {{ labels: {{ alertname: ShopLatency }} }}
    target: "{{{{ labels.service }}}}"
    cooldown: 10m
    hold_down: 5m
    max_actions_per_hour: 4
    attempts: 2
    retry_after: 5s
{extra}
    actions:
      - tower: {{ admin: "http://127.0.0.1:1/admin", token_env: T, fallback: force }}
      - restart: {{ supervisor: "http://127.0.0.1:2/", service: shop }}
"#
    );
    for (key, value) in limits {
        let start = text
            .find(&format!("    {key}: "))
            .expect("a limit of the test policy");
        let end = start + text[start..].find('\n').unwrap();
        text.replace_range(start..end, &format!("    {key}: {value}"));
    }
    Policies::parse(&text, "heal.yaml", ".".as_ref()).unwrap()
}

fn alert(fp: &str, starts: &str, status: Status) -> WebhookAlert {
    WebhookAlert {
        status,
        labels: [
            ("alertname".to_string(), "ShopLatency".to_string()),
            ("service".to_string(), "shop".to_string()),
        ]
        .into(),
        annotations: BTreeMap::new(),
        starts_at: starts.into(),
        ends_at: String::new(),
        generator_url: String::new(),
        fingerprint: fp.into(),
    }
}

fn delivery(alerts: Vec<WebhookAlert>) -> Payload {
    Payload {
        version: "4".into(),
        group_key: "{}:{alertname=\"ShopLatency\"}".into(),
        truncated_alerts: 0,
        status: alerts[0].status,
        receiver: "heal".into(),
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        external_url: String::new(),
        alerts,
        unknown_fields: vec![],
    }
}

fn acts(events: &[Event]) -> Vec<(usize, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Act {
                action, attempt, ..
            } => Some((*action, *attempt)),
            _ => None,
        })
        .collect()
}

fn opened_id(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            Event::Opened { incident, .. } => Some(incident.clone()),
            _ => None,
        })
        .expect("an incident was opened")
}

#[test]
fn a_thousand_deliveries_of_one_alert_make_one_action() {
    let mut engine = Engine::new(policies(""), State::default());
    let d = delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]);
    let mut all = Vec::new();
    for i in 0..1000 {
        all.extend(engine.receive(T0 + i as f64 * 0.01, &d));
    }
    assert_eq!(acts(&all), vec![(0, 1)]);
    assert_eq!(
        all.iter()
            .filter(|e| matches!(e, Event::Duplicate { .. }))
            .count(),
        999
    );
}

#[test]
fn failed_tries_are_retried_then_escalated_then_exhausted() {
    let mut engine = Engine::new(policies(""), State::default());
    let events = engine.receive(
        T0,
        &delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]),
    );
    let id = opened_id(&events);
    let e = engine.action_finished(T0 + 1.0, &id, false, "503");
    assert!(matches!(e[1], Event::Retry { attempt: 2, .. }), "{e:?}");
    assert_eq!(engine.next_due(), Some(T0 + 6.0));
    assert!(
        acts(&engine.due(T0 + 5.0)).is_empty(),
        "not before retry_after"
    );
    assert_eq!(acts(&engine.due(T0 + 6.0)), vec![(0, 2)]);
    let e = engine.action_finished(T0 + 7.0, &id, false, "503 again");
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::Escalated { from: 0, to: 1, .. })),
        "{e:?}"
    );
    assert_eq!(acts(&e), vec![(1, 1)]);
    engine.action_finished(T0 + 8.0, &id, false, "down");
    engine.due(T0 + 13.0);
    let e = engine.action_finished(T0 + 14.0, &id, false, "still down");
    assert!(
        e.iter().any(|e| matches!(
            e,
            Event::Closed {
                outcome: Outcome::Exhausted,
                ..
            }
        )),
        "{e:?}"
    );
    assert_eq!(engine.incident(&id).unwrap().attempts.len(), 4);
}

#[test]
fn recovery_is_verified_and_a_failed_check_escalates() {
    let verify = "    verify: { query: 'up', above: 0.5, deadline: 1m, interval: 5s }";
    let mut engine = Engine::new(policies(verify), State::default());
    let id = opened_id(&engine.receive(
        T0,
        &delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]),
    ));
    let e = engine.action_finished(T0 + 1.0, &id, true, "ok");
    assert!(matches!(e[1], Event::Verify { .. }), "{e:?}");
    let e = engine.verified(T0 + 61.0, &id, false, "p99 0.4 > 0.2");
    assert!(matches!(e[1], Event::Retry { .. }), "{e:?}");
    engine.due(T0 + 66.0);
    engine.action_finished(T0 + 67.0, &id, true, "ok");
    let e = engine.verified(T0 + 80.0, &id, true, "back");
    assert!(
        matches!(
            e[1],
            Event::Closed {
                outcome: Outcome::Recovered,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn flapping_alerts_are_held_down_and_cooldown_holds_after_an_action() {
    let mut engine = Engine::new(policies(""), State::default());
    let id = opened_id(&engine.receive(
        T0,
        &delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]),
    ));
    engine.action_finished(T0 + 1.0, &id, true, "ok");
    let mut resolved = alert("fp1", "2026-12-01T20:00:00Z", Status::Resolved);
    resolved.ends_at = "2026-12-01T20:01:00Z".into();
    let e = engine.receive(T0 + 61.0, &delivery(vec![resolved]));
    assert!(
        matches!(&e[0], Event::Resolved { incident: Some(i), .. } if *i == id),
        "{e:?}"
    );
    // Fires again 2 minutes later: within the 5-minute hold-down.
    let e = engine.receive(
        T0 + 180.0,
        &delivery(vec![alert("fp1", "2026-12-01T20:03:00Z", Status::Firing)]),
    );
    assert!(
        matches!(&e[0], Event::Refused { reason, .. } if reason.contains("flapping")),
        "{e:?}"
    );
    // Another alert on the same target after the hold-down but within the cooldown.
    let e = engine.receive(
        T0 + 400.0,
        &delivery(vec![alert("fp2", "2026-12-01T20:06:40Z", Status::Firing)]),
    );
    assert!(
        matches!(&e[0], Event::Refused { reason, .. } if reason.contains("cooling down")),
        "{e:?}"
    );
    // After the cooldown, a new incident is acted on.
    let e = engine.receive(
        T0 + 700.0,
        &delivery(vec![alert("fp3", "2026-12-01T20:11:40Z", Status::Firing)]),
    );
    assert_eq!(acts(&e), vec![(0, 1)]);
}

#[test]
fn one_incident_at_a_time_per_target_and_the_hourly_limit() {
    let mut engine = Engine::new(tuned(&[("cooldown", "0s")], ""), State::default());
    let id = opened_id(&engine.receive(
        T0,
        &delivery(vec![alert("a", "2026-12-01T20:00:00Z", Status::Firing)]),
    ));
    let e = engine.receive(
        T0 + 1.0,
        &delivery(vec![alert("b", "2026-12-01T20:00:01Z", Status::Firing)]),
    );
    assert!(
        matches!(&e[0], Event::Joined { incident, .. } if *incident == id),
        "{e:?}"
    );
    engine.action_finished(T0 + 2.0, &id, true, "ok");
    for k in 0..3 {
        let e = engine.receive(
            T0 + 10.0 + k as f64,
            &delivery(vec![alert(
                &format!("n{k}"),
                "2026-12-01T20:00:10Z",
                Status::Firing,
            )]),
        );
        let id = opened_id(&e);
        engine.action_finished(T0 + 10.5 + k as f64, &id, true, "ok");
    }
    let e = engine.receive(
        T0 + 20.0,
        &delivery(vec![alert("n9", "2026-12-01T20:00:20Z", Status::Firing)]),
    );
    assert!(
        matches!(&e[0], Event::Refused { reason, .. } if reason.contains("rate limit: 4 actions")),
        "{e:?}"
    );
    // An hour later the limit has room again.
    let e = engine.receive(
        T0 + 3700.0,
        &delivery(vec![alert("n10", "2026-12-01T21:01:40Z", Status::Firing)]),
    );
    assert_eq!(acts(&e), vec![(0, 1)]);
}

#[test]
fn maintenance_and_dry_run_record_without_acting() {
    let m = r#"
prometheus: http://127.0.0.1:9090
maintenance:
  - { from: "2026-12-01T19:00:00Z", to: "2026-12-01T21:00:00Z", labels: { service: shop } }
policies:
  - name: shop
    match: { labels: { alertname: ShopLatency } }
    actions: [ { exec: { argv: [/bin/true] } } ]
"#;
    let mut engine = Engine::new(
        Policies::parse(m, "h.yaml", ".".as_ref()).unwrap(),
        State::default(),
    );
    let e = engine.receive(
        T0,
        &delivery(vec![alert("a", "2026-12-01T20:00:00Z", Status::Firing)]),
    );
    assert!(
        matches!(&e[0], Event::Refused { reason, .. } if reason.contains("maintenance 2026-12-01T19:00")),
        "{e:?}"
    );
    let dry = m
        .replace("    actions:", "    dry_run: true\n    actions:")
        .replace("T21:00:00Z", "T19:30:00Z");
    let mut engine = Engine::new(
        Policies::parse(&dry, "h.yaml", ".".as_ref()).unwrap(),
        State::default(),
    );
    let e = engine.receive(
        T0,
        &delivery(vec![alert("a", "2026-12-01T20:00:00Z", Status::Firing)]),
    );
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::Act { dry_run: true, .. })),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| matches!(
            e,
            Event::Closed {
                outcome: Outcome::DryRun,
                ..
            }
        )),
        "{e:?}"
    );
}

#[test]
fn a_restart_mid_action_checks_recovery_instead_of_repeating() {
    let verify = "    verify: { query: 'up', above: 0.5 }";
    let mut engine = Engine::new(policies(verify), State::default());
    let d = delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]);
    let id = opened_id(&engine.receive(T0, &d));
    // The state as persisted before the action ran, read back by a new healer.
    let saved = serde_json::to_string(engine.state()).unwrap();
    let mut again = Engine::new(policies(verify), serde_json::from_str(&saved).unwrap());
    let e = again.restarted(T0 + 30.0);
    assert!(
        matches!(&e[..], [Event::Interrupted { .. }, Event::Verify { .. }]),
        "{e:?}"
    );
    assert!(
        acts(&e).is_empty(),
        "the interrupted action is not repeated"
    );
    assert!(matches!(
        again.receive(T0 + 31.0, &d)[..],
        [Event::Duplicate { .. }]
    ));
    // Without a recovery check the interrupted try counts as failed: retried by the rules.
    let mut plain = Engine::new(policies(""), serde_json::from_str(&saved).unwrap());
    let e = plain.restarted(T0 + 30.0);
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::Retry { attempt: 2, .. })),
        "{e:?}"
    );
    assert_eq!(plain.incident(&id).unwrap().attempts[0].ok, Some(false));
}

#[test]
fn an_alert_that_resolved_is_not_acted_on_again() {
    let mut engine = Engine::new(policies(""), State::default());
    let id = opened_id(&engine.receive(
        T0,
        &delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]),
    ));
    let e = engine.action_finished(T0 + 1.0, &id, false, "503");
    assert!(matches!(e[1], Event::Retry { .. }), "{e:?}");
    engine.receive(
        T0 + 2.0,
        &delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Resolved)]),
    );
    let e = engine.due(T0 + 6.0);
    assert!(acts(&e).is_empty(), "{e:?}");
    assert!(
        e.iter().any(|e| matches!(
            e,
            Event::Closed {
                outcome: Outcome::AlertResolved,
                ..
            }
        )),
        "{e:?}"
    );
}

#[test]
fn a_maintenance_window_that_begins_stops_the_escalation() {
    let text = r#"
maintenance:
  - { from: "2026-12-01T20:00:30Z", to: "2026-12-01T21:00:00Z" }
policies:
  - name: shop
    match: { labels: { alertname: ShopLatency } }
    retry_after: 60s
    actions: [ { exec: { argv: [/bin/true] } }, { exec: { argv: [/bin/false] } } ]
"#;
    let mut engine = Engine::new(
        Policies::parse(text, "h.yaml", ".".as_ref()).unwrap(),
        State::default(),
    );
    let id = opened_id(&engine.receive(
        T0,
        &delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]),
    ));
    engine.action_finished(T0 + 1.0, &id, false, "failed");
    let e = engine.due(T0 + 61.0);
    assert!(acts(&e).is_empty(), "{e:?}");
    assert!(
        e.iter().any(|e| matches!(
            e,
            Event::Closed {
                outcome: Outcome::Maintenance(_),
                ..
            }
        )),
        "{e:?}"
    );
}

#[test]
fn old_keys_and_incidents_expire() {
    let mut engine = Engine::new(policies(""), State::default());
    let d = delivery(vec![alert("fp1", "2026-12-01T20:00:00Z", Status::Firing)]);
    let id = opened_id(&engine.receive(T0, &d));
    engine.action_finished(T0 + 1.0, &id, true, "ok");
    engine.expire(T0 + 8.0 * 86_400.0);
    assert!(engine.state().seen.is_empty() && engine.state().incidents.is_empty());
    assert!(engine.state().action_times.is_empty());
}

proptest! {
    /// Whatever the order and repetition of deliveries, each distinct (fingerprint,
    /// startsAt) firing alert opens at most one incident and starts at most one first
    /// action.
    #[test]
    fn deliveries_in_any_order_act_at_most_once_per_alert(
        picks in proptest::collection::vec((0usize..5, 0usize..3, any::<bool>()), 1..200)
    ) {
        let mut engine = Engine::new(
            tuned(&[("cooldown", "0s"), ("hold_down", "0s"), ("max_actions_per_hour", "1000")], ""),
            State::default(),
        );
        let mut first_acts = BTreeMap::new();
        for (i, (fp, start, resolved)) in picks.iter().enumerate() {
            let status = if *resolved { Status::Resolved } else { Status::Firing };
            let a = alert(&format!("fp{fp}"), &format!("2026-12-01T20:0{start}:00Z"), status);
            let now = T0 + i as f64;
            for e in engine.receive(now, &delivery(vec![a])) {
                if let Event::Opened { incident, .. } = &e {
                    engine.action_finished(now, incident, true, "ok");
                }
                if let Event::Act { action: 0, attempt: 1, .. } = e {
                    *first_acts.entry((fp, start)).or_insert(0) += 1;
                }
            }
        }
        prop_assert!(first_acts.values().all(|n| *n == 1), "{first_acts:?}");
    }
}
