//! `ballast baseline`, `ballast anomaly` and `ballast leak` as users run them, offline: the
//! NAB scoreboard and result files, the reference detector's scores through the CLI, leak
//! verdicts and exit codes on recorded Go series, a baseline whose contract snippet
//! `ballast slo check` accepts, and precise errors with exit code 2 for malformed input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("ballast runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn nab_dir() -> PathBuf {
    // A clean clone may live anywhere on the machine: beside the shared folder, or not.
    let candidates = [
        std::env::var_os("BALLAST_NAB_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nab")),
        Some(PathBuf::from("/work/shared/data/nab")),
    ];
    let dir = candidates
        .iter()
        .flatten()
        .find(|d| d.join("combined_windows.json").is_file())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/nab"));
    assert!(
        dir.join("combined_windows.json").is_file(),
        "the NAB development corpus is not at {} (set BALLAST_NAB_DIR)",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../judge/anomaly/tests/fixtures/leak")
        .join(name)
        .display()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ballast-cli-anomaly-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn nab_prints_the_scoreboard_writes_results_and_reproduces_the_reference() {
    let nab = nab_dir();
    let out_dir = temp("nab");
    let json = out_dir.join("scores.json");
    let (data, windows) = (nab.join("data"), nab.join("combined_windows.json"));
    let out = ballast(&[
        "anomaly",
        "nab",
        data.to_str().unwrap(),
        "--windows",
        windows.to_str().unwrap(),
        "--profiles",
        nab.join("profiles.json").to_str().unwrap(),
        "--detector",
        "novelty",
        "--score-results",
        nab.join("reference/numenta").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let board = stdout(&out);
    assert!(
        board.contains("numenta                 72.97 (t  0.5431)"),
        "{board}"
    );
    let scores: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let numenta = &scores["numenta"];
    assert_eq!(numenta["standard"]["threshold"], 0.543099145074);
    assert!((numenta["reward_low_FN_rate"]["score"].as_f64().unwrap() - 76.82).abs() < 0.01);
    // The bar: above ARTime's 77.0 on the standard profile, through the CLI too.
    assert!(
        scores["novelty"]["standard"]["score"].as_f64().unwrap() > 77.0,
        "{scores}"
    );
    // NAB's layout: DIR/<detector>/<category>/<detector>_<file>.csv.
    let result = out_dir.join("novelty/realTweets/novelty_Twitter_volume_AAPL.csv");
    let text = std::fs::read_to_string(&result).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,label"));
    assert_eq!(lines.next().unwrap(), "2015-02-26 21:42:53,104,0,0");
    assert_eq!(text.lines().count(), 15_903);
    assert!(
        text.lines().any(|l| l.ends_with(",1")),
        "no row labelled inside a window"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn leak_tells_the_recorded_go_programs_apart_with_exit_codes() {
    let leaky = ballast(&[
        "leak",
        "--csv",
        &fixture("leaky-1-goroutines.csv"),
        "--limit",
        "1000",
    ]);
    assert_eq!(leaky.status.code(), Some(1), "{}", stderr(&leaky));
    let text = stdout(&leaky);
    assert!(text.starts_with("growing"), "{text}");
    assert!(text.contains("reaches 1000 in"), "{text}");
    let steady = ballast(&[
        "leak",
        "--csv",
        &fixture("steady-7-goroutines.csv"),
        "--csv",
        &fixture("steady-7-heap.csv"),
        "--json",
    ]);
    assert_eq!(steady.status.code(), Some(0), "{}", stderr(&steady));
    let report: serde_json::Value = serde_json::from_str(&stdout(&steady)).unwrap();
    for entry in report.as_array().unwrap() {
        assert_ne!(entry["trend"]["verdict"], "growing", "{entry}");
    }
}

/// A week of p99 latency at five-minute steps: 120 ms by night, 160 ms by day.
fn week_csv(dir: &Path) -> PathBuf {
    let mut csv = String::from("timestamp,value\n");
    for i in 0..7 * 288 {
        let t = 1_700_438_400 + i * 300;
        let hour = (i % 288) / 12;
        let v = if (8..20).contains(&hour) { 0.16 } else { 0.12 } + (i * 7919 % 11) as f64 / 1000.0;
        csv.push_str(&format!("{t},{v}\n"));
    }
    let path = dir.join("p99.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn baseline_suggests_an_objective_in_text_json_and_a_contract_slo_check_accepts() {
    let dir = temp("baseline");
    let csv = week_csv(&dir);
    let csv = csv.to_str().unwrap();
    let text = ballast(&["baseline", "suggest", "--csv", csv]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(
        text.starts_with("proposed: p99 ≤ 0.17 holds 99.5 % of 5m windows over the last 7d"),
        "{text}"
    );
    assert!(text.contains("seasonality: Daily"), "{text}");
    let json = ballast(&["baseline", "suggest", "--csv", csv, "--format", "json"]);
    let b: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(b["proposal"]["threshold"], 0.17);
    assert_eq!(b["slots"].as_array().unwrap().len(), 24);
    let snippet = ballast(&[
        "baseline", "suggest", "--csv", csv, "--format", "contract", "--name", "p99",
    ]);
    let snippet =
        stdout(&snippet).replace("<PromQL for", "max(p99_seconds) or vector(0) # <PromQL for");
    let contract = format!(
        "name: shop\ntarget:\n  base_url: http://127.0.0.1:8080\nphases:\n  - {{ name: baseline, rate: 10/s, duration: 1s }}\n{snippet}"
    );
    let path = dir.join("shop.yaml");
    std::fs::write(&path, &contract).unwrap();
    let check = ballast(&["slo", "check", path.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{contract}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn anomaly_score_flags_a_spike_in_a_csv() {
    let dir = temp("score");
    let mut csv = String::from("timestamp,value\n");
    for i in 0..2000 {
        let v = if i == 1500 { 900 } else { 100 + i % 9 };
        csv.push_str(&format!("{},{v}\n", 1_700_000_000 + i * 60));
    }
    let path = dir.join("queue.csv");
    std::fs::write(&path, csv).unwrap();
    for detector in ["novelty", "ewma"] {
        let out = ballast(&[
            "anomaly",
            "score",
            path.to_str().unwrap(),
            "--detector",
            detector,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{detector}: {text}");
        assert!(
            text.contains("2023-11-15 23:13:20 ANOMALY") && text.contains("value 900"),
            "{detector}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_inputs_are_precise_errors_with_exit_code_2() {
    let dir = temp("bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "leak".into(),
                "--csv".into(),
                write("row.csv", "timestamp,value\n100,1\n160,oops\n"),
            ],
            "row.csv:3: value: expected a number, got \"oops\"".into(),
        ),
        (
            vec![
                "leak".into(),
                "--csv".into(),
                write("order.csv", "timestamp,value\n100,1\n50,2\n"),
            ],
            "order.csv:3: timestamp: 50 is earlier than line 2's; rows must be in time order"
                .into(),
        ),
        (
            vec![
                "baseline".into(),
                "suggest".into(),
                "--csv".into(),
                write("short.csv", "1,1\n2,2\n"),
            ],
            "a baseline needs at least 20 samples".into(),
        ),
        (
            vec![
                "anomaly".into(),
                "nab".into(),
                dir.display().to_string(),
                "--windows".into(),
                write("windows.json", "{\"a/b.csv\": [[\"2014-04-10 07:15:00\"]]}"),
            ],
            "windows.json:1:".into(),
        ),
        (
            vec![
                "anomaly".into(),
                "score".into(),
                write("x.csv", "1,1\n"),
                "--detector".into(),
                "magic".into(),
            ],
            "unknown detector \"magic\"; built in: novelty, ewma".into(),
        ),
        (
            vec![
                "anomaly".into(),
                "score".into(),
                write("y.csv", "1,1\n"),
                "--detector-config".into(),
                write("d.json", "{\"kind\": \"novelty\", \"levls\": 3}"),
            ],
            "d.json:1:21: unknown field `levls`".into(),
        ),
        (
            vec![
                "leak".into(),
                "--csv".into(),
                dir.join("missing.csv").display().to_string(),
            ],
            "missing.csv: No such file or directory".into(),
        ),
        (
            // Nothing listens there: an unreachable server is the user's to fix.
            vec![
                "leak".into(),
                "go_goroutines".into(),
                "--prometheus".into(),
                format!("http://127.0.0.1:{}", {
                    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    l.local_addr().unwrap().port()
                }),
                "--retries".into(),
                "0".into(),
            ],
            "cannot connect".into(),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ballast(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&expected),
            "{args:?}: expected {expected:?} in {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
