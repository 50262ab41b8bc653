//! The planted Go program (crates/testkit/go/planted), captured for real: `top` equals
//! `go tool pprof -top -nodecount=20` on every profile it serves, and each planted cause
//! is the top finding of its dimension with nothing else critical.

use ballast_attribution::{attribute, top, Attribution, CaptureView, Dimension, RuleSet, Severity};
use ballast_profile::capture::{load_capture, CaptureConfig, Format, Kind, Moment};
use ballast_testkit::{go_build, go_program, listening_on, Port, Server, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The planted program, built once per cause into a folder shared by the test processes
/// (one Go build cache, so only the first build compiles the standard library).
fn planted(cause: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("attribution-planted");
    go_build(&go_program("planted"), &dir, &format!("planted-{cause}"))
}

/// Runs `planted <cause>`, captures every kind over a 2 s window, and loads it.
async fn capture(cause: &str, out: &Path) -> ballast_profile::capture::LoadedCapture {
    let program = planted(cause);
    let server = Server::start(
        program.to_str().unwrap(),
        &[cause.to_string()],
        Port::Log(listening_on),
        Duration::from_secs(20),
    )
    .await;
    let mut config = CaptureConfig::new(url::Url::parse(&server.url()).unwrap(), out);
    config.seconds = 2;
    let manifest = config.build().unwrap().run(|_| {}).await.unwrap();
    let failed: Vec<_> = manifest.failed().collect();
    assert!(failed.is_empty(), "every kind is captured: {failed:?}");
    drop(server);
    load_capture(out).unwrap()
}

fn view(c: &ballast_profile::capture::LoadedCapture) -> CaptureView<'_> {
    CaptureView {
        cpu: c.get(Kind::Cpu, Moment::Window),
        heap_start: c.get(Kind::Heap, Moment::Start),
        heap_end: c.get(Kind::Heap, Moment::End),
        allocs: c.get(Kind::Allocs, Moment::End),
        goroutine_start: c.get(Kind::Goroutine, Moment::Start),
        goroutine_end: c.get(Kind::Goroutine, Moment::End),
        goroutine_dump: c.goroutine_dump(Moment::End),
        block: c.get(Kind::Block, Moment::End),
        mutex: c.get(Kind::Mutex, Moment::End),
        block_start: c.get(Kind::Block, Moment::Start),
        mutex_start: c.get(Kind::Mutex, Moment::Start),
    }
}

/// pprof's table: (total, rows of (name, flat, cum)), in the profile's own units.
fn pprof_top(file: &Path, sample: &str, unit: &str, home: &Path) -> (i64, Vec<(String, i64, i64)>) {
    let mut cmd = Command::new("go");
    cmd.args(["tool", "pprof", "-top", "-nodecount=20", "-symbolize=none"])
        .arg(format!("-sample_index={sample}"));
    match unit {
        "nanoseconds" => {
            cmd.arg("-unit=ns");
        }
        "bytes" => {
            cmd.arg("-unit=B");
        }
        _ => {}
    }
    let out = cmd
        .arg(file)
        .env("HOME", home)
        .env("PPROF_TMPDIR", home)
        .output()
        .expect("go tool pprof runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "go tool pprof failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let number = |s: &str| -> i64 {
        let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        digits
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("a number in pprof's table: {s:?}\n{text}")) as i64
    };
    let total = text
        .lines()
        .find_map(|l| l.split(" of ").nth(1)?.strip_suffix(" total").map(number))
        .unwrap_or(0);
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.trim_start().starts_with("flat  flat%") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(flat), Some(_), Some(_), Some(cum), Some(_)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let name = fields.collect::<Vec<_>>().join(" ");
        let name = name
            .strip_suffix(" (partial-inline)")
            .or_else(|| name.strip_suffix(" (inline)"))
            .unwrap_or(&name)
            .to_string();
        rows.push((name, number(flat), number(cum)));
    }
    (total, rows)
}

/// `top` against pprof on every profile of the capture and every sample type.
fn top_matches_pprof(c: &ballast_profile::capture::LoadedCapture, dir: &Path) {
    let home = dir.join("pprof-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut compared = 0;
    for entry in c.manifest.written().filter(|e| e.format == Format::Pprof) {
        let profile = c.get(entry.kind, entry.moment).unwrap();
        for (i, st) in profile.sample_types.iter().enumerate() {
            let ours = top(profile, i);
            if ours.total == 0 {
                continue;
            }
            let (total, rows) = pprof_top(&dir.join(&entry.file), &st.kind, &st.unit, &home);
            let ours_rows: Vec<(String, i64, i64)> = ours
                .rows
                .iter()
                .take(20)
                .map(|r| (r.name.clone(), r.flat, r.cum))
                .collect();
            assert_eq!(
                ours_rows, rows,
                "{} {}: top differs from pprof's",
                entry.file, st.kind
            );
            assert_eq!(ours.total, total, "{} {}: total", entry.file, st.kind);
            compared += 1;
        }
    }
    assert!(
        compared >= 5,
        "the capture's profiles were compared ({compared})"
    );
}

fn check_cause(a: &Attribution, dimension: Dimension, names: &[&str]) {
    let json = serde_json::to_string_pretty(a).unwrap();
    let top = a
        .top_finding(dimension)
        .unwrap_or_else(|| panic!("a {dimension} finding:\n{json}"));
    assert!(
        names.contains(&top.culprit.as_str()),
        "the top {dimension} finding names {names:?}, not {:?}:\n{json}",
        top.culprit
    );
    assert!(
        top.severity >= Severity::Warning,
        "the cause is at least a warning:\n{json}"
    );
    for f in a
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
    {
        assert!(
            names.contains(&f.culprit.as_str()),
            "only the planted cause is critical, not {} ({}):\n{json}",
            f.culprit,
            f.rule
        );
    }
}

async fn planted_cause(cause: &str, dimension: Dimension, names: &[&str]) {
    let dir = TempDir::new(&format!("attribution-{cause}"));
    let c = capture(cause, dir.path()).await;
    top_matches_pprof(&c, dir.path());
    let a = attribute(&view(&c), &RuleSet::builtin());
    check_cause(&a, dimension, names);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spinning_loop_is_the_top_cpu_finding() {
    planted_cause("cpu", Dimension::Cpu, &["main.hotLoop"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn heavy_allocation_is_the_top_heap_finding() {
    planted_cause("alloc", Dimension::Heap, &["main.allocHeavy"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leaking_goroutines_are_the_top_goroutine_finding() {
    planted_cause(
        "leak",
        Dimension::Goroutines,
        &["main.leakedWait", "main.leakGoroutines"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contended_mutex_is_the_top_block_finding() {
    planted_cause("mutex", Dimension::Block, &["main.contended"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_starved_channel_is_the_top_block_finding() {
    planted_cause("chan", Dimension::Block, &["main.chanConsumer"]).await;
}
