//! `ballast profile` and profiles in contracts, as a user runs them: a real Go service with
//! one planted cause (crates/testkit/go/planted, built here with the system's Go), captured
//! over loopback, read, drawn, compared and attributed; and a contract whose release phase
//! ships a planted hot path and fails its CPU-share clause.

use ballast_testkit::{go_build, go_program, listening_on, Port, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ballast-profile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ballast(args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .expect("ballast runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn planted(dir: &Path, cause: &str) -> Server {
    let binary = go_build(&go_program("planted"), dir, "planted");
    Server::start(
        binary.to_str().unwrap(),
        &[cause.to_string()],
        Port::Log(listening_on),
        Duration::from_secs(20),
    )
    .await
}

#[test]
fn a_planted_hot_path_in_the_release_phase_fails_the_contract_with_flame_graphs() {
    let dir = scratch("contract");
    let binary = go_build(&go_program("planted"), &dir, "planted");
    let report = dir.join("report");
    let out = ballast(
        &[
            "verify",
            repo()
                .join("contracts/examples/profile-regression.yaml")
                .to_str()
                .unwrap(),
            "--no-progress",
            "--report",
            report.to_str().unwrap(),
        ],
        &[("BALLAST_GO_PLANTED", &binary)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("verdict.json")).unwrap())
            .unwrap();
    let outcome = |i: usize| {
        verdict["clauses"][i]["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome(0), "pass", "{}", text(&out));
    assert_eq!(outcome(1), "fail", "{}", text(&out));
    assert_eq!(outcome(2), "pass", "{}", text(&out));
    assert_eq!(outcome(3), "pass", "{}", text(&out));
    let hot = verdict["clauses"][1]["observed"][0]["value"]
        .as_f64()
        .unwrap();
    assert!(hot > 0.5, "the hot loop takes most of the CPU: {hot}");
    let before = verdict["clauses"][0]["observed"][0]["value"]
        .as_f64()
        .unwrap();
    assert!(before < 0.05, "and none before it: {before}");
    // Each phase's graphs are files and are in the HTML; the release has diffs.
    let profiles = verdict["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2, "{verdict}");
    let release: Vec<&str> = profiles[1]["graphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["file"].as_str().unwrap())
        .collect();
    assert!(
        release.iter().any(|f| f.ends_with("cpu.diff-baseline.svg")),
        "{release:?}"
    );
    for file in &release {
        let svg = std::fs::read_to_string(file).unwrap();
        assert!(svg.contains("<svg"), "{file}");
    }
    let cpu = std::fs::read_to_string(
        release
            .iter()
            .find(|f| f.ends_with("cpu.flame.svg"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        cpu.contains("main.hotLoop"),
        "the release's flame graph shows the hot loop"
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("<h2>Profiles</h2>") && html.matches("<iframe").count() >= 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_top_flame_diff_and_attribute_a_contended_mutex() {
    let dir = scratch("cli");
    let server = planted(&dir, "mutex").await;
    let capture = dir.join("capture");
    let out = ballast(
        &[
            "profile",
            "capture",
            &server.url(),
            "--seconds",
            "2",
            "-o",
            capture.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(capture.join("manifest.json")).unwrap())
            .unwrap();
    let entries = manifest["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["error"].is_null()), "{manifest}");
    assert!(entries.len() >= 11, "{manifest}");

    // `top` agrees with go tool pprof on the first row, name and value.
    let mutex = capture.join("mutex.end.pb.gz");
    let ours = ballast(&["profile", "top", mutex.to_str().unwrap(), "-n", "3"], &[]);
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours));
    let ours = String::from_utf8_lossy(&ours.stdout).to_string();
    let pprof = Command::new("go")
        .args(["tool", "pprof", "-top", "-nodecount=3"])
        .arg(&mutex)
        .env("HOME", &dir)
        .output()
        .expect("go runs");
    let pprof = String::from_utf8_lossy(&pprof.stdout).to_string();
    // The first row after the column header, as (flat, cum, name): both print values the
    // same way (pprof's ScaledLabel), so the text must agree.
    let first_row = |table: &str| -> Vec<String> {
        let row = table
            .lines()
            .skip_while(|l| !l.contains("flat%"))
            .nth(1)
            .unwrap_or("");
        let cells: Vec<&str> = row.split_whitespace().collect();
        [0, 3, 5]
            .iter()
            .map(|&i| cells.get(i).copied().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        first_row(&ours),
        first_row(&pprof),
        "ours:\n{ours}\npprof:\n{pprof}"
    );
    assert!(!first_row(&ours)[2].is_empty(), "{ours}");

    // A flame graph and a diff of two captures' block profiles.
    let svg = dir.join("block.svg");
    let out = ballast(
        &[
            "profile",
            "flame",
            capture.join("block.end.pb.gz").to_str().unwrap(),
            "-o",
            svg.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("main.contended"));
    let diff = dir.join("diff.svg");
    let out = ballast(
        &[
            "profile",
            "diff",
            capture.join("block.start.pb.gz").to_str().unwrap(),
            capture.join("block.end.pb.gz").to_str().unwrap(),
            "-o",
            diff.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(std::fs::read_to_string(&diff).unwrap().contains("<svg"));
    // The earlier profile's shape goes beside it.
    let before_side = std::fs::read_to_string(dir.join("diff.before.svg")).unwrap();
    assert!(
        before_side.contains("the before profile"),
        "{before_side:.300}"
    );

    // Attribution names the mutex as the blocking dimension's cause: exit 1 (critical).
    let html = dir.join("attribution.html");
    let json = dir.join("attribution.json");
    let out = ballast(
        &[
            "profile",
            "attribute",
            capture.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let findings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let first = &findings["findings"][0];
    assert_eq!(first["dimension"], "block", "{findings}");
    assert_eq!(first["severity"], "critical", "{findings}");
    assert!(
        first["culprit"]
            .as_str()
            .unwrap()
            .contains("main.contended"),
        "{findings}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("main.contended") && page.contains("<iframe"));
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_files_and_flags_are_input_errors_that_name_what_is_wrong() {
    let dir = scratch("bad");
    let garbage = dir.join("garbage.pb");
    std::fs::write(&garbage, b"\x0a\xff\xff\xff\xff\xff\xff").unwrap();
    let out = ballast(&["profile", "top", garbage.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("garbage.pb"), "{}", text(&out));

    let missing = dir.join("missing.pb.gz");
    let out = ballast(
        &["profile", "flame", missing.to_str().unwrap(), "-o", "x.svg"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing.pb.gz"), "{}", text(&out));

    let dump = dir.join("goroutines.txt");
    std::fs::write(
        &dump,
        "goroutine 1 [chan receive, 3 minutes]:\nmain.main()\n\t/src/main.go:10 +0x1d\n",
    )
    .unwrap();
    let out = ballast(
        &[
            "profile",
            "top",
            dump.to_str().unwrap(),
            "--sample-type",
            "cpu",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no sample type \"cpu\"; the profile has goroutine"),
        "{}",
        text(&out)
    );
    let out = ballast(&["profile", "top", dump.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("main.main"));

    let out = ballast(
        &[
            "profile",
            "capture",
            "http://127.0.0.1:1",
            "--kinds",
            "cpu,heep",
            "-o",
            "x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("heep"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads one HTTP request from `listener`, answers 200, and returns its body.
async fn one_request_body(listener: tokio::net::TcpListener) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                return body.to_string();
            }
        }
    }
    String::from_utf8_lossy(&data).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_captures_a_growing_heap_and_tells_a_webhook_and_alertmanager() {
    let dir = scratch("watch");
    let server = planted(&dir, "grow").await;
    let am_dir = dir.join("am");
    std::fs::create_dir_all(&am_dir).unwrap();
    let alertmanager = ballast_testkit::alertmanager(&am_dir).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = tokio::spawn(one_request_body(listener));
    let captures = dir.join("captures");
    let (url, am, out_dir) = (server.url(), alertmanager.url(), captures.clone());
    let out = tokio::task::spawn_blocking(move || {
        ballast(
            &[
                "profile",
                "watch",
                &url,
                "--every",
                "1s",
                "--growth",
                "20%",
                "--windows",
                "3",
                "--seconds",
                "1",
                "--keep",
                "1",
                "--for",
                "10s",
                "-o",
                out_dir.to_str().unwrap(),
                "--webhook",
                &hook,
                "--alertmanager",
                &am,
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(!events.is_empty(), "{}", text(&out));
    for e in &events {
        assert_eq!(e["event"], "heap_growth");
        assert!(e["growth"].as_f64().unwrap() > 0.2, "{e}");
        assert_eq!(e["windows"], 3, "{e}");
        assert!(
            e["files"].as_u64().unwrap() >= 10,
            "a full set was captured: {e}"
        );
    }
    // Only the worst capture is kept.
    let kept: Vec<PathBuf> = std::fs::read_dir(&captures)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("capture-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("manifest.json").exists());
    let body = tokio::time::timeout(Duration::from_secs(5), received)
        .await
        .expect("the webhook was called")
        .unwrap();
    assert!(body.contains("\"heap_growth\""), "{body}");
    let alerts = reqwest_get(&format!("{}/api/v2/alerts", alertmanager.url())).await;
    assert!(alerts.contains("BallastHeapGrowth"), "{alerts}");
    server.stop().await;
    alertmanager.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn reqwest_get(url: &str) -> String {
    let url = ballast_http::Url::parse(url).unwrap();
    let client = ballast_http::ClientConfig::default().build().unwrap();
    client.get_text(&url).await.unwrap()
}
