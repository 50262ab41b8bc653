//! Alertmanager webhook bodies: the parser never panics, and a body it accepts is decided
//! by the engine without a panic and with at most one first action per alert.
#![no_main]
use ballast_heal_policy::{webhook, Engine, Event, Policies, State};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = "policies:\n  - name: p\n    match: { labels_re: { alertname: '.*' } }\n    target: '{{ labels.alertname }}'\n    actions: [ { exec: { argv: [/bin/true] } } ]\n";

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = webhook::parse(data) else {
        return;
    };
    let policies = Policies::parse(POLICY, "fuzz.yaml", ".".as_ref()).expect("the fuzz policy is valid");
    let mut engine = Engine::new(policies, State::default());
    let now = 1_796_155_200.0;
    let first = engine.receive(now, &payload);
    let acts = first.iter().filter(|e| matches!(e, Event::Act { .. })).count();
    assert!(acts <= payload.alerts.len());
    // The same delivery again decides nothing new.
    let again = engine.receive(now + 1.0, &payload);
    assert!(again.iter().all(|e| matches!(e, Event::Duplicate { .. })), "{again:?}");
    let _ = serde_json::to_string(engine.state()).expect("the state always serializes");
});
