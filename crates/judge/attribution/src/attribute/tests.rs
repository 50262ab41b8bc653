use super::*;
use crate::fold::tests::profile;
use ballast_core::profile::{Goroutine, StackFrame};

fn cpu(stacks: &[(&[&str], i64)], seconds: i64) -> Profile {
    let mut p = profile(stacks);
    p.duration_nanos = seconds * 1_000_000_000;
    p
}

fn with_type(mut p: Profile, kind: &str, unit: &str, time: i64) -> Profile {
    p.sample_types = vec![ValueType::new(kind, unit)];
    p.time_nanos = time;
    p
}

const S: i64 = 1_000_000_000;

#[test]
fn a_spinning_function_is_the_critical_cpu_finding_and_light_work_is_info() {
    let p = cpu(
        &[
            (&["main.spin", "runtime.goexit"], 19 * S / 10),
            (
                &["encoding/json.Marshal", "main.background", "runtime.goexit"],
                S / 100,
            ),
            (
                &[
                    "runtime.findrunnable",
                    "runtime.schedule",
                    "runtime.park_m",
                    "runtime.mcall",
                ],
                S / 100,
            ),
        ],
        2,
    );
    let a = attribute(
        &CaptureView {
            cpu: Some(&p),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    let top = a.top_finding(Dimension::Cpu).unwrap();
    assert_eq!(
        (top.rule.as_str(), top.severity, top.culprit.as_str()),
        ("cpu-hot-path", Severity::Critical, "main.spin")
    );
    assert!(top.title.contains("main.spin"), "{}", top.title);
    assert!((top.evidence.rate.unwrap() - 0.95).abs() < 1e-9);
    assert_eq!(
        a.findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .count(),
        1
    );

    // The same light work alone is only info: a big share of almost no CPU.
    let idle = cpu(
        &[(&["encoding/json.Marshal", "main.background"], S / 100)],
        2,
    );
    let a = attribute(
        &CaptureView {
            cpu: Some(&idle),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    let f = a.top_finding(Dimension::Cpu).unwrap();
    assert_eq!(
        (f.severity, f.culprit.as_str()),
        (Severity::Info, "main.background")
    );
}

#[test]
fn the_scheduler_and_gc_rules_read_runtime_frames() {
    let p = cpu(
        &[
            (
                &[
                    "runtime.findrunnable",
                    "runtime.schedule",
                    "runtime.park_m",
                    "runtime.mcall",
                ],
                4 * S / 10,
            ),
            (
                &[
                    "runtime.gcDrain",
                    "runtime.gcBgMarkWorker",
                    "runtime.goexit",
                ],
                5 * S / 10,
            ),
            (&["main.work"], S / 10),
        ],
        1,
    );
    let a = attribute(
        &CaptureView {
            cpu: Some(&p),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    let rules: Vec<(&str, Severity, &str)> = a
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity, f.culprit.as_str()))
        .collect();
    assert!(
        rules.contains(&("gc-pressure", Severity::Warning, "runtime.gcBgMarkWorker")),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("scheduler-churn", Severity::Warning, "runtime.mcall")),
        "{rules:?}"
    );
    // The hot path is never an all-runtime stack.
    let hot = a
        .findings
        .iter()
        .find(|f| f.rule == "cpu-hot-path")
        .unwrap();
    assert_eq!(hot.culprit, "main.work");
}

#[test]
fn deep_stacks_under_the_http_server_are_flagged() {
    let mut deep: Vec<String> = (0..25).map(|i| format!("main.mw{i}")).collect();
    deep.push("net/http.(*conn).serve".into());
    let deep: Vec<&str> = deep.iter().map(String::as_str).collect();
    let p = cpu(&[(&deep, S / 2), (&["main.other"], S / 2)], 1);
    let a = attribute(
        &CaptureView {
            cpu: Some(&p),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    let f = a
        .findings
        .iter()
        .find(|f| f.rule == "deep-http-stacks")
        .unwrap();
    assert_eq!(
        (f.severity, f.culprit.as_str(), f.evidence.share),
        (Severity::Warning, "main.mw0", 0.5)
    );
}

#[test]
fn allocation_in_the_window_is_end_minus_start_and_has_a_rate() {
    let start = with_type(
        profile(&[(&["main.alloc"], 1_000), (&["main.bg"], 1_000)]),
        "alloc_space",
        "bytes",
        10 * S,
    );
    let end = with_type(
        profile(&[(&["main.alloc"], 1_000_001_000), (&["main.bg"], 2_000)]),
        "alloc_space",
        "bytes",
        12 * S,
    );
    let view = CaptureView {
        heap_start: Some(&start),
        heap_end: Some(&end),
        ..Default::default()
    };
    let a = attribute(&view, &RuleSet::builtin());
    let f = a.top_finding(Dimension::Heap).unwrap();
    assert_eq!(
        (f.rule.as_str(), f.severity, f.culprit.as_str()),
        ("alloc-hot-path", Severity::Critical, "main.alloc")
    );
    assert_eq!(f.evidence.value, 1_000_000_000);
    assert_eq!(f.evidence.rate, Some(500_000_000.0));
    assert!(f.title.contains("500.0 MB/s"), "{}", f.title);
    // Without the start there is no window: shares only, never critical on a rate.
    let a = attribute(
        &CaptureView {
            heap_end: Some(&end),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    assert_eq!(
        a.top_finding(Dimension::Heap).unwrap().severity,
        Severity::Info
    );
}

#[test]
fn goroutines_that_grow_on_one_stack_are_a_critical_pile_with_their_creator() {
    let leak = [
        "runtime.gopark",
        "runtime.chanrecv1",
        "main.wait",
        "runtime.goexit",
    ];
    let idle = ["runtime.gopark", "net/http.(*conn).serve", "runtime.goexit"];
    let start = with_type(profile(&[(&leak, 50), (&idle, 5)]), "goroutine", "count", S);
    let end = with_type(
        profile(&[(&leak, 450), (&idle, 5)]),
        "goroutine",
        "count",
        3 * S,
    );
    let dump = GoroutineDump {
        goroutines: vec![Goroutine {
            id: 7,
            state: "chan receive".into(),
            frames: ["runtime.gopark", "runtime.chanrecv1", "main.wait"]
                .iter()
                .map(|f| StackFrame {
                    function: f.to_string(),
                    ..Default::default()
                })
                .collect(),
            created_by: Some(StackFrame {
                function: "main.spawner".into(),
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let view = CaptureView {
        goroutine_start: Some(&start),
        goroutine_end: Some(&end),
        goroutine_dump: Some(&dump),
        ..Default::default()
    };
    let a = attribute(&view, &RuleSet::builtin());
    let f = a.top_finding(Dimension::Goroutines).unwrap();
    assert_eq!(
        (f.rule.as_str(), f.severity, f.culprit.as_str()),
        ("goroutine-pile", Severity::Critical, "main.wait")
    );
    assert!(
        f.title.contains("450 goroutines") && f.title.contains("+400"),
        "{}",
        f.title
    );
    assert!(
        f.evidence.detail.contains("created by main.spawner (1)"),
        "{}",
        f.evidence.detail
    );
    // A steady pile is a warning, not a leak.
    let view = CaptureView {
        goroutine_start: Some(&end),
        goroutine_end: Some(&end),
        ..Default::default()
    };
    let a = attribute(&view, &RuleSet::builtin());
    assert_eq!(
        a.top_finding(Dimension::Goroutines).unwrap().severity,
        Severity::Warning
    );
}

#[test]
fn waiting_names_the_caller_of_the_lock_and_the_profiler_is_ignored() {
    let lock = [
        "sync.(*Mutex).lockSlow",
        "sync.(*Mutex).Lock",
        "main.contended",
        "runtime.goexit",
    ];
    let pprof = [
        "runtime.selectgo",
        "net/http/pprof.sleep",
        "net/http/pprof.Profile",
    ];
    let start = with_type(
        profile(&[(&lock, S), (&pprof, 0)]),
        "delay",
        "nanoseconds",
        S,
    );
    let end = with_type(
        profile(&[(&lock, 15 * S), (&pprof, 100 * S)]),
        "delay",
        "nanoseconds",
        3 * S,
    );
    let view = CaptureView {
        block_start: Some(&start),
        block: Some(&end),
        ..Default::default()
    };
    let a = attribute(&view, &RuleSet::builtin());
    let f = a.top_finding(Dimension::Block).unwrap();
    assert_eq!(
        (f.severity, f.culprit.as_str(), f.evidence.share),
        (Severity::Critical, "main.contended", 1.0)
    );
    assert_eq!(f.evidence.rate, Some(7.0));
    assert_eq!(a.dimensions[0].total, 14 * S);
}

#[test]
fn findings_sort_by_severity_then_share_and_serialise() {
    let p = cpu(&[(&["main.a"], 6 * S / 10), (&["main.b"], S / 10)], 1);
    let a = attribute(
        &CaptureView {
            cpu: Some(&p),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["findings"][0]["severity"], "critical");
    assert_eq!(json["findings"][0]["dimension"], "cpu");
    assert_eq!(json["dimensions"][0]["top_paths"][0]["stack"][0], "main.a");
    assert!(attribute(&CaptureView::default(), &RuleSet::builtin())
        .findings
        .is_empty());
}

#[test]
fn library_frames_are_not_culprits() {
    assert!(is_library("sync.(*Mutex).Lock"));
    assert!(is_library("net/http.(*conn).serve"));
    assert!(is_library("std::thread::sleep"));
    assert!(!is_library("main.contended"));
    assert!(!is_library("github.com/acme/shop.(*Cart).Add"));
    assert!(!is_library("shop::cart::add"));
    assert_eq!(
        culprit(&["main.run".into(), "encoding/json.Marshal".into()]),
        "main.run"
    );
    assert_eq!(
        culprit(&["sync.(*Mutex).Lock".into()]),
        "sync.(*Mutex).Lock"
    );
}

#[test]
fn many_goroutines_on_sockets_are_network_wait() {
    let g = |state: &str, f: &str| Goroutine {
        state: state.into(),
        frames: ["internal/poll.runtime_pollWait", f]
            .iter()
            .map(|f| StackFrame {
                function: f.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut dump = GoroutineDump::default();
    dump.goroutines
        .extend((0..150).map(|_| g("IO wait", "main.readPeer")));
    dump.goroutines
        .extend((0..30).map(|_| g("IO wait, 3 minutes", "main.other")));
    dump.goroutines
        .extend((0..20).map(|_| g("select", "main.loop")));
    let view = CaptureView {
        goroutine_dump: Some(&dump),
        ..Default::default()
    };
    let a = attribute(&view, &RuleSet::builtin());
    let f = a
        .findings
        .iter()
        .find(|f| f.rule == "network-wait")
        .unwrap();
    assert_eq!(
        (
            f.severity,
            f.culprit.as_str(),
            f.evidence.value,
            f.evidence.total
        ),
        (Severity::Warning, "main.readPeer", 180, 200)
    );
    assert!(
        f.title
            .starts_with("180 goroutines (90.0%) wait on the network"),
        "{}",
        f.title
    );
    // A few idle connections are nothing.
    dump.goroutines.truncate(10);
    let a = attribute(
        &CaptureView {
            goroutine_dump: Some(&dump),
            ..Default::default()
        },
        &RuleSet::builtin(),
    );
    assert!(a.findings.iter().all(|f| f.rule != "network-wait"));
}
