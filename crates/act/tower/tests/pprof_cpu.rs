//! `/debug/pprof/profile` end to end: a service with one planted hot function, profiled over
//! loopback; the profile must say that function is where the CPU goes. Also what the endpoint
//! refuses: a missing or wrong token (401), bad `seconds` (400), a second profile while one
//! runs (409).

mod pprof_support;

use pprof_support::{bearer, decode, endpoint, get, serve, top};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tower::{Service, ServiceExt};

/// The planted cause: spins until told to stop. Not inlined, so it is a frame of its own,
/// and its loop is plain operators (xorshift), no helper that the debug info would show as an
/// inlined frame of its own and so take the flat time.
#[inline(never)]
fn planted_cpu_spin(stop: &AtomicBool) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    while !stop.load(Ordering::Relaxed) {
        let mut i = 0u32;
        while i < 100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i += 1;
        }
    }
    x
}

fn start_hot_thread() -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("planted".into())
        .spawn(move || planted_cpu_spin(&flag))
        .unwrap();
    (stop, handle)
}

// One test function: the profiler is one per process, and `cargo test` would run tests of
// one binary side by side (nextest gives each its own process; this works under both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_profile_over_loopback_names_the_planted_hot_function_and_refuses_what_it_must() {
    let addr = serve().await;
    let (stop, hot) = start_hot_thread();

    // Refusals that need no profile running.
    let path = "/debug/pprof/profile?seconds=1";
    assert_eq!(get(addr, path, None).await.status, 401);
    assert_eq!(get(addr, path, Some("Bearer wrong")).await.status, 401);
    for bad in ["0", "61", "abc", "-3", "1.5"] {
        let answer = get(
            addr,
            &format!("/debug/pprof/profile?seconds={bad}"),
            Some(&bearer()),
        )
        .await;
        assert_eq!(answer.status, 400, "seconds={bad}: {}", answer.text());
        assert!(answer.text().contains("from 1 to 60"), "{}", answer.text());
    }

    // A profile taken in process holds the one slot from the moment it is called, so the
    // second request over loopback meets a running profile for certain.
    let mut held = endpoint();
    let first = ServiceExt::<http::Request<()>>::ready(&mut held)
        .await
        .unwrap()
        .call(
            http::Request::get("/debug/pprof/profile?seconds=1")
                .header("authorization", bearer())
                .body(())
                .unwrap(),
        );
    let busy = get(addr, "/debug/pprof/profile?seconds=2", Some(&bearer())).await;
    assert_eq!(busy.status, 409, "{}", busy.text());
    assert_eq!(first.await.unwrap().status(), 200);

    // The real thing: 2 s over loopback.
    let answer = get(addr, "/debug/pprof/profile?seconds=2", Some(&bearer())).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    stop.store(true, Ordering::Relaxed);
    hot.join().unwrap();

    let profile = decode(&answer.body);
    let types: Vec<_> = profile
        .sample_types
        .iter()
        .map(|t| (t.kind.as_str(), t.unit.as_str()))
        .collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    assert_eq!(profile.period, 10_000_000, "100 Hz");
    let rows = top(&profile, 1);
    let total = profile.total(1);
    let table: String = rows
        .iter()
        .take(12)
        .map(|(name, flat, cum)| format!("{flat:>12} {cum:>12} {name}\n"))
        .collect();
    assert!(total > 0, "no samples");
    let (name, flat, _) = &rows[0];
    assert!(
        name == "planted_cpu_spin" || name.ends_with("::planted_cpu_spin"),
        "top flat function is {name}, not planted_cpu_spin:\n{table}"
    );
    // Most of the CPU was the spin (the rest is the server and test harness).
    assert!(
        *flat * 2 > total,
        "planted_cpu_spin has {flat} of {total}:\n{table}"
    );
    // Attribution names the planted function as the CPU dimension's cause, and nothing
    // else as critical.
    let attribution = ballast_attribution::attribute(
        &ballast_attribution::CaptureView {
            cpu: Some(&profile),
            ..Default::default()
        },
        &ballast_attribution::RuleSet::builtin(),
    );
    let finding = attribution
        .top_finding(ballast_attribution::Dimension::Cpu)
        .expect("a CPU finding");
    assert!(
        finding.culprit.ends_with("planted_cpu_spin"),
        "{:?}",
        attribution.findings
    );
    assert!(attribution
        .findings
        .iter()
        .filter(|f| f.severity == ballast_attribution::Severity::Critical)
        .all(|f| f.culprit.ends_with("planted_cpu_spin")));
    // The profiler's own frames were cut from every stack.
    for (name, _, _) in &rows {
        assert!(
            !name.starts_with("backtrace::") && !name.starts_with("pprof::"),
            "profiler frame {name} left in:\n{table}"
        );
    }
    // Every sample names its thread: the planted spin's are labelled with its name.
    let planted = profile
        .samples
        .iter()
        .filter(|s| profile.label_texts(s, "thread").eq(["planted"]))
        .map(|s| s.values[1])
        .sum::<i64>();
    assert!(
        profile
            .samples
            .iter()
            .all(|s| profile.label_texts(s, "thread").count() == 1),
        "a sample without its thread label"
    );
    assert!(
        planted * 2 > total,
        "thread planted has {planted} of {total}"
    );
    eprintln!("{table}");
}
